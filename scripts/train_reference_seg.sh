#!/usr/bin/env bash
# Train (or resume) the reference segmentation model at 2048x1024 (issue 12, item 2).
#
#   scripts/train_reference_seg.sh [extra runespoor train options]
#   nohup scripts/train_reference_seg.sh >> out/reference_seg/train.log 2>&1 &   # background
#
# Settings: ros2_ws/src/runespoor/config/train/seg_reference_2048.yaml (SwiftNet-R18-lite,
# 512x1024 crops, batch 4, 12000 steps, whole-frame validation on the first 10 val frames).
# Resumes exactly from $OUT/last.pt when it exists (same schedule, same steps); otherwise,
# when the committed fp16 weights of the unfinished run ($PARTIAL, default
# models/seg_reference/swiftnet_r18_lite_2048_partial.pt) exist, goes on warm from their step
# (--resume-weights: the same LR schedule, a fresh optimiser re-warmed over 50 steps); else
# starts a new run.  PARTIAL=none forces a new run.  Data: $DATA (default data/synth2048), written by
#   runespoor data synth --out data/synth2048 --size 2048x1024 --seed 0 --train 1000 --val 100 \
#       --sequences 2 --clips 1 --clip-frames 340
# On a shared CPU it runs niced with one thread (NICE=19, THREADS=1); on a GPU box:
#   DEVICE=cuda THREADS=0 NICE=0 scripts/train_reference_seg.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
DATA="${DATA:-data/synth2048}"
OUT="${OUT:-out/reference_seg/swiftnet_r18_lite_2048}"
CONFIG="${CONFIG:-ros2_ws/src/runespoor/config/train/seg_reference_2048.yaml}"
DEVICE="${DEVICE:-cpu}"
THREADS="${THREADS:-1}"
NICE="${NICE:-19}"
PARTIAL="${PARTIAL:-models/seg_reference/swiftnet_r18_lite_2048_partial.pt}"
if [ ! -d "$DATA/leftImg8bit/train" ]; then
    echo "train_reference_seg: no data in $DATA; write it with" >&2
    echo "  runespoor data synth --out $DATA --size 2048x1024 --seed 0 --train 1000 --val 100" \
         "--sequences 2 --clips 1 --clip-frames 340" >&2
    exit 2
fi
if command -v runespoor >/dev/null 2>&1; then
    rs=(runespoor)
elif [ -x .venv/bin/python ]; then   # this repository's `make setup` environment
    set +u
    # shellcheck disable=SC1091
    source scripts/env.sh "${ROS_WHEELS:-jazzy}" >/dev/null
    set -u
    rs=(runespoor)
else                                 # a GPU box with torch but without ROS: the package alone
    export PYTHONPATH="$root/ros2_ws/src/runespoor${PYTHONPATH:+:$PYTHONPATH}"
    rs=(python3 -m runespoor.cli)
fi
if [ "$THREADS" != 0 ]; then
    export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
fi
export PYTHONUNBUFFERED=1
args=(train seg --config "$CONFIG" --data "$DATA" --out "$OUT" --device "$DEVICE"
      --threads "$THREADS" --no-progress)
if [ -f "$OUT/last.pt" ]; then
    echo "[$(date -u +%FT%TZ)] resuming from $OUT/last.pt"
    args+=(--resume "$OUT/last.pt")
elif [ "$PARTIAL" != none ] && [ -f "$PARTIAL" ]; then
    echo "[$(date -u +%FT%TZ)] going on warm from $PARTIAL in $OUT"
    args+=(--resume-weights "$PARTIAL")
else
    echo "[$(date -u +%FT%TZ)] new run in $OUT"
fi
exec nice -n "$NICE" "${rs[@]}" "${args[@]}" "$@"
