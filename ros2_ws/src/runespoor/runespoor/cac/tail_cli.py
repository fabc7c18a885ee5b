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

Detection (``--task detection``)::

    runespoor tail --task detection --measure-det data/drone_tail_fit/VisDrone2019-DET-val \\
        --cache-dir out/tail_det/cache_fit --out out/tail_det/fit
    runespoor tail --task detection --fit out/tail_det/fit/measurements.json \\
        --holdout out/tail_det/hold/measurements.json --out results/cac/tail_detector_det

``--measure-det`` profiles a VisDrone-DET split (``runespoor profile`` is segmentation only):
every frame x (scale, quality) goes through the edge codec, the SR model and the detector, and
gives the bytes, the frame's AP50 against the ground truth (classes with ground truth in the
frame, as ``runespoor eval`` fits the detection threshold), the small-box share and
:func:`runespoor.tail_features.det_features` of the same forward pass.
"""

import json
import os
import sys


def add_arguments(parser):
    """Add the ``tail`` options to ``parser``."""
    parser.add_argument('--task', default='segmentation',
                        help='analytics task of the measurements, a registered task with tail '
                             'features (segmentation, detection); detection measurements come '
                             'from --measure-det')
    parser.add_argument('--fit', nargs='+',
                        help='measurements.json of the profiling run(s) to fit on (several: '
                             'their frames together)')
    parser.add_argument('--holdout',
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
    det = parser.add_argument_group(
        'detection profiling (--task detection --measure-det DATA): every frame x (scale, '
        'quality) through the edge codec, the SR model and the detector; writes '
        'OUT/measurements.json (bytes, per-frame AP50 against the ground truth, small-box '
        'share, the summary features) instead of fitting')
    det.add_argument('--measure-det', metavar='SPLIT_DIR', default=None,
                     help='a VisDrone-DET split folder (images/, annotations/) to profile')
    det.add_argument('--det', default='models/det/retinanet_r18_lite.pt',
                     help='detector checkpoint (kind det)')
    det.add_argument('--det-arch', default='retinanet_r18_lite', help='its arch')
    det.add_argument('--sr-dir', default='models/det/sr', help='SR checkpoints <method>_x<s>.pt')
    det.add_argument('--method', default='asr', choices=('asr', 'sr', 'cloudseg', 'bilinear'))
    det.add_argument('--scales', default='2,4', help='scales (2,4)')
    det.add_argument('--qualities', default='50,90', help='JPEG qualities (50,90)')
    det.add_argument('--frames', type=int, default=0, help='first N frames (0: all)')
    det.add_argument('--score-threshold', type=float, default=0.3,
                     help='kept boxes score at least this (the cloud: det_score_threshold)')
    det.add_argument('--small-box-fraction', type=float, default=0.0005,
                     help='a box is small below this share of the frame (small_box_fraction)')
    det.add_argument('--cache-dir', default=None,
                     help='one JSON per frame, reused by a rerun (resumable)')
    det.add_argument('--reverse', action='store_true',
                     help='walk the frames from the end (a second process sharing the cache)')
    det.add_argument('--threads', type=int, default=1, help='torch CPU threads (1)')
    det.add_argument('--device', default='cpu', help='cpu | cuda')


def _load(path, what):
    from runespoor.cac.profiling import Measurements
    try:
        with open(path, encoding='utf-8') as f:
            return Measurements.from_json(json.load(f))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f'{what} {path}: {exc}') from exc


def run_fit(fit, holdout, tail_fraction=0.1, target_recall=0.9, folds=5, accuracy='profile',
            task=None):
    """Fit both detectors on ``fit``, evaluate on ``holdout``; return ``(fitted, report)``."""
    from runespoor.cac import detector as det
    if fit.features is None or holdout.features is None:
        raise ValueError('both measurements need features (runespoor profile --features)')
    if det.task_of(fit) != det.task_of(holdout):
        raise ValueError(f'fit measurements of task {det.task_of(fit)}, held-out of '
                         f'{det.task_of(holdout)}')
    if task is not None and det.task_of(fit) != task:
        raise ValueError(f'--task {task} but the measurements are of task {det.task_of(fit)}')
    task = det.task_of(fit)
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
    fitted.meta.update({'task': task, 'tail_fraction': tail_fraction, 'accuracy': accuracy,
                        'fit_frames': len(fit.frames),
                        'fit_settings': fit.settings.get('notes', {})})
    report = {
        'task': task, 'signal': det.tail_task(task).signal_name,
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
    report['holdout_pooled_ratio_at_paper_1pct'] = _paper_rule(hold_m, hold_tail, task)
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


def _paper_rule(meas, tail, task='segmentation'):
    """Recall/precision of the task's reference rule (``Task.reference_tail_rule``) on ``meas``."""
    import numpy as np
    from runespoor.cac import tail as tailmod
    from runespoor.cac.detector import tail_task
    rule = tail_task(task, 'report').reference_tail_rule
    if rule is None:
        return None
    threshold, direction, name = rule
    flags = tailmod.classify(np.ravel(meas.ratio), threshold, direction)
    rec, prec = tailmod.recall_precision(flags, np.ravel(tail))
    from runespoor.cac.detector import _nan_none
    return {'recall': _nan_none(rec), 'precision': _nan_none(prec),
            'flagged_share': float(flags.mean()), 'rule': name, 'threshold': threshold,
            'direction': direction}


def _keys_str(d):
    return {str(k): v for k, v in d.items()}


def format_report(report):
    """Return the Markdown side-by-side table of both detectors on the held-out clip."""
    def pct(v):
        return 'n/a' if v is None else f'{100 * v:.0f} %'
    signal = report.get('signal', 'small_region_ratio').replace('_', ' ')
    lines = [f'Task {report.get("task", "segmentation")}, signal of the ratio rule: {signal}. '
             f'Fit: {report["fit"]["frames"]} frames x {len(report["fit"]["configs"])} configs '
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
    ref = report['holdout_pooled_ratio_at_paper_1pct']
    lines += ['', f"Base rate (a random flag's precision): {pct(base)}."]
    if ref:  # the task's reference rule (Task.reference_tail_rule)
        name = ref.get('rule', "the paper's literal rule (ratio below 1 %)")
        lines[-1] += (f' {name[0].upper() + name[1:]} on the held-out clip: recall '
                      f'{pct(ref["recall"])}, precision {pct(ref["precision"])}, flagged '
                      f'{pct(ref["flagged_share"])}.')
    return '\n'.join(lines)


def plot(ratio, fitted, meas, tail, report, path, scales=None):
    """Draw the Fig. 8-shaped comparison (held-out clip; ``scales``: default all) to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from runespoor.cac import detector as det
    task = report.get('task', 'segmentation')
    signal = report.get('signal', 'small_region_ratio').replace('_', ' ')
    metric = det.tail_task(task, 'report').frame_metric
    scales = sorted({s for s, _ in meas.configs}) if scales is None else list(scales)
    fig, axes = plt.subplots(2, len(scales), figsize=(max(4.8, 3.6 * len(scales)), 6.4),
                             squeeze=False)
    for col, scale in enumerate(scales):
        a = det._rows(meas, scale, meas.accuracy) * 100
        t = det._rows(meas, scale, tail).astype(bool)
        rows = ((ratio, 'ratio', f'{signal} (%)'),
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
            ax.set_ylabel(f'{metric} (%)', fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.legend(fontsize=6)
    fig.suptitle(f'{task} tail-frame detection on the held-out clip (fitted on other '
                 'frames)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(args):
    """Fit, evaluate and write; return the exit status."""
    def log(message):
        print(f'[runespoor tail] {message}', file=sys.stderr)
    if args.measure_det:
        if args.task != 'detection':
            log('error: --measure-det needs --task detection')
            return 2
        try:
            meas = measure_detection(args, log)
        except (OSError, ValueError, RuntimeError) as exc:
            log(f'error: {exc}')
            return 2
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, 'measurements.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(meas.to_json(), f)
        log(f'wrote {path} ({len(meas.frames)} frames x {len(meas.configs)} configs, '
            f'{meas.seconds:.0f} s)')
        return 0
    if not args.fit or not args.holdout:
        log('error: --fit and --holdout are needed (or --task detection --measure-det DATA)')
        return 2
    try:
        from runespoor.cac.detector import tail_task
        from runespoor.cac.profiling import Measurements
        tail_task(args.task, '--task')
        fit = Measurements.concat([_load(f, 'fit measurements') for f in args.fit])
        holdout = _load(args.holdout, 'held-out measurements')
        ratio, fitted, report, (_, hold_tail, hold_m) = run_fit(
            fit, holdout, args.tail_fraction, args.target_recall, args.folds, args.accuracy,
            args.task)
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
        if len({s for s, _ in hold_m.configs}) > 1:  # and one figure per scale
            for scale in sorted({s for s, _ in hold_m.configs}):
                plot(ratio, fitted, hold_m, hold_tail, report,
                     os.path.join(args.out, f'tail_detectors_x{scale}.png'), [scale])
    for key in ('ratio', 'fitted'):
        for scale, entry in report[key]['fit'].items():
            if entry.get('warning'):
                log(f'warning ({key}, x{scale}): {entry["warning"]}')
    print(text)
    log(f'wrote {args.out}/tail_detectors.json, tail_model.json, tail_detectors.md')
    return 0


# --------------------------------------------------------------------------- detection


def _det_frame(image, gt, configs, recon, analytics, score_threshold, small_box_fraction,
               class_ids):
    """Return ``{'col': [(bytes, AP50, small-box share)], 'features'}`` of one frame."""
    from runespoor import codec
    from runespoor.tasks.detection.tail_signal import small_box_share
    from runespoor.tasks.detection.report import frame_ap50, to_coco
    h, w = image.shape[:2]
    col, feats = [], []
    for scale, quality in configs:
        enc = codec.encode_frame(image, scale, quality)
        lr = codec.decode_jpeg(enc.data)
        hr, tensor = recon.reconstruct(lr, scale, (h, w))
        found = analytics.detect_all(hr, tensor)
        feats.append(analytics.features(found, (h, w), small_box_fraction).tolist())
        det = to_coco([{'boxes': found.boxes, 'scores': found.scores,
                        'labels': found.labels}])[0]
        ap = frame_ap50(gt, det, class_ids, 500)
        col.append((len(enc.data), float(ap),
                    small_box_share(found.boxes, found.scores, w, h, score_threshold,
                                    small_box_fraction)))
    return {'col': col, 'features': feats}


def measure_detection(args, log):
    """Profile a VisDrone split for the detection tail detectors; return the Measurements."""
    import hashlib
    import time
    import numpy as np
    import torch
    from runespoor.cac.profiling import Measurements
    from runespoor.cloud_pipeline import make_reconstructor
    from runespoor.tail_features import det_feature_names
    from runespoor.tasks.detection.analytics import DetectorAnalytics
    from runespoor.tasks.detection.evaluation import list_frames, read_truth
    from runespoor.tasks.detection.report import categories
    from runespoor.data.cityscapes import read_image
    torch.set_num_threads(max(1, int(args.threads)))
    scales = [int(s) for s in str(args.scales).split(',') if s]
    qualities = [int(q) for q in str(args.qualities).split(',') if q]
    configs = [(s, q) for s in scales for q in qualities]
    frames = list_frames(args.measure_det, args.frames or None)
    analytics = DetectorAnalytics(args.det_arch, args.det, args.device, 10,
                                  args.score_threshold)
    recon = make_reconstructor(args.method, args.sr_dir, args.device, tuple(scales))
    settings = {'task': 'detection', 'scales': scales, 'qualities': qualities,
                'reference': 'label', 'accuracy': 'per-frame AP50 against the ground truth '
                '(classes with ground truth in the frame)',
                'score_threshold': float(args.score_threshold),
                'small_box_fraction': float(args.small_box_fraction),
                'notes': {'data': args.measure_det, 'detector': args.det,
                          'method': args.method, 'sr_dir': args.sr_dir}}
    key = hashlib.sha1(json.dumps({k: settings[k] for k in (
        'scales', 'qualities', 'score_threshold', 'small_box_fraction')}, sort_keys=True).encode()
        + f'{args.det}|{args.method}|{args.sr_dir}'.encode()).hexdigest()[:16]
    cache = args.cache_dir
    if cache:
        os.makedirs(cache, exist_ok=True)
    ids = sorted(categories())
    items = {}
    order = list(reversed(frames)) if args.reverse else frames
    t0 = time.perf_counter()
    done = 0
    for frame in order:
        path = os.path.join(cache, hashlib.sha1(frame.name.encode()).hexdigest()[:20] + '.json') \
            if cache else None
        item = None
        if path and os.path.exists(path):
            try:
                with open(path, encoding='utf-8') as f:
                    data = json.load(f)
                if data.get('key') == key and data.get('name') == frame.name:
                    item = data['item']
            except (OSError, ValueError):
                item = None
        if item is None:
            image = read_image(frame.image_path)
            item = _det_frame(image, read_truth(frame), configs, recon, analytics,
                              args.score_threshold, args.small_box_fraction, ids)
            item['size'] = [int(image.shape[1]), int(image.shape[0])]
            done += 1
            if path:
                with open(path + '.tmp', 'w', encoding='utf-8') as f:
                    json.dump({'key': key, 'name': frame.name, 'item': item}, f)
                os.replace(path + '.tmp', path)
            if done % 10 == 0:
                log(f'{done} frames measured, {(time.perf_counter() - t0) / done:.1f} s each')
        items[frame.name] = item
    names = [f.name for f in frames]
    sizes = {tuple(items[n]['size']) for n in names}
    if len(sizes) != 1:
        raise ValueError(f'frames of several sizes: {sorted(sizes)}')
    col = np.array([items[n]['col'] for n in names], dtype=np.float64)   # N x C x 3
    feats = np.array([items[n]['features'] for n in names], dtype=np.float64).transpose(1, 0, 2)
    return Measurements(names, configs, col[:, :, 0].T.copy(), col[:, :, 1].T.copy(),
                        col[:, :, 2].T.copy(), sizes.pop(), settings=settings,
                        seconds=time.perf_counter() - t0, features=feats,
                        feature_names=det_feature_names(10))
