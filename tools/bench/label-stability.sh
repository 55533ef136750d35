#!/usr/bin/env bash
# Change events per minute on every visible clip (issue #13: labels that hold still).
#   tools/bench/label-stability.sh [BINARY] [pipeline options...]
# Prints one line per clip: frames, seconds of video, `change` events, changes per minute,
# and the most changes seen in any 8-second window (the "calm speaker" bound).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-.build/release/emotiond}; shift || true
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for clip in media/*.mp4 media/*.mov; do
  name=$(basename "$clip")
  "$bin" batch "$clip" --events "$tmp/$name.events" --log "$tmp/$name.log" "$@" >/dev/null 2>&1 || { echo "$name: batch failed"; continue; }
  .venv/bin/python - "$tmp/$name.events" "$tmp/$name.log" "$name" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
frames = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
dur = frames[-1]["media_time"] if frames else 0.0
ch = sorted(e["media_time"] for e in ev if e["type"] == "change")
worst = max((sum(1 for u in ch if t <= u < t + 8) for t in ch), default=0)
rate = len(ch) / dur * 60 if dur > 0 else 0.0
print(f"{sys.argv[3]}: {len(frames)} frames, {dur:.1f} s, {len(ch)} changes, {rate:.1f}/min, max {worst} in 8 s")
PY
done
