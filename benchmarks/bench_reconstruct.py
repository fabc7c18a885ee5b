#!/usr/bin/env python3
"""
CPU benchmark of cloud-side reconstruction and of the small-region ratio at the demo size.

Reconstruction latency per scale and method (bilinear, CARN, CARN-M; random weights -- the
cost does not depend on them) from the codec's LR size to 512x256: median, p90 and the ratio to
bilinear measured in the same run; and the cost per call of ``small_region_ratio`` on 128x64 and
256x128 prediction maps (one thread).  Writes JSON::

    PYTHONPATH=ros2_ws/src/runespoor python3 benchmarks/bench_reconstruct.py --out out/bench
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from runespoor.archs import build_sr
from runespoor.codec import scaled_size
from runespoor.reconstruct import bilinear, sr_to_size
from runespoor.regions import DEFAULT_MAX_AREA_FRACTION, small_region_ratio
import torch


def _stats(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {'median_ms': statistics.median(times),
            'p90_ms': times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))],
            'iters': iters}


def machine(threads):
    """Return the run's environment for the JSON: threads, torch, Python, CPU count."""
    return {'threads': threads, 'torch': torch.__version__,
            'python': platform.python_version(), 'cpu_count': os.cpu_count()}


def write_json(out_dir, name, result):
    """Write ``result`` to ``<out_dir>/<name>.json`` and say so."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f'{name}.json')
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {path}')


def street_map(h, w, seed=0):
    """Return a street-like train-id map: stuff bands plus small objects and fragments."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    m[:h // 3] = 10
    m[h // 3:h // 2] = 2
    m[h // 3:h // 2, :w // 4] = 8
    for _ in range(60):
        c = rng.integers(0, 19)
        y, x = rng.integers(0, h), rng.integers(0, w)
        m[y:y + rng.integers(1, max(2, h // 10)), x:x + rng.integers(1, max(2, w // 30))] = c
    noise = rng.random((h, w)) < 0.01
    m[noise] = rng.integers(0, 19, int(noise.sum()))
    return m


def main(argv=None):
    """Run the benchmark and write ``<out>/bench_reconstruct.json``."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('--out', default='out/bench')
    p.add_argument('--size', type=int, nargs=2, default=[256, 512], metavar=('H', 'W'))
    p.add_argument('--scales', type=int, nargs='+', default=[2, 4, 6, 8])
    p.add_argument('--archs', nargs='+', default=['carn_m', 'carn'])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--region-iters', type=int, default=300)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    H, W = args.size
    rows = []
    with torch.inference_mode():
        for scale in args.scales:
            w, h = scaled_size(W, H, scale)
            x = torch.rand(1, 3, h, w)
            ref = _stats(lambda: bilinear(x, (H, W)), args.warmup, args.iters * 5)
            rows.append(dict(method='bilinear', scale=scale, lr_size=[h, w], **ref))
            for arch in args.archs:
                model = build_sr(arch, scale).eval()
                res = _stats(lambda: sr_to_size(model, x, (H, W)), args.warmup, args.iters)
                res['ratio_to_bilinear'] = res['median_ms'] / ref['median_ms']
                rows.append(dict(method=arch, scale=scale, lr_size=[h, w], **res))
                print(json.dumps(rows[-1]), flush=True)
    import cv2
    cv2.setNumThreads(1)
    regions = []
    for h, w in ((64, 128), (128, 256)):
        m = street_map(h, w)
        res = _stats(lambda: small_region_ratio(m), 20, args.region_iters)
        regions.append(dict(size=[h, w], ratio=small_region_ratio(m),
                            max_area_fraction=DEFAULT_MAX_AREA_FRACTION, **res))
        print(json.dumps(regions[-1]), flush=True)
    write_json(args.out, 'bench_reconstruct', dict(size=[H, W], **machine(args.threads),
                                                   reconstruction=rows,
                                                   small_region_ratio=regions))
    return 0


if __name__ == '__main__':
    sys.exit(main())
