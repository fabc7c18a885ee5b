# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Map output over DDS: png / stats / downsampled SemanticMaps, switched at run time."""

import array

import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from runespoor import codec
from runespoor.map_output import decode_png_map
from runespoor_bringup.graph import Graph
from runespoor_cloud.testing import child_env
from runespoor_msgs.msg import EncodedFrame, KnobConfig, SemanticMap

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 128, 64
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
CLOUD = {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu',
         'map_output': 'png'}


def encoded(seq):
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2] = (180, 130, 70)   # sky (BGR of the palette)
    img[H // 2:] = (128, 64, 128)    # road
    msg = EncodedFrame()
    msg.sequence = seq
    msg.source_width, msg.source_height = W, H
    msg.knobs = KnobConfig(scale=2, jpeg_quality=90)
    msg.image.format = 'jpeg'
    msg.image.data = array.array('B', codec.encode_frame(img, 2, 90).data)
    return msg


def param(name, value):
    if isinstance(value, str):
        v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    else:
        v = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    return Parameter(name=name, value=v)


def test_map_output_png_stats_downsampled(domain, probe, tmp_path):
    maps = probe.collect(SemanticMap, 'runespoor/semantic_map', RELIABLE)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    client = probe.node.create_client(SetParameters, '/runespoor_cloud/set_parameters')
    seq = [0]

    def analysed():
        seq[0] += 1
        s = seq[0]
        pub.publish(encoded(s))
        if probe.spin_until(lambda: any(m.sequence == s for m in maps), 5.0):
            return next(m for m in maps if m.sequence == s)
        return None

    def set_params(*params):
        fut = client.call_async(SetParameters.Request(parameters=list(params)))
        assert probe.spin_until(fut.done, 30)
        return fut.result().results[0]

    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('cloud', overrides=CLOUD)
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0 and
                                client.service_is_ready(), 30), graph.log('cloud')
        m = next(filter(None, (analysed() for _ in range(5))), None)
        assert m is not None, graph.log('cloud')
        assert (m.labels.width, m.labels.height, len(m.labels.data)) == (0, 0, 0)
        assert (m.source_width, m.source_height) == (W, H)
        labels = decode_png_map(bytes(m.labels_compressed.data))
        assert labels.shape == (H, W) and m.labels_compressed.format == 'png'
        assert {0, 10} <= set(np.unique(labels).tolist())  # road and sky
        assert np.mean(labels == 10) == pytest.approx(m.class_shares[10], abs=1e-6)
        assert len(m.class_shares) == 19
        assert m.class_shares[10] == pytest.approx(0.5, abs=0.05)

        assert set_params(param('map_output', 'stats')).successful
        m = analysed() or analysed()
        assert len(m.labels.data) == 0 and len(m.labels_compressed.data) == 0
        assert m.class_shares[0] == pytest.approx(0.5, abs=0.05)

        assert set_params(param('map_output', 'downsampled'), param('map_downsample', 4)) \
            .successful
        m = analysed() or analysed()
        assert (m.labels.width, m.labels.height) == (W // 4, H // 4)
        assert len(m.labels.data) == (W // 4) * (H // 4)

        bad = set_params(param('map_output', 'jpeg'))
        assert not bad.successful and 'map_output' in bad.reason
        assert graph.alive() == ['cloud']
