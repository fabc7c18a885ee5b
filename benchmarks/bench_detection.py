#!/usr/bin/env python3
"""
CPU benchmark of the detection task's cloud work at the 640x360 demo size.

Per frame: the detector (``retinanet_r18_lite``; the shipped weights when present, since the
post-processing cost depends on how many boxes pass the score threshold) against the
segmentation model (``swiftnet_r18_lite``) on the same frame size, measured in the same run; and
the tail signal of each task, the small-box share of the detections (paper §3.2: "directly
adding small bounding boxes", ~1 ms) against the small-region ratio of a segmentation map of the
same size.  Median, p90 and the ratios.  Writes JSON::

    PYTHONPATH=ros2_ws/src/runespoor python3 benchmarks/bench_detection.py --out out/bench
"""

import argparse
import json
import os
import sys

import numpy as np

from bench_reconstruct import _stats, machine, street_map, write_json
from runespoor.archs import build_det, build_seg
from runespoor.tasks.detection.tail_signal import small_box_share
from runespoor.regions import DEFAULT_MAX_AREA_FRACTION, small_region_ratio
from runespoor.tensors import bgr_to_tensor
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DET_WEIGHTS = os.path.join(HERE, '..', 'models', 'det', 'retinanet_r18_lite.pt')


def _frame(h, w):
    """Return a drone-view frame from the generator (or noise when it is unavailable)."""
    try:
        from runespoor.data.drone import make_scene
        image = make_scene(0, 'val', 0, 2).render(0, (w, h))[0]
    except (ImportError, TypeError, ValueError):
        image = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    return bgr_to_tensor(image)


def main(argv=None):
    """Run the benchmark and write ``<out>/bench_detection.json``."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('--out', default='out/bench')
    p.add_argument('--size', type=int, nargs=2, default=[360, 640], metavar=('H', 'W'))
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--signal-iters', type=int, default=300)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, w = args.size
    x = _frame(h, w)
    weights = DET_WEIGHTS if os.path.isfile(DET_WEIGHTS) else None
    det = build_det('retinanet_r18_lite', weights=weights).eval()
    seg = build_seg('swiftnet_r18_lite').eval()
    with torch.inference_mode():
        seg_t = _stats(lambda: seg(x), args.warmup, args.iters)
        det_t = _stats(lambda: det(x), args.warmup, args.iters)
        found = det(x)[0]
    det_t['ratio_to_segmentation'] = det_t['median_ms'] / seg_t['median_ms']
    boxes = found['boxes'].numpy()
    scores = found['scores'].numpy()
    share = _stats(lambda: small_box_share(boxes, scores, w, h), 20, args.signal_iters)
    labels = street_map(h // 4, w // 4)
    ratio = _stats(lambda: small_region_ratio(labels), 20, args.signal_iters)
    share['ratio_to_small_region_ratio'] = share['median_ms'] / ratio['median_ms']
    result = {
        'size': [h, w], **machine(args.threads),
        'detector': dict(arch='retinanet_r18_lite', weights='shipped' if weights else 'random',
                         boxes=int(len(boxes)), boxes_scored_0_3=int((scores >= 0.3).sum()),
                         **det_t),
        'segmentation_baseline': dict(arch='swiftnet_r18_lite', weights='random', **seg_t),
        'small_box_share': dict(boxes=int(len(boxes)), value=small_box_share(boxes, scores, w, h),
                                **share),
        'small_region_ratio_baseline': dict(size=[h // 4, w // 4],
                                            max_area_fraction=DEFAULT_MAX_AREA_FRACTION,
                                            **ratio),
    }
    for key in ('detector', 'segmentation_baseline', 'small_box_share',
                'small_region_ratio_baseline'):
        print(json.dumps({key: result[key]}), flush=True)
    write_json(args.out, 'bench_detection', result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
