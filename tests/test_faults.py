# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Faults and hostile peers over DDS (docs/operations.md): each case was a crash or a wedge once.

- a 629-byte CompressedImage whose header claims 65000 x 65000 (killed the edge);
- an EncodedFrame with ``sequence = 2^64 - 1`` (blocked every later frame), a forged RatePolicy
  ``2^64 - 1`` (froze the edge's knobs) and forged LinkFeedback (``bytes = 2^32 - 1``);
- an edge restart (the cloud rejected the new stream for 86-96 s) and a killed cloud (the edge
  went on as if nothing happened).

Every wait is on an event (a message, a diagnostics value, a log line) with a generous timeout.
"""

import array
import os
import random
import signal

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from runespoor import codec
from runespoor_bringup.graph import Graph
from runespoor_cloud.testing import child_env, diagnostics_values
from runespoor_msgs.msg import (EncodedFrame, KnobConfig, LinkFeedback, RatePolicy,
                                SemanticMap)
from sensor_msgs.msg import CompressedImage

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 128, 64
BIG64 = 2 ** 64 - 1
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
CLOUD = {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu',
         'diagnostics_period_s': 0.2}
SOURCE = {'mode': 'synthetic', 'pattern': 'palette', 'width': 256, 'height': 128,
          'rate': 10.0, 'tail_period_frames': 0, 'max_frames': 0}


def frame_image():
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2] = (180, 130, 70)
    img[H // 2:] = (128, 64, 128)
    return img


def jpeg(width=None, height=None):
    """JPEG of the test frame; with a size, its header rewritten to claim that size."""
    data = bytearray(codec.encode_frame(frame_image(), 1, 80).data)
    if width:
        i = data.find(b'\xff\xc0')
        data[i + 5:i + 9] = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return bytes(data)


def encoded(seq, scale=2):
    msg = EncodedFrame()
    msg.sequence = seq
    msg.source_width, msg.source_height = W, H
    msg.knobs = KnobConfig(scale=scale, jpeg_quality=80)
    msg.image.format = 'jpeg'
    msg.image.data = array.array('B', codec.encode_frame(frame_image(), scale, 80).data)
    return msg


def test_edge_refuses_a_jpeg_claiming_65000_squared_before_decoding(domain, probe, tmp_path):
    out = probe.collect(EncodedFrame, 'runespoor/encoded', qos_profile_sensor_data)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    cam = probe.node.create_publisher(CompressedImage, 'camera/image_raw/compressed',
                                      qos_profile_sensor_data)
    huge = jpeg(65000, 65000)[:629]
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('edge', overrides={'input_type': 'compressed', 'scale': 2,
                                       'cloud_timeout_s': 0.0, 'diagnostics_period_s': 0.2})
        assert probe.spin_until(lambda: cam.get_subscription_count() > 0, 30), graph.log('edge')

        def send(data):
            n = len(out)
            cam.publish(CompressedImage(format='jpeg', data=array.array('B', data)))
            return probe.spin_until(lambda: len(out) > n, 3.0)

        assert any(send(jpeg()) for _ in range(5)), graph.log('edge')
        for _ in range(3):
            cam.publish(CompressedImage(format='jpeg', data=array.array('B', huge)))
            assert any(send(jpeg()) for _ in range(3)), graph.log('edge')
        assert probe.spin_until(lambda: int(diagnostics_values(diags, 'runespoor_edge').get(
            'input_errors', 0)) >= 3, 10)
        assert graph.alive() == ['edge']
        log = graph.log('edge')
    assert 'refused before decoding' in log and 'Traceback' not in log


def test_cloud_survives_forged_sequence_and_follows_an_edge_restart(domain, probe, tmp_path):
    maps = probe.collect(SemanticMap, 'runespoor/semantic_map', RELIABLE)
    policies = probe.collect(RatePolicy, 'runespoor/rate_policy', LATCHED)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        # every frame a tail frame: the cloud goes to tail mode and stays (long hold)
        graph.start('cloud', overrides=dict(CLOUD, tail_threshold=1.0, hold_s=600.0))
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 30), graph.log('cloud')

        def analysed(seq):
            pub.publish(encoded(seq))
            return probe.spin_until(lambda: any(m.sequence == seq for m in maps), 3.0)

        assert any(analysed(s) for s in (300, 301, 302, 303, 304)), graph.log('cloud')
        pub.publish(encoded(BIG64))  # forged: far ahead
        assert any(analysed(s) for s in (305, 306, 307)), 'a forged sequence blocked the cloud'
        assert not any(m.sequence == BIG64 for m in maps)
        assert probe.spin_until(lambda: any(p.mode == RatePolicy.MODE_TAIL for p in policies),
                                10)
        before = max(p.policy_sequence for p in policies)
        # the edge restarts: its sequence starts again at 0 (frame 0 lost on the way)
        assert any(analysed(s) for s in (1, 2, 3, 4)), 'restarted edge rejected by the cloud'
        # the cloud re-synchronises the new edge run: a new policy triggered by its frames
        # (tail again here, since its frames are tail frames too)
        assert probe.spin_until(lambda: any(p.policy_sequence > before and
                                            p.trigger_sequence <= 4 for p in policies), 10), \
            'no re-synchronising policy after the edge restart'
        assert probe.spin_until(lambda: int(diagnostics_values(diags, 'runespoor_cloud').get(
            'edge_restarts', 0)) >= 1, 10)
        assert graph.alive() == ['cloud']


def test_edge_ignores_forged_policy_and_feedback(domain, probe, tmp_path):
    out = probe.collect(EncodedFrame, 'runespoor/encoded', qos_profile_sensor_data)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    pol = probe.node.create_publisher(RatePolicy, 'runespoor/rate_policy', LATCHED)
    fb = probe.node.create_publisher(LinkFeedback, 'runespoor/link_feedback', RELIABLE)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('edge', overrides={'scale': 4, 'tail_scale': 2, 'cloud_timeout_s': 0.0,
                                       'bandwidth_source': 'estimate',
                                       'diagnostics_period_s': 0.2})
        graph.start('source', overrides=SOURCE)
        assert probe.spin_until(lambda: len(out) >= 5 or len(graph.alive()) < 2, 60), \
            graph.log('edge')

        def edge_values():
            return diagnostics_values(diags, 'runespoor_edge')

        def follows(seq, scale):
            return probe.spin_until(lambda: any(f.policy_sequence == seq
                                                and f.knobs.scale == scale for f in out), 15)

        pol.publish(RatePolicy(policy_sequence=10, mode=RatePolicy.MODE_TAIL,
                               trigger_sequence=1, hold_s=1.0))
        assert follows(10, 2), graph.log('edge')
        pol.publish(RatePolicy(policy_sequence=BIG64, mode=RatePolicy.MODE_STANDARD,
                               trigger_sequence=1))
        assert probe.spin_until(lambda: int(edge_values().get('policies_rejected', 0)) >= 1,
                                10), graph.log('edge')
        pol.publish(RatePolicy(policy_sequence=11, mode=RatePolicy.MODE_STANDARD,
                               trigger_sequence=2))
        assert follows(11, 4), 'the real cloud was locked out by a forged policy'
        for seq in (out[-1].sequence, BIG64):
            fb.publish(LinkFeedback(sequence=seq, bytes=2 ** 32 - 1, send_stamp=Time(sec=1)))
        assert probe.spin_until(lambda: int(edge_values().get('feedback_rejected', 0)) >= 2,
                                10), graph.log('edge')
        assert float(edge_values()['link_throughput_kbps']) == 0.0
        assert sorted(graph.alive()) == ['edge', 'source']


def test_edge_falls_back_when_the_cloud_dies_and_recovers(domain, probe, tmp_path):
    """kill -9 the cloud: the edge drops the tail policy and says so; a new cloud ends it."""
    out = probe.collect(EncodedFrame, 'runespoor/encoded', qos_profile_sensor_data)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        # every frame a tail frame: the edge runs the tail config while the cloud lives
        graph.start('cloud', overrides=dict(CLOUD, tail_threshold=1.0, hold_s=600.0))
        graph.start('edge', overrides={'scale': 4, 'tail_scale': 2, 'cloud_timeout_s': 1.5,
                                       'diagnostics_period_s': 0.2})
        graph.start('source', overrides=SOURCE)

        def edge_status():
            for arr in reversed(diags):
                for st in arr.status:
                    if st.hardware_id == 'runespoor_edge':
                        return st
            return None

        assert probe.spin_until(lambda: any(f.knobs.tail_specific for f in out)
                                or len(graph.alive()) < 3, 90), graph.log('cloud')
        os.killpg(graph.procs['cloud'].pid, signal.SIGKILL)
        graph.procs['cloud'].wait(30)
        assert probe.spin_until(
            lambda: (edge_status() is not None and edge_status().level == DiagnosticStatus.ERROR
                     and diagnostics_values(diags, 'runespoor_edge').get('fallback') == 'on'),
            30), graph.log('edge')
        n = len(out)
        assert probe.spin_until(lambda: len(out) >= n + 3, 30)
        assert not any(f.knobs.tail_specific for f in out[n:])  # standard config, no tail
        assert 'FALLBACK' in graph.log('edge')
        graph.start('cloud', overrides=dict(CLOUD, tail_threshold=1.0, hold_s=600.0))
        assert probe.spin_until(
            lambda: diagnostics_values(diags, 'runespoor_edge').get('fallback') == 'off', 90), \
            graph.log('edge')
        n = len(out)
        assert probe.spin_until(lambda: any(f.knobs.tail_specific for f in out[n:]), 60), \
            'the new cloud could not switch the edge to tail mode'
        assert 'fallback ended' in graph.log('edge')


def random_frame(rng, seq, good):
    """An EncodedFrame with random damage to its payload and fields."""
    msg = encoded(seq)
    data = bytearray(good)
    for _ in range(rng.randint(0, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    cut = rng.random()
    msg.image.data = array.array('B', bytes(data[:int(len(data) * cut)] if cut < 0.3 else data))
    if rng.random() < 0.2:
        msg.sequence = rng.choice([0, BIG64, seq + 10 ** 9])
    if rng.random() < 0.2:
        msg.knobs = KnobConfig(scale=rng.choice([0, 1, 2, 3, 7, 255]),
                               jpeg_quality=rng.choice([0, 50, 101, 255]),
                               frame_rate=rng.choice([0.0, float('nan'), -1.0]))
    if rng.random() < 0.2:
        msg.source_width, msg.source_height = rng.choice(
            [(0, 0), (65535, 65535), (2 ** 32 - 1, 1), (W + 1, H)])
    if rng.random() < 0.1:
        msg.image.format = rng.choice(['png', '', 'jpeg; compressed bgr8'])
    if rng.random() < 0.1:
        msg.header.stamp = Time(sec=rng.choice([0, 1, 2 ** 31 - 1]))
    return msg


@pytest.mark.parametrize('seed', [11, 12])
def test_cloud_over_dds_survives_a_burst_of_fuzzed_frames(domain, probe, tmp_path, seed):
    rng = random.Random(seed)
    maps = probe.collect(SemanticMap, 'runespoor/semantic_map', RELIABLE)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    good = bytes(encoded(0).image.data)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('cloud', overrides=dict(CLOUD, queue_size=4))
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 30), graph.log('cloud')
        feedback = probe.collect(LinkFeedback, 'runespoor/link_feedback', RELIABLE)
        assert probe.spin_until(lambda: probe.node.count_publishers(
            'runespoor/link_feedback') > 0, 30)
        seq = 1000
        for _ in range(150):  # paced by the cloud's feedback (one per frame it received)
            seq += 1
            n = len(feedback)
            pub.publish(random_frame(rng, seq, good))
            probe.spin_until(lambda: len(feedback) > n, 5.0)
        assert len(feedback) >= 140, f'{len(feedback)} of 150 fuzzed frames reached the cloud'
        assert probe.spin_until(lambda: int(diagnostics_values(diags, 'runespoor_cloud').get(
            'frames_received', 0)) >= len(feedback), 30)

        def analysed(s):
            pub.publish(encoded(s))
            return probe.spin_until(lambda: any(m.sequence == s for m in maps), 3.0)

        assert any(analysed(seq + k) for k in range(1, 6)), graph.log('cloud')[-3000:]
        assert graph.alive() == ['cloud']
        log = graph.log('cloud')
    assert 'Traceback' not in log and 'internal' not in log.split('skipped frame (')[-1][:20]
