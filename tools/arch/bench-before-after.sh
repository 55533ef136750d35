#!/usr/bin/env bash
# `bench pipeline` of two emotiond binaries in interleaved rounds (before, after, before, after, …),
# medians of frames/s, per-stage median latencies and peak RSS: the before/after table of a refactor
# (issue #14). On a shared host only interleaved medians are comparable.
#
#   tools/arch/bench-before-after.sh BEFORE_BINARY [AFTER_BINARY] [ROUNDS] [VIDEO]
set -euo pipefail
cd "$(dirname "$0")/../.."
before=${1:?usage: bench-before-after.sh BEFORE_BINARY [AFTER_BINARY] [ROUNDS] [VIDEO]}
after=${2:-.build/release/emotiond}
rounds=${3:-5}
video=${4:-media/WolfgangLanger_Pexels.mp4}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 0; i < rounds; i++)); do
  "$before" bench pipeline "$video" --json 2>/dev/null >> "$out/before"
  "$after" bench pipeline "$video" --json 2>/dev/null >> "$out/after"
done
summary() {
  jq -s '{fps: (map(.fps) | sort | .[length / 2 | floor]),
          detect_ms: (map(.stages_ms.detect.median) | sort | .[length / 2 | floor]),
          preprocess_ms: (map(.stages_ms.preprocess.median) | sort | .[length / 2 | floor]),
          infer_ms: (map(.stages_ms.infer.median) | sort | .[length / 2 | floor]),
          decode_ms: (map(.stages_ms.decode.median) | sort | .[length / 2 | floor]),
          peak_rss_mib: (map(.peak_rss_mib) | sort | .[length / 2 | floor]),
          rounds: length}' "$1"
}
echo "machine: $(jq -r .machine "$out/after" | head -1); video: $video"
echo "before ($before):"; summary "$out/before"
echo "after ($after):"; summary "$out/after"
