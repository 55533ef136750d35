#!/usr/bin/env bash
# Two emotiond builds on the same nets, in interleaved rounds (A, B, A, B, ...), one thread,
# batch 1: how a kernel change moves each net, with the host's slow phases hitting both.
# Prints each round's times and the median of B/A per net.
#
#   tools/bench/engine-ab.sh OLD_BINARY NEW_BINARY [ROUNDS=7] [NETS="minixception mobilenet_v2 resnet18 inception_v3 fer4"]
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 rounds=${3:-7}
nets=${4:-"minixception mobilenet_v2 resnet18 inception_v3 fer4"}
runs_for() { case $1 in fer4|minixception) echo 300 ;; mobilenet_v2) echo 40 ;; resnet18) echo 15 ;; *) echo 5 ;; esac; }
ms() { "$1" bench inference "Tests/fixtures/generated/$2.onnx" --batches 1 --runs "$3" --rounds 1 --no-peers --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["emotiond"]["median_ms"]["1"])'; }
for net in $nets; do
  runs=$(runs_for "$net") ratios=()
  for ((r = 1; r <= rounds; r++)); do
    ta=$(ms "$a" "$net" "$runs"); tb=$(ms "$b" "$net" "$runs")
    ratios+=("$(python3 -c "print(round($tb / $ta, 3))")")
    echo "$net round $r: A $ta ms, B $tb ms"
  done
  echo "== $net: median B/A $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p") (rounds: ${ratios[*]})"
done
