# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Segmentation metrics on hand-made label maps, and a cross-check with cityscapesscripts."""

import copy
import math

import numpy as np
import pytest

from runespoor.metrics import segmentation as seg


def test_confusion_matrix_counts_and_ignore():
    target = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [2, 0, 2]])
    conf = seg.confusion_matrix(target, pred, num_classes=3)
    assert conf.dtype == np.int64
    np.testing.assert_array_equal(conf, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert conf.sum() == 5  # the ignore pixel is not counted


def test_confusion_matrix_all_ignore_frame_is_zero_and_miou_nan():
    target = np.full((4, 5), 255)
    pred = np.zeros((4, 5), int)
    conf = seg.confusion_matrix(target, pred)
    assert conf.shape == (19, 19) and conf.sum() == 0
    assert np.isnan(seg.iou_per_class(conf)).all()
    assert math.isnan(seg.mean_iou(conf))


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match='outside'):
        seg.confusion_matrix(np.array([0, 3]), np.array([0, 0]), num_classes=3)
    with pytest.raises(ValueError, match='predicted'):
        seg.confusion_matrix(np.array([0, 1]), np.array([0, 255]), num_classes=3)
    with pytest.raises(ValueError, match='shape'):
        seg.confusion_matrix(np.zeros(3, int), np.zeros(4, int))


def test_iou_known_values_and_absent_class_is_nan():
    # class 0: tp 1, fn 1, fp 0 -> 1/2; class 1: tp 1, fn 1, fp 1 -> 1/3; class 2: tp 1, fp 1
    # -> 1/2; class 3 absent from both -> NaN and skipped by the mean.
    conf = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    ious = seg.iou_per_class(conf)
    np.testing.assert_allclose(ious[:3], [0.5, 1 / 3, 0.5])
    assert np.isnan(ious[3])
    assert seg.mean_iou(conf) == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert seg.average_iou(ious) == pytest.approx(seg.mean_iou(conf))
    with pytest.raises(ValueError):
        seg.mean_iou(ious)


def test_class_predicted_but_absent_counts_as_zero():
    conf = np.array([[1, 1], [0, 0]])  # class 1 never in gt, predicted once -> IoU 0
    np.testing.assert_allclose(seg.iou_per_class(conf), [0.5, 0.0])
    assert seg.mean_iou(conf) == pytest.approx(0.25)


def test_stack_of_matrices_gives_per_frame_values():
    conf = np.stack([np.eye(3, dtype=int), np.zeros((3, 3), int)])
    ious = seg.iou_per_class(conf)
    assert ious.shape == (2, 3)
    np.testing.assert_allclose(seg.mean_iou(conf), [1.0, np.nan])


def test_worst_classes_fixed_from_baseline_and_reused():
    baseline = np.array([0.9, 0.1, np.nan, 0.5, 0.3, 0.8])
    tail = seg.worst_classes(baseline, num=3)
    np.testing.assert_array_equal(tail, [1, 4, 3])  # NaN class cannot be ranked
    other = np.array([0.2, 0.7, 0.4, 0.6, 0.5, 0.0])
    assert seg.tail_miou(other, tail) == pytest.approx((0.7 + 0.5 + 0.6) / 3)
    assert seg.tail_miou(baseline, tail) == pytest.approx(0.3)
    # A class only ever predicted (absent from the ground truth) is not a tail candidate.
    eligible = np.array([True, False, True, True, True, True])
    np.testing.assert_array_equal(seg.worst_classes(baseline, num=3, eligible=eligible),
                                  [4, 3, 5])


def test_worst_half_of_19_is_9():
    ious = np.linspace(0.0, 0.9, 19)[::-1]
    tail = seg.worst_classes(ious)
    assert len(tail) == 9
    assert set(tail) == set(range(10, 19))


def test_normalised_and_pixel_share():
    assert seg.normalised(0.5, 0.8) == pytest.approx(0.625)
    assert math.isnan(seg.normalised(0.5, 0.0))
    np.testing.assert_allclose(seg.normalised(np.array([0.4, 0.2]), np.array([0.8, 0.4])),
                               [0.5, 0.5])
    conf = np.array([[3, 1], [0, 4]])
    np.testing.assert_allclose(seg.class_pixel_share(conf), [0.5, 0.5])


def test_table2_tail_average_reproduces_paper():
    from runespoor.evaluation import paper
    t2 = paper.TABLE2
    for method in ('bilinear', 'sr', 'asr'):
        values = [row[method] for row in t2['rows'].values()]
        assert np.mean(values) == pytest.approx(t2['tail_classes'][method], abs=0.01)


def test_cross_check_with_cityscapesscripts(tmp_path, monkeypatch):
    """Our IoUs equal the official evaluator's on a handful of frames (labels as label ids)."""
    from PIL import Image
    monkeypatch.setenv('CITYSCAPES_DATASET', str(tmp_path))
    (tmp_path / 'export').mkdir()
    monkeypatch.setenv('CITYSCAPES_EXPORT_DIR', str(tmp_path / 'export'))
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
    from cityscapesscripts.helpers.labels import trainId2label

    to_label_id = np.zeros(256, np.uint8)  # train id 255 -> label id 0 ("unlabeled", ignored)
    for train_id, label in trainId2label.items():
        if 0 <= train_id < 19:
            to_label_id[train_id] = label.id

    rng = np.random.default_rng(0)
    gt_files, pred_files, conf = [], [], np.zeros((19, 19), np.int64)
    for i in range(4):
        gt = rng.integers(0, 19, size=(24, 32))
        gt[rng.random(gt.shape) < 0.15] = 255
        gt[gt == 16] = 255  # class 16 absent from gt ...
        pred = np.where(rng.random(gt.shape) < 0.6, np.where(gt == 255, 0, gt),
                        rng.integers(0, 19, size=gt.shape))
        pred[pred == 16] = 17  # ... and from the prediction: NaN on both sides
        conf += seg.confusion_matrix(gt, pred)
        gt_files.append(str(tmp_path / f'f{i}_gtFine_labelIds.png'))
        pred_files.append(str(tmp_path / f'f{i}_pred.png'))
        Image.fromarray(to_label_id[gt]).save(gt_files[-1])
        Image.fromarray(to_label_id[pred]).save(pred_files[-1])

    args = copy.copy(cs_eval.args)
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    args.exportFile = str(tmp_path / 'export' / 'result.json')
    result = cs_eval.evaluateImgLists(pred_files, gt_files, args)

    ours = seg.iou_per_class(conf)
    for train_id in range(19):
        theirs = result['classScores'][trainId2label[train_id].name]
        if np.isnan(ours[train_id]):
            assert np.isnan(theirs), train_id
        else:
            assert ours[train_id] == pytest.approx(theirs, abs=1e-12), train_id
    assert np.isnan(ours[16])
    assert seg.mean_iou(conf) == pytest.approx(result['averageScoreClasses'], abs=1e-12)
