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
dir=var/simcam
mkdir -p "$dir"
if [ ! -f "$dir/libsimcam.so" ] || [ Tests/simcam/simcam.c -nt "$dir/libsimcam.so" ]; then
  gcc -shared -fPIC -O2 -o "$dir/libsimcam.so" Tests/simcam/simcam.c -ldl -lpthread
fi
[ -f media/WolfgangLanger_Pexels.mp4 ] || bash scripts/fetch-media.sh
[ -f "$dir/frames.yuyv" ] || ffmpeg -v error -y -i media/WolfgangLanger_Pexels.mp4 -frames:v 60 -vf scale=640:480 -pix_fmt yuyv422 -f rawvideo "$dir/frames.yuyv"
[ -f "$dir/frames.mjpeg" ] || ffmpeg -v error -y -i media/WolfgangLanger_Pexels.mp4 -frames:v 120 -vf scale=640:480 -q:v 5 -f mjpeg "$dir/frames.mjpeg"
dev="$PWD/$dir/video42"
touch "$dev"   # so stat() finds it; opens are simulated
bin=${EMOTIOND:-.build/release/emotiond}
LD_PRELOAD="$PWD/$dir/libsimcam.so" SIMCAM_DEVICE="$dev" SIMCAM_YUYV="$PWD/$dir/frames.yuyv" SIMCAM_MJPEG="$PWD/$dir/frames.mjpeg" \
  SIMCAM_FAULTS="${SIMCAM_FAULTS:-}" exec "$bin" "$@" --device "$dev"
