# Sourced by the simulated-camera benchmarks: builds Tests/simcam/simcam.c into var/simcam once and
# extracts its 640x480 frames from media/WolfgangLanger_Pexels.mp4; sets dir=var/simcam.
dir=var/simcam
mkdir -p "$dir"
if [ ! -f "$dir/libsimcam.so" ] || [ Tests/simcam/simcam.c -nt "$dir/libsimcam.so" ]; then
  gcc -shared -fPIC -O2 -o "$dir/libsimcam.so" Tests/simcam/simcam.c -ldl -lpthread
fi
[ -f media/WolfgangLanger_Pexels.mp4 ] || bash scripts/fetch-media.sh
[ -f "$dir/frames.yuyv" ] || ffmpeg -v error -y -i media/WolfgangLanger_Pexels.mp4 -frames:v 60 -vf scale=640:480 -pix_fmt yuyv422 -f rawvideo "$dir/frames.yuyv"
[ -f "$dir/frames.mjpeg" ] || ffmpeg -v error -y -i media/WolfgangLanger_Pexels.mp4 -frames:v 120 -vf scale=640:480 -q:v 5 -f mjpeg "$dir/frames.mjpeg"
