#!/usr/bin/env bash
# Runs an emotiond command against the simulated V4L2 camera (Tests/simcam/simcam.c),
# serving 640x480 frames of media/WolfgangLanger_Pexels.mp4 (there is no camera here).
#
#   tools/bench/simcam.sh bench capture --format yuyv --seconds 15
#   tools/bench/simcam.sh bench soak --seconds 600
#
# The device path is passed as --device; the simulator is built into var/simcam once.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/simcam-prepare.sh
dev="$PWD/$dir/video42"
touch "$dev"   # so stat() finds it; opens are simulated
bin=${EMOTIOND:-.build/release/emotiond}
LD_PRELOAD="$PWD/$dir/libsimcam.so" SIMCAM_DEVICE="$dev" SIMCAM_YUYV="$PWD/$dir/frames.yuyv" SIMCAM_MJPEG="$PWD/$dir/frames.mjpeg" \
  SIMCAM_FAULTS="${SIMCAM_FAULTS:-}" exec "$bin" "$@" --device "$dev"
