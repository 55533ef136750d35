#!/usr/bin/env bash
# Idempotent setup for emotiond on Debian 12 (run as root).
# Installs every system dependency (apt) and the Python venv used by tools/ (PyPI).
# Safe to re-run: apt skips what is installed, the venv is created once and
# pip only installs what is missing. Set EMOTIOND_SKIP_APT=1 to skip apt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

APT_PACKAGES=(
  pkg-config build-essential
  libopencv-dev opencv-data
  libv4l-dev v4l-utils
  libopenblas-dev zlib1g-dev
  libsystemd-dev systemd
  libsqlite3-dev         # the event history (GRDB links the system SQLite)
  libmosquitto-dev mosquitto mosquitto-clients
  ffmpeg xvfb x11-apps x11-utils xdotool imagemagick time
  # network-source tests: GStreamer's RTSP server from system Python (tools/bench/rtsp_server.py):
  # qtdemux/rtph264pay/udpsink (good), h264parse (bad), appsink for RTP over TCP (base)
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # the web page's browser test: headless Chromium takes a screenshot
  chromium fonts-dejavu-core
)

need_apt=0
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { need_apt=1; break; }
done
if [[ "${EMOTIOND_SKIP_APT:-0}" != 1 && $need_apt == 1 ]]; then
  echo "setup: installing apt packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

# Python venv for offline tooling (training, ONNX export, reference checks).
VENV="$here/.venv"
PY="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.emotiond-requirements"
if ! cmp -s tools/requirements.txt "$stamp" 2>/dev/null; then
  echo "setup: installing Python tools into $VENV" >&2
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r tools/requirements.txt
  cp tools/requirements.txt "$stamp"
fi
echo "setup: done" >&2
