# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Frame-wise (episode) tail accuracy on hand-made confusion matrices."""

import numpy as np
import pytest

from runespoor.metrics import framewise


def _frame(tp, fn):
    """
    2-class matrix: class 0 has IoU tp/(tp+fn); class 1 only predicted, IoU 0.

    So the frame's mIoU is tp / (tp + fn) / 2.
    """
    return np.array([[tp, fn], [0, 0]])


def test_episode_slices():
    assert framewise.episode_slices(25, 10) == [slice(0, 10), slice(10, 20)]
    assert framewise.episode_slices(25, 10, drop_last=False)[-1] == slice(20, 25)
    assert framewise.episode_slices(5, 10) == []
    with pytest.raises(ValueError):
        framewise.episode_slices(5, 0)


def test_pooled_versus_mean_reduction():
    confs = np.stack([_frame(1, 1), _frame(1, 9)])  # per-frame mIoU 0.25 and 0.05
    pooled = framewise.episode_miou(confs, episode_length=2)
    mean = framewise.episode_miou(confs, episode_length=2, reduce='mean')
    np.testing.assert_allclose(pooled, [2 / 12 / 2])  # pooled [[2, 10], [0, 0]]
    np.testing.assert_allclose(mean, [(0.25 + 0.05) / 2])
    with pytest.raises(ValueError):
        framewise.episode_miou(confs, 2, reduce='max')


def test_percentiles_of_100_episodes():
    # Episode k (one frame each) has mIoU k/200 for k = 0..99.
    confs = np.stack([_frame(k, 100 - k) for k in range(100)])
    stats = framewise.framewise_tail(confs, episode_length=1)
    assert stats['episodes'] == 100
    assert stats['mean'] == pytest.approx(0.2475)
    assert stats['p90_tail'] == pytest.approx(np.percentile(np.arange(100) / 200, 10))
    assert stats['p90_tail'] == pytest.approx(0.0495)
    assert stats['p99_tail'] == pytest.approx(0.00495)


def test_all_ignore_episode_is_skipped():
    empty = np.zeros((2, 2), int)
    confs = np.stack([empty, empty, _frame(1, 1), _frame(1, 1)])
    values = framewise.episode_miou(confs, episode_length=2)
    assert np.isnan(values[0]) and values[1] == pytest.approx(0.25)
    stats = framewise.tail_stats(values)
    assert stats == {'mean': 0.25, 'p90_tail': 0.25, 'p99_tail': 0.25, 'episodes': 1}
    nothing = framewise.tail_stats([np.nan])
    assert nothing['episodes'] == 0 and np.isnan(nothing['mean'])
