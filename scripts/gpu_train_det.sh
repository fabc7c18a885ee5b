#!/usr/bin/env bash
# Train the detection task's models in one go on a GPU box (Python 3.12 + torch, no ROS needed).
#
#   scripts/gpu_train_det.sh OUT_DIR [SIZE]          # SIZE: 640x360 (shipped models), 1920x1080...
#   TINY=1 scripts/gpu_train_det.sh OUT_DIR          # seconds-long smoke test on a CPU
#
# Stages: drone-view data in the VisDrone layout (seed 0) -> detector (RetinaNet, lite FPN) ->
# base SR x2/x4 on drone frames (in parallel) -> ASR and CloudSeg for detection per scale (in
# parallel, the detector frozen).  Each stage packs its final checkpoints + metrics + logs into
# OUT_DIR/det_models_<stage>.tgz as soon as it ends.  The same `runespoor train` commands run on
# a CPU (config/train/det*.yaml hold the CPU settings the shipped models were trained with).
set -euo pipefail

out="${1:?usage: scripts/gpu_train_det.sh OUT_DIR [SIZE]}"
size="${2:-640x360}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${WORK:-/tmp/runespoor_train_det}"
mkdir -p "$out" "$work/runs"
out="$(cd "$out" && pwd)"
tag=gpu_train_det
# shellcheck source=scripts/train_lib.sh
source "$root/scripts/train_lib.sh"

w="${size%x*}"; h="${size#*x}"
if [ "${TINY:-0}" = 1 ]; then
    device=cpu; size=320x180; w=320; h=180; ntrain=6; nval=4
    det_steps=3; det_batch=2; sr_steps=3; sr_batch=2; sr_patch=8; ft_steps=2; ft_batch=1
    workers=0; threads=1
else
    device=cuda; ntrain=600; nval=100
    det_steps=6000; det_batch=16; sr_steps=2000; sr_batch=16; sr_patch=32; ft_steps=600
    ft_batch=8; workers=6; threads=0
fi
crop_h=$(( h / 2 / 32 * 32 )); crop_w=$(( w / 2 / 32 * 32 ))
data="$work/data"
common=(--device "$device" --seed 0 --no-progress --threads "$threads")

device_info
stamp "data: runespoor data drone --size $size --seed 0 --train $ntrain --val $nval"
rs data drone --out "$data" --size "$size" --seed 0 --train "$ntrain" --val "$nval" \
    > "$work/data.log" 2>&1 || { cat "$work/data.log"; exit 1; }

stamp "det: retinanet_r18_lite, $det_steps steps, batch $det_batch, crops ${crop_w}x${crop_h}"
mkdir -p "$work/runs/det"
rs train det --data "$data" --out "$work/runs/det" --steps "$det_steps" --batch "$det_batch" \
    --crop "$crop_h" "$crop_w" --lr 2e-3 --workers "$workers" --val-every 1000 \
    "${common[@]}" > "$work/runs/det/train.log" 2>&1 || { tail -30 "$work/runs/det/train.log"; exit 1; }
tail -1 "$work/runs/det/train.log"
pack det_models det det

stamp "sr: carn_m x2 x4 on drone frames in parallel, $sr_steps steps each"
pids=()
for s in 2 4; do
    mkdir -p "$work/runs/sr_x$s"
    rs train sr --analytics detection --data "$data" --out "$work/runs/sr_x$s" --arch carn_m \
        --scale "$s" --steps "$sr_steps" --batch "$sr_batch" --patch "$sr_patch" --lr 5e-4 \
        --workers "$workers" "${common[@]}" > "$work/runs/sr_x$s/train.log" 2>&1 &
    pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { stamp "an SR run failed"; tail -n 20 "$work"/runs/sr_x*/train.log; exit 1; }
pack det_models sr sr_x2 sr_x4

stamp "asr + cloudseg (detection) x2 x4 in parallel, $ft_steps steps each"
pids=()
for m in asr cloudseg; do
    for s in 2 4; do
        mkdir -p "$work/runs/${m}_x$s"
        rs train "$m" --analytics detection --data "$data" --out "$work/runs/${m}_x$s" \
            --scale "$s" --init "$work/runs/sr_x$s/sr_x$s.pt" --det "$work/runs/det/det.pt" \
            --steps "$ft_steps" --batch "$ft_batch" --crop "$crop_h" "$crop_w" --lr 1e-4 \
            --workers 1 "${common[@]}" > "$work/runs/${m}_x$s/train.log" 2>&1 &
        pids+=($!)
    done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
pack det_models finetune asr_x2 asr_x4 cloudseg_x2 cloudseg_x4
[ "$fail" = 0 ] || { stamp "a fine-tuning run failed"; tail -n 20 "$work"/runs/*_x*/train.log; exit 1; }
stamp "done"
