# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Edge node in-process: declared parameters, run-time validation, knobs on the next frame."""

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from runespoor_edge import image_conv
from runespoor_edge.edge_node import EdgeNode, PARAMETERS
from runespoor_edge.source_node import palette_frame, palette_train_ids
from runespoor_msgs.msg import RatePolicy
from sensor_msgs.msg import Image

pytestmark = pytest.mark.ros


@pytest.fixture
def node():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=np.random.default_rng().integers(101, 200))
    n = EdgeNode(context=ctx)
    sent = []
    n.pub.publish = sent.append  # capture instead of DDS
    n.sent = sent
    yield n
    n.destroy_node()
    rclpy.try_shutdown(context=ctx)


def camera_msg(i=0):
    msg = image_conv.numpy_to_imgmsg(palette_frame(i, 128, 64), 'bgr8', msg_type=Image)
    msg.header.stamp.sec = 100 + i
    return msg


def test_every_parameter_declared_with_description(node):
    for name in PARAMETERS:
        assert node.has_parameter(name)
        desc = node.describe_parameter(name)
        assert desc.description


def test_frame_encoded_with_knobs_and_stamps(node):
    node._on_image(camera_msg())
    (out,) = node.sent
    assert (out.source_width, out.source_height) == (128, 64)
    assert out.knobs.scale == 4 and out.knobs.jpeg_quality == 70 and out.sequence == 0
    assert out.header.stamp.sec == 100 and out.image.format == 'jpeg'
    lr = image_conv.compressed_to_bgr8(out.image)
    assert lr.shape == (16, 32, 3)


@pytest.mark.parametrize('name,value', [
    ('scale', 3), ('jpeg_quality', 0), ('jpeg_quality', 101), ('frame_rate', -1.0),
    ('bandwidth_source', 'guess'), ('scale', 'four'), ('frame_rate', 5),
    ('profile_file', '/nonexistent/profile.yaml'),
])
def test_bad_runtime_parameters_rejected(node, name, value):
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and result.reason
    node._on_image(camera_msg())
    assert node.sent[-1].knobs.scale == 4


def test_runtime_parameter_change_takes_effect(node):
    assert node.set_parameters([Parameter('scale', value=8),
                                Parameter('jpeg_quality', value=30)])[0].successful
    node._on_image(camera_msg())
    assert (node.sent[-1].knobs.scale, node.sent[-1].knobs.jpeg_quality) == (8, 30)


def test_read_only_parameter_cannot_change(node):
    assert not node.set_parameters([Parameter('input_type', value='compressed')])[0].successful


def test_policy_applies_on_next_frame(node):
    node._on_image(camera_msg(0))
    node._on_policy(RatePolicy(policy_sequence=1, mode=RatePolicy.MODE_TAIL))
    node._on_image(camera_msg(1))
    assert node.sent[0].knobs.scale == 4 and not node.sent[0].knobs.tail_specific
    assert node.sent[1].knobs.scale == 2 and node.sent[1].knobs.tail_specific
    assert node.sent[1].policy_sequence == 1


def test_palette_pattern_has_tail_stretches():
    rich = palette_train_ids(0, 256, 128, 40, 12)
    plain = palette_train_ids(35, 256, 128, 40, 12)
    assert np.isin(rich, [5, 6, 7, 11]).any() and not np.isin(plain, [5, 6, 7, 11]).any()
