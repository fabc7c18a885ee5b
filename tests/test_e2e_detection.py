# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud node in detection mode over DDS, as its own process, fed by the test process.

The detector is a random-init RetinaNet (classifier bias raised so that it fires) saved as a
kind "det" checkpoint in tmp_path; reconstruction is bilinear.  The test publishes
EncodedFrames and checks Detection2DArray, TailFrameFlag (small-box share), LinkFeedback, the
annotated image, that a bad frame is skipped while the node keeps serving, and that the node
refuses to start without its detector checkpoint.
"""

import array

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from runespoor import codec
from runespoor_bringup.graph import config_path, Graph
from runespoor_cloud.testing import child_env
from runespoor_msgs.msg import (Detection2DArray, EncodedFrame, KnobConfig, LinkFeedback,
                                TailFrameFlag)
from sensor_msgs.msg import Image

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 160, 96
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
CATEGORIES = {1: 'pedestrian', 2: 'people', 3: 'bicycle', 4: 'car', 5: 'van', 6: 'truck',
              7: 'tricycle', 8: 'awning-tricycle', 9: 'bus', 10: 'motor'}


def detection_params():
    return config_path('runespoor_cloud', 'cloud_detection.yaml')


def det_checkpoint(path):
    import torch
    from runespoor.archs import build_det
    from runespoor.checkpoint import save_checkpoint
    torch.manual_seed(0)
    model = build_det('retinanet_r18_lite', num_classes=10)
    with torch.no_grad():
        model.net.head.classification_head.cls_logits.bias.fill_(1.0)
    save_checkpoint(str(path), model, {'kind': 'det', 'method': 'det',
                                       'arch': 'retinanet_r18_lite',
                                       'arch_kwargs': {'num_classes': 10}})
    return str(path)


def frame_image(seq):
    img = np.full((H, W, 3), 100, np.uint8)
    rng = np.random.default_rng(seq)
    for _ in range(5):
        x, y = int(rng.integers(0, W - 16)), int(rng.integers(0, H - 10))
        img[y:y + 10, x:x + 16] = rng.integers(0, 256, 3)
    return img


def encoded(seq, stamp, scale=2, data=None):
    msg = EncodedFrame()
    msg.header.stamp = stamp
    msg.header.frame_id = 'camera_optical_frame'
    msg.sequence = seq
    msg.source_width, msg.source_height = W, H
    msg.knobs = KnobConfig(scale=scale, jpeg_quality=80, frame_rate=0.0, tail_specific=False)
    msg.send_stamp = stamp
    msg.image.format = 'jpeg'
    if data is None:
        data = codec.encode_frame(frame_image(seq), scale, 80).data
    msg.image.data = array.array('B', data)
    return msg


def test_cloud_detection_mode_over_dds(domain, probe, tmp_path):
    weights = det_checkpoint(tmp_path / 'det.pt')
    dets = probe.collect(Detection2DArray, 'runespoor/detections', RELIABLE)
    flags = probe.collect(TailFrameFlag, 'runespoor/tail_flag', RELIABLE)
    feedback = probe.collect(LinkFeedback, 'runespoor/link_feedback', RELIABLE)
    images = probe.collect(Image, 'runespoor/detections/image', qos_profile_sensor_data)
    pub = probe.node.create_publisher(EncodedFrame, 'runespoor/encoded', RELIABLE)
    cloud = {'det_weights': weights, 'method': 'bilinear', 'device': 'cpu',
             'tail_threshold': 0.5, 'tail_direction': 'below', 'queue_size': 4}
    with Graph(child_env(domain), log_dir=str(tmp_path)) as graph:
        graph.start('cloud', params_file=detection_params(), overrides=cloud)
        assert probe.spin_until(lambda: pub.get_subscription_count() > 0
                                or not graph.alive(), 60), graph.log('cloud')
        assert graph.alive() == ['cloud'], graph.log('cloud')
        now = probe.node.get_clock().now

        def analysed(seq, **kw):
            pub.publish(encoded(seq, now().to_msg(), **kw))
            return probe.spin_until(lambda: any(d.sequence == seq for d in dets), 10.0)

        # The first frames may go out before discovery completes: retry until one arrives.
        assert any(analysed(s) for s in range(1, 6)), graph.log('cloud')
        first = max(d.sequence for d in dets)
        assert analysed(first + 1, scale=4)
        # A bad frame is skipped; the node keeps serving.
        def bad_frame_received():  # best effort: resend until the cloud acknowledges it
            pub.publish(encoded(first + 2, now().to_msg(), data=b'\xff\xd8 not a jpeg'))
            return probe.spin_until(lambda: any(fb.sequence == first + 2 for fb in feedback),
                                    5.0)

        assert any(bad_frame_received() for _ in range(3)), graph.log('cloud')
        assert analysed(first + 3), graph.log('cloud')
        assert probe.spin_until(lambda: len(feedback) >= 3 and len(flags) >= 3 and images, 10)
        assert graph.alive() == ['cloud']
        log = graph.log('cloud')
    assert 'cloud ready (detection)' in log and 'skipped frame (undecodable,' in log
    assert not any(d.sequence == first + 2 for d in dets)
    by_seq = {d.sequence: d for d in dets}
    for seq, scale in ((first, 2), (first + 1, 4), (first + 3, 2)):
        d = by_seq[seq]
        assert (d.source_width, d.source_height) == (W, H)
        assert d.knobs.scale == scale and d.knobs.jpeg_quality == 80
        assert d.method == 'bilinear' and d.header.frame_id == 'camera_optical_frame'
        assert d.decode_ms > 0 and d.reconstruct_ms >= 0 and d.inference_ms > 0
        assert d.end_to_end_ms > 0
        assert d.detections, 'the biased detector fires'
        for b in d.detections:
            assert 0 <= b.x and 0 <= b.y and b.width >= 0 and b.height >= 0
            assert b.x + b.width <= W + 1e-3 and b.y + b.height <= H + 1e-3
            assert 0.3 <= b.score <= 1.0  # det_score_threshold of cloud_detection.yaml
            assert CATEGORIES[b.class_id] == b.label
        small = sum(b.width * b.height < 0.0005 * W * H for b in d.detections)
        assert d.small_box_share == pytest.approx(small / len(d.detections), abs=1e-6)
    flag_by_seq = {f.sequence: f for f in flags}
    for seq in (first, first + 1, first + 3):
        f = flag_by_seq[seq]
        assert f.signal == TailFrameFlag.SIGNAL_SMALL_BOX_SHARE
        assert f.signal_value == pytest.approx(by_seq[seq].small_box_share)
        assert f.threshold == pytest.approx(0.5)
        assert f.direction == TailFrameFlag.DIRECTION_BELOW
        assert f.is_tail == (f.signal_value < 0.5)
    assert {fb.sequence for fb in feedback} >= {first, first + 1, first + 2, first + 3}
    assert all(fb.bytes > 0 for fb in feedback)
    img = images[-1]
    assert (img.width, img.height, img.encoding) == (W, H, 'bgr8')


def test_cloud_detection_refuses_to_start_without_weights(domain, tmp_path):
    missing = str(tmp_path / 'models' / 'det' / 'retinanet_r18_lite.pt')
    with Graph(child_env(domain), log_dir=str(tmp_path / 'logs')) as graph:
        proc = graph.start('cloud', params_file=detection_params(),
                           overrides={'det_weights': missing, 'device': 'cpu'})
        rc = proc.wait(timeout=60)
        log = graph.log('cloud')
    assert rc != 0, log
    assert 'refusing to start' in log and missing in log and 'does not exist' in log
