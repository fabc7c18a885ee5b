# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Tail-frame detectors: logistic regression, fitting on known tables, degenerate rules."""

import json

import numpy as np
import pytest

from runespoor.cac import detector as det
from runespoor.cac.logistic import fit_logistic, LogisticModel
from runespoor.cac.profiling import Measurements
from runespoor.cac.tail import fit_threshold


def test_logistic_recovers_a_known_direction_and_separates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (2.0 * x[:, 0] - 1.0 * x[:, 2] + 0.1 * rng.normal(size=400)) > 1.0
    model = fit_logistic(x, y, l2=0.1, feature_names=('a', 'b', 'c'))
    assert model.coef[0] > 0 > model.coef[2]
    assert abs(model.coef[1]) < 0.3 * abs(model.coef[0])
    acc = np.mean((model.predict_proba(x) > 0.5) == y)
    assert acc > 0.95


def test_logistic_standardises_and_handles_constant_features():
    x = np.column_stack([np.linspace(0, 1e-3, 50), np.full(50, 7.0)])
    y = np.arange(50) >= 40
    model = fit_logistic(x, y, l2=1.0)
    assert model.scale[1] == 1.0 and model.coef[1] == pytest.approx(0.0, abs=1e-9)
    assert model.coef[0] > 0  # a tiny-valued feature still gets a weight after scaling
    assert model.predict_proba(x[-1]) > model.predict_proba(x[0])


def test_logistic_stronger_l2_shrinks_weights():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = x[:, 0] > 0.8
    small = fit_logistic(x, y, l2=0.1)
    big = fit_logistic(x, y, l2=1000.0)
    assert np.abs(big.coef).sum() < np.abs(small.coef).sum()


def test_logistic_needs_both_classes_and_finite_features():
    with pytest.raises(ValueError, match='both classes'):
        fit_logistic(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match='NaN'):
        fit_logistic(np.array([[np.nan], [1.0]]), np.array([0, 1]))


def test_logistic_json_round_trip_and_rejects_bad_content():
    model = fit_logistic(np.arange(20.0)[:, None], np.arange(20) > 15, feature_names=('r',))
    again = LogisticModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.predict_proba([3.0]) == pytest.approx(model.predict_proba([3.0]))
    bad = model.to_dict()
    bad['coef'] = [1.0, 2.0]
    with pytest.raises(ValueError, match='feature names'):
        LogisticModel.from_dict(bad)
    bad = model.to_dict()
    bad['scale'] = [0.0]
    with pytest.raises(ValueError, match='scale'):
        LogisticModel.from_dict(bad)


def test_choose_threshold_known_answer():
    # scores 0..9, tail = the top 3; "tail if score > 6.5" catches all of them and only them
    scores = np.arange(10.0)
    tail = scores >= 7
    op = det.choose_threshold(scores, tail, 0.9)
    assert op['threshold'] == pytest.approx(6.5)
    assert op['recall'] == 1.0 and op['precision'] == 1.0
    assert op['degenerate'] is None


def test_flag_everything_is_reported_not_silently_chosen():
    # a signal that says nothing: the only rule reaching 90 % recall flags every frame
    rng = np.random.default_rng(2)
    ratios = np.full(50, 0.02)
    acc = rng.uniform(0.3, 0.9, 50)
    fit = fit_threshold(ratios, acc, 0.9)
    assert fit.flagged_share == 1.0
    op = det.degenerate_reason(fit.flagged_share, fit.precision, fit.n_tail / fit.n)
    assert op is not None and 'flags 100 %' in op
    scores = np.zeros(40)
    scores[:4] = 1.0  # the top 4 are not the tail
    tail = np.zeros(40, bool)
    tail[-4:] = True
    chosen = det.choose_threshold(scores, tail, 0.9)
    assert chosen['flagged_share'] == 1.0 and chosen['degenerate']


def test_degenerate_reason_chance_precision():
    assert det.degenerate_reason(0.5, 0.105, 0.1) is not None  # no better than the base rate
    assert det.degenerate_reason(0.3, 0.3, 0.1) is None
    assert det.degenerate_reason(0.96, 0.4, 0.1) is not None


def _table(n_frames=200, seed=0, informative=True):
    """Measurements at two scales x two qualities whose tail is known by construction."""
    rng = np.random.default_rng(seed)
    names = ('small_region_ratio', 'mean_entropy', 'noise')
    configs = [(2, 40), (2, 90), (4, 40), (4, 90)]
    hard = rng.uniform(0, 1, n_frames)  # the frame's hidden difficulty
    acc, ratio, feats = [], [], []
    for scale, quality in configs:
        a = 0.8 - 0.4 * hard - 0.02 * scale + 0.001 * quality + 0.01 * rng.normal(size=n_frames)
        acc.append(a)
        # the ratio says nothing; the entropy tracks the difficulty (if informative)
        r = rng.uniform(0.01, 0.03, n_frames)
        ent = (hard if informative else rng.uniform(0, 1, n_frames)) \
            + 0.02 * rng.normal(size=n_frames)
        ratio.append(r)
        feats.append(np.column_stack([r, ent, rng.normal(size=n_frames)]))
    acc, ratio = np.array(acc), np.array(ratio)
    return Measurements([f'f{i}' for i in range(n_frames)], configs,
                        np.full(acc.shape, 1000.0), acc, ratio, (64, 32),
                        settings={'small_region_fraction': 0.001}, features=np.array(feats),
                        feature_names=names)


def test_fitted_detector_finds_the_informative_feature():
    meas = _table()
    tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
    assert tail.sum() == 4 * 20
    fitted, report = det.fit_fitted_detector(meas, tail, 0.9, l2_grid=(1.0,), folds=4)
    ratio, ratio_report = det.fit_ratio_detector(meas, tail, 0.9)
    held = _table(seed=5)
    held_tail = det.tail_labels(held.accuracy, held.configs, 0.1)
    ev = det.evaluate(fitted, held, held_tail)
    # the threshold is set for 90 % recall on out-of-fold scores; a new sample of 20 tail
    # frames per config lands near it, not exactly on it
    assert ev['pooled']['recall'] >= 0.7 and ev['pooled']['precision'] >= 0.5
    assert ev['pooled']['degenerate'] is None
    for scale in (2, 4):
        assert report[scale]['chosen']['set'] != 'ratio'
        assert 'warning' not in report[scale]
        coef = report[scale]['coef']
        assert abs(coef['mean_entropy']) > 5 * abs(coef['small_region_ratio'])
    ev_ratio = det.evaluate(ratio, held, held_tail)
    assert ev_ratio['pooled']['precision'] < 0.25  # the ratio alone is at chance here
    assert any(ratio_report[s].get('degenerate') for s in (2, 4, 'pooled'))


def test_fitted_detector_reports_when_nothing_is_informative():
    meas = _table(informative=False)
    tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
    _, report = det.fit_fitted_detector(meas, tail, 0.9,
                                        feature_sets={'ratio': ('small_region_ratio',)},
                                        l2_grid=(1.0,), folds=4)
    for scale in (2, 4):
        chosen = report[scale]['chosen']['cv']
        assert chosen['degenerate'] is not None
        assert 'warning' in report[scale]


def test_fitted_detector_json_round_trip(tmp_path):
    meas = _table(n_frames=80)
    tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
    fitted, _ = det.fit_fitted_detector(meas, tail, 0.9, l2_grid=(1.0,), folds=3)
    path = tmp_path / 'tail_model.json'
    fitted.save(str(path))
    again = det.FittedDetector.load(str(path))
    x = meas.features[0, 0]
    assert again.probability(x, 2) == pytest.approx(fitted.probability(x, 2))
    assert again.is_tail(x, 2) == fitted.is_tail(x, 2)
    assert again.probability(x, 6) == pytest.approx(fitted.probability(x, 4))  # nearest scale
    doc = json.loads(path.read_text())
    doc['format'] = 'pickle'
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match='runespoor-tail-detector'):
        det.FittedDetector.load(str(path))
    path.write_text('')
    with pytest.raises(Exception, match='empty'):
        det.FittedDetector.load(str(path))


def test_tail_command_writes_both_detectors_side_by_side(tmp_path):
    import argparse
    from runespoor.cac import tail_cli
    fit, hold = tmp_path / 'fit.json', tmp_path / 'hold.json'
    fit.write_text(json.dumps(_table(n_frames=120).to_json()))
    hold.write_text(json.dumps(_table(n_frames=100, seed=9).to_json()))
    parser = argparse.ArgumentParser()
    tail_cli.add_arguments(parser)
    out = tmp_path / 'out'
    args = parser.parse_args(['--fit', str(fit), '--holdout', str(hold), '--out', str(out),
                              '--folds', '3'])
    assert tail_cli.run(args) == 0
    both = parser.parse_args(['--fit', str(fit), str(hold), '--holdout', str(hold), '--out',
                              str(tmp_path / 'both'), '--folds', '3', '--no-plots'])
    assert tail_cli.run(both) == 0
    assert json.loads((tmp_path / 'both' / 'tail_detectors.json').read_text()
                      )['fit']['frames'] == 220
    assert tail_cli.run(args) == 0
    report = json.loads((out / 'tail_detectors.json').read_text())
    assert report['fit']['frames'] == 120 and report['holdout']['frames'] == 100
    for key in ('ratio', 'fitted'):
        assert set(report[key]['holdout']['scales']) == {'2', '4'}
        assert 'recall' in report[key]['holdout']['pooled']
    assert report['fitted']['holdout']['pooled']['precision'] > \
        report['ratio']['holdout']['pooled']['precision']
    assert det.FittedDetector.load(str(out / 'tail_model.json')).models
    assert (out / 'tail_detectors.png').stat().st_size > 0
    assert '| x2 |' in (out / 'tail_detectors.md').read_text()
    missing = parser.parse_args(['--fit', str(tmp_path / 'nope.json'), '--holdout', str(hold),
                                 '--out', str(out)])
    assert tail_cli.run(missing) == 2


def test_seg_features_known_map_and_derived_counts():
    from runespoor.tail_features import seg_feature_names, seg_features, with_derived
    labels = np.zeros((100, 100), np.uint8)  # road
    labels[:50] = 10                          # sky: half the frame
    labels[60, 10:15] = 5                     # a 5-pixel pole: 0.05 % of the frame, small
    labels[70:75, 20:40] = 6                  # 100 pixels of traffic light: 1 %
    probs = np.full((19, 100, 100), 0.0)
    probs[labels.astype(int), np.arange(100)[:, None], np.arange(100)[None, :]] = 1.0
    names = seg_feature_names(19)
    x = seg_features(probs, labels, 0.001)
    f = dict(zip(names, x))
    assert f['small_region_ratio'] == pytest.approx(5 / 1e4)
    assert f['mean_max_prob'] == 1.0 and f['mean_entropy'] == pytest.approx(0.0, abs=1e-9)
    assert f['class_share_10'] == pytest.approx(0.5) and f['class_share_5'] == 5e-4
    ext, ext_names = with_derived(x, names)
    g = dict(zip(ext_names, ext))
    assert g['tiny_class_count'] == pytest.approx(1 / 19)   # the pole
    assert g['small_class_count'] == pytest.approx(0.0)     # 1 % is not below 1 %
    assert g['log_class_share_10'] == pytest.approx(np.log10(0.5 + 1e-4))


def test_frame_groups_keep_clip_neighbours_together():
    names = ['dunmore/dunmore_000001_000019', 'dunmore/dunmore_000002_000019',
             'elmstead_01/elmstead_01_000000_000000', 'elmstead_01/elmstead_01_000000_000039',
             'elmstead_01/elmstead_01_000000_000040', 'odd']
    g = det.frame_groups(names, block=40)
    assert g[0] != g[1]            # independent snapshots
    assert g[2] == g[3] != g[4]    # one clip: blocks of 40 frames
    assert len(set(g)) == 5


def test_a_plugin_task_fits_its_own_tail_detector_and_files_name_only_known_tasks(tmp_path):
    from dataclasses import replace
    from runespoor.tasks import register_task, Task, TASKS

    class GlareTask(Task):
        name = 'glare_tail_test'
        fitted_tail = True
        signal_name = 'noise'
        tail_settings = ('glare_gain',)

    path = tmp_path / 'tail_model.json'
    register_task(GlareTask, replace=True)
    try:
        meas = _table()
        meas = replace(meas, settings={**meas.settings, 'task': 'glare_tail_test',
                                       'glare_gain': 2.0})
        tail = det.tail_labels(meas.accuracy, meas.configs, 0.1)
        fitted, report = det.fit_fitted_detector(meas, tail, 0.9, l2_grid=(1.0,), folds=4)
        # the task's feature sets (default: its signal alone, and every feature)
        assert {c['set'] for c in report[2]['candidates']} == {'ratio', 'all'}
        assert fitted.task == 'glare_tail_test' and fitted.signal_name == 'noise'
        assert fitted.meta['glare_gain'] == 2.0  # the task's tail_settings are kept
        fitted.save(str(path))
        assert det.FittedDetector.load(str(path)).task == 'glare_tail_test'
        assert TASKS['glare_tail_test'].fitted_tail_unavailable({}) is None
        # runespoor tail's whole fit and report for it (no reference rule of its own)
        from runespoor.cac import tail_cli
        hold = _table(n_frames=100, seed=9)
        hold = replace(hold, settings={**hold.settings, 'task': 'glare_tail_test'})
        _, _, rep, _ = tail_cli.run_fit(meas, hold, folds=3)
        assert rep['task'] == 'glare_tail_test' and rep['signal'] == 'noise'
        assert rep['holdout_pooled_ratio_at_paper_1pct'] is None
        assert 'Base rate' in tail_cli.format_report(rep)
    finally:
        TASKS.pop('glare_tail_test', None)
    with pytest.raises(ValueError, match='tail detectors know segmentation, detection'):
        det.FittedDetector.load(str(path))  # no longer registered
    doc = json.loads(path.read_text())
    doc['task'] = 'os:system'  # an import path in a file is a name, never imported
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="task 'os:system'"):
        det.FittedDetector.load(str(path))

    class NoTail(Task):
        name = 'no_tail_test'
    assert 'no tail features' in NoTail().fitted_tail_unavailable({})
    seg = TASKS['segmentation']
    assert 'test segmenter' in seg.fitted_tail_unavailable({'seg_arch': 'palette'})
    assert seg.fitted_tail_unavailable({'seg_arch': 'palette', 'analytics_model': 'm.yaml'}) \
        is None


def test_tail_command_refuses_a_task_without_tail_features(tmp_path, capsys):
    import argparse
    from runespoor.cac import tail_cli
    fit = tmp_path / 'fit.json'
    fit.write_text(json.dumps(_table(n_frames=40).to_json()))
    parser = argparse.ArgumentParser()
    tail_cli.add_arguments(parser)
    args = parser.parse_args(['--fit', str(fit), '--holdout', str(fit), '--out',
                              str(tmp_path / 'out'), '--task', 'nosuch'])
    assert tail_cli.run(args) == 2
    assert "--task: task 'nosuch' has no tail detector" in capsys.readouterr().err
