# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""StagePipeline: order kept, stages overlap, bounded hand-overs, errors drop one item."""

import threading

import numpy as np
import pytest
from runespoor import codec
from runespoor.cloud_pipeline import CloudPipeline, EncodedInput, FrameError, make_reconstructor, \
    PipelineConfig
from runespoor.stages import StagePipeline
from runespoor.tasks.segmentation.analytics import Segmenter

TIMEOUT = 60.0


def test_items_leave_in_order_through_every_stage():
    out, finished = [], threading.Event()

    def last(x):
        out.append(x)
        if len(out) == 50:
            finished.set()
        return x

    pipe = StagePipeline([lambda x: x * 2, lambda x: x + 1, last], depth=2)
    for i in range(50):
        assert pipe.put(i, timeout=TIMEOUT)
    assert finished.wait(TIMEOUT)
    assert out == [2 * i + 1 for i in range(50)]
    assert pipe.close() and pipe.done == 50 and pipe.failed == 0
    assert not pipe.put(51)  # closed


def test_stages_overlap_two_items():
    """Stage 1 holds item 0 until stage 0 has started item 1: only possible with overlap."""
    second_started = threading.Event()
    seen = []

    def first(x):
        if x == 1:
            second_started.set()
        return x

    def second(x):
        if x == 0:
            assert second_started.wait(TIMEOUT), 'stage 0 never got item 1 while 1 held item 0'
        seen.append(x)
        return x

    pipe = StagePipeline([first, second], depth=1)
    pipe.put(0, timeout=TIMEOUT)
    pipe.put(1, timeout=TIMEOUT)
    assert pipe.close(TIMEOUT)
    assert seen == [0, 1]


def test_a_full_pipeline_blocks_the_producer_instead_of_growing():
    release, running = threading.Event(), threading.Event()

    def stage(x):
        running.set()
        return release.wait(TIMEOUT) and x

    pipe = StagePipeline([stage], depth=1)
    assert pipe.put(0, timeout=TIMEOUT) and running.wait(TIMEOUT)  # item 0 in the stage
    assert pipe.put(1, timeout=TIMEOUT)                           # item 1 waits in the queue
    # the rest are refused (after a short wait each) instead of queueing without bound
    assert not any(pipe.put(i, timeout=0.01) for i in range(2, 5))
    assert pipe.pending() <= 1
    release.set()
    assert pipe.close(TIMEOUT)


def test_an_error_drops_that_item_only():
    errors, out = [], []

    def stage(x):
        if x == 3:
            raise ValueError('bad frame 3')
        return x

    pipe = StagePipeline([stage, out.append], on_error=lambda i, e, s: errors.append((i, s)))
    for i in range(6):
        pipe.put(i, timeout=TIMEOUT)
    assert pipe.close(TIMEOUT)
    assert out == [0, 1, 2, 4, 5] and errors == [(3, 0)] and pipe.failed == 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='at least one stage'):
        StagePipeline([])
    with pytest.raises(ValueError, match='depth'):
        StagePipeline([lambda x: x], depth=0)


def test_cloud_stages_give_what_process_gives():
    """Stages start, infer and finish in a StagePipeline give what process() gives."""
    frames = []
    rng = np.random.default_rng(0)
    for seq in range(6):
        img = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
        enc = codec.encode_frame(img, 2, 80)
        frames.append(EncodedInput(seq, enc.data, 2, 80, 64, 32, capture_s=1.0, receive_s=1.0))

    def pipeline():
        return CloudPipeline(make_reconstructor('bilinear'), Segmenter('palette'),
                             PipelineConfig(tail_threshold=0.5))

    serial = pipeline()
    expected = [serial.process(serial.admit(f)) for f in frames]
    staged, results = pipeline(), []
    stages = StagePipeline([staged.start, staged.infer, lambda it: results.append(
        staged.finish(it))], depth=1)
    for f in frames:
        stages.put(staged.admit(f), timeout=TIMEOUT)
    assert stages.close(TIMEOUT)
    assert [r.sequence for r in results] == list(range(6))
    for a, b in zip(expected, results):
        assert np.array_equal(a.output, b.output) and a.is_tail == b.is_tail
        assert a.signal == pytest.approx(b.signal)
    assert staged.analysed == serial.analysed == 6


def test_tensor_decode_path_gives_what_the_array_path_gives():
    """The fast path's tensor decoder (CPU here; nvJPEG on CUDA) feeds the same reconstruction."""
    from runespoor.fast_path import decode_jpeg_tensor, FastPath
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
    enc = codec.encode_frame(img, 2, 80)
    frame = EncodedInput(0, enc.data, 2, 80, 64, 32, capture_s=1.0, receive_s=1.0)
    plain = CloudPipeline(make_reconstructor('bilinear'), Segmenter('palette'))
    fast = CloudPipeline(make_reconstructor('bilinear'), Segmenter('palette'))
    fast.tensor_decode = lambda data: decode_jpeg_tensor(data, FastPath())
    a, b = plain.process(plain.admit(frame)), fast.process(fast.admit(frame))
    assert np.array_equal(a.reconstructed, b.reconstructed)
    assert np.array_equal(a.output, b.output)
    bad = EncodedInput(1, enc.data, 4, 80, 64, 32, capture_s=1.0, receive_s=1.0)
    with pytest.raises(FrameError, match='decoded 32x16 but source 64x32 at x4'):
        fast.process(bad)  # not admitted: the decoder's size is checked all the same
    assert fast.errors['size_mismatch'] == 1
