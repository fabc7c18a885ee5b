#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Recovery after a crashed peer: ``kill -9`` of the edge, then of the cloud, each restarted.

Source (palette pattern), edge and cloud run as separate processes over DDS on loopback; this
process listens.  The cloud flags every frame as a tail frame with a long hold, so before a
crash the edge runs the latched tail config - the state an edge restart used to get stuck in.

- **edge restart**: from the capture of the first frame of the new edge run (the earliest
  capture stamp of that run seen on the uplink or in a map) to the arrival of the first
  ``SemanticMap`` of that run (the cloud follows the new numbering), and to the first frame
  the new edge sends under a policy of the cloud (edge and cloud agree again);
- **cloud restart**: from the new cloud's first ``LinkFeedback`` (it is up) to its first map,
  and from the kill to that map (includes the new process's start-up and model loading).

Each is repeated ``--repeats`` times.  Writes ``bench_restart.json``: median / p90 / max [s],
the ratio to the frame period measured in the same run, and the goal (recovery <= 3 s).

    source scripts/env.sh && python benchmarks/bench_restart.py --out out/bench [--repeats 3]
"""

import argparse
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

W, H = 256, 128
CLOUD = {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu',
         'tail_threshold': 1.0, 'hold_s': 600.0, 'queue_size': 2, 'publish_color': False,
         'publish_reconstructed_every_n': 0}
EDGE = {'scale': 4, 'jpeg_quality': 70, 'tail_scale': 2, 'tail_jpeg_quality': 40}


def stats(values):
    """Return median / p90 / max / n of ``values`` [s] (None when empty)."""
    import numpy as np
    if not values:
        return {'median': None, 'p90': None, 'max': None, 'n': 0}
    arr = np.asarray(values, float)
    return {'median': float(np.median(arr)), 'p90': float(np.percentile(arr, 90)),
            'max': float(arr.max()), 'n': int(arr.size)}


def main(argv=None):
    """Kill and restart the edge, then the cloud, ``--repeats`` times; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--fps', type=float, default=10.0)
    ap.add_argument('--timeout-s', type=float, default=120.0, help='per wait')
    args = ap.parse_args(argv)
    from bench_reconstruct import write_json
    from graph_watch import environment
    from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                           ReliabilityPolicy)
    from runespoor_bringup.graph import Graph
    from runespoor_cloud.testing import child_env, free_domain_id, Probe
    from runespoor_msgs.msg import EncodedFrame, LinkFeedback, RatePolicy, SemanticMap

    domain = free_domain_id()
    probe = Probe(domain, 'bench_restart_probe')
    frames, maps, feedback = [], [], []

    def stamp(bucket):  # arrival on the wall clock, the clock of the capture stamps
        return lambda msg: bucket.append((time.time(), msg))

    probe.node.create_subscription(EncodedFrame, 'runespoor/encoded', stamp(frames),
                                   qos_profile_sensor_data)
    probe.node.create_subscription(SemanticMap, 'runespoor/semantic_map', stamp(maps),
                                   QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    probe.node.create_subscription(LinkFeedback, 'runespoor/link_feedback', stamp(feedback),
                                   QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    probe.collect(RatePolicy, 'runespoor/rate_policy', QoSProfile(
        depth=50, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    log_dir = tempfile.mkdtemp(prefix='bench_restart_')
    edge_map_s, edge_policy_s, cloud_map_s, cloud_kill_map_s = [], [], [], []
    failures = []

    def wait(cond, what):
        if not probe.spin_until(cond, args.timeout_s):
            failures.append(what)
            return False
        return True

    def capture_s(msg):
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def kill(graph, key):
        os.killpg(graph.procs[key].pid, signal.SIGKILL)
        graph.procs[key].wait(30)

    try:
        with Graph(child_env(domain), log_dir=log_dir) as graph:
            graph.start('cloud', overrides=CLOUD)
            graph.start('edge', overrides=EDGE)
            wait(lambda: probe.node.count_publishers('runespoor/link_feedback') > 0, 'cloud up')
            graph.start('source', overrides={'mode': 'synthetic', 'pattern': 'palette',
                                             'width': W, 'height': H, 'rate': args.fps,
                                             'tail_period_frames': 0, 'max_frames': 0})
            for _ in range(args.repeats):
                # edge: wait for the latched tail config, then crash and restart it
                wait(lambda: any(f.knobs.tail_specific for _, f in frames[-5:]), 'tail mode')
                kill(graph, 'edge')
                killed = time.time()  # frames captured later belong to the new edge run

                def new_run(msg):
                    return capture_s(msg) > killed
                n_f, n_m = len(frames), len(maps)
                graph.start('edge', overrides=EDGE)
                if not wait(lambda: any(new_run(f) for _, f in frames[n_f:]), 'new edge run'):
                    break
                if wait(lambda: any(new_run(m) for _, m in maps[n_m:]),
                        'cloud follows the new edge run') and \
                        wait(lambda: any(new_run(f) and f.policy_sequence > 0
                                         for _, f in frames[n_f:]), 'new edge under a policy'):
                    # the new run began with its first frame: the earliest capture stamp seen
                    # on the uplink or in a map (the probe may miss best-effort frames)
                    t0 = min(capture_s(m) for _, m in frames[n_f:] + maps[n_m:] if new_run(m))
                    edge_map_s.append(next(t for t, m in maps[n_m:] if new_run(m)) - t0)
                    edge_policy_s.append(next(t for t, f in frames[n_f:] if new_run(f) and
                                              f.policy_sequence > 0) - t0)
                # cloud: crash and restart it
                n_m, n_fb = len(maps), len(feedback)
                t_kill = time.time()
                kill(graph, 'cloud')
                graph.start('cloud', overrides=CLOUD)
                if not wait(lambda: len(feedback) > n_fb, 'new cloud up'):
                    break
                t_up = feedback[n_fb][0]
                if wait(lambda: any(t > t_up for t, _ in maps[n_m:]), 'new cloud analyses'):
                    t_map = next(t for t, _ in maps[n_m:] if t > t_up)
                    cloud_map_s.append(t_map - t_up)
                    cloud_kill_map_s.append(t_map - t_kill)
                del frames[:-200], maps[:-200], feedback[:-200]
            alive = sorted(graph.alive())
            logs = {k: graph.log(k)[-1500:] for k in graph.procs}
    finally:
        probe.close()
    period_s = 1.0 / args.fps
    edge, cloud = stats(edge_map_s), stats(cloud_map_s)
    worst = max([v for v in (edge['max'], cloud['max']) if v is not None], default=None)
    result = {
        'benchmark': 'recovery after kill -9 of the edge and of the cloud (loopback DDS)',
        'machine': environment(),
        'setup': {'fps': args.fps, 'size': [W, H], 'repeats': args.repeats,
                  'segmenter': 'palette (test mode)', 'reconstruction': 'bilinear',
                  'cloud': 'every frame a tail frame, hold 600 s (edge latched in tail mode)'},
        'edge_restart_to_first_map_s': edge,
        'edge_restart_to_first_frame_under_policy_s': stats(edge_policy_s),
        'cloud_up_to_first_map_s': cloud,
        'cloud_kill_to_first_map_s': stats(cloud_kill_map_s),
        'baseline_frame_period_s': period_s,
        'ratio_edge_median_vs_frame_period': (edge['median'] / period_s
                                              if edge['median'] is not None else None),
        'ratio_cloud_median_vs_frame_period': (cloud['median'] / period_s
                                               if cloud['median'] is not None else None),
        'goal': 'recovery <= 3 s either way (edge: new run analysed; cloud: up -> analysing)',
        'goal_met': bool(worst is not None and worst <= 3.0 and not failures),
        'failures': failures, 'nodes_alive_at_end': alive,
        'logs_tail': logs if failures else {},
    }
    write_json(args.out, 'bench_restart', result)
    print(f'edge restart -> map [s]: {[round(v, 2) for v in edge_map_s]}; cloud up -> map '
          f'[s]: {[round(v, 2) for v in cloud_map_s]}; failures: {failures}')
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(main())
