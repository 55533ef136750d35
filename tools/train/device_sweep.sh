#!/bin/bash
# The v2 training sweep for one short lease of a GPU machine (issue #13): every run fits its cosine
# schedule to a wall-clock budget (train.py --budget-seconds), so the whole sweep ends in time.
#
#   Stage A, in parallel on one GPU: two seeds of FERVGG w32 (the shipping architecture), the
#     other families for the model card (FERResNet w32, FER4 w48) and two larger teachers
#     (FERVGG w48, VGGish 64-512).
#   Stage B: FERVGG w32 students distilled from the best four stage-A models (their mean softened
#     prediction on each augmented batch, train.py --teachers).
#
# Results go to $OUT as they are made (the command may be stopped at its limit): logs.tar.gz (every
# log.ndjson and stdout) and best.pt of the runs that can ship or enter the model card.
# The data travels as the lossless pack of tools/train/pack_data.py (.gpu/ is git-ignored):
#
#   .venv/bin/python tools/train/pack_data.py --out .gpu/fer2013.webp.npz
#   OUT=/tmp/out DEVICE=cpu LIMIT=256 TOTAL=120 tools/train/device_sweep.sh     # smoke test on a CPU
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:?set OUT}
DEVICE=${DEVICE:-cuda} PY=${PY:-python3} DATA=${DATA:-.gpu/fer2013.webp.npz}
TOTAL=${TOTAL:-550}            # seconds for the whole sweep
EPOCHS=${EPOCHS:-300}          # the most any run may do; the budget usually decides
RUNS=${RUNS:-/tmp/sweep}
t0=$(date +%s)
mkdir -p "$RUNS" "$OUT"
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RUNS/gpu.txt"
common=(--csv "$DATA" --device "$DEVICE" --threads 2 --epochs "$EPOCHS" --batch 256 --lr 0.1 ${LIMIT:+--limit "$LIMIT"})

# launch NAME BUDGET ARGS...: one background run, its stdout in RUNS/NAME/stdout.
launch() {
    local name=$1 budget=$2; shift 2
    mkdir -p "$RUNS/$name"
    timeout $((budget + 30)) "$PY" tools/train/train.py "${common[@]}" --run "$RUNS/$name" \
        --budget-seconds "$budget" "$@" > "$RUNS/$name/stdout" 2>&1 &
}

collect() {
    tar -C "$RUNS" -czf "$OUT/logs.tar.gz.tmp" --exclude='*.pt' . && mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
    for name in "$@"; do
        [ -f "$RUNS/$name/best.pt" ] && cp "$RUNS/$name/best.pt" "$OUT/$name.pt"
    done
}

# best N NAMES...: the N runs with the highest best accuracy, best first.
best() {
    local n=$1; shift
    for name in "$@"; do
        [ -f "$RUNS/$name/log.ndjson" ] || continue
        "$PY" -c "import json,sys; print(max(json.loads(l)['publictest_acc_ema_flip'] for l in open(sys.argv[1])), sys.argv[2])" \
            "$RUNS/$name/log.ndjson" "$name" 2>/dev/null
    done | sort -rn | head -n "$n" | awk '{print $2}'
}

A=$(( TOTAL * 48 / 100 ))
launch vgg32-s1 $A --arch fervgg --width 32 --seed 1
launch vgg32-s2 $A --arch fervgg --width 32 --seed 2
launch res32-s1 $A --arch ferresnet --width 32 --seed 1
launch fer4w48-s1 $A --arch fer4 --width 48 --seed 1
launch vgg48-s1 $A --arch fervgg --width 48 --seed 1
launch vggish64-s1 $A --arch vggish --width 64 --seed 1
wait
stage_a=(vgg32-s1 vgg32-s2 res32-s1 fer4w48-s1 vgg48-s1 vggish64-s1)
collect vgg32-s1 vgg32-s2 res32-s1 fer4w48-s1
for n in "${stage_a[@]}"; do echo "$n: $(tail -n 1 "$RUNS/$n/stdout")"; done

teachers=$(best 4 "${stage_a[@]}" | sed "s|^|$RUNS/|; s|$|/best.pt|" | paste -sd,)
echo "teachers: $teachers"
B=$(( TOTAL - $(date +%s) + t0 - 25 ))
if [ -n "$teachers" ] && [ "$B" -gt 30 ]; then
    launch kd32-s11 $B --arch fervgg --width 32 --seed 11 --teachers "$teachers"
    launch kd32-s12 $B --arch fervgg --width 32 --seed 12 --teachers "$teachers"
    wait
    for n in kd32-s11 kd32-s12; do echo "$n: $(tail -n 1 "$RUNS/$n/stdout")"; done
fi
collect kd32-s11 kd32-s12
echo "sweep done in $(( $(date +%s) - t0 )) s"
