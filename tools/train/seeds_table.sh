#!/usr/bin/env bash
# The seeds' table (issue #16): for each model exported by tools/train/seeds.py, PublicTest accuracy
# from `emotiond eval` (single view: --tta none, all PublicTest faces, classes matched by name) and
# batch-1 latency from `emotiond bench inference` (one thread, our engine and onnxruntime timed in
# interleaved rounds, medians over rounds); prints a markdown table and keeps the raw JSON next to
# the models.
#
#   tools/train/seeds_table.sh [RUN_DIR] [ARCH...]
#   EMOTIOND=/path/to/emotiond FER=path/to/fer2013.csv.gz ROUNDS=5 RUNS=50 tools/train/seeds_table.sh
#   TABLE_ONLY=1 tools/train/seeds_table.sh   # reprint from the JSON kept in RUN_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-tools/train/runs/seeds}; shift || true
ARCHS=${*:-fer4 mobilenet_v2 resnet18 vggish inception_v3}
EMOTIOND=${EMOTIOND:-.build/release/emotiond}
FER=${FER:-../shared/data/fer2013/fer2013-train-public.csv.gz}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-50}
NICE=${NICE:-nice -n 19}

for a in $ARCHS; do
  [ -n "${TABLE_ONLY:-}" ] && break  # TABLE_ONLY=1: print the table from the JSON already measured
  m="$DIR/$a.onnx"
  [ -f "$m" ] || { echo "missing $m (train it: tools/train/seeds.py --arch $a)" >&2; continue; }
  t0=$(date +%s.%N)
  $NICE "$EMOTIOND" eval --fer2013 "$FER" --usage PublicTest --model "$m" --tta none --json > "$DIR/$a.eval.json"
  t1=$(date +%s.%N)
  echo "{\"eval_seconds\": $(echo "$t1 - $t0" | bc)}" > "$DIR/$a.evaltime.json"
  $NICE "$EMOTIOND" bench inference "$m" --batches 1 --threads 1 --rounds "$ROUNDS" --runs "$RUNS" --json > "$DIR/$a.bench.json"
  echo "measured $a" >&2
done

.venv/bin/python - "$DIR" $ARCHS <<'EOF'
import json, os, statistics, sys
d, archs = sys.argv[1], sys.argv[2:]
print("| architecture | input | classes | training (wall, CPU) | epochs seen | PublicTest accuracy (single view) | eval time | MACs/face | ms/face ours | ms/face onnxruntime | ours/onnxruntime (median; per-round range) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for a in archs:
    p = lambda s: os.path.join(d, f"{a}.{s}.json")  # noqa: E731
    if not all(os.path.exists(p(s)) for s in ("eval", "bench", "evaltime")):
        print(f"| {a} | not measured | | | | | | | | | |"); continue
    t, e, b = (json.load(open(os.path.join(d, f"{a}.json"))), json.load(open(p("eval"))), json.load(open(p("bench"))))
    secs = json.load(open(p("evaltime")))["eval_seconds"]
    ours, ort = b["emotiond"]["median_ms"]["1"], b["peers"]["onnxruntime"]["median_ms"]["1"]
    rs = b["ratios_batch1"]["onnxruntime"]; ratio = statistics.median(rs)
    cls = f"{t['classes']}" + (f" (unscored: {', '.join(e['unscored'])}; {e['skipped']} faces skipped)" if e.get("unscored") else "")
    print(f"| {t['description']} | {t['input']} | {cls} | {t['train_s']:.0f} s, {t['steps']} steps x {t['batch']} | "
          f"{t['epochs']:.2f} | {100 * e['accuracy']:.2f} % of {e['samples']} | {secs:.0f} s | {b['macs_per_sample'] / 1e6:.0f} M | {ours:.2f} | {ort:.2f} | {ratio:.2f} ({min(rs):.2f}-{max(rs):.2f}) |")
EOF
