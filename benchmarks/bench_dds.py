#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
DDS delivery latency of EncodedFrame between two processes, and the cloud's per-stage cost.

1. ``dds``: this process publishes EncodedFrames of 1 kB (baseline) and 20 kB-2 MB on a random
   ROS_DOMAIN_ID; a second process (this script, ``--role receiver``) records
   ``receive time - send_stamp`` (one clock: same machine).  Reliable and best-effort QoS.
2. ``cloud``: :class:`runespoor.cloud_pipeline.CloudPipeline` at 512x256 on CPU, frames at
   x4 q70: decode / reconstruct (bilinear) / inference (palette test segmenter and an untrained
   SwiftNet-R18 of the real size) / postprocess, against bare ``cv2.imdecode`` + ``cv2.resize``.

Writes ``bench_dds.json`` with median / p90 [ms] and ratios against the baselines.

    python benchmarks/bench_dds.py --out out/bench
"""

import argparse
import array
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = (1_000, 20_000, 100_000, 500_000, 2_000_000)


def qos(kind):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    rel = ReliabilityPolicy.RELIABLE if kind == 'reliable' else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(depth=10, reliability=rel)


def receiver(args):
    import rclpy
    from runespoor_msgs.msg import EncodedFrame
    rclpy.init()
    node = rclpy.create_node('bench_receiver')
    got = []

    def on_msg(msg):
        now = node.get_clock().now().nanoseconds
        sent = msg.send_stamp.sec * 10 ** 9 + msg.send_stamp.nanosec
        got.append((msg.header.frame_id, len(msg.image.data), (now - sent) / 1e6))

    node.create_subscription(EncodedFrame, 'bench/frames', on_msg, qos(args.qos))
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and not any(g[0] == 'done' for g in got):
        rclpy.spin_once(node, timeout_sec=0.1)
    with open(args.result, 'w') as f:
        json.dump(got, f)
    node.destroy_node()
    rclpy.try_shutdown()


def stats(ms):
    if not ms:
        return {'median_ms': None, 'p90_ms': None, 'n': 0}
    return {'median_ms': round(float(np.median(ms)), 3),
            'p90_ms': round(float(np.percentile(ms, 90)), 3), 'n': len(ms)}


def bench_dds(reps, qos_kind):
    import rclpy
    from runespoor_msgs.msg import EncodedFrame
    domain = random.SystemRandom().randint(1, 100)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    fd, result = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--role', 'receiver',
                             '--result', result, '--qos', qos_kind, '--timeout', '300'],
                            env=env)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('bench_sender', context=ctx)
    pub = node.create_publisher(EncodedFrame, 'bench/frames', qos(qos_kind))
    try:
        deadline = time.monotonic() + 60
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the reader's matching settle before measuring
        rng = np.random.default_rng(0)
        payloads = {s: array.array('B', rng.integers(0, 256, s, dtype=np.uint8).tobytes())
                    for s in SIZES}
        for size in SIZES:
            for i in range(reps + 2):
                msg = EncodedFrame()
                msg.header.frame_id = str(size) if i >= 2 else 'warmup'
                msg.sequence = i
                msg.image.data = payloads[size]
                msg.send_stamp = node.get_clock().now().to_msg()
                pub.publish(msg)
                time.sleep(0.05)  # 20 Hz, like a camera stream
        time.sleep(0.5)
        for _ in range(5):
            done = EncodedFrame()
            done.header.frame_id = 'done'
            pub.publish(done)
            time.sleep(0.1)
        proc.wait(60)
        with open(result) as f:
            got = json.load(f)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        os.unlink(result)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    out = {}
    base = None
    for size in SIZES:
        ms = [g[2] for g in got if g[0] == str(size)]
        row = stats(ms)
        row['delivered'] = f'{len(ms)}/{reps}'
        if size == SIZES[0]:
            base = row['median_ms']
        elif base and row['median_ms'] is not None:
            row['ratio_vs_1kB'] = round(row['median_ms'] / base, 2)
        out[f'{size // 1000}kB'] = row
    return out


def bench_cloud(reps):
    import cv2
    from runespoor import codec
    from runespoor.archs import build_seg
    from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, make_reconstructor,
                                          PipelineConfig)
    from runespoor.tasks.segmentation.analytics import Segmenter
    try:
        from runespoor.data.scene import make_scene
        scene = make_scene(np.random.default_rng(5), reps)
        frames = [scene.render(i, (512, 256))[0] for i in range(reps)]
    except ImportError:
        frames = [np.random.default_rng(i).integers(0, 256, (256, 512, 3), np.uint8)
                  for i in range(reps)]
    data = [codec.encode_frame(f, 4, 70).data for f in frames]
    swift = Segmenter('none')  # an untrained SwiftNet-R18: the real architecture's cost
    swift.arch, swift.device = 'swiftnet_r18', 'cpu'
    swift.model = build_seg('swiftnet_r18').eval()
    out = {}
    for name, seg in (('palette', Segmenter('palette')), ('swiftnet_r18', swift)):
        pipe = CloudPipeline(make_reconstructor('bilinear'), seg, PipelineConfig())
        stages = {k: [] for k in ('decode_ms', 'reconstruct_ms', 'inference_ms',
                                  'postprocess_ms')}
        total = []
        for i, d in enumerate(data):
            t0 = time.perf_counter()
            res = pipe.process(pipe.admit(EncodedInput(i, d, 4, 70, 512, 256)))
            total.append((time.perf_counter() - t0) * 1e3)
            if i >= 2:
                for k, v in res.latencies_ms.items():
                    stages[k].append(v)
        out[name] = {k: stats(v) for k, v in stages.items()}
        out[name]['total'] = stats(total[2:])
    base = []
    for d in data:
        t0 = time.perf_counter()
        lr = cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)
        cv2.resize(lr, (512, 256), interpolation=cv2.INTER_LINEAR)
        base.append((time.perf_counter() - t0) * 1e3)
    out['baseline_bare_decode_resize'] = stats(base[2:])
    b = out['baseline_bare_decode_resize']['median_ms']
    for name in ('palette', 'swiftnet_r18'):
        dr = out[name]['decode_ms']['median_ms'] + out[name]['reconstruct_ms']['median_ms']
        out[name]['ratio_decode_reconstruct_vs_baseline'] = round(dr / b, 2)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--reps', type=int, default=30)
    ap.add_argument('--qos', default='reliable,best_effort')
    ap.add_argument('--role', default='sender', help=argparse.SUPPRESS)
    ap.add_argument('--result', help=argparse.SUPPRESS)
    ap.add_argument('--timeout', type=float, default=300, help=argparse.SUPPRESS)
    ap.add_argument('--skip-cloud', action='store_true')
    args = ap.parse_args(argv)
    if args.role == 'receiver':
        return receiver(args)
    import cv2
    import torch
    report = {'benchmark': 'DDS delivery of EncodedFrame between two processes (loopback, '
                           'one clock); cloud per-stage latency on CPU at 512x256',
              'machine': {'cpu': platform.processor() or platform.machine(),
                          'cores': os.cpu_count(), 'python': platform.python_version(),
                          'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default'),
                          'torch_threads': torch.get_num_threads(), 'opencv': cv2.__version__},
              'dds': {}}
    for kind in args.qos.split(','):
        report['dds'][kind] = bench_dds(args.reps, kind)
        print(kind, json.dumps(report['dds'][kind]), flush=True)
    if not args.skip_cloud:
        report['cloud_stages_512x256_x4q70'] = bench_cloud(max(args.reps, 5))
        print(json.dumps(report['cloud_stages_512x256_x4q70'], indent=1), flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'bench_dds.json')
    with open(path, 'w') as f:
        json.dump(report, f, indent=1)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
