#!/usr/bin/env bash
# Runs the Python `fer` package on the benchmark clip (see fer_peer.py).
# Its own venv (.venv-fer, git-ignored): fer pulls tensorflow, which the main venv does not need.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f media/WolfgangLanger_Pexels.mp4 ] || bash scripts/fetch-media.sh
if [ ! -x .venv-fer/bin/python ] || ! .venv-fer/bin/python -c "import fer, tensorflow" 2>/dev/null; then
  python3 -m venv .venv-fer
  # fer 25.10.3 still imports pkg_resources (dropped in setuptools 81) and expects
  # OpenCV 4 (cv2.data.haarcascades is empty in the 5.0 wheels)
  .venv-fer/bin/pip install -q "fer==25.10.3" tensorflow-cpu "setuptools<81" "opencv-contrib-python<5"
fi
exec .venv-fer/bin/python tools/bench/fer_peer.py "$@"
