#!/usr/bin/env bash
# Two emotiond builds on the same nets, in interleaved rounds (A, B, A, B, ...), one thread,
# batch 1: how a kernel change moves each net, with the host's slow phases hitting both.
# Prints each round's times and the median of B/A per net. A net is a reference export's name
# (Tests/fixtures/generated) or an .onnx path; BATCH (default 1) times another batch size, e.g.
# BATCH=2 for the default model's face with its flip view.
#
#   tools/bench/engine-ab.sh OLD_BINARY NEW_BINARY [ROUNDS=7] [NETS="minixception mobilenet_v2 resnet18 inception_v3 fer4"]
#   BATCH=2 tools/bench/engine-ab.sh OLD NEW 9 models/emotion-fervgg.onnx
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 rounds=${3:-7}
nets=${4:-"minixception mobilenet_v2 resnet18 inception_v3 fer4"}
batch=${BATCH:-1}
runs_for() { case $1 in fer4|minixception|*.onnx) echo 300 ;; mobilenet_v2) echo 40 ;; resnet18) echo 15 ;; *) echo 5 ;; esac; }
model() { case $1 in *.onnx) echo "$1" ;; *) echo "Tests/fixtures/generated/$1.onnx" ;; esac; }
ms() { "$1" bench inference "$(model "$2")" --batches "$batch" --runs "$3" --rounds 1 --no-peers --json |
  python3 -c "import json,sys; print(json.load(sys.stdin)['emotiond']['median_ms']['$batch'])"; }
for net in $nets; do
  runs=$(runs_for "$net") ratios=()
  for ((r = 1; r <= rounds; r++)); do
    ta=$(ms "$a" "$net" "$runs"); tb=$(ms "$b" "$net" "$runs")
    ratios+=("$(python3 -c "print(round($tb / $ta, 3))")")
    echo "$net round $r: A $ta ms, B $tb ms"
  done
  echo "== $net: median B/A $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p") (rounds: ${ratios[*]})"
done
