# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Only frames the tail detector flags switch the edge to the tail config (CloudPipeline)."""

import numpy as np
import pytest

from runespoor import codec
from runespoor.cac.detector import FittedDetector
from runespoor.cac.logistic import LogisticModel
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, make_reconstructor,
                                      PipelineConfig)
from runespoor.edge_control import Knobs, MODE_STANDARD, MODE_TAIL
from runespoor.tail_features import AnalysisOutput, seg_feature_names
from runespoor.tasks.segmentation.analytics import Segmenter

W, H = 64, 32
NAMES = seg_feature_names(19)


class FakeAnalytics:
    """Segmentation stand-in: the frame's mean brightness goes into ``mean_entropy``."""

    task = 'segmentation'

    def __init__(self):
        self.calls = 0

    def __call__(self, image_bgr, tensor=None):
        return np.zeros(image_bgr.shape[:2], np.uint8)

    def tail_signal(self, labels, frame_size, config):
        return 0.0

    def analyse_with_features(self, image_bgr, tensor=None, small_region_fraction=0.001):
        self.calls += 1
        feats = np.zeros(len(NAMES))
        feats[NAMES.index('mean_entropy')] = float(image_bgr.mean()) / 255.0
        feats[NAMES.index('small_region_ratio')] = 0.02
        return AnalysisOutput(self(image_bgr), feats)


def detector(threshold=0.5):
    """Return a hand-made model: p(tail) = sigmoid(20 (entropy - 0.5)), tail when p > 0.5."""
    model = LogisticModel(('mean_entropy',), np.array([0.5]), np.array([0.05]),
                          np.array([1.0]), 0.0)
    return FittedDetector({4: model}, {4: threshold}, NAMES)


def frame(seq, bright):
    image = np.full((H, W, 3), 230 if bright else 30, np.uint8)
    enc = codec.encode_frame(image, 4, 80)
    return EncodedInput(sequence=seq, data=enc.data, scale=4, jpeg_quality=80,
                        source_width=W, source_height=H)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def make(hold_s=1.0, **cfg):
    clock = Clock()
    config = PipelineConfig(tail_detector='fitted', tail_model=detector(), hold_s=hold_s,
                            policy_standard=Knobs(4, 80, 0.0, False),
                            policy_tail=Knobs(2, 40, 0.0, True), **cfg)
    return CloudPipeline(make_reconstructor('bilinear'), FakeAnalytics(), config, clock), clock


def test_only_flagged_frames_trigger_the_tail_config():
    pipe, clock = make(hold_s=1.0)
    pattern = [False, False, False, True, False, False, False, False, False, False, True, False]
    policies = []
    for i, bright in enumerate(pattern):
        clock.t = 0.2 * i
        res = pipe.process(frame(i + 1, bright))
        assert res.is_tail == bright
        assert res.tail_score == pytest.approx(1.0 if bright else 0.0, abs=1e-3)
        assert res.signal_value == res.tail_score and res.threshold == 0.5
        assert res.small_region_ratio == pytest.approx(0.02)
        if res.policy is not None:
            policies.append((res.sequence, res.policy.mode))
    # to tail on the flagged frame 4; back to standard once 1 s passed without a flag (frame
    # 9 at t = 1.6 s); to tail again on the flagged frame 11; nothing else
    assert policies == [(4, MODE_TAIL), (9, MODE_STANDARD), (11, MODE_TAIL)]
    assert pipe.tail_frames == 2 and pipe.analysed == len(pattern)
    assert pipe.analytics.calls == len(pattern)  # one analysis per frame, no extra pass


def test_unflagged_stream_never_switches():
    pipe, clock = make()
    for i in range(20):
        clock.t = 0.1 * i
        res = pipe.process(frame(i + 1, False))
        assert not res.is_tail and res.policy is None
    assert pipe.tail.mode == MODE_STANDARD


def test_policy_carries_the_configured_tail_config():
    pipe, clock = make()
    res = pipe.process(frame(1, True))
    assert res.policy.mode == MODE_TAIL
    assert (res.policy.tail.scale, res.policy.tail.jpeg_quality) == (2, 40)


def test_fitted_detector_needs_a_model_and_segmentation():
    with pytest.raises(ValueError, match='tail model file'):
        CloudPipeline(make_reconstructor('bilinear'), FakeAnalytics(),
                      PipelineConfig(tail_detector='fitted'))
    with pytest.raises(ValueError, match='ratio or fitted'):
        CloudPipeline(make_reconstructor('bilinear'), FakeAnalytics(),
                      PipelineConfig(tail_detector='magic'))


def test_palette_segmenter_gives_features_in_order():
    seg = Segmenter('palette')
    image = np.zeros((H, W, 3), np.uint8)
    out = seg.analyse_with_features(image)
    assert out.labels.shape == (H, W) and out.features.shape == (len(NAMES),)
    assert out.features[NAMES.index('mean_max_prob')] == 1.0


def test_ratio_rule_is_unchanged_by_default():
    clock = Clock()
    pipe = CloudPipeline(make_reconstructor('bilinear'), FakeAnalytics(),
                         PipelineConfig(tail_threshold=0.01, tail_direction='below'), clock)
    res = pipe.process(frame(1, False))
    assert res.tail_score is None and res.is_tail  # ratio 0.0 < 0.01
    assert pipe.analytics.calls == 0
