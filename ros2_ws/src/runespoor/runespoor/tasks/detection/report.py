# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Aggregate per-frame detections into the paper's detection results (§5.1-5.2) as JSON/Markdown.

Shapes (ours first, the paper's number in brackets where the paper prints one):

* Table 6 -- overall mAP (COCO AP@[.5:.95]), PSNR and SSIM per scale for bilinear, standard
  SR, CloudSeg (no paper column), ASR and HR;
* Fig. 10 data -- class-wise tail AP (mean AP over the worst ``tail_fraction`` of the 10
  classes) and overall mAP, both also normalised by HR; AP50;
* per-class AP per scale (tail classes in bold) with the number of ground-truth boxes;
* every run's mAP vs bytes/frame and Mbit/s;
* the tail-frame threshold on the small-box share (:mod:`.tail_signal`) fitted
  with :func:`runespoor.cac.tail.fit_threshold` per scale and pooled (paper Fig. 8 shape),
  also written as ``tail_threshold`` into ``report.json`` for the cloud node's config.

AP is computed by :func:`runespoor.metrics.detection.coco_map` over all frames of a run,
VisDrone's ignored regions (categories 0 and 11) applied as the official toolkit does (boxes
and detections more than half inside them are dropped).  The tail class set of each scale is
the worst ``tail_fraction`` of the classes with ground truth under ``tail_baseline`` (bilinear)
at that scale and the table quality, used for every method and HR.
"""

import math

import numpy as np

from runespoor.evaluation import paper
from runespoor.evaluation.report_common import (figure_lines, find_row, finite_mean, GRID_NOTE,
                                                grid_table, md_table,
                                                method_rows, methods_line, num, run_entries,
                                                run_lines, run_methods, sr_model_lines, with_paper)
from runespoor.metrics import image, segmentation as seg
from runespoor.tasks.detection.tail_signal import small_box_share


def categories():
    """Return ``{class id: name}`` of the 10 evaluated VisDrone classes."""
    from runespoor.data.visdrone import CATEGORIES
    return dict(CATEGORIES)


def to_coco(detections):
    """Convert cached detections (boxes ``x1, y1, x2, y2``) to ``coco_map``'s ``dets`` form."""
    from runespoor.metrics.detection import dets_from_xyxy
    return dets_from_xyxy(detections)


def tail_class_set(per_class_ap, fraction=0.5, num_gt=None):
    """
    Return the tail classes of a baseline: its worst ``fraction`` of the classes, worst first.

    ``per_class_ap`` maps class id -> AP (NaN: no ground truth, not ranked); ``num_gt``
    (optional, class id -> ground-truth boxes) leaves out classes without ground truth.  The
    count is ``int(number of classes * fraction)`` (5 of VisDrone's 10), fewer when fewer
    classes can be ranked; ties keep class-id order.
    """
    ids = sorted(per_class_ap)
    values = [per_class_ap[c] for c in ids]
    eligible = None if num_gt is None else [num_gt.get(c, 0) > 0 for c in ids]
    return [ids[i] for i in seg.worst_classes(values, fraction, eligible=eligible)]


def classwise_tail(per_class_ap, tail_classes):
    """Mean AP over ``tail_classes`` (class ids; NaN entries skipped; NaN for an empty set)."""
    return seg.tail_miou([per_class_ap[c] for c in tail_classes], range(len(tail_classes)))


def frame_ap50(gt, det, class_ids, max_dets=100):
    """AP50 of one frame over the classes with ground truth in it (NaN: no ground truth)."""
    from runespoor.metrics.detection import coco_map
    return coco_map([gt], [det], class_ids, max_dets, 'visdrone')['AP50']


def small_box_shares(detections, sizes, score_threshold, max_area_fraction):
    """Return the small-box share of every frame's detections (``sizes``: N x (W, H))."""
    return np.array([small_box_share(d['boxes'], d['scores'], w, h, score_threshold,
                                     max_area_fraction)
                     for d, (w, h) in zip(detections, sizes)], np.float64)


def fit_tail_threshold(samples, target_recall=0.9, tail_fraction=0.1):
    """
    Fit the tail-frame threshold per scale and pooled over scales (paper Fig. 8 shape).

    ``samples`` maps ``scale -> (small-box shares, per-frame accuracies)``.  Tail frames are
    the worst ``tail_fraction`` of each scale (also in the pooled fit).  Returns ``{'scales':
    {scale: fit dict}, 'pooled': fit dict}``; a fit that is impossible (no frame with ground
    truth) is ``{'error': reason}``.
    """
    from runespoor.cac.tail import fit_threshold

    def fit(ratios, accs, groups=None):
        try:
            return fit_threshold(ratios, accs, target_recall, tail_fraction,
                                 groups=groups).as_dict()
        except ValueError as exc:
            return {'error': str(exc)}

    out = {'scales': {}, 'pooled': None}
    for scale in sorted(samples):
        out['scales'][int(scale)] = fit(*samples[scale])
    if samples:
        scales = sorted(samples)
        out['pooled'] = fit(np.concatenate([samples[s][0] for s in scales]),
                            np.concatenate([samples[s][1] for s in scales]),
                            np.concatenate([np.full(len(samples[s][0]), s) for s in scales]))
    return out


def summarise(config, result):
    """Turn :func:`runespoor.evaluation.runner.evaluate`'s detection output into the report."""
    from runespoor.metrics.detection import coco_map
    cats = categories()
    ids = sorted(cats)
    gts = result['ground_truth']
    runs = result['runs']
    q = config.table_quality
    scores = {run: coco_map(gts, to_coco(data['detections']), ids, config.max_dets,
                            'visdrone')
              for run, data in runs.items()}
    hr_score = scores[('hr', 1, None)]
    num_gt = hr_score['num_gt']
    hr_ap = hr_score['per_class']

    tail_classes = {}
    for scale in config.scales:
        base = scores.get((config.tail_baseline, scale, q))
        if base is not None:
            tail_classes[scale] = tail_class_set(base['per_class'], config.tail_fraction,
                                                 num_gt)

    def row(method, scale, quality, data):
        s = scores[(method, scale, quality)]
        per_class = s['per_class']
        tail = tail_classes.get(scale if method != 'hr' else None, [])
        tail_value = classwise_tail(per_class, tail) if tail else float('nan')
        hr_tail = classwise_tail(hr_ap, tail) if tail else float('nan')
        mean_bytes = image.bytes_per_frame(data['bytes'])
        shares = small_box_shares(data['detections'], data['sizes'], config.score_threshold,
                                  config.max_area_fraction)
        return {
            'method': method, 'scale': scale, 'quality': quality,
            'map': s['mAP'], 'ap50': s['AP50'], 'ap75': s['AP75'],
            'map_normalised': seg.normalised(s['mAP'], hr_score['mAP']),
            'tail_ap': tail_value, 'tail_normalised': seg.normalised(tail_value, hr_tail),
            'per_class_ap': {cats[c]: per_class[c] for c in ids},
            'per_class_normalised': {cats[c]: seg.normalised(per_class[c], hr_ap[c])
                                     for c in ids},
            'psnr': finite_mean(data['psnr']), 'ssim': finite_mean(data['ssim']),
            'grid': finite_mean(data['grid']) if 'grid' in data else float('nan'),
            'bytes_per_frame': mean_bytes, 'mbps': image.mbit_per_s(mean_bytes, config.fps),
            'detections_per_frame': float(np.mean([len(d['scores'])
                                                   for d in data['detections']])),
            'small_box_share': float(shares.mean()) if shares.size else float('nan'),
        }

    rows = [row(m, s, qq, d) for (m, s, qq), d in runs.items() if m != 'hr']
    hr_row = row('hr', 1, None, runs[('hr', 1, None)])
    hr_row['tail_ap_per_scale'] = {str(s): classwise_tail(hr_ap, t)
                                   for s, t in tail_classes.items()}
    return {
        'task': 'detection',
        'dataset': {'root': config.dataset_root, 'frames': len(result['frames']),
                    'frame_names': result['frames'], 'resolution': result.get('resolution'),
                    'gt_boxes': {cats[c]: num_gt[c] for c in ids}},
        **run_entries(result),
        'settings': {
            'methods': config.methods, 'scales': config.scales, 'qualities': config.qualities,
            'table_quality': q, 'tail_baseline': config.tail_baseline,
            'tail_fraction': config.tail_fraction, 'fps': config.fps,
            'device': result['device'], 'image_metrics': config.image_metrics,
            'max_dets': config.max_dets, 'keep_top': config.keep_top,
            'score_threshold': config.score_threshold,
            'max_area_fraction': config.max_area_fraction,
            'tail_fit_method': config.tail_fit_method,
            'tail_frame_fraction': config.tail_frame_fraction,
            'target_recall': config.target_recall,
        },
        'classes': [cats[c] for c in ids],
        'tail_classes': {str(s): [cats[c] for c in t] for s, t in tail_classes.items()},
        'hr': hr_row,
        'rows': rows,
        'tail_threshold': _tail_threshold(config, result, gts, ids),
        'paper': {'table6': paper.TABLE6, 'fig10': paper.FIG10,
                  'claims': {k: paper.FIGURE_CLAIMS[k] for k in ('table6', 'fig10')}},
    }


def _tail_threshold(config, result, gts, ids):
    """Return the samples and fits of the small-box-share threshold (fit method's runs)."""
    samples = {}
    for scale in config.scales:
        shares, accs = [], []
        for (method, s, _), data in result['runs'].items():
            if method != config.tail_fit_method or s != scale:
                continue
            shares.append(small_box_shares(data['detections'], data['sizes'],
                                           config.score_threshold, config.max_area_fraction))
            dets = to_coco(data['detections'])
            accs.append(np.array([frame_ap50(g, d, ids, config.max_dets)
                                  for g, d in zip(gts, dets)], np.float64))
        if shares:
            samples[scale] = (np.concatenate(shares), np.concatenate(accs))
    fits = fit_tail_threshold(samples, config.target_recall, config.tail_frame_fraction)
    return {
        'signal': 'small_box_share', 'method': config.tail_fit_method,
        'qualities': config.qualities, 'score_threshold': config.score_threshold,
        'max_area_fraction': config.max_area_fraction,
        'accuracy': 'per-frame AP50 over the classes with ground truth in the frame',
        'tail_frame_fraction': config.tail_frame_fraction,
        'target_recall': config.target_recall,
        'scales': fits['scales'], 'pooled': fits['pooled'],
        'samples': {int(s): {'share': r.tolist(), 'ap50': a.tolist()}
                    for s, (r, a) in samples.items()},
    }


def _ap(value):
    return num(value, '.3f')


def table6(report):
    """Markdown of mAP, PSNR and SSIM per scale and method (paper Table 6)."""
    methods = run_methods(report)
    header = ['scale', 'metric'] + [paper.METHOD_NAMES[m] for m in methods] + ['HR']
    p6 = paper.TABLE6
    hr = report['hr']
    rows = []
    for s in report['settings']['scales']:
        pp = p6['scales'].get(s, {})
        for key, label, fmt in (('map', 'mAP', '.3f'), ('psnr', 'PSNR (dB)', '.2f'),
                                ('ssim', 'SSIM', '.3f')):
            cells = [f'x{s}', label]
            for m in methods:
                r = find_row(report, m, s)
                cells.append(with_paper(num(r[key], fmt) if r else '—',
                                        pp.get(m, {}).get(key), fmt))
            cells.append(with_paper(_ap(hr['map']), p6['hr']['map'] if pp else None, '.3f')
                         if key == 'map' else '—')
            rows.append(cells)
    return md_table(header, rows)


def classwise_table(report):
    """Markdown of class-wise tail AP and overall mAP, raw and normalised (paper Fig. 10)."""
    header = ['scale', 'method', 'tail AP', 'tail / HR', 'mAP', 'mAP / HR', 'AP50']
    hr = report['hr']
    rows = []
    for s in report['settings']['scales']:
        for m, r in method_rows(report, s):
            pp = paper.TABLE6['scales'].get(s, {}).get(m)
            paper_norm = pp['map'] / paper.TABLE6['hr']['map'] if pp else None
            rows.append([f'x{s}', paper.METHOD_NAMES[m], _ap(r['tail_ap']),
                         num(r['tail_normalised'], '.2f'), _ap(r['map']),
                         with_paper(num(r['map_normalised'], '.2f'), paper_norm),
                         _ap(r['ap50'])])
        rows.append([f'x{s}', 'HR (same tail classes)',
                     _ap(hr['tail_ap_per_scale'].get(str(s))), '1.00', _ap(hr['map']), '1.00',
                     _ap(hr['ap50'])])
    return md_table(header, rows)


def per_class_table(report, scale):
    """Markdown of per-class AP of every method at ``scale`` (tail classes in bold)."""
    methods = [m for m, _ in method_rows(report, scale)]
    tail = report['tail_classes'].get(str(scale), [])
    baseline = find_row(report, report['settings']['tail_baseline'], scale)
    header = ['class'] + [paper.METHOD_NAMES[m] for m in methods] + ['HR', 'GT boxes']

    def order(c):
        v = baseline['per_class_ap'][c] if baseline else None
        return math.inf if v is None or math.isnan(v) else v

    rows = []
    for c in sorted(report['classes'], key=order):
        cells = [f'**{c}**' if c in tail else c]
        cells += [_ap(find_row(report, m, scale)['per_class_ap'][c]) for m in methods]
        cells += [_ap(report['hr']['per_class_ap'][c]), report['dataset']['gt_boxes'][c]]
        rows.append(cells)
    return md_table(header, rows)


def bandwidth_table(report):
    """Markdown of accuracy vs bandwidth of every run (all qualities)."""
    header = ['method', 'scale', 'JPEG q', 'KB/frame', 'Mbit/s', 'mAP', 'AP50', 'tail AP',
              'small-box share']
    rows = [[paper.METHOD_NAMES[r['method']], f'x{r["scale"]}', r['quality'],
             num(r['bytes_per_frame'] / 1000.0, '.1f'), num(r['mbps'], '.2f'), _ap(r['map']),
             _ap(r['ap50']), _ap(r['tail_ap']), num(r['small_box_share'], '.3f')]
            for r in sorted(report['rows'],
                            key=lambda r: (r['method'], r['scale'], r['quality']))]
    hr = report['hr']
    rows.append(['HR (original file)', 'x1', '—', num(hr['bytes_per_frame'] / 1000.0, '.1f'),
                 num(hr['mbps'], '.2f'), _ap(hr['map']), _ap(hr['ap50']), '—',
                 num(hr['small_box_share'], '.3f')])
    return md_table(header, rows)


def threshold_table(report):
    """Markdown of the fitted small-box-share thresholds per scale and pooled (Fig. 8 shape)."""
    tt = report['tail_threshold']
    header = ['scale', 'frames', 'tail frames', 'threshold (share)', 'rule', 'recall',
              'precision', 'flagged', 'fit r']
    entries = [(f'x{s}', f) for s, f in sorted(tt['scales'].items(), key=lambda x: int(x[0]))]
    if tt['pooled'] is not None:
        entries.append(('pooled', tt['pooled']))
    rows = []
    for label, fit in entries:
        if 'error' in fit:
            rows.append([label, '—', '—', f'not fitted: {fit["error"]}', '', '', '', '', ''])
            continue
        rule = 'tail if share ' + ('<' if fit['direction'] == 'below' else '>') + ' threshold'
        rows.append([label, fit['n'], fit['n_tail'], num(fit['threshold'], '.4f'), rule,
                     _pct0(fit['recall']), _pct0(fit['precision']),
                     _pct0(fit['flagged_share']), num(fit['regression']['r'], '.2f')])
    return md_table(header, rows)


def _pct0(value):
    return '—' if value is None else f'{100.0 * value:.0f}%'


def markdown(report, figures=()):
    """Return the full ``report.md`` text of a detection evaluation."""
    d, st = report['dataset'], report['settings']
    det = report['models']['detection']
    tt = report['tail_threshold']
    lines = ['# Runespoor evaluation report: object detection', '',
             "Numbers in [brackets] are the paper's (Runespoor, §5.1-5.2, Table 6: VisDrone2019, "
             '300 frames of at least 1920x1080, YOLOv3 at 832x832), quoted for comparison; '
             'everything else was measured by this run.  mAP = COCO AP@[.5:.95] (pycocotools, '
             f'at most {st["max_dets"]} detections per frame) over all frames, VisDrone '
             'ignored regions applied as the VisDrone toolkit does (boxes more than half inside '
             'are dropped); classes without ground truth are left out of means.',
             '', '## Setup', '',
             f'- Dataset: `{d["root"]}`, {d["frames"]} frames'
             + (f' at {d["resolution"]}' if d.get('resolution') else '')
             + '; ground-truth boxes: '
             + ', '.join(f'{c} {n}' for c, n in d['gt_boxes'].items()),
             f'- Detector: `{det["path"]}` (sha256 {det["sha256"]}, arch {det.get("arch")})']
    lines += sr_model_lines(report)
    lines += [methods_line(st) + f'; bandwidth at {st["fps"]:g} fps (nominal)',
              f'- Class-wise tail: worst {st["tail_fraction"]:.0%} of the classes with ground '
              f'truth under {st["tail_baseline"]} per scale, fixed for every method and HR']
    lines += run_lines(report)
    lines.append("- The paper's tail classes (Fig. 10): "
                 + ', '.join(paper.FIG10['tail_classes']))
    lines += ['', '## Overall accuracy and reconstruction quality (paper Table 6)', '',
              'The paper has no CloudSeg column and no PSNR/SSIM for HR.', '',
              table6(report), '', f'_{paper.FIGURE_CLAIMS["table6"]}_', '',
              '## Checkerboard guard: SR - bilinear grid periodicity', '', GRID_NOTE, '',
              grid_table(report), '',
              '## Class-wise tail vs overall, normalised by HR (data of paper Fig. 10)', '',
              "tail AP = mean AP over the scale's tail classes; [bracket] = the paper's "
              'Table 6 mAP / HR mAP.', '', classwise_table(report), '',
              f'_{paper.FIGURE_CLAIMS["fig10"]}_', '']
    for s in st['scales']:
        if str(s) in report['tail_classes']:
            lines += [f'## Per-class AP at x{s}', '',
                      f'Classes sorted by {st["tail_baseline"]} AP, tail classes in **bold**.',
                      '', per_class_table(report, s), '']
    lines += ['## Accuracy vs bandwidth, every run', '', bandwidth_table(report), '',
              '## Tail-frame threshold on the small-box share (paper Fig. 8 shape)', '',
              f'Small-box share = boxes scored >= {tt["score_threshold"]:g} with area < '
              f'{tt["max_area_fraction"]:g} of the frame, over the boxes scored >= '
              f'{tt["score_threshold"]:g} (0 without any), on the predictions of '
              f'{paper.METHOD_NAMES.get(tt["method"], tt["method"])} at every quality.  Frame '
              f'accuracy = {tt["accuracy"]}; tail frames = the worst '
              f'{tt["tail_frame_fraction"]:.0%} per scale; threshold = the most precise one '
              f'catching >= {tt["target_recall"]:.0%} of them '
              '(`runespoor.cac.tail.fit_threshold`).  For the cloud node (config/'
              'cloud_detection.yaml): `tail_threshold` and `tail_direction` = `threshold` and '
              '`direction` of `tail_threshold.pooled` in `report.json`, with '
              '`det_score_threshold` and `small_box_fraction` set as here.', '',
              threshold_table(report) if tt['samples'] else
              f'_Not fitted: no {tt["method"]} runs in this evaluation._', '']
    lines += figure_lines(figures)
    return '\n'.join(lines)
