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
# Models whose contract is not FER2013's (labels, size, colour; ModelContractTests), same rule.
contract=$gen/contract
if [[ ! -f $contract/manifest.json || tools/reference/make_contract_models.py -nt $contract/manifest.json || tools/reference/models.py -nt $contract/manifest.json ]]; then
  echo "test: generating the model-contract test models" >&2
  .venv/bin/python tools/reference/make_contract_models.py --out "$contract" 2>&1 | grep -v -i warn >&2 || true
  [[ -f $contract/manifest.json ]] || { echo "test: contract model generation failed" >&2; exit 1; }
fi
swift build -c release
swift test 2>&1 | tee /tmp/emotiond-swift-test.log
