# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Hostile input to the cloud pipeline, the codec and the edge controller, without ROS.

A fuzz suite CI runs; the ROS message converters' share is in
``runespoor_edge/test/test_image_conv.py``.

Every case must end in the project's own typed error (``FrameError`` with a kind,
``CodecError``, ``PolicyError``) or be accepted - never another exception, a hang or
a decode of a frame the header already refuses - and the next good frame must still be
analysed.  Seeds are fixed, so a failure reproduces.
"""

import random

import numpy as np
import pytest

from runespoor import codec
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, FrameError, make_reconstructor,
                                      PipelineConfig)
from runespoor.edge_control import (EdgeController, Knobs, MODE_STANDARD, MODE_TAIL, PolicyError,
                                    PolicyUpdate)
from runespoor.tasks.segmentation.analytics import Segmenter
from runespoor.testing import mutate_jpeg, set_jpeg_size

W, H = 64, 32
BIG = 2 ** 64 - 1


def image():
    rng = np.random.default_rng(0)
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2] = (180, 130, 70)
    img[H // 2:] = (128, 64, 128)
    return np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


def frame(seq, scale=2, data=None, **kw):
    enc = codec.encode_frame(image(), scale, 80)
    args = {'sequence': seq, 'data': enc.data if data is None else data, 'scale': scale,
            'jpeg_quality': 80, 'source_width': W, 'source_height': H}
    args.update(kw)
    return EncodedInput(**args)


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def pipeline(**cfg):
    return CloudPipeline(make_reconstructor('bilinear'), Segmenter('palette'),
                         PipelineConfig(**cfg), clock=Clock())


def run(pipe, f):
    """Admit and process ``f``; return the result or the FrameError kind."""
    try:
        return pipe.process(pipe.admit(f))
    except FrameError as exc:
        return exc.kind


def test_probe_reads_jpeg_and_png_sizes_without_decoding():
    enc = codec.encode_frame(image(), 1, 90)
    assert codec.probe_image(enc.data) == ('jpeg', W, H)
    import cv2
    ok, png = cv2.imencode('.png', image())
    assert codec.probe_image(png.tobytes()) == ('png', W, H)
    for bad, match in ((b'', 'empty'), (b'GIF89a....', 'not a JPEG'),
                       (b'\xff\xd8\xff\xe0\x00\x10JFIF', 'cut short'),
                       (b'\xff\xd8\xff\xda\x00\x08abcdef', 'no frame header')):
        with pytest.raises(codec.CodecError, match=match):
            codec.probe_image(bad)


def test_huge_header_is_refused_before_decoding():
    """A 600-byte JPEG that claims 65000 x 65000 (4.2 G pixels) is refused from its header."""
    huge = set_jpeg_size(codec.encode_frame(image()[:8, :8], 1, 50).data, 65000, 65000)
    assert len(huge) < 1000
    with pytest.raises(codec.CodecError, match='refused before decoding'):
        codec.decode_image(huge)
    pipe = pipeline()
    assert run(pipe, frame(1, data=set_jpeg_size(frame(0).data, 30000, 30000))) == \
        'size_mismatch'
    assert run(pipe, frame(2)).sequence == 2


def test_source_frame_above_max_source_pixels_is_refused():
    """8192 x 8192 passes max_source_side but would need tens of GB to analyse."""
    pipe = pipeline()
    assert run(pipe, frame(1, source_width=8192, source_height=8192)) == 'bad_size'
    small = pipeline(max_source_pixels=W * H - 1)
    assert run(small, frame(1)) == 'bad_size'
    assert run(pipeline(max_source_pixels=W * H), frame(1)).sequence == 1


def test_png_labelled_jpeg_is_refused():
    import cv2
    ok, png = cv2.imencode('.png', image()[::2, ::2])
    pipe = pipeline()
    assert run(pipe, frame(1, data=png.tobytes(), image_format='jpeg')) == 'bad_format'
    assert run(pipe, frame(2, data=b'RIFF....WEBPVP8 ')) == 'bad_format'


def test_a_decoder_exception_is_counted_as_undecodable_not_internal(monkeypatch):
    import cv2

    def refuse(buf, flag):
        raise cv2.error('OpenCV(4.x) imgcodecs: -215:Assertion failed (decoder refused)')
    pipe = pipeline()
    monkeypatch.setattr(codec.cv2, 'imdecode', refuse)
    assert run(pipe, frame(1)) == 'undecodable'
    assert pipe.errors['undecodable'] == 1 and pipe.errors['internal'] == 0
    monkeypatch.undo()
    assert run(pipe, frame(2)).sequence == 2  # the next good frame is served


@pytest.mark.parametrize('field,value', [
    ('jpeg_quality', 0), ('jpeg_quality', 101), ('jpeg_quality', 255),
    ('frame_rate', float('nan')), ('frame_rate', float('inf')), ('frame_rate', -1.0)])
def test_implausible_knobs_in_a_frame_are_refused(field, value):
    pipe = pipeline()
    assert run(pipe, frame(1, **{field: value})) == 'bad_knobs'
    assert pipe.errors['bad_knobs'] == 1
    assert run(pipe, frame(2)).sequence == 2


@pytest.mark.parametrize('decodable', [True, False])
def test_sequence_2_64_minus_1_does_not_block_later_frames(decodable):
    pipe = pipeline()
    assert run(pipe, frame(1)).sequence == 1
    bad = frame(BIG) if decodable else frame(BIG, data=b'\xff\xd8 nope')
    assert isinstance(run(pipe, bad), str)
    for seq in (2, 3, 4):
        assert run(pipe, frame(seq)).sequence == seq


def test_forged_first_frame_is_left_after_two_real_frames():
    pipe = pipeline()
    assert run(pipe, frame(BIG)).sequence == BIG
    assert run(pipe, frame(7)) == 'out_of_order'
    assert run(pipe, frame(8)).sequence == 8
    assert run(pipe, frame(9)).sequence == 9


def test_edge_restart_is_followed_and_resynchronised_with_a_standard_policy():
    pipe = pipeline(tail_threshold=1.0, hold_s=100.0)  # every frame is a tail frame
    res = run(pipe, frame(500))
    assert res.policy is not None and res.policy.mode == MODE_TAIL
    assert run(pipe, frame(501, policy_sequence=1)).policy is None
    pipe.config.tail_threshold = 0.0  # the restarted edge's frames are not tail frames
    res = run(pipe, frame(0))  # edge restarted: its latched tail policy is stale
    assert pipe.guard.restarts == 1
    assert res.policy is not None and res.policy.mode == MODE_STANDARD
    assert res.policy.policy_sequence == 2 and pipe.tail.mode == MODE_STANDARD
    lost_first = pipeline()
    run(lost_first, frame(500))
    assert run(lost_first, frame(3)) == 'out_of_order'   # frames 0..2 lost
    assert run(lost_first, frame(4)).sequence == 4


def test_decision_is_resent_when_the_edge_does_not_follow_it():
    pipe = pipeline(tail_threshold=1.0, hold_s=100.0, policy_resync_s=2.0)
    clock = pipe.clock
    first = run(pipe, frame(1)).policy
    assert first.mode == MODE_TAIL and first.policy_sequence == 1
    resent = []
    for seq in range(2, 40):
        clock.t = seq * 0.2
        res = run(pipe, frame(seq, policy_sequence=0))  # the edge never got it
        if res.policy is not None:
            resent.append((seq, res.policy))
    assert len(resent) == 3  # at most three times
    assert all(p.mode == MODE_TAIL for _, p in resent)
    assert resent[0][0] * 0.2 >= 2.0
    assert [p.policy_sequence for _, p in resent] == [2, 3, 4]
    followed = run(pipe, frame(41, policy_sequence=4))
    assert followed.policy is None and pipe.tail.reasserts == 0


def test_implausible_stamps_are_counted_not_trusted():
    pipe = pipeline(max_clock_skew_s=300.0)
    now = 1.8e9
    assert pipe.stamp_plausible(frame(1, capture_s=now - 0.05, receive_s=now))
    for capture in (1.0, 2.2e9, float('nan'), 0.0):  # 1970, 2039, NaN, unset
        assert not pipe.stamp_plausible(frame(1, capture_s=capture, receive_s=now))
    assert pipe.implausible_stamps == 4


def test_damaged_jpeg_warnings_are_captured_not_printed(capfd):
    data = codec.encode_frame(image(), 1, 80).data
    damaged = data[:int(len(data) * 0.9)] + data[-2:]  # entropy data cut short
    pipe = pipeline()
    res = run(pipe, frame(1, scale=1, data=damaged))
    assert res.sequence == 1 and res.decoder_messages
    assert 'Corrupt JPEG' in res.decoder_messages[0]
    assert pipe.decoder_warnings == 1
    assert 'Corrupt JPEG' not in capfd.readouterr().err


@pytest.mark.parametrize('seed', [1234, 1, 2, 3])
def test_fuzz_cloud_pipeline_survives_mutated_frames(seed):
    rng = random.Random(seed)
    pipe = pipeline()
    good = frame(0).data
    seq = 0
    outcomes = {}
    for _ in range(150):
        seq += 1
        f = frame(seq, data=mutate_jpeg(rng, good))
        if rng.random() < 0.1:
            f.sequence = rng.choice([0, BIG, seq - 1, seq + 10 ** 6])
        if rng.random() < 0.1:
            f.scale = rng.choice([0, 3, 5, -1, 2 ** 31])
        if rng.random() < 0.1:
            f.source_width, f.source_height = rng.choice([(0, 0), (W, 2 ** 32 - 1), (1, 1)])
        got = run(pipe, f)
        key = got if isinstance(got, str) else 'analysed'
        outcomes[key] = outcomes.get(key, 0) + 1
        seq += 1
        assert run(pipe, frame(seq)).sequence == seq, (got, seq)  # a good frame still works
    assert sum(outcomes.values()) == 150
    assert set(outcomes) <= {'analysed', 'undecodable', 'bad_format', 'size_mismatch',
                             'out_of_order', 'unknown_scale', 'bad_size'}


@pytest.mark.parametrize('seed', [7, 8])
def test_fuzz_policies_raise_only_policy_error(seed):
    rng = random.Random(seed)
    ctl = EdgeController(Knobs(4, 70), tail=Knobs(2, 40), policy_rate_hz=0.0)
    values = [0, 1, 2, 3, 4, 6, 8, 9, 100, 101, -1, 255, 2 ** 31, BIG]
    floats = [0.0, 1.0, -1.0, float('nan'), float('inf'), 1e9, 0.5]
    for i in range(500):
        pol = PolicyUpdate(
            policy_sequence=rng.choice(values), mode=rng.choice([0, 1, 2, 255]),
            standard=Knobs(rng.choice(values), rng.choice(values), rng.choice(floats)),
            tail=Knobs(rng.choice(values), rng.choice(values), rng.choice(floats)),
            trigger_sequence=rng.choice(values), hold_s=rng.choice(floats))
        try:
            ctl.on_policy(pol, now=i * 0.01, frames_sent=i)
        except PolicyError:
            pass
        d = ctl.on_frame(i * 0.05, now=i * 0.01)
        assert d.knobs.scale in codec.SCALES and 1 <= d.knobs.jpeg_quality <= 100
        assert d.mode in (MODE_STANDARD, MODE_TAIL)
