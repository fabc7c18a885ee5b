# Shared by scripts/gpu_train.sh and scripts/gpu_train_det.sh (sourced, not run).
# Needs: $root (repository), $work (scratch folder), $out (where the packs go), $tag (log tag).
export PYTHONPATH="$root/ros2_ws/src/runespoor${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
rs() { python3 -m runespoor.cli "$@"; }
stamp() { echo "[$tag $(date +%H:%M:%S) +$((SECONDS))s] $*"; }

pack() {  # pack FILE_PREFIX NAME DIR...: final checkpoints (not last.pt), metrics and logs
    local prefix="$1" name="$2"; shift 2
    local file="$out/${prefix}_$name.tgz"
    tar -czf "$file" -C "$work/runs" --exclude=last.pt "$@"
    stamp "packed $file ($(du -h "$file" | cut -f1))"
}

device_info() {  # the Python / torch / GPU the run uses
    stamp "device=$device size=$size python=$(python3 --version 2>&1)"
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
                torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
}
