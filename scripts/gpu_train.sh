#!/usr/bin/env bash
# Train the shipped 512x256 models in one go on a GPU box (Python 3.12 + torch, no ROS needed).
#
#   scripts/gpu_train.sh OUT_DIR          # what produced models/ (on an NVIDIA H200)
#   TINY=1 scripts/gpu_train.sh OUT_DIR   # seconds-long smoke test of the same path on a CPU
#   ASR_ARGS="--analytics-target hr --judge-jitter 8 --grid-weight 1" scripts/gpu_train.sh OUT
#                                         # ASR with loss options beyond the paper (docs/evaluation.md)
#
# Stages: synthetic data (seed 0) -> segmentation model -> base SR x2/x4/x6/x8 (in parallel)
# -> ASR and CloudSeg fine-tuning per scale (in parallel, the segmentation model frozen).
# Each stage packs its final checkpoints + metrics + logs into OUT_DIR/models_<stage>.tgz as soon
# as it ends, so a run cut short still returns what it finished.  The same `runespoor train`
# commands run on a CPU with --device cpu (see models/README.md for the times).
set -euo pipefail

out="${1:?usage: scripts/gpu_train.sh OUT_DIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${WORK:-/tmp/runespoor_train}"
mkdir -p "$out" "$work/ship"
out="$(cd "$out" && pwd)"
tag=gpu_train
# shellcheck source=scripts/train_lib.sh
source "$root/scripts/train_lib.sh"

if [ "${TINY:-0}" = 1 ]; then
    device=cpu; size=256x128; ntrain=6; nval=3; nseq=1
    seg_steps=3; seg_batch=2; sr_steps=3; sr_batch=2; sr_patch=8; ft_steps=2; ft_batch=1
    seg_workers=0; sr_workers=0; threads=1
else
    device=cuda; size=512x256; ntrain=400; nval=60; nseq=2
    seg_steps=2500; seg_batch=16; sr_steps=2000; sr_batch=16; sr_patch=32; ft_steps=400; ft_batch=8
    seg_workers=12; sr_workers=3; threads=0
fi
data="$work/data"
common=(--device "$device" --seed 0 --no-progress --threads "$threads")

device_info

stamp "data: runespoor data synth --size $size --seed 0 --train $ntrain --val $nval"
rs data synth --out "$data" --size "$size" --seed 0 --train "$ntrain" --val "$nval" \
    --sequences "$nseq" --clips 0 --no-color > "$work/data.log" 2>&1 || { cat "$work/data.log"; exit 1; }
mkdir -p "$work/runs"

stamp "seg: swiftnet_r18_lite, $seg_steps steps, batch $seg_batch"
rs train seg --data "$data" --out "$work/runs/seg" --arch swiftnet_r18_lite --steps "$seg_steps" \
    --batch "$seg_batch" --crop "${size#*x}" "${size%x*}" --lr 2e-3 --workers "$seg_workers" \
    "${common[@]}" > "$work/runs/seg.log" 2>&1 || { tail -30 "$work/runs/seg.log"; exit 1; }
tail -2 "$work/runs/seg.log"
mv "$work/runs/seg.log" "$work/runs/seg/train.log"
pack models seg seg

stamp "sr: carn_m x2 x4 x6 x8 in parallel, $sr_steps steps each"
pids=()
for s in 2 4 6 8; do
    mkdir -p "$work/runs/sr_x$s"
    rs train sr --data "$data" --out "$work/runs/sr_x$s" --arch carn_m --scale "$s" \
        --steps "$sr_steps" --batch "$sr_batch" --patch "$sr_patch" --lr 5e-4 --workers "$sr_workers" \
        "${common[@]}" > "$work/runs/sr_x$s/train.log" 2>&1 &
    pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
for s in 2 4 6 8; do tail -1 "$work/runs/sr_x$s/train.log"; done
[ "$fail" = 0 ] || { stamp "an SR run failed"; tail -n 20 "$work"/runs/sr_x*/train.log; exit 1; }
pack models sr sr_x2 sr_x4 sr_x6 sr_x8

stamp "asr + cloudseg x2 x4 x6 x8 in parallel, $ft_steps steps each"
pids=()
for m in asr cloudseg; do
    for s in 2 4 6 8; do
        mkdir -p "$work/runs/${m}_x$s"
        extra=()
        if [ "$m" = asr ] && [ -n "${ASR_ARGS:-}" ]; then read -r -a extra <<< "$ASR_ARGS"; fi
        rs train "$m" --data "$data" --out "$work/runs/${m}_x$s" --scale "$s" \
            --init "$work/runs/sr_x$s/sr_x$s.pt" --seg "$work/runs/seg/seg.pt" \
            --steps "$ft_steps" --batch "$ft_batch" --lr 1e-4 --workers 1 \
            "${common[@]}" "${extra[@]}" > "$work/runs/${m}_x$s/train.log" 2>&1 &
        pids+=($!)
    done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
for m in asr cloudseg; do for s in 2 4 6 8; do tail -1 "$work/runs/${m}_x$s/train.log"; done; done
pack models finetune asr_x2 asr_x4 asr_x6 asr_x8 cloudseg_x2 cloudseg_x4 cloudseg_x6 cloudseg_x8
[ "$fail" = 0 ] || { stamp "a fine-tuning run failed"; tail -n 20 "$work"/runs/*_x*/train.log; exit 1; }
stamp "done"
