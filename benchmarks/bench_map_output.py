#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Downlink cost of a segmentation result per ``map_output`` choice (runespoor.map_output).

Label maps of procedural street scenes (runespoor.data.scene, the maps a good model would
predict) at 512x256 and 2048x1024, packed as the cloud node packs them: ``full`` (raw mono8),
``downsampled`` (every 4th pixel per side), ``png`` (lossless) and ``stats`` (class shares
only).  Per choice: bytes per map (median / p90), the packing time on this CPU (median / p90
[ms]) and the ratio of bytes to ``full``, the baseline of the same run; also the bit rate at
17 fps against the uplink the frame came from (JPEG x4 q70 of the same scene).

    source scripts/env.sh && python benchmarks/bench_map_output.py --out out/bench
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SIZES = ((512, 256), (2048, 1024))
FPS = 17.0


def summary(values):
    """Return the median and p90 of ``values``."""
    arr = np.asarray(values, float)
    return {'median': float(np.median(arr)), 'p90': float(np.percentile(arr, 90))}


def main(argv=None):
    """Pack scene label maps in every mode and write bench_map_output.json."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--frames', type=int, default=12, help='scene frames per size')
    args = ap.parse_args(argv)
    from bench_reconstruct import machine, write_json
    from runespoor import codec
    from runespoor.data.scene import make_scene
    from runespoor.map_output import encode_map, MAP_OUTPUTS
    scene = make_scene(np.random.default_rng(5), args.frames * 5)
    result = {'benchmark': 'bytes and packing time of a SemanticMap per map_output',
              'machine': machine(None), 'fps': FPS, 'downsample': 4, 'sizes': {}}
    for w, h in SIZES:
        per = {mode: {'bytes': [], 'ms': []} for mode in MAP_OUTPUTS}
        uplink = []
        for k in range(args.frames):
            bgr, labels = scene.render(k * 5, (w, h))
            uplink.append(len(codec.encode_frame(bgr, 4, 70).data))
            for mode in MAP_OUTPUTS:
                t0 = time.perf_counter()
                packed = encode_map(labels.astype(np.uint8), mode, factor=4)
                ms = (time.perf_counter() - t0) * 1e3
                nbytes = (packed.labels.nbytes if packed.labels is not None else 0) + \
                    (len(packed.png) if packed.png is not None else 0) + \
                    4 * len(packed.class_shares)
                per[mode]['bytes'].append(nbytes)
                per[mode]['ms'].append(ms)
        full = float(np.median(per['full']['bytes']))
        up = float(np.median(uplink))
        result['sizes'][f'{w}x{h}'] = {
            'uplink_jpeg_x4_q70_bytes': summary(uplink),
            **{mode: {'bytes': summary(v['bytes']), 'pack_ms': summary(v['ms']),
                      'ratio_bytes_vs_full': float(np.median(v['bytes'])) / full,
                      'kbit_s_at_fps': float(np.median(v['bytes'])) * 8 * FPS / 1000,
                      'ratio_vs_uplink_frame': float(np.median(v['bytes'])) / up}
               for mode, v in per.items()}}
        print(f'{w}x{h}: ' + ', '.join(
            f'{m} {result["sizes"][f"{w}x{h}"][m]["bytes"]["median"] / 1000:.1f} kB'
            for m in MAP_OUTPUTS) + f' (uplink frame {up / 1000:.1f} kB)')
    write_json(args.out, 'bench_map_output', result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
