# Build and install emotiond into FHS locations.
#   make                 release build
#   make install         binary, window library (for `live`), unit, config, model, schemas (DESTDIR and PREFIX honoured)
#   make uninstall
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
BIN := .build/release/emotiond
WINDOWLIB := .build/release/libEmotiondWindow.so

.PHONY: all install uninstall test demo
all: $(BIN)

$(BIN):
	swift build -c release

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/emotiond
	install -D -m 0644 $(WINDOWLIB) $(DESTDIR)$(PREFIX)/lib/emotiond/libEmotiondWindow.so
	install -D -m 0644 systemd/emotiond.service $(DESTDIR)$(UNITDIR)/emotiond.service
	sed -i 's|/usr/local/bin/emotiond|$(PREFIX)/bin/emotiond|' $(DESTDIR)$(UNITDIR)/emotiond.service
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/emotiond
	# Never overwrite an existing configuration.
	[ -e $(DESTDIR)$(SYSCONFDIR)/emotiond/emotiond.yaml ] || install -m 0644 config/emotiond.yaml $(DESTDIR)$(SYSCONFDIR)/emotiond/emotiond.yaml
	install -D -m 0644 models/emotion-fer4.onnx $(DESTDIR)$(PREFIX)/share/emotiond/models/emotion-fer4.onnx
	install -D -m 0644 models/README.md $(DESTDIR)$(PREFIX)/share/emotiond/models/README.md
	install -D -m 0644 cascades/README.md $(DESTDIR)$(PREFIX)/share/emotiond/cascades/README.md
	install -D -m 0644 schemas/frame.schema.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/frame.schema.json
	install -D -m 0644 schemas/event.schema.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/event.schema.json
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/emotiond/README.md

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/emotiond $(DESTDIR)$(UNITDIR)/emotiond.service
	rm -rf $(DESTDIR)$(PREFIX)/lib/emotiond
	rm -rf $(DESTDIR)$(PREFIX)/share/emotiond $(DESTDIR)$(PREFIX)/share/doc/emotiond

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh
