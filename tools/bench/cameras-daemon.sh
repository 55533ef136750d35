#!/usr/bin/env bash
# N cameras at 640x480@30 fps on this machine, from file sources (H.264, WolfgangLanger_Pexels.mp4
# scaled and padded to 640x480 at 30 fps, looped; one face), run two ways on the same inputs:
#   daemon     one `emotiond run` with a `cameras:` map (one model in memory, one process)
#   processes  one `emotiond run` per camera (the emotiond@.service deployment)
# After a 5 s warm-up, measures for SECONDS and prints one line per camera (fps, frames, mean
# per-frame latency by stage) and per process (CPU % of one core, peak RSS), and the machine's load.
# (Simulated V4L2 cameras, tools/bench/cameras.sh, take over one device per process: they cannot
# feed one daemon several cameras.)
#
#   tools/bench/cameras-daemon.sh [N=4] [SECONDS=60] [daemon|processes]
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/machine.sh
n=${1:-4} secs=${2:-60} mode=${3:-daemon}
bin=${EMOTIOND:-.build/release/emotiond}
tmp=$(mktemp -d); pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
clip=$tmp/cam640x480.mp4
ffmpeg -v error -i media/WolfgangLanger_Pexels.mp4 -vf "scale=640:360,pad=640:480:0:60,fps=30" \
  -c:v libx264 -preset veryfast -g 30 -an "$clip"
port=19480
yaml() {  # name source-lines log metrics-port
  printf '%s\noutputs:\n  log:\n    path: %s\n  metrics:\n    listen: 127.0.0.1:%s\n' "$1" "$2" "$3"
}
if [ "$mode" = daemon ]; then
  map="cameras:"; for i in $(seq 1 "$n"); do map+=$'\n'"  cam$i:"$'\n'"    source: $clip"; done
  yaml "$map" "$tmp/{camera}.ndjson" "$port" > "$tmp/all.yaml"
  "$bin" run --config "$tmp/all.yaml" --loop 2> "$tmp/all.err" & pids+=($!)
else
  for i in $(seq 1 "$n"); do
    yaml "camera:"$'\n'"  name: cam$i"$'\n'"  source: $clip" "$tmp/cam$i.ndjson" "$((port + i))" > "$tmp/cam$i.yaml"
    "$bin" run --config "$tmp/cam$i.yaml" --loop 2> "$tmp/cam$i.err" & pids+=($!)
  done
fi
portof() { if [ "$mode" = daemon ]; then echo "$port"; else echo "$((port + $1))"; fi; }
metric() { curl -s "http://127.0.0.1:$(portof "$1")/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }
lab() { echo "{$1camera=\"cam$2\"}"; }   # labels: extra ("stage=\"x\",") and the camera
stages="decode detect infer total"
sleep 5
declare -A f0 s0 k0 c0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { cat "$tmp"/*.err; exit 1; }; c0[$p]=$(proc_cpu "$p"); done
for i in $(seq 1 "$n"); do
  f0[$i]=$(metric "$i" "emotiond_frames_processed_total$(lab "" "$i")")
  for st in $stages; do s0[$i$st]=$(metric "$i" "emotiond_stage_latency_ms_sum$(lab "stage=\"$st\"," "$i")"); done
  k0[$i]=$(metric "$i" "emotiond_stage_latency_ms_count$(lab 'stage="total",' "$i")")
done
machine_mark
sleep "$secs"
hz=$(getconf CLK_TCK)
busy=$(machine_busy)
echo "$n cameras, 640x480@30 H.264 files, $mode, ${secs} s, $(machine_name)"
for i in $(seq 1 "$n"); do
  f1=$(metric "$i" "emotiond_frames_processed_total$(lab "" "$i")")
  k=$(( $(metric "$i" "emotiond_stage_latency_ms_count$(lab 'stage="total",' "$i")") - ${k0[$i]} ))
  lat=""
  for st in $stages; do
    s1=$(metric "$i" "emotiond_stage_latency_ms_sum$(lab "stage=\"$st\"," "$i")")
    lat+=$(awk -v a="$s1" -v b="${s0[$i$st]}" -v k="$k" -v st="$st" 'BEGIN { printf " %s %.2f", st, (a - b) / (k > 0 ? k : 1) }')
  done
  awk -v i="$i" -v f="$((f1 - ${f0[$i]}))" -v t="$secs" -v lat="$lat" \
    'BEGIN { printf "cam%d: %.1f fps, %d frames, mean ms per frame:%s\n", i, f / t, f, lat }'
done
for p in "${pids[@]}"; do
  c1=$(proc_cpu "$p"); rss=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status")
  awk -v p="$p" -v c="$((c1 - ${c0[$p]}))" -v hz="$hz" -v t="$secs" -v rss="$rss" \
    'BEGIN { printf "process %d: CPU %.0f %% of a core, peak RSS %.1f MiB\n", p, 100 * c / hz / t, rss / 1024 }'
done
echo "machine: $busy % busy (all cores)"
