# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Cloud pipeline: validation errors, reconstruction + segmentation, tail hold, bounded queue."""

import threading

import cv2
import numpy as np
import pytest

from runespoor import codec
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, FrameError, FrameQueue,
                                      make_reconstructor, ModelError, PipelineConfig,
                                      SequenceGuard, TailController)
from runespoor.edge_control import MODE_STANDARD, MODE_TAIL
from runespoor.labels import TRAIN_ID_PALETTE
from runespoor.tasks.segmentation.analytics import palette_segment, Segmenter

W, H = 64, 32


def palette_frame(with_small_objects):
    """BGR frame drawn with palette colours: road, building, sky and optional small poles."""
    ids = np.zeros((H, W), np.uint8)  # road
    ids[:12] = 10  # sky
    ids[12:20] = 2  # building
    if with_small_objects:
        for x in range(4, W, 10):
            ids[14:20, x] = 5  # 6-pixel poles: small regions
    bgr = TRAIN_ID_PALETTE[ids][..., ::-1].copy()
    return bgr, ids


def encoded(seq, image, scale=1, quality=95, **kw):
    enc = codec.encode_frame(image, scale, quality)
    args = {'sequence': seq, 'data': enc.data, 'scale': scale, 'jpeg_quality': quality,
            'source_width': image.shape[1], 'source_height': image.shape[0]}
    args.update(kw)
    return EncodedInput(**args)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def make_pipeline(seg='palette', **cfg):
    clock = Clock()
    pipe = CloudPipeline(make_reconstructor('bilinear'), Segmenter(seg),
                         PipelineConfig(**cfg), clock=clock)
    return pipe, clock


def test_palette_segmenter_recovers_ids():
    bgr, ids = palette_frame(True)
    np.testing.assert_array_equal(palette_segment(bgr), ids)


@pytest.mark.parametrize('scale', codec.SCALES)
def test_process_gives_source_size_map(scale):
    pipe, _ = make_pipeline()
    bgr, _ = palette_frame(True)
    frame = pipe.admit(encoded(0, bgr, scale))
    res = pipe.process(frame)
    assert res.labels.shape == (H, W) and res.labels.dtype == np.uint8
    assert res.reconstructed.shape == (H, W, 3)
    assert res.method == 'bilinear' and res.knobs.scale == scale
    assert set(res.latencies_ms) == {'decode_ms', 'reconstruct_ms', 'inference_ms',
                                     'postprocess_ms'}


def test_small_objects_vs_tail_frame_and_policy():
    pipe, clock = make_pipeline(tail_threshold=0.01, small_region_fraction=0.01, hold_s=1.0)
    rich, _ = palette_frame(True)
    plain, _ = palette_frame(False)
    res = pipe.process(pipe.admit(encoded(0, rich)))
    assert not res.is_tail and res.small_region_ratio > 0.01 and res.policy is None
    clock.t = 0.1
    res = pipe.process(pipe.admit(encoded(1, plain)))
    assert res.is_tail and res.small_region_ratio == 0.0
    assert res.policy.mode == MODE_TAIL and res.policy.trigger_sequence == 1
    assert res.policy.policy_sequence == 1
    assert pipe.tail_frames == 1 and pipe.analysed == 2


def test_tail_controller_holds_and_does_not_flap():
    ctl = TailController(hold_s=1.0)
    assert ctl.update(True, 0.0, 1).mode == MODE_TAIL
    decisions = []
    for i, t in enumerate(np.arange(0.05, 0.95, 0.05)):  # alternating, within the hold
        decisions.append(ctl.update(i % 2 == 0, float(t), i + 2))
    assert all(d is None for d in decisions)
    last_tail = 0.05 + 2 * 0.05 * ((len(decisions) - 1) // 2)
    assert ctl.update(False, last_tail + 0.99, 50) is None
    back = ctl.update(False, last_tail + 1.0, 51)
    assert back.mode == MODE_STANDARD and back.policy_sequence == 2
    assert ctl.update(False, 10.0, 52) is None


def test_sequence_guard_out_of_order_duplicate_restart_stale():
    guard = SequenceGuard(max_age_s=0.5)
    ok = EncodedInput(5, b'x', 1, 50, 8, 8, capture_s=10.0, receive_s=10.1)
    guard.check(ok)
    for seq in (5, 3):
        with pytest.raises(FrameError) as err:
            guard.check(EncodedInput(seq, b'x', 1, 50, 8, 8))
        assert err.value.kind == 'out_of_order'
    guard.check(EncodedInput(0, b'x', 1, 50, 8, 8))  # edge restarted
    assert guard.restarts == 1
    with pytest.raises(FrameError) as err:
        guard.check(EncodedInput(1, b'x', 1, 50, 8, 8, capture_s=10.0, receive_s=11.0))
    assert err.value.kind == 'stale'


@pytest.mark.parametrize('change,kind', [
    ({'data': b'\xff\xd8 garbage'}, 'undecodable'),
    ({'data': b''}, 'undecodable'),
    ({'scale': 3}, 'unknown_scale'),
    ({'scale': 0}, 'unknown_scale'),
    ({'source_width': 0}, 'bad_size'),
    ({'source_height': 0}, 'bad_size'),
    ({'source_width': 100000}, 'bad_size'),
    ({'source_width': W + 7}, 'size_mismatch'),
    ({'source_height': H * 2}, 'size_mismatch'),
    ({'image_format': 'png'}, 'bad_format'),
])
def test_bad_frames_raise_typed_errors_and_next_frame_works(change, kind):
    pipe, _ = make_pipeline()
    bgr, _ = palette_frame(True)
    bad = encoded(1, bgr)
    for key, value in change.items():
        setattr(bad, key, value)
    with pytest.raises(FrameError) as err:
        pipe.process(pipe.admit(bad))
    assert err.value.kind == kind and err.value.sequence == 1
    assert pipe.errors[kind] == 1
    res = pipe.process(pipe.admit(encoded(2, bgr)))
    assert res.sequence == 2


def test_odd_source_size_is_fine_when_consistent():
    pipe, _ = make_pipeline()
    bgr = cv2.resize(palette_frame(True)[0], (67, 33), interpolation=cv2.INTER_NEAREST)
    res = pipe.process(pipe.admit(encoded(0, bgr, scale=6)))
    assert res.labels.shape == (33, 67)


def test_none_segmenter_flags_every_frame():
    pipe, _ = make_pipeline(seg='none')
    res = pipe.process(pipe.admit(encoded(0, palette_frame(True)[0], 2)))
    assert (res.labels == 255).all() and res.is_tail


def test_queue_is_bounded_and_drops_oldest():
    q = FrameQueue(2)
    assert q.put(1) is None and q.put(2) is None
    assert q.put(3) == 1 and q.dropped == 1 and len(q) == 2
    assert q.get(0) == 2 and q.get(0) == 3 and q.get(0.01) is None
    waiter = []
    th = threading.Thread(target=lambda: waiter.append(q.get(5.0)))
    th.start()
    q.close()
    th.join(2.0)
    assert waiter == [None]


def test_latency_stats_window_bounded():
    pipe, _ = make_pipeline()
    bgr, _ = palette_frame(True)
    for i in range(5):
        pipe.process(pipe.admit(encoded(i, bgr, 2)))
    summary = pipe.latency.summary()
    assert summary['decode_ms']['n'] == 5 and summary['decode_ms']['p90'] >= 0


def test_missing_segmentation_weights_named(tmp_path):
    path = tmp_path / 'models' / 'seg' / 'swiftnet_r18.pt'
    with pytest.raises(ModelError, match=str(path)):
        Segmenter('swiftnet_r18', str(path))
    with pytest.raises(ModelError, match='needs a weights file'):
        Segmenter('swiftnet_r18', '')
    with pytest.raises(ModelError, match='unknown segmentation arch'):
        Segmenter('resnet9000', 'x.pt')


def test_mismatched_segmentation_weights_named(tmp_path):
    from runespoor.archs import build_seg
    from runespoor.checkpoint import save_checkpoint
    model = build_seg('swiftnet_r18_lite')
    path = str(tmp_path / 'seg.pt')
    save_checkpoint(path, model, {'kind': 'seg', 'arch': 'swiftnet_r18_lite',
                                  'arch_kwargs': {}})
    with pytest.raises(ModelError, match='seg.pt'):
        Segmenter('swiftnet_r18', path)
    seg = Segmenter('swiftnet_r18_lite', path)  # the right arch loads and runs on CPU
    out = seg(palette_frame(True)[0])
    assert out.shape == (H, W) and out.dtype == np.uint8 and out.max() < 19
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'not a torch file')
    with pytest.raises(ModelError, match='garbage.pt'):
        Segmenter('swiftnet_r18_lite', str(garbage))


def test_missing_sr_checkpoint_named(tmp_path):
    with pytest.raises(ModelError, match='asr_x4.pt'):
        make_reconstructor('asr', str(tmp_path), 'cpu', scales=(4,))
    with pytest.raises(ModelError, match='unknown reconstruction method'):
        make_reconstructor('magic', str(tmp_path), 'cpu')


def test_warm_up_runs_the_models_without_touching_the_stream_state():
    pipe, _ = make_pipeline()
    calls = []
    seg = pipe.analytics
    pipe.analytics = lambda hr, tensor: calls.append(hr.shape) or seg(hr, tensor)
    assert pipe.warm_up(scales=(2, 4), width=64, height=32) > 0
    assert calls == [(32, 64, 3), (32, 64, 3)]
    assert pipe.analysed == 0 and pipe.guard.last is None and pipe.tail.policy_sequence == 0
    assert not any(pipe.errors.values())
