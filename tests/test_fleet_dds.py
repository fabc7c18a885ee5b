# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""One fleet cloud process serving two robot namespaces over DDS: maps and policies per robot."""

import array

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from runespoor import codec
from runespoor.labels import TRAIN_ID_PALETTE
from runespoor_bringup.graph import Graph
from runespoor_cloud.testing import child_env, diagnostics_values
from runespoor_msgs.msg import EncodedFrame, KnobConfig, LinkFeedback, RatePolicy, SemanticMap
from diagnostic_msgs.msg import DiagnosticArray

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 128, 64
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
FLEET = {'robots': ['robot1', 'robot2'], 'seg_arch': 'palette', 'seg_weights': '',
         'method': 'bilinear', 'device': 'cpu', 'max_batch': 4, 'max_wait_ms': 20.0,
         'small_region_fraction': 0.01, 'tail_threshold': 0.01}


def encoded(seq, small_objects):
    """Return a palette frame: sky over road, with 4-px poles (small regions) or none (tail)."""
    ids = np.zeros((H, W), np.uint8)
    ids[:H // 2] = 10
    if small_objects:
        for x in range(4, W, 16):
            ids[H // 2 - 8:H // 2 + 4, x:x + 4] = 5
    img = TRAIN_ID_PALETTE[ids][..., ::-1].copy()
    msg = EncodedFrame()
    msg.sequence = seq
    msg.source_width, msg.source_height = W, H
    msg.knobs = KnobConfig(scale=2, jpeg_quality=90)
    msg.image.format = 'jpeg'
    msg.image.data = array.array('B', codec.encode_frame(img, 2, 90).data)
    return msg


@pytest.mark.parametrize('pipelining', ['off', 'on'])
def test_one_process_serves_two_robots_with_their_own_policies(domain, probe, tmp_path,
                                                                pipelining):
    maps = {r: probe.collect(SemanticMap, f'/{r}/runespoor/semantic_map', RELIABLE)
            for r in ('robot1', 'robot2')}
    policies = {r: probe.collect(RatePolicy, f'/{r}/runespoor/rate_policy', LATCHED)
                for r in ('robot1', 'robot2')}
    feedback = probe.collect(LinkFeedback, '/robot2/runespoor/link_feedback', RELIABLE)
    diags = probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    pubs = {r: probe.node.create_publisher(EncodedFrame, f'/{r}/runespoor/encoded', RELIABLE)
            for r in ('robot1', 'robot2')}
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('fleet', overrides=dict(FLEET, pipelining=pipelining))
        assert probe.spin_until(lambda: all(p.get_subscription_count() > 0
                                            for p in pubs.values()), 60), graph.log('fleet')
        # robot1 streams tail frames (no small regions), robot2 frames rich in small regions;
        # robot2 numbers from 100: each robot's sequence guard is its own
        for i in range(1, 41):
            pubs['robot1'].publish(encoded(i, small_objects=False))
            pubs['robot2'].publish(encoded(100 + i, small_objects=True))
            probe.spin_until(lambda: False, 0.0)
            if maps['robot1'] and maps['robot2'] and policies['robot1']:
                break
        assert probe.spin_until(lambda: maps['robot1'] and maps['robot2'] and
                                policies['robot1'], 60), graph.log('fleet')
        assert all(m.sequence < 100 for m in maps['robot1'])
        assert all(m.sequence > 100 for m in maps['robot2'])
        assert all((m.source_width, m.source_height) == (W, H) for r in maps
                   for m in maps[r])
        assert policies['robot1'][-1].mode == RatePolicy.MODE_TAIL
        assert probe.spin_until(lambda: feedback and feedback[-1].sequence > 100, 30)
        # robot2 never had a tail frame: no policy sent to it (a policy goes out before the
        # map of its frame, and robot2's maps have arrived)
        assert policies['robot2'] == []
        assert maps['robot2'][-1].small_region_ratio > 0.01
        assert maps['robot1'][-1].small_region_ratio == 0.0
        # per-robot diagnostics
        assert probe.spin_until(
            lambda: any(s.name.startswith('/robot2/runespoor_cloud')
                        for a in diags for s in a.status), 30), graph.log('fleet')
        values = {}
        for arr in reversed(diags):
            for s in arr.status:
                if s.name.startswith('/robot1/') and not values:
                    values = {kv.key: kv.value for kv in s.values}
        assert int(values['frames_analysed']) >= 1 and int(values['tail_frames']) >= 1
        assert diagnostics_values(diags, 'runespoor_cloud')
        assert f'pipelining: {pipelining}' in graph.log('fleet')
