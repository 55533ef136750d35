#!/usr/bin/env bash
# N cameras at 640x480@30 fps on this machine, one `emotiond run` process each (the emotiond@.service
# deployment): simulated V4L2 cameras (Tests/simcam, YUYV frames of WolfgangLanger_Pexels.mp4, one face).
# After a 5 s warm-up, measures for SECONDS and prints one line per camera (fps, frames processed and
# dropped in the window, CPU % of one core, peak RSS, mean per-frame latency) and the machine's load.
#
#   tools/bench/cameras.sh [N=4] [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/machine.sh
n=${1:-4} secs=${2:-60}
bin=${EMOTIOND:-.build/release/emotiond}
source tools/bench/simcam-prepare.sh
tmp=$(mktemp -d); pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for i in $(seq 1 "$n"); do
  dev="$PWD/$dir/video$((60 + i))"; touch "$dev"
  cat > "$tmp/cam$i.yaml" <<YAML
camera:
  name: cam$i
  device: $dev
  width: 640
  height: 480
  fps: 30
  format: yuyv
outputs:
  log:
    path: $tmp/cam$i.ndjson
  metrics:
    listen: 127.0.0.1:$((19470 + i))
YAML
  LD_PRELOAD="$PWD/$dir/libsimcam.so" SIMCAM_DEVICE="$dev" SIMCAM_YUYV="$PWD/$dir/frames.yuyv" \
    SIMCAM_MJPEG="$PWD/$dir/frames.mjpeg" "$bin" run --config "$tmp/cam$i.yaml" 2> "$tmp/cam$i.err" &
  pids+=($!)
done
metric() { curl -s "http://127.0.0.1:$((19470 + $1))/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }
stages="decode detect infer total"
sleep 5
declare -A f0 d0 c0 s0 k0
for i in $(seq 1 "$n"); do
  p=${pids[$((i - 1))]}
  kill -0 "$p" 2>/dev/null || { echo "cam$i exited:"; cat "$tmp/cam$i.err"; exit 1; }
  f0[$i]=$(metric "$i" "emotiond_frames_processed_total{camera=\"cam$i\"}")
  d0[$i]=$(metric "$i" "emotiond_frames_dropped_total{camera=\"cam$i\"}")
  for st in $stages; do s0[$i$st]=$(metric "$i" "emotiond_stage_latency_ms_sum{stage=\"$st\",camera=\"cam$i\"}"); done
  k0[$i]=$(metric "$i" "emotiond_stage_latency_ms_count{stage=\"total\",camera=\"cam$i\"}")
  c0[$i]=$(proc_cpu "$p")
done
machine_mark
sleep "$secs"
hz=$(getconf CLK_TCK)
busy=$(machine_busy)
echo "$n cameras, 640x480@30 YUYV (simulated), ${secs} s, $(machine_name)"
for i in $(seq 1 "$n"); do
  p=${pids[$((i - 1))]}
  f1=$(metric "$i" "emotiond_frames_processed_total{camera=\"cam$i\"}")
  d1=$(metric "$i" "emotiond_frames_dropped_total{camera=\"cam$i\"}")
  k=$(( $(metric "$i" "emotiond_stage_latency_ms_count{stage=\"total\",camera=\"cam$i\"}") - ${k0[$i]} ))
  lat=""
  for st in $stages; do
    s1=$(metric "$i" "emotiond_stage_latency_ms_sum{stage=\"$st\",camera=\"cam$i\"}")
    lat+=$(awk -v a="$s1" -v b="${s0[$i$st]}" -v k="$k" -v st="$st" 'BEGIN { printf " %s %.2f", st, (a - b) / (k > 0 ? k : 1) }')
  done
  c1=$(proc_cpu "$p"); rss=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status")
  awk -v i="$i" -v f="$((f1 - ${f0[$i]}))" -v d="$((d1 - ${d0[$i]}))" -v c="$((c1 - ${c0[$i]}))" -v hz="$hz" -v t="$secs" \
      -v rss="$rss" -v lat="$lat" 'BEGIN {
    printf "cam%d: %.1f fps, %d frames, %d dropped, CPU %.0f %% of a core, peak RSS %.1f MiB, mean ms per frame:%s\n",
      i, f / t, f, d, 100 * c / hz / t, rss / 1024, lat }'
done
echo "machine: $busy % busy (all cores)"
