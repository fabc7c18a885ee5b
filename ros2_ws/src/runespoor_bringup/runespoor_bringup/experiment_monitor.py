# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
r"""
Recorder of one run of ``runespoor experiment cac`` (paper §5.3), a process of its own.

Runs beside the edge (in the edge's network namespace when the link is shaped with ``tc``), so
it sees the camera frames and the EncodedFrames locally and the cloud's results over the link's
unshaped return direction.  It

1. prints ``READY`` once the edge and the cloud are discovered (the orchestrator then starts
   the source), and ``T0 <monotonic seconds>`` at the first camera frame;
2. follows the bandwidth schedule: at each step it sets the edge's ``bandwidth_kbps`` (the
   rate the edge plans for) and, with ``--emulate``, ``emulated_uplink_kbps`` (the in-process
   link) through the edge's parameter service (the ``tc`` rate is the orchestrator's job);
3. records camera stamps (in order: frame index), EncodedFrame metadata (no pixels), the
   cloud's SemanticMap labels, TailFrameFlags, RatePolicies, LinkFeedback and the edge's
   diagnostics, until the clip is over and the cloud is idle (or ``--timeout``);
4. writes them to ``--out`` (``.npz`` + ``.json``) and prints ``DONE``.

    python -m runespoor_bringup.experiment_monitor --out run.npz --frames 340 \\
        --schedule 0:1623,5:812,12:325,19:1623 [--speed 0.5] [--headroom 0.85] [--emulate]
"""

import argparse
import json
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from runespoor_msgs.msg import (EncodedFrame, LinkFeedback, RatePolicy, SemanticMap,
                                TailFrameFlag)
from sensor_msgs.msg import Image

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                      reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def ns(stamp):
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def parse_steps(text):
    """``"0:1623,5:812"`` -> ``[(clip_s, kbps), ...]``."""
    out = []
    for item in text.split(','):
        t, r = item.split(':')
        out.append((float(t), float(r)))
    return sorted(out)


class Monitor(Node):
    """Subscribes to everything the experiment scores; sets the edge's bandwidth."""

    def __init__(self, args):
        super().__init__('runespoor_experiment_monitor')
        self.args = args
        self.rec = {k: [] for k in (
            'camera_stamp_ns', 'camera_arrival_s', 'enc_seq', 'enc_stamp_ns', 'enc_send_ns',
            'enc_scale', 'enc_quality', 'enc_tail', 'enc_policy_seq', 'enc_bytes',
            'map_seq', 'map_stamp_ns', 'map_scale', 'map_tail', 'map_labels', 'flag_seq',
            'flag_tail', 'flag_value', 'pol_seq', 'pol_mode', 'pol_stamp_ns', 'pol_trigger',
            'fb_seq', 'fb_bytes', 'fb_recv_ns', 'fb_send_ns')}
        self.t0 = None
        self.t0_wall = None
        self.last_map = time.monotonic()
        self.edge_diag = {}
        self.rate_log = []
        self.create_subscription(Image, 'camera/image_raw', self._on_camera, RELIABLE)
        self.create_subscription(EncodedFrame, 'runespoor/encoded', self._on_encoded,
                                 qos_profile_sensor_data)
        self.create_subscription(SemanticMap, 'runespoor/semantic_map', self._on_map, RELIABLE)
        self.create_subscription(TailFrameFlag, 'runespoor/tail_flag', self._on_flag, RELIABLE)
        self.create_subscription(RatePolicy, 'runespoor/rate_policy', self._on_policy, LATCHED)
        self.create_subscription(LinkFeedback, 'runespoor/link_feedback', self._on_feedback,
                                 RELIABLE)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.param_client = self.create_client(SetParameters,
                                               f'{args.edge_node}/set_parameters')

    # -- recording -------------------------------------------------------------------------
    def _on_camera(self, msg):
        if self.t0 is None:
            self.t0 = time.monotonic()
            self.t0_wall = time.time()
            print(f'T0 {self.t0:.6f}', flush=True)
        self.rec['camera_stamp_ns'].append(ns(msg.header.stamp))
        self.rec['camera_arrival_s'].append(time.monotonic() - self.t0)

    def _on_encoded(self, m):
        r = self.rec
        r['enc_seq'].append(int(m.sequence))
        r['enc_stamp_ns'].append(ns(m.header.stamp))
        r['enc_send_ns'].append(ns(m.send_stamp))
        r['enc_scale'].append(int(m.knobs.scale))
        r['enc_quality'].append(int(m.knobs.jpeg_quality))
        r['enc_tail'].append(bool(m.knobs.tail_specific))
        r['enc_policy_seq'].append(int(m.policy_sequence))
        r['enc_bytes'].append(len(m.image.data))

    def _on_map(self, m):
        self.last_map = time.monotonic()
        r = self.rec
        r['map_seq'].append(int(m.sequence))
        r['map_stamp_ns'].append(ns(m.header.stamp))
        r['map_scale'].append(int(m.knobs.scale))
        r['map_tail'].append(bool(m.knobs.tail_specific))
        r['map_labels'].append(np.frombuffer(bytes(m.labels.data), np.uint8).reshape(
            m.labels.height, m.labels.step)[:, :m.labels.width].copy())

    def _on_flag(self, m):
        self.rec['flag_seq'].append(int(m.sequence))
        self.rec['flag_tail'].append(bool(m.is_tail))
        self.rec['flag_value'].append(float(m.signal_value))

    def _on_policy(self, m):
        if int(m.policy_sequence) in self.rec['pol_seq']:
            return
        self.rec['pol_seq'].append(int(m.policy_sequence))
        self.rec['pol_mode'].append(int(m.mode))
        self.rec['pol_stamp_ns'].append(ns(m.header.stamp))
        self.rec['pol_trigger'].append(int(m.trigger_sequence))

    def _on_feedback(self, m):
        self.rec['fb_seq'].append(int(m.sequence))
        self.rec['fb_bytes'].append(int(m.bytes))
        self.rec['fb_recv_ns'].append(ns(m.header.stamp))
        self.rec['fb_send_ns'].append(ns(m.send_stamp))

    def _on_diag(self, arr):
        for st in arr.status:
            if st.hardware_id == 'runespoor_edge':
                self.edge_diag = {kv.key: kv.value for kv in st.values}

    # -- schedule --------------------------------------------------------------------------
    def set_edge(self, values):
        """Set float parameters on the edge; return True when the edge accepted them."""
        req = SetParameters.Request()
        for name, value in values.items():
            p = ParameterMsg()
            p.name = name
            p.value.type = ParameterType.PARAMETER_DOUBLE
            p.value.double_value = float(value)
            req.parameters.append(p)
        if not self.param_client.wait_for_service(timeout_sec=5.0):
            print(f'WARN edge parameter service {self.args.edge_node} not found', flush=True)
            return False
        fut = self.param_client.call_async(req)
        deadline = time.monotonic() + 5.0
        while not fut.done() and time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
        ok = fut.done() and all(r.successful for r in fut.result().results)
        if not ok:
            print(f'WARN edge rejected {values}', flush=True)
        return ok

    def discovered(self):
        """Return True once the edge and the cloud are up."""
        return (self.count_publishers('runespoor/encoded') >= 1
                and self.count_publishers('runespoor/link_feedback') >= 1
                and self.param_client.service_is_ready())


def main(argv=None):
    """Entry point (``python -m runespoor_bringup.experiment_monitor``)."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', required=True, help='output .npz (a .json beside it)')
    ap.add_argument('--frames', type=int, required=True, help='camera frames of the clip')
    ap.add_argument('--schedule', required=True,
                    help='clip seconds:kbit/s the link carries, e.g. 0:1600,5:800')
    ap.add_argument('--speed', type=float, default=1.0, help='replay speed (wall = clip/speed)')
    ap.add_argument('--headroom', type=float, default=0.85,
                    help='the edge plans for this share of the link rate')
    ap.add_argument('--emulate', action='store_true',
                    help='also set emulated_uplink_kbps of the edge (no tc shaping)')
    ap.add_argument('--edge-node', default='/runespoor_edge')
    ap.add_argument('--idle-s', type=float, default=3.0,
                    help='stop this long after the last map once the clip is over')
    ap.add_argument('--timeout', type=float, default=300.0)
    args = ap.parse_args(argv)
    steps = parse_steps(args.schedule)
    rclpy.init()
    node = Monitor(args)
    rc = 0
    try:
        deadline = time.monotonic() + 120.0
        while not node.discovered():
            rclpy.spin_once(node, timeout_sec=0.1)
            if time.monotonic() > deadline:
                print('ERROR edge/cloud not discovered in 120 s', flush=True)
                return 3
        print('READY', flush=True)
        deadline = time.monotonic() + args.timeout
        todo = list(steps[1:])
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.02)
            if node.t0 is not None and todo and \
                    time.monotonic() - node.t0 >= todo[0][0] / args.speed:
                t, kbps = todo.pop(0)
                values = {'bandwidth_kbps': kbps * args.headroom}
                if args.emulate:
                    values['emulated_uplink_kbps'] = kbps * args.speed
                ok = node.set_edge(values)
                node.rate_log.append({'clip_s': t, 'kbps': kbps, 'edge': values, 'ok': ok,
                                      'at_s': time.monotonic() - node.t0})
            done = len(node.rec['camera_stamp_ns']) >= args.frames
            if done and time.monotonic() - node.last_map > args.idle_s:
                break
        else:
            print('WARN monitor timeout', flush=True)
            rc = 1
        rclpy.spin_once(node, timeout_sec=0.2)
        save(node, args)
        print('DONE', flush=True)
    except KeyboardInterrupt:
        rc = 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return rc


def save(node, args):
    """Write the records as ``--out`` (.npz) and the metadata as JSON beside it."""
    r = node.rec
    arrays = {k: np.asarray(v) for k, v in r.items() if k != 'map_labels'}
    if r['map_labels']:
        arrays['map_labels'] = np.stack(r['map_labels'])
    else:
        arrays['map_labels'] = np.zeros((0, 1, 1), np.uint8)
    np.savez_compressed(args.out, **arrays)
    meta = {'t0_monotonic_s': node.t0, 't0_wall_s': node.t0_wall, 'rate_log': node.rate_log,
            'edge_diagnostics': node.edge_diag, 'speed': args.speed,
            'headroom': args.headroom, 'emulate': args.emulate}
    with open(args.out.rsplit('.', 1)[0] + '.json', 'w') as f:
        json.dump(meta, f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
