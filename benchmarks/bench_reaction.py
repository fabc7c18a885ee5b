#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
CAC reaction time over DDS on loopback (paper §5.3: ~500 ms; our goal: <= 2 frames at 17 fps).

Source (palette pattern with periodic tail stretches), edge and cloud run as separate processes
on a random ROS_DOMAIN_ID; this process listens.  For every RatePolicy the cloud sends, the
reaction is the time from the policy's stamp (the cloud finished the frame that changed the
tail state) to the ``send_stamp`` of the first EncodedFrame the edge sent under it
(:func:`runespoor.cac.experiment.reaction_times`).  Baselines measured in the same run: the
frame period (1/fps) and the DDS one-way latency of the EncodedFrames themselves
(``send_stamp`` -> arrival here; one clock, one machine).

Writes ``bench_reaction.json``: median / p90 [ms] of the reaction to tail and back, the
reaction in frames, the ratios reaction / frame period and reaction / DDS latency, and the
detection path (capture of the triggering frame -> first switched frame).

    source scripts/env.sh && python benchmarks/bench_reaction.py --out out/bench [--seconds 30]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--seconds', type=float, default=30.0, help='streaming time')
    ap.add_argument('--fps', type=float, default=17.0)
    ap.add_argument('--size', default='512x256')
    ap.add_argument('--hold-s', type=float, default=0.3)
    args = ap.parse_args(argv)
    from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                           ReliabilityPolicy)
    from runespoor.cac.experiment import reaction_times, summarise
    from runespoor_bringup.graph import Graph
    from runespoor_cloud.testing import child_env, free_domain_id, Probe
    from runespoor_msgs.msg import EncodedFrame, RatePolicy
    w, h = (int(v) for v in args.size.split('x'))
    domain = free_domain_id()
    probe = Probe(domain, 'bench_reaction_probe')
    arrivals = []

    def on_encoded(msg):
        now = probe.node.get_clock().now().nanoseconds * 1e-9
        arrivals.append((msg, now))

    probe.node.create_subscription(EncodedFrame, 'runespoor/encoded', on_encoded,
                                   qos_profile_sensor_data)
    policies = probe.collect(RatePolicy, 'runespoor/rate_policy', QoSProfile(
        depth=50, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    log_dir = tempfile.mkdtemp(prefix='bench_reaction_')
    period = int(round(2 * args.fps))  # a tail stretch of 10 frames every 2 s
    try:
        with Graph(child_env(domain), log_dir=log_dir) as graph:
            graph.start('cloud', overrides={'seg_arch': 'palette', 'seg_weights': '',
                                            'method': 'bilinear', 'device': 'cpu',
                                            'hold_s': args.hold_s, 'queue_size': 2,
                                            'publish_color': False,
                                            'publish_reconstructed_every_n': 0})
            graph.start('edge', overrides={'scale': 4, 'jpeg_quality': 70, 'tail_scale': 2,
                                           'tail_jpeg_quality': 40})
            if not probe.spin_until(
                    lambda: probe.node.count_publishers('runespoor/link_feedback') > 0, 60):
                raise SystemExit('cloud did not come up:\n' + graph.log('cloud')[-2000:])
            graph.start('source', overrides={
                'mode': 'synthetic', 'pattern': 'palette', 'width': w, 'height': h,
                'rate': args.fps, 'tail_period_frames': period, 'tail_frames': 10,
                'wait_for_subscribers_s': 20.0, 'min_subscribers': 1})
            probe.spin_until(lambda: arrivals, 30)
            t0 = time.monotonic()
            probe.spin_until(lambda: len(graph.alive()) < 3, args.seconds)
            wall = time.monotonic() - t0
            if len(graph.alive()) < 3:
                raise SystemExit('a node died:\n' + '\n'.join(
                    graph.log(k)[-1500:] for k in graph.procs))
    finally:
        probe.close()

    def s(stamp):
        return stamp.sec + stamp.nanosec * 1e-9

    frames = [{'sequence': m.sequence, 'policy_sequence': m.policy_sequence,
               'tail_specific': m.knobs.tail_specific, 'send_s': s(m.send_stamp),
               'capture_s': s(m.header.stamp)} for m, _ in arrivals]
    dds_ms = [(now - s(m.send_stamp)) * 1e3 for m, now in arrivals]
    pols = {p.policy_sequence: {'policy_sequence': p.policy_sequence, 'mode': p.mode,
                                'stamp_s': s(p.header.stamp),
                                'trigger_sequence': p.trigger_sequence} for p in policies}
    events = reaction_times(list(pols.values()), frames)
    to_tail = [e['reaction_ms'] for e in events if e['mode'] == 'tail']
    back = [e['reaction_ms'] for e in events if e['mode'] == 'standard']
    both = [e['reaction_ms'] for e in events]
    period_ms = 1000.0 / args.fps
    by_seq = {f['sequence']: f for f in frames}
    # the part that is not waiting for the next camera frame: from the later of (policy stamp,
    # capture of the first frame under it) to that frame's send_stamp
    edge_part = [(by_seq[e['first_sequence']]['send_s']
                  - max(e['stamp_s'], by_seq[e['first_sequence']]['capture_s'])) * 1e3
                 for e in events if e['first_sequence'] is not None]
    react = summarise(both)
    dds = summarise(dds_ms)
    result = {
        'benchmark': 'CAC reaction time (RatePolicy stamp -> first EncodedFrame under it)',
        'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                    'python': platform.python_version(),
                    'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default')},
        'setup': {'fps': args.fps, 'size': [w, h], 'hold_s': args.hold_s,
                  'segmenter': 'palette (test mode)', 'reconstruction': 'bilinear',
                  'transport': 'loopback (one machine, Fast DDS)', 'seconds': wall,
                  'tail_stretch': f'10 of every {period} frames'},
        'frames_sent': len(frames), 'policies': len(pols),
        'unanswered_policies': sum(1 for e in events if e['reaction_ms'] is None),
        'reaction_ms': react,
        'reaction_to_tail_ms': summarise(to_tail),
        'reaction_back_to_standard_ms': summarise(back),
        'reaction_frames': summarise([v / period_ms for v in both if v is not None]),
        'reaction_without_frame_wait_ms': summarise(edge_part),
        'detection_path_ms': summarise([e['from_capture_ms'] for e in events
                                        if e['mode'] == 'tail']),
        'baseline_frame_period_ms': period_ms,
        'baseline_dds_one_way_ms': dds,
        'ratio_median_vs_frame_period': (react['median'] / period_ms
                                         if react['median'] is not None else None),
        'ratio_p90_vs_frame_period': (react['p90'] / period_ms
                                      if react['p90'] is not None else None),
        'ratio_median_vs_dds_one_way': (react['median'] / dds['median']
                                        if react['median'] is not None and dds['median']
                                        else None),
        'goal': 'median and p90 <= 2 frame periods (paper: ~500 ms)',
        'goal_met': (react['p90'] is not None and react['p90'] <= 2 * period_ms),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'bench_reaction.json')
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in (
        'policies', 'reaction_ms', 'reaction_frames', 'reaction_without_frame_wait_ms',
        'baseline_dds_one_way_ms',
        'ratio_median_vs_frame_period', 'ratio_median_vs_dds_one_way', 'goal_met')},
        indent=1))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
