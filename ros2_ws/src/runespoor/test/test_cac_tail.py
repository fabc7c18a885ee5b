# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""CAC tail frames: worst-10 % labelling and the fitted small-region-ratio threshold."""

import math

import numpy as np
import pytest

from runespoor.cac.tail import (classify, evaluate_threshold, fit_threshold, linear_fit,
                                per_scale_summary, recall_precision, tail_mask)


def test_tail_mask_takes_the_worst_tenth_with_nan_left_out():
    acc = np.array([0.9, 0.1, 0.8, 0.2, np.nan] + [0.7] * 15)
    mask = tail_mask(acc)  # 19 defined -> ceil(1.9) = 2 tail frames
    assert mask.tolist()[:5] == [False, True, False, True, False]
    assert mask.sum() == 2


def test_tail_mask_per_group():
    acc = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.95])
    groups = np.array([1, 1, 1, 2, 2, 2])
    assert tail_mask(acc, 0.3, groups).tolist() == [True, False, False, True, False, False]


def test_linear_fit_known_line():
    fit = linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
    assert fit.slope == pytest.approx(2.0)
    assert fit.intercept == pytest.approx(1.0)
    assert fit.r == pytest.approx(1.0)
    assert math.isnan(linear_fit([1, 1, 1], [1, 2, 3]).r)


def test_threshold_known_answer_paper_direction():
    # accuracy grows with the ratio: the 2 worst of 20 frames have ratios 0 and 1 %
    ratios = np.arange(20) / 100.0
    acc = 0.5 + ratios
    fit = fit_threshold(ratios, acc)
    assert fit.direction == 'below' and fit.paper_direction
    assert fit.regression.slope == pytest.approx(1.0)
    assert fit.threshold == pytest.approx(0.015)
    assert (fit.recall, fit.precision, fit.n_tail, fit.n_flagged) == (1.0, 1.0, 2, 2)
    assert fit.is_tail(0.01) and not fit.is_tail(0.02)


def test_threshold_opposite_correlation_flips_the_rule():
    ratios = np.arange(20) / 100.0
    fit = fit_threshold(ratios, 1.0 - ratios)
    assert fit.direction == 'above' and not fit.paper_direction
    assert fit.threshold == pytest.approx(0.175)
    assert fit.recall == 1.0 and fit.precision == 1.0
    # forcing the paper's rule on such data needs a threshold that flags everything
    forced = fit_threshold(ratios, 1.0 - ratios, direction='below')
    assert forced.recall == 1.0 and forced.precision == pytest.approx(0.1)


def test_threshold_reaches_recall_on_noisy_data_and_reports_precision():
    rng = np.random.default_rng(3)
    ratios = rng.uniform(0, 0.04, 300)
    acc = 0.4 + 6 * ratios + rng.normal(0, 0.05, 300)
    fit = fit_threshold(ratios, acc, target_recall=0.9)
    tail = tail_mask(acc)
    assert fit.reached and fit.recall >= 0.9
    rec, prec = recall_precision(classify(ratios, fit.threshold, 'below'), tail)
    assert (rec, prec) == (pytest.approx(fit.recall), pytest.approx(fit.precision))
    assert 0 < fit.precision < 1
    assert fit.regression.r > 0.5
    # no smaller threshold keeps the recall (it is the tightest at its precision)
    tighter = classify(ratios, fit.threshold - 1e-4, 'below')
    assert recall_precision(tighter, tail)[0] < 0.9 or \
        recall_precision(tighter, tail)[1] <= fit.precision
    d = fit.as_dict()
    assert d['regression']['slope'] > 0 and d['threshold'] == fit.threshold


def test_evaluate_threshold_and_per_scale_summary():
    ratios = np.arange(20) / 100.0
    acc = 0.5 + ratios
    tail = tail_mask(acc)
    ref = evaluate_threshold(ratios, tail, 0.01)
    assert ref['recall'] == 0.5 and ref['precision'] == 1.0
    summary = per_scale_summary({2: (ratios, acc), 8: (ratios / 2, acc - 0.2)})
    assert set(summary['scales']) == {2, 8}
    assert summary['scales'][8]['threshold'] == pytest.approx(0.0075)
    pooled = summary['pooled']
    assert pooled['recall'] >= 0.9 and pooled['n_tail'] == 4
    assert pooled['reference']['threshold'] == 0.01


def test_fit_threshold_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_threshold([0.1, 0.2], [0.5])
    with pytest.raises(ValueError):
        fit_threshold([np.nan], [np.nan])
    with pytest.raises(ValueError):
        fit_threshold([0.1, 0.2], [0.5, 0.6], direction='sideways')
