#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Edge cost per frame: ``codec.encode_frame`` (what the edge node runs) vs bare OpenCV.

For a 2048x1024 street-scene frame and every scale x quality, times
``runespoor.codec.encode_frame`` and the bare ``cv2.resize(INTER_AREA)`` + ``cv2.imencode``
it wraps, interleaved, on one OpenCV thread.  Writes JSON with median / p90 [ms] and the
overhead ratio (targets, reported not asserted: ratio <= 1.2; x4 under 10 ms on one core).

    python benchmarks/bench_edge.py --out out/bench
"""

import argparse
import json
import os
import platform
import time

import cv2
import numpy as np
from runespoor import codec


def frame(width=2048, height=1024):
    """Return a realistic frame: the procedural street scene if available, else noise."""
    try:
        from runespoor.data.scene import make_scene
        return make_scene(np.random.default_rng(3), 30).render(10, (width, height))[0], 'scene'
    except ImportError:
        rng = np.random.default_rng(3)
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 'noise'


def bare(image, scale, quality):
    if scale > 1:
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w / scale), round(h / scale)),
                           interpolation=cv2.INTER_AREA)
    return cv2.imencode('.jpg', image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])[1]


def stats(ms):
    return {'median_ms': round(float(np.median(ms)), 3),
            'p90_ms': round(float(np.percentile(ms, 90)), 3), 'n': len(ms)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--reps', type=int, default=30)
    ap.add_argument('--qualities', default='40,60,70,90')
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    image, kind = frame()
    results = []
    for scale in codec.SCALES:
        for quality in (int(q) for q in args.qualities.split(',')):
            ours, base = [], []
            size = len(codec.encode_frame(image, scale, quality).data)  # warm-up
            bare(image, scale, quality)
            for _ in range(args.reps):
                t0 = time.perf_counter()
                codec.encode_frame(image, scale, quality)
                t1 = time.perf_counter()
                bare(image, scale, quality)
                t2 = time.perf_counter()
                ours.append((t1 - t0) * 1e3)
                base.append((t2 - t1) * 1e3)
            row = {'scale': scale, 'quality': quality, 'bytes': size,
                   'encode_frame': stats(ours), 'bare_opencv': stats(base),
                   'ratio_median': round(float(np.median(ours) / np.median(base)), 3)}
            results.append(row)
            print(f'x{scale} q{quality}: encode_frame {row["encode_frame"]["median_ms"]:.2f} ms '
                  f'(p90 {row["encode_frame"]["p90_ms"]:.2f}), bare '
                  f'{row["bare_opencv"]["median_ms"]:.2f} ms, ratio {row["ratio_median"]:.2f},'
                  f' {size / 1000:.1f} kB', flush=True)
    x4 = [r['encode_frame']['median_ms'] for r in results if r['scale'] == 4]
    report = {
        'benchmark': 'edge resize+encode per frame, 2048x1024, one OpenCV thread',
        'frame': kind, 'machine': {'cpu': platform.processor() or platform.machine(),
                                   'cores': os.cpu_count(), 'python': platform.python_version(),
                                   'opencv': cv2.__version__},
        'results': results,
        'targets': {'ratio_max': 1.2, 'x4_ms_max': 10.0,
                    'ratio_worst': max(r['ratio_median'] for r in results),
                    'x4_ms_worst_median': max(x4)},
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'bench_edge.json')
    with open(path, 'w') as f:
        json.dump(report, f, indent=1)
    print(f'wrote {path}: worst ratio {report["targets"]["ratio_worst"]}, '
          f'x4 worst median {report["targets"]["x4_ms_worst_median"]} ms')


if __name__ == '__main__':
    main()
