# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Cloud node and model files: refused at start-up in the project's words, never run, never wedged.

A segmentation checkpoint with 5 classes (19 expected), an empty detector file, a crafted pickle
and a FIFO in the SR folder each stop the node before "cloud ready" with a message naming the
file; the file-path parameters cannot be changed at run time.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from rclpy.parameter import Parameter
from runespoor.cloud_pipeline import ModelError
from runespoor.testing import call_bounded, Plant
from runespoor_cloud.cloud_node import CloudNode, FILE_PARAMETERS, PARAMETERS
import torch

pytestmark = pytest.mark.ros


def cloud(ctx, **params):
    params.setdefault('device', 'cpu')
    return CloudNode(context=ctx, parameter_overrides=[Parameter(k, value=v)
                                                       for k, v in params.items()])


def seg5(path):
    from runespoor.archs import build_seg
    from runespoor.checkpoint import save_checkpoint
    save_checkpoint(str(path), build_seg('swiftnet_r18_lite', num_classes=5),
                    {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18_lite',
                     'arch_kwargs': {'num_classes': 5}})
    return str(path)


def test_file_parameters_read_only_at_run_time(ctx, tmp_path):
    node = cloud(ctx, seg_arch='palette')
    try:
        assert FILE_PARAMETERS <= set(PARAMETERS)
        for name in FILE_PARAMETERS:
            assert node.describe_parameter(name).read_only, name
            res = node.set_parameters([Parameter(name, value=str(tmp_path / 'x.pt'))])[0]
            assert not res.successful and 'read-only' in res.reason
        cb = node._on_set_parameters([Parameter('seg_weights', value=str(tmp_path / 'x.pt'))])
        assert not cb.successful and 'read only at start-up' in cb.reason
    finally:
        node.destroy_node()


def test_five_class_segmentation_checkpoint_refused(ctx, tmp_path):
    path = seg5(tmp_path / 'seg5.pt')
    with pytest.raises(ModelError) as info:
        cloud(ctx, seg_weights=path)
    assert str(info.value).startswith(f'segmentation weights file {path} has 5 classes, '
                                      'expected 19 (the Cityscapes train ids)')


def test_five_class_checkpoint_stops_the_node_before_ready(tmp_path):
    """The real executable: refuses to start, exit status 2, never says 'cloud ready'."""
    path = seg5(tmp_path / 'seg5.pt')
    env = dict(os.environ, ROS_DOMAIN_ID=str(np.random.default_rng().integers(101, 200)))
    proc = subprocess.run([sys.executable, '-m', 'runespoor_cloud.cloud_node', '--ros-args',
                           '-p', f'seg_weights:={path}', '-p', 'device:=cpu'],
                          capture_output=True, text=True, timeout=120, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 2, log
    assert 'refusing to start' in log and f'{path} has 5 classes, expected 19' in log
    assert 'cloud ready' not in log


def test_empty_and_crafted_weights_refused(ctx, tmp_path):
    empty = tmp_path / 'det.pt'
    empty.write_bytes(b'')
    with pytest.raises(ModelError, match=rf'detection weights file {empty} is empty \(0 bytes\)'):
        cloud(ctx, task='detection', det_weights=str(empty))
    marker = str(tmp_path / 'MARKER')
    evil = str(tmp_path / 'seg.pt')
    torch.save({'format': 'runespoor-checkpoint', 'model': Plant(marker)}, evil)
    with pytest.raises(ModelError) as info:
        cloud(ctx, seg_weights=evil)
    assert 'is not a Runespoor checkpoint: unsafe content refused' in str(info.value)
    assert 'weights_only=False' not in str(info.value)
    assert not os.path.exists(marker)


def test_fifo_in_sr_folder_refused_at_once(ctx, tmp_path):
    if not hasattr(os, 'mkfifo'):
        pytest.skip('no FIFOs on this platform')
    fifo = str(tmp_path / 'asr_x2.pt')
    os.mkfifo(fifo)

    def start():
        cloud(ctx, method='asr', sr_dir=str(tmp_path), sr_scales=[2],
              seg_arch='palette').destroy_node()

    _, error = call_bounded(start, fifo)
    assert isinstance(error, ModelError), error
    assert f'SR checkpoint {fifo} is not a regular file (a FIFO' in str(error)
