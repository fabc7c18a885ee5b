# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Edge node and files: file-path parameters are read-only, and nothing it reads can wedge it.

A remote ``set_parameters`` of ``profile_file`` (the path of a FIFO, which used to wedge the
edge) is refused without opening the file, through the parameter callback and through the real
service over DDS; at start-up a FIFO, an empty file or a crafted pickle is refused at once with
a message naming the file, and the pickle's code never runs.
"""

import os
import threading

import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from runespoor.testing import call_bounded, Plant, TIMEOUT_S
from runespoor_edge.edge_node import EdgeNode, FILE_PARAMETERS, PARAMETERS
import torch

pytestmark = pytest.mark.ros


@pytest.fixture
def ctx():
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(np.random.default_rng().integers(101, 200)))
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, 'mkfifo'):
        pytest.skip('no FIFOs on this platform')
    path = str(tmp_path / 'profile.yaml')
    os.mkfifo(path)
    return path


def bounded(fn, fifo=None):
    """Run ``fn`` in a thread; return ``(result, exception)``, or fail if it blocked."""
    return call_bounded(fn, fifo)


def edge(ctx, **params):
    return EdgeNode(context=ctx, parameter_overrides=[Parameter(k, value=v)
                                                      for k, v in params.items()])


def test_file_parameters_are_read_only(ctx):
    node = edge(ctx)
    try:
        assert FILE_PARAMETERS <= set(PARAMETERS)
        for name in FILE_PARAMETERS:
            assert node.describe_parameter(name).read_only, name
    finally:
        node.destroy_node()


def test_runtime_profile_file_refused_without_opening_it(ctx, fifo):
    node = edge(ctx)
    try:
        result, error = bounded(
            lambda: node.set_parameters([Parameter('profile_file', value=fifo)])[0], fifo)
        assert error is None and not result.successful
        assert 'read-only' in result.reason and 'profile_file' in result.reason
        assert node.get_parameter('profile_file').value == ''
        # the callback itself refuses file parameters too (should read_only ever be lifted)
        cb = node._on_set_parameters([Parameter('profile_file', value=fifo)])
        assert not cb.successful and 'read only at start-up' in cb.reason
    finally:
        node.destroy_node()


def test_runtime_profile_file_refused_over_dds(ctx, fifo):
    node = edge(ctx)
    caller = rclpy.create_node('file_safety_caller', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(caller)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        client = caller.create_client(SetParameters, '/runespoor_edge/set_parameters')
        assert client.wait_for_service(timeout_sec=TIMEOUT_S)
        request = SetParameters.Request(
            parameters=[Parameter('profile_file', value=fifo).to_parameter_msg()])
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(TIMEOUT_S):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            pytest.fail('set_parameters over DDS got no answer: the edge is wedged')
        (result,) = future.result().results
        assert not result.successful and 'read-only' in result.reason
        assert node.get_parameter('profile_file').value == ''
        # the edge still answers: a valid change goes through
        ok = client.call_async(SetParameters.Request(
            parameters=[Parameter('jpeg_quality', value=55).to_parameter_msg()]))
        done2 = threading.Event()
        ok.add_done_callback(lambda _: done2.set())
        assert done2.wait(TIMEOUT_S) and ok.result().results[0].successful
    finally:
        executor.shutdown()
        caller.destroy_node()
        node.destroy_node()


def test_fifo_profile_at_start_up_refused_at_once(ctx, fifo):
    _, error = bounded(lambda: edge(ctx, profile_file=fifo), fifo)
    assert isinstance(error, ValueError)
    assert str(error) == (f'parameter profile_file: profile file {fifo} is not a regular file '
                          '(a FIFO (named pipe)); refusing to read it')


def test_empty_or_broken_profile_named(ctx, tmp_path):
    empty = tmp_path / 'empty.yaml'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=rf'profile file {empty} is empty \(0 bytes\)'):
        edge(ctx, profile_file=str(empty))
    broken = tmp_path / 'broken.yaml'
    broken.write_text('profile: [unclosed\n')
    with pytest.raises(ValueError, match=rf'profile file {broken} is not valid YAML'):
        edge(ctx, profile_file=str(broken))


def test_awstream_stats_fifo_refused(ctx, fifo):
    _, error = bounded(lambda: edge(ctx, controller='awstream', awstream_stats_file=fifo), fifo)
    assert isinstance(error, ValueError)
    assert f'statistics file {fifo} is not a regular file (a FIFO' in str(error)


@pytest.mark.parametrize('fmt', ['zip', 'pickle'])
def test_awstream_crafted_weights_refused_and_never_run(ctx, tmp_path, fmt):
    import pickle
    marker = str(tmp_path / 'MARKER')
    path = str(tmp_path / 'seg.pt')
    payload = {'format': 'runespoor-checkpoint', 'config': {'kind': 'seg', 'arch': 'x'},
               'model': Plant(marker)}
    if fmt == 'zip':
        torch.save(payload, path)
    else:
        with open(path, 'wb') as f:
            pickle.dump(payload, f)
    with pytest.raises(ValueError) as info:
        edge(ctx, controller='awstream', awstream_seg_weights=path, awstream_period_s=5.0)
    msg = str(info.value)
    assert msg.startswith(f'awstream re-profiling models: segmentation checkpoint {path} is not '
                          'a Runespoor checkpoint: unsafe')
    assert 'weights_only=False' not in msg
    assert not os.path.exists(marker)
