# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Fleet serving: fair batching, max wait on a fake clock, per-robot state, batch == one."""

import threading

import numpy as np
import pytest

from runespoor import codec
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, FrameError, make_reconstructor,
                                      PipelineConfig)
from runespoor.edge_control import MODE_STANDARD, MODE_TAIL
from runespoor.fleet import batch_key, FleetPipeline, FleetScheduler
from runespoor.labels import TRAIN_ID_PALETTE
from runespoor.tasks.segmentation.analytics import Segmenter

W, H = 64, 32


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Item:
    def __init__(self, robot, n, scale=4, size=(W, H)):
        self.robot, self.n, self.scale = robot, n, scale
        self.source_width, self.source_height = size

    def __repr__(self):
        return f'{self.robot}{self.n}'


def names(batch):
    return [repr(item) for _, item in batch]


def test_burst_cannot_starve_another_robot():
    clock = Clock()
    sched = FleetScheduler(['a', 'b', 'c'], queue_size=4, max_batch=2, max_wait_ms=0,
                           clock=clock)
    for n in range(10):                      # a: a burst; only its 4 newest are kept
        sched.put('a', Item('a', n))
    sched.put('b', Item('b', 0))
    sched.put('c', Item('c', 0))
    assert sched.dropped == {'a': 6, 'b': 0, 'c': 0}
    batches = [names(sched.poll()[0]) for _ in range(3)]
    # each batch takes one frame per robot before anyone's second; the lead rotates
    assert batches[0] == ['a6', 'b0']
    assert batches[1] == ['c0', 'a7']        # b's turn was taken, a has no second before c
    assert batches[2] == ['a8', 'a9']        # only a is left: it may fill the batch
    assert sched.poll() == (None, None)
    assert sched.served == {'a': 4, 'b': 1, 'c': 1}


def test_round_robin_alternates_at_batch_one():
    sched = FleetScheduler(['a', 'b'], queue_size=8, max_batch=1, max_wait_ms=50,
                           clock=Clock())
    for n in range(4):
        sched.put('a', Item('a', n))
    for n in range(2):
        sched.put('b', Item('b', n))
    order = [names(sched.poll()[0])[0] for _ in range(6)]
    assert order == ['a0', 'b0', 'a1', 'b1', 'a2', 'a3']


def test_max_wait_honoured_with_a_fake_clock():
    clock = Clock()
    sched = FleetScheduler(['a', 'b', 'c'], queue_size=2, max_batch=3, max_wait_ms=10,
                           clock=clock)
    sched.put('a', Item('a', 0))
    clock.t = 0.004
    sched.put('b', Item('b', 0))
    batch, wait = sched.poll()
    assert batch is None and wait == pytest.approx(0.006)     # waits for c, up to 10 ms
    clock.t = 0.0099
    assert sched.poll()[0] is None
    clock.t = 0.010                                           # a's frame waited 10 ms: go
    batch, wait = sched.poll()
    assert names(batch) == ['a0', 'b0'] and wait == 0.0
    sched.put('c', Item('c', 0))                              # alone: waits for others
    assert sched.poll()[0] is None
    for r in 'ab':
        sched.put(r, Item(r, 1))
    assert names(sched.poll()[0]) == ['b1', 'c0', 'a1']       # full: at once, b's turn


def test_batch_dispatched_at_once_when_every_robot_has_a_frame():
    sched = FleetScheduler(['a'], max_batch=8, max_wait_ms=1000, clock=Clock())
    sched.put('a', Item('a', 0))
    assert names(sched.poll()[0]) == ['a0']                   # one robot: no batching wait


def test_frames_of_another_scale_or_size_are_not_batched_together():
    sched = FleetScheduler(['a', 'b', 'c'], max_batch=3, max_wait_ms=0, clock=Clock())
    sched.put('a', Item('a', 0, scale=4))
    sched.put('b', Item('b', 0, scale=2))
    sched.put('c', Item('c', 0, scale=4, size=(128, 64)))
    sched.put('c', Item('c', 1, scale=4))
    assert names(sched.poll()[0]) == ['a0']      # c's head differs: its x4 frame must wait
    assert names(sched.poll()[0]) == ['b0']
    assert names(sched.poll()[0]) == ['c0']
    assert names(sched.poll()[0]) == ['c1']


def test_get_blocks_until_due_and_close_wakes():
    sched = FleetScheduler(['a', 'b'], max_batch=2, max_wait_ms=1e6)
    got = []
    worker = threading.Thread(target=lambda: got.append(sched.get()))
    worker.start()
    sched.put('a', Item('a', 0))
    sched.put('b', Item('b', 0))                 # everyone has a frame: due now
    worker.join(30)
    assert names(got[0]) == ['a0', 'b0']
    sched.put('a', Item('a', 1))
    worker = threading.Thread(target=lambda: got.append(sched.get()))
    worker.start()
    sched.close()                                # flushes the waiting frame
    worker.join(30)
    assert names(got[1]) == ['a1'] and sched.get(timeout=0) == []


def test_bad_arguments_refused():
    with pytest.raises(ValueError):
        FleetScheduler([])
    with pytest.raises(ValueError):
        FleetScheduler(['a', 'a'])
    with pytest.raises(KeyError):
        FleetScheduler(['a']).queue('b')


# --------------------------------------------------------------------- batched pipeline
def palette_frame(seed, small):
    ids = np.zeros((H, W), np.uint8)
    ids[:12] = 10
    ids[12:20] = 2
    if small:
        for x in range(4 + seed % 3, W, 10):
            ids[14:20, x] = 5
    return TRAIN_ID_PALETTE[ids][..., ::-1].copy()


def encoded(seq, image, scale=2, quality=90, **kw):
    enc = codec.encode_frame(image, scale, quality)
    return EncodedInput(sequence=seq, data=enc.data, scale=scale, jpeg_quality=quality,
                        source_width=image.shape[1], source_height=image.shape[0], **kw)


def _sr_dir(tmp_path, scales=(2,)):
    from runespoor.archs import build_sr
    from runespoor.checkpoint import save_checkpoint
    import torch
    torch.manual_seed(0)
    kw = {'channels': 4, 'blocks': 1}
    for s in scales:
        save_checkpoint(str(tmp_path / f'asr_x{s}.pt'), build_sr('carn', s, **kw),
                        {'kind': 'sr', 'method': 'asr', 'arch': 'carn', 'arch_kwargs': kw,
                         'scale': s})
    return str(tmp_path)


def _seg_file(tmp_path):
    from runespoor.archs import build_seg
    from runespoor.checkpoint import save_checkpoint
    import torch
    torch.manual_seed(1)
    path = str(tmp_path / 'seg.pt')
    save_checkpoint(path, build_seg('swiftnet_r18_lite'), {'kind': 'seg',
                                                           'arch': 'swiftnet_r18_lite',
                                                           'arch_kwargs': {}})
    return path


def _models(kind, tmp_path):
    if kind == 'bilinear+palette':
        return make_reconstructor('bilinear'), Segmenter('palette')
    return (make_reconstructor('asr', _sr_dir(tmp_path), 'cpu', (2,)),
            Segmenter('swiftnet_r18_lite', _seg_file(tmp_path)))


@pytest.mark.parametrize('kind', ['bilinear+palette', 'asr+swiftnet'])
def test_batch_results_identical_to_one_at_a_time(kind, tmp_path):
    recon, seg = _models(kind, tmp_path)
    cfg = PipelineConfig(small_region_fraction=0.01)
    robots = ['r0', 'r1', 'r2', 'r3']
    fleet = FleetPipeline(recon, seg, robots, cfg, clock=Clock())
    single = CloudPipeline(recon, seg, cfg, clock=Clock())
    frames = [encoded(0, palette_frame(i, i % 2 == 0)) for i in range(4)]
    items = [(r, fleet.admit(r, f)) for r, f in zip(robots, frames)]
    outcomes = fleet.process_batch(items)
    assert [o.robot for o in outcomes] == robots
    for out, frame in zip(outcomes, frames):
        assert out.error is None and out.batch_size == 4
        alone = CloudPipeline(recon, seg, cfg, clock=Clock()).process(frame)
        np.testing.assert_array_equal(out.result.reconstructed, alone.reconstructed)
        np.testing.assert_array_equal(out.result.labels, alone.labels)
        assert out.result.small_region_ratio == alone.small_region_ratio
        assert out.result.is_tail == alone.is_tail
    assert single.analysed == 0


def test_per_robot_state_is_isolated():
    clock = Clock()
    fleet = FleetPipeline(make_reconstructor('bilinear'), Segmenter('palette'), ['a', 'b'],
                          PipelineConfig(tail_threshold=0.01, small_region_fraction=0.01,
                                         hold_s=1.0), clock=clock)
    plain, rich = palette_frame(0, False), palette_frame(0, True)
    out = fleet.process_batch([('a', fleet.admit('a', encoded(0, plain, 1, 95))),
                               ('b', fleet.admit('b', encoded(0, rich, 1, 95)))])
    assert out[0].result.is_tail and not out[1].result.is_tail
    assert out[0].result.policy.mode == MODE_TAIL and out[1].result.policy is None
    assert fleet['a'].tail.mode == MODE_TAIL and fleet['b'].tail.mode == MODE_STANDARD
    # sequence guards per robot: b's duplicate is refused by b's guard alone
    fleet.admit('a', encoded(1, plain, 1, 95))
    with pytest.raises(FrameError) as exc:
        fleet.admit('b', encoded(0, rich, 1, 95))
    assert exc.value.kind == 'out_of_order'
    assert fleet['b'].errors['out_of_order'] == 1 and fleet['a'].errors['out_of_order'] == 0
    # a damaged frame of one robot does not touch the other one's result
    bad = encoded(2, plain, 1, 95)
    bad.data = bad.data[:40]
    out = fleet.process_batch([('a', bad), ('b', fleet.admit('b', encoded(1, rich, 1, 95)))])
    assert out[0].error is not None and out[0].result is None and out[1].error is None
    assert fleet['a'].analysed == 1 and fleet['b'].analysed == 2
    # a configuration change stays with its robot
    fleet['a'].config.tail_threshold = 0.5
    assert fleet['b'].config.tail_threshold == 0.01


def test_pipelined_batches_give_the_serial_results_in_order():
    from runespoor.stages import StagePipeline
    cfg = PipelineConfig(tail_threshold=0.01, small_region_fraction=0.01, hold_s=1.0)
    robots = ['a', 'b']
    serial = FleetPipeline(make_reconstructor('bilinear'), Segmenter('palette'), robots, cfg,
                           clock=Clock())
    piped = FleetPipeline(make_reconstructor('bilinear'), Segmenter('palette'), robots, cfg,
                          clock=Clock())
    # robot a alternates plain (tail) and rich frames, so its tail state changes with order
    frames = [[(r, encoded(k, palette_frame(k, r == 'b' or k % 3 == 2), 1, 95))
               for r in robots] for k in range(6)]
    expected = [[(o.robot, o.result.sequence, o.result.is_tail,
                  None if o.result.policy is None else o.result.policy.mode)
                 for o in serial.process_batch([(r, serial.admit(r, f)) for r, f in batch])]
                for batch in frames]
    got = []
    stages = StagePipeline([piped.decode_batch, piped.infer_batch,
                            lambda outs: got.append([(o.robot, o.result.sequence,
                                                      o.result.is_tail,
                                                      None if o.result.policy is None
                                                      else o.result.policy.mode)
                                                     for o in outs])], depth=1)
    for batch in frames:
        assert stages.put([(r, piped.admit(r, f)) for r, f in batch], timeout=10)
    assert stages.close(10)
    assert stages.failed == 0 and got == expected
    assert any(mode == MODE_TAIL for b in got for (_, _, _, mode) in b)
    assert piped['a'].analysed == piped['b'].analysed == 6


def test_batch_key_of_a_frame():
    f = encoded(0, palette_frame(0, True), scale=4)
    assert batch_key(f) == (4, W, H)


def test_gpu_bench_fleet_script_tiny_runs_on_cpu(tmp_path):
    """The prepared GPU script (stages, batching, N robots), end to end at TINY=1 on the CPU."""
    import json
    import os
    import subprocess
    import sys
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
    env = dict(os.environ, TINY='1', PYTHONPATH=os.path.join(repo, 'ros2_ws', 'src',
                                                             'runespoor'))
    proc = subprocess.run([sys.executable, os.path.join(repo, 'scripts', 'gpu_bench_fleet.py'),
                           '--device', 'cpu', '--out', str(tmp_path),
                           '--fleet-pipelining', 'on'], env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(tmp_path / 'gpu_bench_fleet.json') as f:
        result = json.load(f)
    assert result['tiny'] is True and result['device'] == 'cpu' and 'errors' not in result
    base, other = result['stages']['variants'][:2]
    assert base['name'] == 'fp32_eager' and 'ratio_to_baseline' in other['process_ms']
    assert set(base['stages']) == {'decode_ms', 'reconstruct_ms', 'inference_ms',
                                   'postprocess_ms'}
    serial, staged = result['pipelined']['rows']
    assert (serial['name'], staged['name']) == ('serial', 'pipelined')
    assert staged['frames'] == serial['frames'] == 3 and staged['fps_ratio_to_serial'] > 0
    assert [r['batch'] for r in result['batching']] == [1, 2]
    assert result['batching'][0]['throughput_ratio_to_batch1'] == 1.0
    fleet = {r['robots']: r for r in result['fleet']}
    assert set(fleet) == {1, 2}
    for row in fleet.values():
        assert row['pipelining'] is True  # as the node serves with pipelining on
        assert row['offered'] == 17 * row['robots'] and row['analysed'] >= 1
        s = row['end_to_end_ms']
        assert s['median_ms'] <= s['p90_ms'] <= s['p99_ms']


@pytest.mark.parametrize('kind', ['bilinear+palette', 'asr+swiftnet'])
def test_tensor_decode_in_the_fleet_gives_what_the_array_path_gives(kind, tmp_path):
    # the node's gpu_decode / pin_memory fast path (CPU decoder here, nvJPEG on CUDA): frames
    # decoded into tensors, batched, and the same results as the plain array path
    from runespoor.fast_path import decode_jpeg_tensor, FastPath
    recon, seg = _models(kind, tmp_path)
    cfg = PipelineConfig(small_region_fraction=0.01)
    robots = ['r0', 'r1', 'r2']
    plain = FleetPipeline(recon, seg, robots, cfg, clock=Clock())
    fast = FleetPipeline(recon, seg, robots, cfg, clock=Clock())
    decoded, refuse = [], set()

    def decoder(data):
        decoded.append(len(data))
        if bytes(data) in refuse:
            raise RuntimeError('nvJPEG: corrupt stream')   # what a GPU decoder may raise
        return decode_jpeg_tensor(data, FastPath())

    for r in robots:
        fast[r].tensor_decode = decoder
    frames = [encoded(0, palette_frame(i, i % 2 == 0)) for i in range(3)]
    a = plain.process_batch([(r, plain.admit(r, f)) for r, f in zip(robots, frames)])
    b = fast.process_batch([(r, fast.admit(r, f)) for r, f in zip(robots, frames)])
    assert len(decoded) == 3                      # every frame went through the tensor decoder
    for x, y in zip(a, b):
        assert x.error is None and y.error is None and y.batch_size == 3
        np.testing.assert_array_equal(x.result.reconstructed, y.result.reconstructed)
        np.testing.assert_array_equal(x.result.labels, y.result.labels)
        assert x.result.is_tail == y.result.is_tail
    # one robot alone (no batch) and a damaged frame: counted for its robot only
    single = fast.process_batch([('r0', fast.admit('r0', encoded(1, palette_frame(5, True))))])
    assert single[0].error is None and single[0].result.labels is not None
    damaged = encoded(2, palette_frame(6, False))
    refuse.add(bytes(damaged.data))
    out = fast.process_batch([('r1', fast.admit('r1', damaged)),
                              ('r2', fast.admit('r2', encoded(1, palette_frame(7, True))))])
    assert out[0].error is not None and out[1].error is None
    assert fast['r1'].errors['undecodable'] == 1 and sum(fast['r2'].errors.values()) == 0
