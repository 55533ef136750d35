# Build and install emotiond into FHS locations.
#   make                 release build
#   make install         binary, window library (for `live`), unit, config, model, schemas (DESTDIR and PREFIX honoured)
#   make uninstall
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
CONFIG_GROUP ?= emotiond
CONF := $(DESTDIR)$(SYSCONFDIR)/emotiond/emotiond.yaml
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
	install -D -m 0644 systemd/emotiond@.service $(DESTDIR)$(UNITDIR)/emotiond@.service
	sed -i 's|/usr/local/bin/emotiond|$(PREFIX)/bin/emotiond|' $(DESTDIR)$(UNITDIR)/emotiond.service $(DESTDIR)$(UNITDIR)/emotiond@.service
	install -D -m 0644 systemd/emotiond-lan.conf $(DESTDIR)$(PREFIX)/share/doc/emotiond/emotiond-lan.conf
	install -D -m 0644 systemd/emotiond.sysusers $(DESTDIR)$(SYSUSERSDIR)/emotiond.conf
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/emotiond
	# The configuration may hold the MQTT password: 0640, group emotiond (the service's
	# SupplementaryGroups=). Installing into the live system creates the group (sysusers.d);
	# with DESTDIR the package's postinst does (systemd-sysusers, then chgrp). An existing
	# configuration is never overwritten nor re-permissioned; a world-readable one is reported.
	@if [ -e $(CONF) ]; then \
	  echo "keeping the existing $(CONF)"; \
	  if [ -n "$$(find $(CONF) -perm -o=r)" ]; then echo "note: $(CONF) is readable by every local user;" \
	    "if it holds the MQTT password: chgrp $(CONFIG_GROUP) $(CONF) && chmod 0640 $(CONF) (or use password_file)"; fi; \
	else \
	  install -m 0640 config/emotiond.yaml $(CONF) && \
	  if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    { systemd-sysusers $(SYSUSERSDIR)/emotiond.conf || groupadd -f --system $(CONFIG_GROUP); } && \
	    chgrp $(CONFIG_GROUP) $(CONF); \
	  fi; \
	fi
	install -D -m 0644 models/emotion-fervgg.onnx $(DESTDIR)$(PREFIX)/share/emotiond/models/emotion-fervgg.onnx
	install -D -m 0644 models/README.md $(DESTDIR)$(PREFIX)/share/emotiond/models/README.md
	install -D -m 0644 cascades/README.md $(DESTDIR)$(PREFIX)/share/emotiond/cascades/README.md
	install -D -m 0644 schemas/frame.schema.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/frame.schema.json
	install -D -m 0644 schemas/event.schema.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/event.schema.json
	for f in state notice api-state api-cameras api-events api-report; do install -D -m 0644 schemas/$$f.schema.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/$$f.schema.json; done
	install -D -m 0644 schemas/openapi.json $(DESTDIR)$(PREFIX)/share/emotiond/schemas/openapi.json
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/emotiond/README.md

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/emotiond $(DESTDIR)$(UNITDIR)/emotiond.service $(DESTDIR)$(SYSUSERSDIR)/emotiond.conf
	rm -rf $(DESTDIR)$(PREFIX)/lib/emotiond
	rm -rf $(DESTDIR)$(PREFIX)/share/emotiond $(DESTDIR)$(PREFIX)/share/doc/emotiond

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh
