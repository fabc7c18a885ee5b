# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
r"""
``runespoor tail``: fit both tail-frame detectors on profiling data, judge them on a held-out clip.

Example::

    runespoor tail --fit out/profile_val/measurements.json \\
        --holdout out/profile_clip01/measurements.json --out results/cac/tail_detector

Both inputs are ``measurements.json`` files of ``runespoor profile --features`` (the same
scales and qualities).  The paper's rule (:class:`runespoor.cac.detector.RatioDetector`) and the
fitted logistic detector (:class:`~runespoor.cac.detector.FittedDetector`) are fitted on
``--fit`` only (the fitted one chooses its feature set, L2 strength and threshold by
cross-validation over frames); ``--holdout`` is only scored.  Writes ``tail_detectors.json``
(fits, candidates, held-out recall/precision per scale), ``tail_model.json`` (the fitted
detector, the cloud's ``tail_model_file``), ``tail_detectors.md`` and ``tail_detectors.png``
(paper Fig. 8 shape: frame mIoU vs each detector's signal per scale on the held-out clip, tail
frames as red crosses).  Exit status 2 on unusable input.
"""

import json
import os
import sys


def add_arguments(parser):
    """Add the ``tail`` options to ``parser``."""
    parser.add_argument('--fit', required=True, nargs='+',
                        help='measurements.json of the profiling run(s) to fit on (several: '
                             'their frames together)')
    parser.add_argument('--holdout', required=True,
                        help='measurements.json of a held-out clip (only scored)')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--tail-fraction', type=float, default=0.1,
                        help='share of frames per config that are tail frames (0.1)')
    parser.add_argument('--target-recall', type=float, default=0.9,
                        help='recall the thresholds must reach on the fit data (0.9)')
    parser.add_argument('--folds', type=int, default=5, help='cross-validation folds (5)')
    parser.add_argument('--accuracy', choices=('profile', 'label'), default='profile',
                        help="which accuracy defines tail frames: the profile's reference "
                             '(default) or the label when it was recorded too')
    parser.add_argument('--no-plots', action='store_true', help='skip the PNG')


def _load(path, what):
    from runespoor.cac.profiling import Measurements
    try:
        with open(path, encoding='utf-8') as f:
            return Measurements.from_json(json.load(f))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f'{what} {path}: {exc}') from exc


def run_fit(fit, holdout, tail_fraction=0.1, target_recall=0.9, folds=5, accuracy='profile'):
    """Fit both detectors on ``fit``, evaluate on ``holdout``; return ``(fitted, report)``."""
    from runespoor.cac import detector as det
    if fit.features is None or holdout.features is None:
        raise ValueError('both measurements need features (runespoor profile --features)')
    if list(fit.configs) != list(holdout.configs):
        raise ValueError('fit and held-out measurements profiled different configs')
    if list(fit.feature_names) != list(holdout.feature_names):
        raise ValueError('fit and held-out measurements have different features')

    def acc(m):
        if accuracy == 'label':
            if m.accuracy_label is None:
                raise ValueError('no label accuracy recorded (profile with --accuracy-vs hr '
                                 'and labelled frames)')
            return m.accuracy_label
        return m.accuracy

    def with_acc(m):
        if accuracy == 'label':
            from dataclasses import replace
            return replace(m, accuracy=m.accuracy_label)
        return m
    fit_m, hold_m = with_acc(fit), with_acc(holdout)
    fit_tail = det.tail_labels(acc(fit), fit.configs, tail_fraction)
    hold_tail = det.tail_labels(acc(holdout), holdout.configs, tail_fraction)
    ratio, ratio_fit = det.fit_ratio_detector(fit_m, fit_tail, target_recall)
    fitted, fitted_fit = det.fit_fitted_detector(fit_m, fit_tail, target_recall, folds=folds)
    fitted.meta.update({'tail_fraction': tail_fraction, 'accuracy': accuracy,
                        'fit_frames': len(fit.frames),
                        'fit_settings': fit.settings.get('notes', {})})
    report = {
        'settings': {'tail_fraction': tail_fraction, 'target_recall': target_recall,
                     'folds': folds, 'accuracy': accuracy,
                     'tail_definition': 'worst tail_fraction of the frames at each config',
                     'degenerate_rule': {'flagged_share_at_least': det.DEGENERATE_FLAGGED_SHARE,
                                         'precision_at_most_x_base_rate':
                                             det.DEGENERATE_LIFT}},
        'fit': {'frames': len(fit.frames), 'configs': [list(c) for c in fit.configs],
                'samples': int(fit_tail.size), 'tail_samples': int(fit_tail.sum()),
                'tail_frames_per_config': int(fit_tail[0].sum()),
                'notes': fit.settings.get('notes', {})},
        'holdout': {'frames': len(holdout.frames), 'samples': int(hold_tail.size),
                    'tail_samples': int(hold_tail.sum()),
                    'tail_frames_per_config': int(hold_tail[0].sum()),
                    'notes': holdout.settings.get('notes', {})},
        'ratio': {'fit': _keys_str(ratio_fit),
                  'fit_eval': det.evaluate(ratio, fit_m, fit_tail),
                  'holdout': det.evaluate(ratio, hold_m, hold_tail),
                  'thresholds': {str(k): v for k, v in ratio.thresholds.items()},
                  'directions': {str(k): v for k, v in ratio.direction.items()},
                  'pooled_threshold': ratio.pooled_threshold,
                  'pooled_direction': ratio.pooled_direction},
        'fitted': {'fit': _keys_str(fitted_fit),
                   'fit_eval': det.evaluate(fitted, fit_m, fit_tail),
                   'holdout': det.evaluate(fitted, hold_m, hold_tail),
                   'thresholds': {str(k): v for k, v in fitted.thresholds.items()}},
    }
    report['holdout_pooled_ratio_at_paper_1pct'] = _paper_rule(hold_m, hold_tail)
    for key, d in (('ratio', ratio), ('fitted', fitted)):
        report[key]['holdout_oracle'] = _oracle(d, hold_m, hold_tail, target_recall)
    return ratio, fitted, report, (fit_tail, hold_tail, hold_m)


def _oracle(detector, meas, tail, target_recall):
    """
    Return, per scale, the best precision at ``target_recall`` with a threshold fitted on ``meas``.

    An upper bound on what the detector's ranking allows, not a result.
    """
    from runespoor.cac import detector as det
    import numpy as np
    out = {}
    for scale in sorted({s for s, _ in meas.configs}):
        x = det.detector_scores(detector, meas, scale)
        t = det._rows(meas, scale, tail).astype(bool)
        if detector.kind == 'ratio' and detector.direction[scale] == 'below':
            x = -np.asarray(x)
        op = det.choose_threshold(x, t, target_recall)
        out[int(scale)] = {k: op[k] for k in ('recall', 'precision', 'flagged_share',
                                              'degenerate')}
    return out


def _paper_rule(meas, tail):
    """Recall/precision of the paper's literal rule (ratio < 1 %) on ``meas``."""
    import numpy as np
    from runespoor.cac import tail as tailmod
    flags = tailmod.classify(np.ravel(meas.ratio), 0.01, 'below')
    rec, prec = tailmod.recall_precision(flags, np.ravel(tail))
    from runespoor.cac.detector import _nan_none
    return {'recall': _nan_none(rec), 'precision': _nan_none(prec),
            'flagged_share': float(flags.mean())}


def _keys_str(d):
    return {str(k): v for k, v in d.items()}


def format_report(report):
    """Return the Markdown side-by-side table of both detectors on the held-out clip."""
    def pct(v):
        return 'n/a' if v is None else f'{100 * v:.0f} %'
    lines = [f'Fit: {report["fit"]["frames"]} frames x {len(report["fit"]["configs"])} configs '
             f'({report["fit"]["tail_frames_per_config"]} tail frames per config, '
             f'{report["fit"]["tail_samples"]} tail samples); held-out clip: '
             f'{report["holdout"]["frames"]} frames '
             f'({report["holdout"]["tail_frames_per_config"]} tail frames per config).', '',
             '| scale | ratio rule (fit) | ratio: recall | precision | flagged | '
             'fitted (set, L2) | fitted: recall | precision | flagged |',
             '|---|---|---|---|---|---|---|---|---|']
    r_hold, f_hold = report['ratio']['holdout'], report['fitted']['holdout']
    for key in list(r_hold['scales']) + ['pooled']:
        r = r_hold['pooled'] if key == 'pooled' else r_hold['scales'][key]
        f = f_hold['pooled'] if key == 'pooled' else f_hold['scales'][key]
        if key == 'pooled':
            rule, chosen = 'per-scale rules', 'per-scale models'
        else:
            rf = report['ratio']['fit'][str(key)]
            rule = f'{rf["direction"]} {100 * rf["threshold"]:.2f} %'
            ch = report['fitted']['fit'][str(key)]['chosen']
            chosen = f'{ch["set"]}, {ch["l2"]:g}'
        name = f'x{key}' if key != 'pooled' else 'all scales'
        flag_r = f'{pct(r["flagged_share"])}' + (' (degenerate)' if r['degenerate'] else '')
        flag_f = f'{pct(f["flagged_share"])}' + (' (degenerate)' if f['degenerate'] else '')
        lines.append(f'| {name} | {rule} | {pct(r["recall"])} | {pct(r["precision"])} | '
                     f'{flag_r} | {chosen} | {pct(f["recall"])} | {pct(f["precision"])} | '
                     f'{flag_f} |')
    lines += ['', 'Upper bound, threshold chosen on the held-out clip itself (not a result: it '
              'shows how well each signal ranks the frames): precision at 90 % recall',
              '', '| scale | ratio rule | fitted |', '|---|---|---|']
    for key in r_hold['scales']:
        ro = report['ratio']['holdout_oracle'][key]
        fo = report['fitted']['holdout_oracle'][key]
        lines.append(f'| x{key} | {pct(ro["precision"])} | {pct(fo["precision"])} |')
    base = r_hold['pooled']['base_rate']
    lines += ['', f"Base rate (a random flag's precision): {pct(base)}. The paper's literal "
              f'rule (ratio below 1 %) on the held-out clip: recall '
              f'{pct(report["holdout_pooled_ratio_at_paper_1pct"]["recall"])}, precision '
              f'{pct(report["holdout_pooled_ratio_at_paper_1pct"]["precision"])}.']
    return '\n'.join(lines)


def plot(ratio, fitted, meas, tail, report, path):
    """Draw the Fig. 8-shaped comparison (held-out clip) and write it to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from runespoor.cac import detector as det
    scales = sorted({s for s, _ in meas.configs})
    fig, axes = plt.subplots(2, len(scales), figsize=(3.6 * len(scales), 6.4), squeeze=False)
    for col, scale in enumerate(scales):
        a = det._rows(meas, scale, meas.accuracy) * 100
        t = det._rows(meas, scale, tail).astype(bool)
        rows = ((ratio, 'ratio', 'small-region ratio (%)'),
                (fitted, 'fitted', 'fitted p(tail)'))
        for row, (d, key, xlabel) in enumerate(rows):
            ax = axes[row][col]
            x = det.detector_scores(d, meas, scale)
            x = x * 100 if key == 'ratio' else x
            ax.scatter(x[~t], a[~t], s=5, c='tab:blue', alpha=0.4, label='other frames')
            ax.scatter(x[t], a[t], s=14, c='red', marker='x', label='tail frames')
            thr = d.thresholds[scale if key == 'ratio' else d._model(scale)[0]]
            ax.axvline(thr * 100 if key == 'ratio' else thr, color='k', ls='--', lw=1,
                       label='threshold')
            ev = report[key]['holdout']['scales'][int(scale)]
            rec = ev['recall'] if ev['recall'] is not None else float('nan')
            prec = ev['precision'] if ev['precision'] is not None else float('nan')
            name = 'paper rule' if key == 'ratio' else 'fitted'
            ax.set_title(f'x{scale} {name}: recall {100 * rec:.0f}%, precision '
                         f'{100 * prec:.0f}%', fontsize=8)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel('frame mIoU (%)', fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.legend(fontsize=6)
    fig.suptitle('tail-frame detection on the held-out clip (fitted on other frames)',
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(args):
    """Fit, evaluate and write; return the exit status."""
    def log(message):
        print(f'[runespoor tail] {message}', file=sys.stderr)
    try:
        from runespoor.cac.profiling import Measurements
        fit = Measurements.concat([_load(f, 'fit measurements') for f in args.fit])
        holdout = _load(args.holdout, 'held-out measurements')
        ratio, fitted, report, (_, hold_tail, hold_m) = run_fit(
            fit, holdout, args.tail_fraction, args.target_recall, args.folds, args.accuracy)
    except ValueError as exc:
        log(f'error: {exc}')
        return 2
    os.makedirs(args.out, exist_ok=True)
    report['command'] = 'runespoor tail ' + ' '.join(sys.argv[2:]) if len(sys.argv) > 2 else ''
    with open(os.path.join(args.out, 'tail_detectors.json'), 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)
    fitted.save(os.path.join(args.out, 'tail_model.json'))
    text = format_report(report)
    with open(os.path.join(args.out, 'tail_detectors.md'), 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    if not args.no_plots:
        plot(ratio, fitted, hold_m, hold_tail, report,
             os.path.join(args.out, 'tail_detectors.png'))
    for key in ('ratio', 'fitted'):
        for scale, entry in report[key]['fit'].items():
            if entry.get('warning'):
                log(f'warning ({key}, x{scale}): {entry["warning"]}')
    print(text)
    log(f'wrote {args.out}/tail_detectors.json, tail_model.json, tail_detectors.md')
    return 0
