#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Detections on one frame for every method at one scale (shaped like the paper's Figs. 11-12).

    source scripts/env.sh
    python scripts/det_examples.py --config ros2_ws/src/runespoor/config/eval/drone_val.yaml \
        --frame 40 --scale 2 --crop 160 90 240 135 \
        --out results/eval_drone_val/fig11_detections_x2.jpg

Uses the models of a detection eval config (the same codec, reconstruction and detector as
``runespoor eval``): the frame is degraded by the edge codec at ``--scale`` and the config's
table quality, reconstructed by bilinear / SR / CloudSeg / ASR, and the detections (score >=
``--score``) are drawn; the HR frame and its ground truth come first.  A crop (``--crop
X Y W H``, pixels of the frame) is enlarged below the full frames, as in the paper's Fig. 12.
"""

import argparse
import os
import sys

import cv2
import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument('--config', required=True, help='detection eval config (YAML)')
    ap.add_argument('--frame', type=int, default=0, help='index of the frame in the split')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--score', type=float, default=0.3, help='draw detections above this')
    ap.add_argument('--crop', type=int, nargs=4, metavar=('X', 'Y', 'W', 'H'),
                    help='region to enlarge (default: the centre quarter)')
    ap.add_argument('--out', required=True, help='image to write (.png, or .jpg: smaller)')
    args = ap.parse_args(argv)

    import torch
    from runespoor.cloud_pipeline import caption
    from runespoor.tasks.detection.analytics import Detections, draw_detections
    from runespoor.data.visdrone import read_annotation
    from runespoor.evaluation.config import load_config
    from runespoor.tasks.detection.evaluation import list_frames
    from runespoor.device import resolve_device
    from runespoor.evaluation.runner import Degrader, EvalError, get_task, plan_runs
    from runespoor.metrics.detection import xywh_to_xyxy
    from runespoor.tensors import tensor_to_bgr

    try:
        config = load_config(args.config)
        if config.task != 'detection':
            raise EvalError(f'{args.config} is not a detection config (task: {config.task})')
        frames = list_frames(config.dataset_root)
        if not 0 <= args.frame < len(frames):
            raise EvalError(f'--frame {args.frame}: the split has {len(frames)} frames')
        device = resolve_device(config.device)
        model, _ = get_task(config).load_model(device)
        _, sr_checkpoints, skipped = plan_runs(config)
    except (EvalError, ValueError, OSError) as exc:
        print(f'det_examples: {exc}', file=sys.stderr)
        return 2
    frame = frames[args.frame]
    image = cv2.imread(frame.image_path, cv2.IMREAD_COLOR)
    truth = read_annotation(frame.files[1])
    gt_boxes = xywh_to_xyxy(truth.boxes)
    panels = [('HR ground truth', draw_detections(
        image, Detections(gt_boxes, np.ones(len(gt_boxes), np.float32), truth.labels)))]
    degrade = Degrader(sr_checkpoints, device)
    runs = [('hr', 1)] + [(m, args.scale) for m in config.methods
                          if (m, args.scale) in sr_checkpoints or m == 'bilinear']
    for method, scale in runs:
        with torch.no_grad():
            recon, nbytes = degrade(image, frame.image_path, method, scale,
                                    config.table_quality)
            found = model(recon)[0]
        keep = found['scores'] >= args.score
        dets = Detections(found['boxes'][keep].cpu().numpy(), found['scores'][keep].cpu().numpy(),
                          found['labels'][keep].cpu().numpy())
        name = 'HR' if method == 'hr' else f'{method} x{scale} q{config.table_quality}'
        panels.append((f'{name}: {len(dets)} boxes, {nbytes / 1024:.0f} KB',
                       draw_detections(tensor_to_bgr(recon), dets)))
    h, w = image.shape[:2]
    x, y, cw, ch = args.crop or (w // 4, h // 4, w // 2, h // 2)
    rows = []
    for title, panel in panels:
        crop = cv2.resize(panel[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_NEAREST)
        cv2.rectangle(panel, (x, y), (x + cw - 1, y + ch - 1), (255, 255, 255), 1)
        rows.append(np.hstack([caption(panel, title), caption(crop, 'enlarged')]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    for item in skipped:
        print(f'det_examples: skipped {item["method"]} x{item["scale"]}: {item["reason"]}')
    print(f'wrote {args.out} ({len(panels)} panels, frame {frame.name})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
