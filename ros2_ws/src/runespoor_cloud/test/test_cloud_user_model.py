# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud node runs the user's own model by configuration: ``analytics_model`` parameter.

A TorchScript segmentation network with a 20th "background" output and its own input size is
plugged in with a class map; the node starts, analyses a frame through it and never publishes
the dropped class.  A bad mapping stops the node before "cloud ready" in the project's words.
"""

import os

import numpy as np
import pytest
from rclpy.parameter import Parameter
from runespoor import codec
from runespoor.cloud_pipeline import EncodedInput, ModelError
from runespoor_cloud.cloud_node import CloudNode
import torch

pytestmark = pytest.mark.ros


class TwentyClasses(torch.nn.Module):
    """Scores class 19 ("background") highest everywhere, class 7 second: what a user has."""

    def forward(self, x):
        n, _, h, w = x.shape
        logits = torch.zeros(n, 20, h // 2, w // 2)
        logits[:, 19] = 5.0
        logits[:, 7] = 2.0 + x[:, 0, ::2, ::2]
        return {'out': logits, 'aux': logits}


@pytest.fixture
def scripted(tmp_path):
    path = tmp_path / 'user_seg.ts'
    torch.jit.script(TwentyClasses()).save(str(path))
    return str(path)


def cloud(ctx, **params):
    params.setdefault('device', 'cpu')
    params.setdefault('tail_detector', 'ratio')
    params.setdefault('warm_up', False)
    return CloudNode(context=ctx, parameter_overrides=[Parameter(k, value=v)
                                                       for k, v in params.items()])


def test_cloud_node_runs_a_torchscript_model_with_a_class_map(ctx, scripted):
    spec = (f'{{torchscript: "{scripted}", num_classes: 20, output: out, input_size: [64, 32], '
            'normalize: imagenet, class_map: {19: ignore, others: same}}')
    node = cloud(ctx, analytics_model=spec)
    try:
        analytics = node.pipeline.analytics
        assert analytics.task == 'segmentation'
        assert analytics.info['source'] == 'torchscript'
        image = np.full((64, 96, 3), 120, np.uint8)
        enc = codec.encode_frame(image, 2, 90)
        frame = EncodedInput(0, enc.data, 2, 90, 96, 64, capture_s=1.0, receive_s=1.0)
        res = node.pipeline.process(node.pipeline.admit(frame))
        assert res.output.shape == (64, 96)
        assert set(np.unique(res.output).tolist()) == {7}  # 19 dropped: the next best class
    finally:
        node.destroy_node()


def test_cloud_node_reads_analytics_model_from_a_yaml_file(ctx, scripted, tmp_path):
    folder = tmp_path / 'robot_models'
    folder.mkdir()
    os.replace(scripted, folder / 'seg.ts')
    (folder / 'model.yaml').write_text('model:\n  torchscript: seg.ts\n  num_classes: 20\n'
                                       '  class_map: {19: ignore, others: same}\n')
    node = cloud(ctx, analytics_model=str(folder / 'model.yaml'))
    try:
        assert node.pipeline.analytics.info['path'] == str(folder / 'seg.ts')
    finally:
        node.destroy_node()


def test_cloud_node_refuses_a_model_whose_classes_do_not_fit(ctx, scripted):
    with pytest.raises(ModelError, match='20'):
        cloud(ctx, analytics_model=f'{{torchscript: "{scripted}", num_classes: 20}}')


def test_cloud_node_refuses_a_malformed_analytics_model(ctx):
    with pytest.raises(ModelError, match='analytics_model'):
        cloud(ctx, analytics_model='{torchscript: [unclosed')
