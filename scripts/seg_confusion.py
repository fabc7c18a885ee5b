#!/usr/bin/env python3
"""
Per-class IoU and the main confusions of a segmentation checkpoint on whole frames of a split.

    python scripts/seg_confusion.py --checkpoint out/run/last.pt --data data/synth2048 \
        --split val --limit 10 --json confusion.json

For every class: IoU, pixel share, and the classes its pixels are most often predicted as
(share of the class's labelled pixels).  ``--limit N`` takes the first N frames of the split
(sorted, as the training's validation does).  Loads ``last.pt`` or a final ``seg.pt``.
"""

import argparse
import json
import sys
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--data', required=True, help='Cityscapes-layout root')
    p.add_argument('--split', default='val')
    p.add_argument('--limit', type=int, default=0, help='first N frames (0: all)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--json', help='write the result here')
    args = p.parse_args(argv)

    import torch

    from runespoor.checkpoint import load_model
    from runespoor.data.cityscapes import CityscapesFrames
    from runespoor.labels import NUM_CLASSES, TRAIN_ID_NAMES
    from runespoor.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou
    from runespoor.tensors import bgr_to_tensor
    if args.threads:
        torch.set_num_threads(args.threads)
    model, ckpt = load_model(args.checkpoint, kind='seg', device=args.device)
    model.float()
    frames = CityscapesFrames.from_root(args.data, args.split)
    n = len(frames) if not args.limit else min(args.limit, len(frames))
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(n):
            item = frames[i]
            image = bgr_to_tensor(item['image'], args.device)
            pred = model(image).argmax(1)[0].cpu().numpy()
            conf += confusion_matrix(np.asarray(item['label'], np.int64), pred, NUM_CLASSES)
    secs = (time.perf_counter() - t0) / max(1, n)
    ious = iou_per_class(conf)
    rows = conf / np.maximum(1, conf.sum(1, keepdims=True))
    classes = {}
    for c, name in enumerate(TRAIN_ID_NAMES):
        order = [k for k in np.argsort(-rows[c]) if k != c and rows[c, k] > 0.005][:3]
        classes[name] = {
            'iou': None if np.isnan(ious[c]) else float(ious[c]),
            'pixels': int(conf[c].sum()),
            'recall': float(rows[c, c]) if conf[c].sum() else None,
            'confused_with': {TRAIN_ID_NAMES[k]: round(float(rows[c, k]), 3) for k in order}}
    out = {'checkpoint': args.checkpoint, 'step': ckpt.get('step'), 'data': args.data,
           'split': args.split, 'frames': n, 'miou': float(mean_iou(conf)),
           'classes_below_40': [k for k, v in classes.items()
                                if v['iou'] is not None and v['iou'] < 0.40],
           's_per_frame': secs, 'classes': classes, 'confusion': conf.tolist()}
    print(f"{args.checkpoint} (step {out['step']}): mIoU {out['miou']:.4f} on {n} frames "
          f'of {args.split} ({secs:.2f} s/frame)')
    for name, v in classes.items():
        iou = '-' if v['iou'] is None else f"{v['iou']:.3f}"
        conf_s = ', '.join(f'{k} {s:.2f}' for k, s in v['confused_with'].items())
        print(f'  {name:14s} IoU {iou:>6s}  -> {conf_s}')
    if args.json:
        with open(args.json, 'w') as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
