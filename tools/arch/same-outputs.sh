#!/usr/bin/env bash
# Behaviour check for refactors (issue #14): runs two emotiond binaries on every visible clip and
# photo and compares what users consume — the NDJSON frame log, the events, the summary JSON and the
# CSV of `batch` (pipelined and in-loop detection), and the NDJSON of `image` — ignoring only
# wall-clock timestamps, latencies, wall_seconds and event ids (time + random). Exit 0 when
# identical, 1 with a diff otherwise.
#
#   tools/arch/same-outputs.sh BEFORE_BINARY [AFTER_BINARY]   (default after: .build/release/emotiond)
#
# Make the "before" binary from any revision with a worktree, e.g.
#   git worktree add /tmp/before REV && (cd /tmp/before && swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/../.."
before=${1:?usage: same-outputs.sh BEFORE_BINARY [AFTER_BINARY]}
after=${2:-.build/release/emotiond}
[[ -d media ]] || { echo "same-outputs: media/ missing (run scripts/fetch-media.sh)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Deletes wall-clock fields; sorts object keys so that dictionary order never shows as a change.
normalize() { jq -cS 'walk(if type == "object" then del(.timestamp, .latency_ms, .wall_seconds, .id) else . end)' "$1"; }

run_all() { # BINARY DIR
  local bin=$1 dir=$2 v name
  mkdir -p "$dir"
  for v in media/*.mp4 media/*.mov; do
    name=$(basename "$v")
    for lb in default 0; do
      local extra=()
      [[ $lb == 0 ]] && extra=(--look-behind 0)
      "$bin" batch "$v" "${extra[@]}" --log "$dir/$name.$lb.frames" --events "$dir/$name.$lb.events" \
        --summary-json "$dir/$name.$lb.summary" --csv "$dir/$name.$lb.csv" 2>/dev/null
    done
  done
  for p in media/*.jpg media/*.png; do
    "$bin" image "$p" > "$dir/$(basename "$p").image" 2>/dev/null || true
  done
}

run_all "$before" "$out/before"
run_all "$after" "$out/after"
status=0 count=0
for f in "$out"/before/*; do
  name=$(basename "$f")
  count=$((count + 1))
  case $name in
    *.csv) cmp -s "$f" "$out/after/$name" || { echo "differs: $name"; diff "$f" "$out/after/$name" | head -5; status=1; } ;;
    *) if ! diff <(normalize "$f") <(normalize "$out/after/$name") > "$out/d" 2>&1; then
         echo "differs: $name"; head -5 "$out/d"; status=1
       fi ;;
  esac
done
echo "same-outputs: $count outputs compared, $([[ $status == 0 ]] && echo identical || echo DIFFERENT)"
exit $status
