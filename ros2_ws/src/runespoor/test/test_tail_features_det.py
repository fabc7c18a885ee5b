# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Detection tail features and the fitted detector for detection: known tables, the pipeline."""

import json
import math

import numpy as np
import pytest

from runespoor import codec
from runespoor.cac import detector as det
from runespoor.cac.logistic import LogisticModel
from runespoor.cac.profiling import Measurements
from runespoor.cloud_pipeline import CloudPipeline, EncodedInput, make_reconstructor, \
    PipelineConfig
from runespoor.tail_features import AnalysisOutput, det_feature_names, det_features, \
    seg_feature_names
from runespoor.tasks import TASKS
from runespoor.tasks.detection.analytics import Detections, DetectorAnalytics

NAMES = det_feature_names(10)
W, H = 200, 100   # 20000 px: the small-box limit at 0.0005 is 10 px^2


def test_det_features_known_boxes():
    boxes = [[0, 0, 2, 2],      # 4 px^2: small
             [10, 10, 15, 15],  # 25 px^2: medium (10 .. 100)
             [20, 20, 40, 40],  # 400 px^2: large
             [50, 50, 52, 53],  # 6 px^2, low score: a candidate only
             [60, 60, 70, 70]]  # background slot (label 0): dropped
    scores = [0.9, 0.4, 0.8, 0.1, 0.95]
    labels = [1, 4, 4, 2, 0]
    f = dict(zip(NAMES, det_features(boxes, scores, labels, W, H, 0.3, 0.0005)))
    assert f['small_box_share'] == pytest.approx(1 / 3)
    assert f['box_count'] == pytest.approx(math.log1p(3))
    assert (f['small_count'], f['medium_count'], f['large_count']) == \
        pytest.approx((math.log1p(1), math.log1p(1), math.log1p(1)))
    assert f['candidate_count'] == pytest.approx(math.log1p(4))
    assert f['low_score_count'] == pytest.approx(math.log1p(1))
    assert f['kept_share'] == pytest.approx(0.75)
    assert f['mean_score'] == pytest.approx((0.9 + 0.4 + 0.8) / 3)
    assert f['mean_candidate_score'] == pytest.approx(2.2 / 4)
    assert f['uncertain_share'] == pytest.approx(1 / 3)      # the 0.4 box
    assert f['top_score'] == pytest.approx(0.9)              # the label-0 box is not counted
    assert f['expected_count'] == pytest.approx(math.log1p(2.2))
    assert f['det_class_count'] == pytest.approx(0.2)        # classes 1 and 4
    assert f['kept_count_4'] == pytest.approx(math.log1p(2))
    assert f['kept_count_2'] == 0.0 and f['cand_count_2'] == pytest.approx(math.log1p(1))
    areas = np.array([4, 25, 400, 6]) / (W * H)
    s = np.array([0.9, 0.4, 0.8, 0.1])
    assert f['mean_log_area'] == pytest.approx(float((s * np.log10(areas)).sum() / s.sum()))


def test_det_features_of_an_empty_frame_are_defined():
    x = det_features(np.zeros((0, 4)), [], [], W, H)
    f = dict(zip(NAMES, x))
    assert np.isfinite(x).all() and len(x) == len(NAMES) == 35
    assert f['small_box_share'] == 0.0 and f['box_count'] == 0.0
    assert f['mean_log_area'] == pytest.approx(math.log10(0.0005))
    with pytest.raises(ValueError, match='boxes'):
        det_features([[0, 0, 1, 1]], [0.5, 0.6], [1], W, H)


class TinyDetector:
    """A stand-in detector: one forward pass returns the same boxes; counts its calls."""

    num_classes = 10

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        import torch
        self.calls += 1
        return [{'boxes': torch.tensor([[0., 0., 2., 2.], [10., 10., 40., 40.], [5., 5., 7., 7.]]),
                 'scores': torch.tensor([0.9, 0.6, 0.1]),
                 'labels': torch.tensor([1, 4, 2])}]


def test_analyse_with_features_is_one_forward_pass_and_matches_call():
    model = TinyDetector()
    analytics = DetectorAnalytics(model=model, score_threshold=0.3)
    image = np.zeros((H, W, 3), np.uint8)
    out = analytics.analyse_with_features(image, None, PipelineConfig(small_box_fraction=0.0005))
    assert model.calls == 1
    assert isinstance(out, AnalysisOutput) and len(out.labels) == 2   # the kept boxes
    plain = analytics(image)
    np.testing.assert_array_equal(plain.scores, out.labels.scores)
    f = dict(zip(NAMES, out.features))
    assert f['small_box_share'] == pytest.approx(0.5)
    assert f['small_box_share'] == pytest.approx(analytics.tail_signal(
        plain, (H, W), PipelineConfig(small_box_fraction=0.0005)))
    # no config: the default limit
    again = analytics.analyse_with_features(image, None)
    np.testing.assert_allclose(again.features, out.features)
    assert TASKS['detection'].fitted_tail


def _det_table(n_frames=200, seed=0, informative=True, share=None):
    """Return detection measurements (2 scales) whose tail follows the candidate count."""
    rng = np.random.default_rng(seed)
    configs = [(2, 70), (4, 70)]
    hard = rng.uniform(0, 1, n_frames)
    acc, ratio, feats = [], [], []
    for scale, _ in configs:
        acc.append(0.6 - 0.4 * hard - 0.05 * scale + 0.01 * rng.normal(size=n_frames))
        x = rng.normal(size=(n_frames, len(NAMES)))
        # the small-box share says nothing (random, or one value on every frame)
        share = rng.uniform(0.1, 0.4, n_frames) if share is None else np.full(n_frames, share)
        x[:, NAMES.index('small_box_share')] = share
        x[:, NAMES.index('candidate_count')] = (hard if informative else rng.uniform(
            0, 1, n_frames)) * 3 + 0.05 * rng.normal(size=n_frames)
        ratio.append(share)
        feats.append(x)
    acc = np.array(acc)
    return Measurements([f'uav0001_{i + 1:07d}' for i in range(n_frames)], configs,
                        np.full(acc.shape, 5000.0), acc, np.array(ratio), (640, 360),
                        settings={'task': 'detection', 'score_threshold': 0.3,
                                  'small_box_fraction': 0.0005},
                        features=np.array(feats), feature_names=NAMES)


def test_fitted_detection_detector_finds_the_informative_feature():
    meas = _det_table()
    tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
    fitted, report = det.fit_fitted_detector(meas, tail, 0.9, l2_grid=(1.0,), folds=4)
    assert fitted.task == 'detection' and fitted.signal_name == 'small_box_share'
    assert fitted.meta['small_box_fraction'] == 0.0005
    held = _det_table(seed=3)
    held_tail = det.tail_labels(held.accuracy, held.configs, 0.1)
    ev = det.evaluate(fitted, held, held_tail)
    assert ev['pooled']['recall'] >= 0.7 and ev['pooled']['precision'] >= 0.5
    for scale in (2, 4):
        chosen = report[scale]['chosen']
        assert chosen['set'] in ('confidence', 'all') and 'warning' not in report[scale]
        assert {c['set'] for c in report[scale]['candidates']} == \
            set(TASKS['detection'].tail_feature_sets)
    ratio, ratio_report = det.fit_ratio_detector(meas, tail, 0.9)
    assert ratio.signal_name == 'small_box_share'
    assert det.evaluate(ratio, held, held_tail)['pooled']['precision'] < 0.25
    doc = json.loads(json.dumps(fitted.to_dict()))
    assert doc['task'] == 'detection'
    again = det.FittedDetector.from_dict(doc)
    x = held.features[0, :5]
    np.testing.assert_allclose(again.scores(x, 2), fitted.scores(x, 2))
    doc['task'] = 'tracking'
    with pytest.raises(ValueError, match='tracking'):
        det.FittedDetector.from_dict(doc)


def test_detection_flag_everything_is_reported_not_silently_chosen():
    # the same small-box share on every frame: the only 90 %-recall rule flags everything
    meas = _det_table(informative=False, share=0.25)
    tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
    _, report = det.fit_fitted_detector(meas, tail, 0.9,
                                        feature_sets={'ratio': ('small_box_share',)},
                                        l2_grid=(1.0,), folds=4)
    for scale in (2, 4):
        chosen = report[scale]['chosen']['cv']
        assert chosen['flagged_share'] == 1.0 and 'flags 100 %' in chosen['degenerate']
        assert 'degenerate' in report[scale]['warning']
    _, ratio_report = det.fit_ratio_detector(meas, tail, 0.9)
    for key in (2, 4, 'pooled'):
        assert ratio_report[key]['flagged_share'] == 1.0 and ratio_report[key]['warning']


def test_tail_command_detection_task(tmp_path):
    import argparse
    from runespoor.cac import tail_cli
    fit, hold = tmp_path / 'fit.json', tmp_path / 'hold.json'
    fit.write_text(json.dumps(_det_table(n_frames=150).to_json()))
    hold.write_text(json.dumps(_det_table(n_frames=100, seed=7).to_json()))
    parser = argparse.ArgumentParser()
    tail_cli.add_arguments(parser)
    out = tmp_path / 'out'
    args = parser.parse_args(['--task', 'detection', '--fit', str(fit), '--holdout', str(hold),
                              '--out', str(out), '--folds', '3'])
    assert tail_cli.run(args) == 0
    report = json.loads((out / 'tail_detectors.json').read_text())
    assert report['task'] == 'detection' and report['signal'] == 'small_box_share'
    ref = report['holdout_pooled_ratio_at_paper_1pct']
    assert ref['direction'] == 'above' and ref['threshold'] == pytest.approx(0.2342)
    assert det.FittedDetector.load(str(out / 'tail_model.json')).task == 'detection'
    assert 'small box share' in (out / 'tail_detectors.md').read_text()
    assert (out / 'tail_detectors_x2.png').stat().st_size > 0
    assert (out / 'tail_detectors_x4.png').stat().st_size > 0
    wrong = parser.parse_args(['--task', 'segmentation', '--fit', str(fit), '--holdout',
                               str(hold), '--out', str(out), '--no-plots'])
    assert tail_cli.run(wrong) == 2
    assert tail_cli.run(parser.parse_args(['--out', str(out)])) == 2   # nothing to fit


class FakeDetection:
    """Detection stand-in: the frame's brightness goes into ``candidate_count``."""

    task = 'detection'
    features_take_config = True

    def __init__(self):
        self.calls = []

    def __call__(self, image_bgr, tensor=None):
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64))

    def tail_signal(self, output, frame_size, config):
        return 0.0

    def analyse_with_features(self, image_bgr, tensor=None, config=None):
        self.calls.append(config)
        x = np.zeros(len(NAMES))
        x[NAMES.index('candidate_count')] = float(image_bgr.mean()) / 255.0
        x[NAMES.index('small_box_share')] = 0.25
        return AnalysisOutput(self(image_bgr), x)


def _frame(seq, bright, w=64, h=32):
    enc = codec.encode_frame(np.full((h, w, 3), 230 if bright else 30, np.uint8), 2, 80)
    return EncodedInput(sequence=seq, data=enc.data, scale=2, jpeg_quality=80,
                        source_width=w, source_height=h)


def _det_model():
    model = LogisticModel(('candidate_count',), np.array([0.5]), np.array([0.05]),
                          np.array([1.0]), 0.0)
    return det.FittedDetector({2: model}, {2: 0.5}, NAMES, task='detection')


def test_pipeline_runs_the_fitted_detection_detector():
    analytics = FakeDetection()
    config = PipelineConfig(tail_detector='fitted', tail_model=_det_model(),
                            small_box_fraction=0.001)
    pipe = CloudPipeline(make_reconstructor('bilinear'), analytics, config)
    assert pipe.detector_note is None
    dark, bright = pipe.process(_frame(1, False)), pipe.process(_frame(2, True))
    assert not dark.is_tail and bright.is_tail
    assert bright.small_box_share == pytest.approx(0.25)   # the signal: the task's feature
    assert bright.tail_score == pytest.approx(1.0, abs=1e-3)
    assert analytics.calls[0] is pipe.config                # the config, not a fraction


def test_pipeline_refuses_a_model_of_another_task_with_the_ratio_rule():
    seg_model = LogisticModel(('mean_entropy',), np.array([0.5]), np.array([0.1]),
                              np.array([1.0]), 0.0)
    seg = det.FittedDetector({2: seg_model}, {2: 0.5}, seg_feature_names(19))
    pipe = CloudPipeline(make_reconstructor('bilinear'), FakeDetection(),
                         PipelineConfig(tail_detector='fitted', tail_model=seg,
                                        tail_threshold=0.5, tail_direction='below'))
    assert pipe.config.tail_detector == 'ratio' and pipe.config.tail_model is None
    assert 'fitted for segmentation, task detection' in pipe.detector_note
    res = pipe.process(_frame(1, True))
    assert res.tail_score is None and res.is_tail      # ratio rule: 0.0 < 0.5
