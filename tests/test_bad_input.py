# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Bad input over DDS: each case is logged, counted in /diagnostics, and the node keeps serving.

The cloud gets crafted EncodedFrames (undecodable JPEG, unknown scale, zero and inconsistent
sizes, out-of-order and stale sequences, wrong format); the edge gets malformed camera images
(wrong encoding, short data) and malformed RatePolicies.  After each bad input a good one must
still be processed.
"""

import array

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from runespoor import codec
from runespoor_cloud.graph import Graph
from runespoor_cloud.testing import child_env, diagnostics_values
from runespoor_msgs.msg import EncodedFrame, KnobConfig, RatePolicy, SemanticMap
from sensor_msgs.msg import Image

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 128, 64
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
CLOUD = {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu',
         'diagnostics_period_s': 0.2}


def frame_image():
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2] = (180, 130, 70)
    img[H // 2:] = (128, 64, 128)
    return img


def encoded(seq, scale=2, data=None, width=W, height=H, fmt='jpeg', stamp=None):
    msg = EncodedFrame()
    msg.header.stamp = stamp or Time()
    msg.sequence = seq
    msg.source_width, msg.source_height = width, height
    msg.knobs = KnobConfig(scale=scale, jpeg_quality=80)
    msg.image.format = fmt
    if data is None:
        data = codec.encode_frame(frame_image(), scale if scale in codec.SCALES else 2, 80).data
    msg.image.data = array.array('B', data)
    return msg


def test_cloud_survives_every_bad_frame(domain, probe, tmp_path):
    maps = probe.collect(SemanticMap, 'runespoor/semantic_map', RELIABLE)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('cloud', overrides=CLOUD)
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0
                                or not graph.alive(), 30), graph.log('cloud')
        seq = [0]

        def good_frame_analysed():
            seq[0] += 1
            s = seq[0]
            pub.publish(encoded(s))
            return probe.spin_until(lambda: any(m.sequence == s for m in maps), 5.0)

        assert any(good_frame_analysed() for _ in range(5)), graph.log('cloud')
        cases = [
            ('undecodable', lambda s: encoded(s, data=b'\xff\xd8\xff\xe0 not a jpeg')),
            ('undecodable', lambda s: encoded(s, data=b'')),
            ('unknown_scale', lambda s: encoded(s, scale=3)),
            ('bad_size', lambda s: encoded(s, width=0)),
            ('bad_size', lambda s: encoded(s, height=0)),
            ('size_mismatch', lambda s: encoded(s, width=W + 13)),
            ('bad_format', lambda s: encoded(s, fmt='png')),
            ('out_of_order', lambda s: encoded(s - 5)),
        ]
        for kind, make in cases:
            seq[0] += 1
            pub.publish(make(seq[0]))
            assert good_frame_analysed() or good_frame_analysed(), \
                f'cloud stopped after {kind}\n{graph.log("cloud")[-2000:]}'

        def counted():
            values = diagnostics_values(diags, 'runespoor_cloud')
            return values and all(int(values.get(f'errors_{k}', 0)) >= 1
                                  for k, _ in cases)

        assert probe.spin_until(counted, 10), diagnostics_values(diags, 'runespoor_cloud')
        assert graph.alive() == ['cloud']
        log = graph.log('cloud')
    for kind, _ in cases:
        assert f'skipped frame ({kind},' in log
    values = diagnostics_values(diags, 'runespoor_cloud')
    assert int(values['errors_undecodable']) >= 2 and int(values['errors_bad_size']) >= 2


def test_cloud_drops_stale_frames(domain, probe, tmp_path):
    maps = probe.collect(SemanticMap, 'runespoor/semantic_map', RELIABLE)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('cloud', overrides=dict(CLOUD, max_frame_age_s=2.0))
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 30)
        old = probe.node.get_clock().now().to_msg()
        old.sec -= 60
        for s in range(1, 4):
            pub.publish(encoded(s, stamp=old))
        fresh = probe.node.get_clock().now
        assert probe.spin_until(
            lambda: pub.publish(encoded(10 + len(maps), stamp=fresh().to_msg())) or
            len(maps) > 0, 15)
        assert all(m.sequence >= 10 for m in maps)
        assert probe.spin_until(lambda: 'skipped frame (stale,' in graph.log('cloud'), 5)


def bad_image(kind):
    img = Image()
    img.height, img.width, img.encoding, img.step = H, W, 'bgr8', W * 3
    img.data = array.array('B', frame_image().tobytes())
    if kind == 'encoding':
        img.encoding = 'yuv422'
    elif kind == 'short':
        img.data = array.array('B', b'\x00' * 100)
    elif kind == 'zero':
        img.width = 0
    elif kind == 'step':
        img.step = 5
    return img


def test_edge_survives_bad_images_and_malformed_policies(domain, probe, tmp_path):
    encoded_frames = probe.collect(EncodedFrame, 'runespoor/encoded', qos_profile_sensor_data)
    diags = probe.collect(DiagnosticArray, '/diagnostics', 10)
    cam = probe.node.create_publisher(Image, 'camera/image_raw', qos_profile_sensor_data)
    policy_pub = probe.node.create_publisher(RatePolicy, 'runespoor/rate_policy', LATCHED)
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('edge', overrides={'scale': 2, 'jpeg_quality': 60, 'cloud_timeout_s': 0.0,
                                       'diagnostics_period_s': 0.2})
        assert probe.spin_until(lambda: cam.get_subscription_count() > 0, 30), graph.log('edge')

        def good_frame_sent():
            n = len(encoded_frames)
            cam.publish(bad_image('good'))
            return probe.spin_until(lambda: len(encoded_frames) > n, 3.0)

        assert any(good_frame_sent() for _ in range(5)), graph.log('edge')
        for kind in ('encoding', 'short', 'zero', 'step'):
            cam.publish(bad_image(kind))
            assert any(good_frame_sent() for _ in range(3)), f'edge stopped after {kind}'
        assert encoded_frames[-1].knobs.scale == 2
        bad_policies = [
            RatePolicy(policy_sequence=1, mode=7),
            RatePolicy(policy_sequence=2, mode=RatePolicy.MODE_TAIL,
                       tail=KnobConfig(scale=3, jpeg_quality=50)),
            RatePolicy(policy_sequence=3, mode=RatePolicy.MODE_TAIL,
                       tail=KnobConfig(scale=4, jpeg_quality=0)),
            RatePolicy(policy_sequence=4, mode=RatePolicy.MODE_TAIL, hold_s=float('nan')),
        ]

        def rejected():
            return int(diagnostics_values(diags, 'runespoor_edge').get('policies_rejected', 0))

        # One at a time: the policy topic keeps only the latest sample (depth 1), so a
        # policy published before the edge took the previous one would replace it.
        for k, policy in enumerate(bad_policies, 1):
            policy_pub.publish(policy)
            assert probe.spin_until(lambda: rejected() >= k, 10), (k, graph.log('edge'))
            assert any(good_frame_sent() for _ in range(3))
            assert encoded_frames[-1].policy_sequence == 0  # not applied
        values = diagnostics_values(diags, 'runespoor_edge')
        assert int(values['input_errors']) >= 4, values
        # A good policy afterwards still works.
        policy_pub.publish(RatePolicy(policy_sequence=5, mode=RatePolicy.MODE_TAIL,
                                      tail=KnobConfig(scale=4, jpeg_quality=30)))
        assert probe.spin_until(lambda: good_frame_sent() and
                                encoded_frames[-1].policy_sequence == 5, 15)
        assert encoded_frames[-1].knobs.scale == 4
        assert graph.alive() == ['edge']
        log = graph.log('edge')
    assert 'dropped camera frame' in log and 'unsupported encoding' in log
    assert 'rejected RatePolicy' in log


def test_edge_and_cloud_agree_on_the_largest_source_frame():
    """A camera frame the edge accepts is never refused by the cloud for its size."""
    import os

    from runespoor_cloud import cloud_node
    from runespoor_edge import edge_node
    import yaml

    def value(path, key):
        with open(path) as f:
            doc = yaml.safe_load(f)
        return next(iter(doc.values()))['ros__parameters'][key]
    src = os.path.join(os.path.dirname(__file__), '..', 'ros2_ws', 'src')
    edge = edge_node.PARAMETERS['max_input_pixels'][0]
    assert edge == cloud_node.PARAMETERS['max_source_pixels'][0] == codec.MAX_SOURCE_PIXELS
    assert value(os.path.join(src, 'runespoor_edge', 'config', 'edge.yaml'),
                 'max_input_pixels') == edge
    for name in ('cloud.yaml', 'cloud_detection.yaml'):
        assert value(os.path.join(src, 'runespoor_cloud', 'config', name),
                     'max_source_pixels') == edge
