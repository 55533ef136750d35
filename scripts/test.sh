#!/usr/bin/env bash
# The test command (README, .ci/run): setup included, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-media.sh
# Reference models exported from PyTorch + onnxruntime outputs (git-ignored, regenerated when the recipe changes).
gen=Tests/fixtures/generated
if [[ ! -f $gen/manifest.json || tools/reference/make_reference.py -nt $gen/manifest.json || tools/reference/models.py -nt $gen/manifest.json ]]; then
  echo "test: generating reference models and onnxruntime outputs" >&2
  .venv/bin/python tools/reference/make_reference.py --out "$gen" 2>&1 | grep -v -i warn >&2 || true
  [[ -f $gen/manifest.json ]] || { echo "test: reference generation failed" >&2; exit 1; }
fi
swift build -c release
swift test 2>&1 | tee /tmp/emotiond-swift-test.log
