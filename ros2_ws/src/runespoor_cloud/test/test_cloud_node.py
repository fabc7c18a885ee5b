# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Cloud node in-process: refusal on missing weights, parameters, params-file rewriting."""

import os

import numpy as np
import pytest
from rclpy.parameter import Parameter
from runespoor.cloud_pipeline import ModelError
from runespoor_cloud.cloud_node import CloudNode, PARAMETERS, tail_indicator
from runespoor_cloud.params_file import any_namespace_params, rewrite_keys
import yaml

pytestmark = pytest.mark.ros


def overrides(**kw):
    return [Parameter(k, value=v) for k, v in kw.items()]


def test_missing_weights_refused_naming_file(ctx, tmp_path):
    path = str(tmp_path / 'seg' / 'swiftnet_r18.pt')
    with pytest.raises(ModelError, match='swiftnet_r18.pt'):
        CloudNode(context=ctx, parameter_overrides=overrides(seg_weights=path, device='cpu'))


def test_missing_sr_checkpoint_refused(ctx, tmp_path):
    with pytest.raises(ModelError, match='asr_x4.pt'):
        CloudNode(context=ctx, parameter_overrides=overrides(
            method='asr', sr_dir=str(tmp_path), sr_scales=[4], seg_arch='palette',
            device='cpu'))


def test_test_mode_starts_and_validates_parameters(ctx):
    params = overrides(seg_arch='palette', device='cpu')
    node = CloudNode(context=ctx, parameter_overrides=params)
    try:
        for name in PARAMETERS:
            assert node.describe_parameter(name).description
        assert node.set_parameters([Parameter('tail_threshold', value=0.02)])[0].successful
        assert node.pipeline.config.tail_threshold == 0.02
        assert not node.set_parameters([Parameter('tail_threshold', value=2.0)])[0].successful
        assert not node.set_parameters([Parameter('hold_s', value='long')])[0].successful
        assert not node.set_parameters([Parameter('policy_tail_scale', value=3)])[0].successful
        assert not node.set_parameters([Parameter('method', value='asr')])[0].successful
    finally:
        node.destroy_node()


def test_source_size_limits_are_parameters(ctx):
    from runespoor.cloud_pipeline import EncodedInput, FrameError
    node = CloudNode(context=ctx, parameter_overrides=overrides(
        seg_arch='palette', device='cpu', max_source_side=1024, max_source_pixels=2048 * 2048))
    try:
        assert node.pipeline.config.max_source_side == 1024
        frame = EncodedInput(sequence=1, data=b'\xff\xd8', scale=2, jpeg_quality=90,
                             source_width=2000, source_height=500)
        with pytest.raises(FrameError, match='outside 1..1024 px'):
            node.pipeline.admit(frame)  # refused from the message, before any decoding
        assert not node.set_parameters([Parameter('max_source_side', value=4096)])[0].successful
    finally:
        node.destroy_node()


def test_detection_missing_weights_refused_naming_file(ctx, tmp_path):
    path = str(tmp_path / 'det' / 'retinanet_r18_lite.pt')
    with pytest.raises(ModelError, match='retinanet_r18_lite.pt.*does not exist'):
        CloudNode(context=ctx, parameter_overrides=overrides(task='detection', det_weights=path,
                                                             device='cpu'))
    with pytest.raises(ValueError, match='tracking'):
        CloudNode(context=ctx, parameter_overrides=overrides(task='tracking', device='cpu'))


def test_detection_mode_topics_and_parameters(ctx, tmp_path):
    from runespoor.archs import build_det
    from runespoor.checkpoint import save_checkpoint
    path = str(tmp_path / 'det.pt')
    save_checkpoint(path, build_det('retinanet_r18_lite'),
                    {'kind': 'det', 'method': 'det', 'arch': 'retinanet_r18_lite',
                     'arch_kwargs': {'num_classes': 10}})
    node = CloudNode(context=ctx, parameter_overrides=overrides(
        task='detection', det_weights=path, device='cpu'))
    try:
        assert node.pipeline.task == 'detection'
        assert node.output.det_pub.topic_name == '/runespoor/detections'
        assert node.output.image_pub.topic_name == '/runespoor/detections/image'
        assert not hasattr(node.output, 'map_pub')
        assert node.set_parameters([Parameter('det_score_threshold', value=0.5)])[0].successful
        assert node.pipeline.analytics.score_threshold == 0.5
        assert node.set_parameters([Parameter('small_box_fraction', value=0.001)])[0].successful
        assert node.pipeline.config.small_box_fraction == 0.001
        assert not node.set_parameters([Parameter('task', value='segmentation')])[0].successful
    finally:
        node.destroy_node()


def test_config_files_set_declared_parameters():
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config')
    seg = yaml.safe_load(open(os.path.join(config, 'cloud.yaml')))
    seg = seg['runespoor_cloud']['ros__parameters']
    for name, value in seg.items():  # cloud.yaml mirrors the defaults
        assert value == PARAMETERS[name][0], name
    det = yaml.safe_load(open(os.path.join(config, 'cloud_detection.yaml')))
    det = det['runespoor_cloud']['ros__parameters']
    assert set(det) <= set(PARAMETERS)
    assert det['task'] == 'detection' and det['sr_dir'] == 'models/det/sr'
    assert det['sr_scales'] == [2, 4]
    assert det['det_weights'] == PARAMETERS['det_weights'][0]


def test_params_file_rewritten_for_any_namespace(tmp_path):
    src = tmp_path / 'x.yaml'
    src.write_text('runespoor_cloud:\n  ros__parameters:\n    hold_s: 2.0\n')
    out = any_namespace_params(str(src), str(tmp_path / 'out'))
    want = {'/**/runespoor_cloud': {'ros__parameters': {'hold_s': 2.0}}}
    assert yaml.safe_load(open(out)) == want
    assert any_namespace_params(str(src), str(tmp_path / 'out')) == out
    assert rewrite_keys({'/robot1/a': 1}) == {'/robot1/a': 1}


def test_tail_indicator_badge():
    assert tail_indicator(True, 0.001, 0.01).shape == (48, 240, 3)


def _tail_model_file(tmp_path):
    from runespoor.cac.detector import FittedDetector
    from runespoor.cac.logistic import LogisticModel
    from runespoor.tail_features import seg_feature_names
    model = LogisticModel(('mean_entropy',), np.array([0.5]), np.array([0.1]), np.array([1.0]),
                          0.0)
    path = tmp_path / 'tail_model.json'
    FittedDetector({4: model}, {4: 0.5}, seg_feature_names(19)).save(str(path))
    return str(path)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
SEG = {'seg_arch': 'swiftnet_r18_lite', 'device': 'cpu',
       'seg_weights': os.path.join(REPO, 'models', 'seg', 'swiftnet_r18_lite.pt')}


def test_fitted_tail_detector_loads_its_file(ctx, tmp_path):
    node = CloudNode(context=ctx, parameter_overrides=overrides(
        tail_detector='fitted', tail_model_file=_tail_model_file(tmp_path), **SEG))
    try:
        cfg = node.pipeline.config
        assert cfg.tail_detector == 'fitted' and cfg.tail_model.thresholds == {4: 0.5}
        assert not node.set_parameters([Parameter('tail_model_file', value='/etc/passwd')]
                                       )[0].successful
    finally:
        node.destroy_node()


def test_default_is_the_shipped_fitted_detector_and_test_segmenters_use_ratio(ctx):
    node = CloudNode(context=ctx, parameter_overrides=overrides(**SEG))
    try:
        assert node.pipeline.config.tail_detector == 'fitted'
        assert sorted(node.pipeline.config.tail_model.models) == [2, 4, 6, 8]
    finally:
        node.destroy_node()
    node = CloudNode(context=ctx, parameter_overrides=overrides(seg_arch='palette',
                                                                device='cpu'))
    try:
        assert node.pipeline.config.tail_detector == 'ratio'
        assert node.pipeline.config.tail_model is None
    finally:
        node.destroy_node()


@pytest.mark.parametrize('content', ['', 'not json', '{"format": "pickle"}'])
def test_fitted_tail_detector_refuses_bad_or_missing_files(ctx, tmp_path, content):
    path = tmp_path / 'tail_model.json'
    path.write_text(content)
    with pytest.raises(ModelError, match='tail_model.json'):
        CloudNode(context=ctx, parameter_overrides=overrides(
            tail_detector='fitted', tail_model_file=str(path), **SEG))
    with pytest.raises(ModelError, match='tail_model_file'):
        CloudNode(context=ctx, parameter_overrides=overrides(
            tail_detector='fitted', tail_model_file='', **SEG))


def test_pipelined_worker_analyses_every_frame_in_order(ctx):
    """With pipelining on (CPU) decode, models and publish overlap; every frame comes out."""
    import threading

    from runespoor import codec
    from runespoor.cloud_pipeline import EncodedInput
    from std_msgs.msg import Header
    node = CloudNode(context=ctx, parameter_overrides=[
        Parameter('seg_arch', value='palette'), Parameter('device', value='cpu'),
        Parameter('pipelining', value='on'), Parameter('queue_size', value=50)])
    seen, all_out = [], threading.Event()
    published = node._publish

    def publish(frame, res):
        published(frame, res)
        seen.append(res.sequence)
        if len(seen) == 12:
            all_out.set()

    node._publish = publish
    try:
        assert node._stages is not None
        rng = np.random.default_rng(1)
        for seq in range(12):
            img = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
            enc = codec.encode_frame(img, 2, 80)
            frame = EncodedInput(seq, enc.data, 2, 80, 64, 32, capture_s=1.0, receive_s=1.0)
            node.pipeline.admit(frame)
            frame.ros_header, frame.stamp_ok = Header(), False
            node.queue.put(frame)
        assert all_out.wait(120.0)  # generous: a loaded CI machine
        assert node.counters['frames_analysed'] == 12
        assert seen == list(range(12))
        assert sum(node.pipeline.errors.values()) == 0
    finally:
        node.destroy_node()
