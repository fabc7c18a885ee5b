# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Aggregate per-frame results into the paper's tables (§5.1-5.2) as JSON and Markdown.

Shapes (ours first, the paper's number in brackets where the paper prints one):

* Table 2 -- class-wise breakdown at ``class_scale``: IoU per class and method, HR, the class's
  pixel share; tail-class mean, normalised by HR, overall mIoU.
* Table 3 -- tail-class mean vs overall mIoU for every method and scale.
* Table 4 -- frame-wise tail: 90 % / 99 % tail and mean of the 10-frame-episode mIoU.
* Table 5 -- overall mIoU, PSNR, SSIM, bytes per frame and Mbit/s.

The tail class set of each scale is the worst ``tail_fraction`` of the classes of
``tail_baseline`` (bilinear) at that scale and the table quality, used for every method and HR.
"""

import math

from runespoor.evaluation import paper
from runespoor.evaluation.report_common import (figure_lines, find_row, finite_mean, GRID_NOTE,
                                                grid_table, md_table,
                                                method_rows, methods_line, num, pct, run_entries,
                                                run_lines, run_methods, sr_model_lines, with_paper)
from runespoor.metrics import framewise, image, segmentation as seg


def class_names():
    """Return the 19 train-id class names (Cityscapes)."""
    from runespoor.labels import TRAIN_ID_NAMES
    return list(TRAIN_ID_NAMES)


def summarise(config, result):
    """Turn :func:`runespoor.evaluation.runner.evaluate`'s output into the report dict."""
    names = class_names()
    runs = result['runs']
    hr = runs[('hr', 1, None)]
    hr_conf = hr['conf'].sum(axis=0)
    hr_ious = seg.iou_per_class(hr_conf)
    hr_miou = seg.mean_iou(hr_conf)
    q = config.table_quality

    present = seg.class_pixel_share(hr_conf) > 0  # rank only classes in the ground truth
    tail_classes = {}
    for scale in config.scales:
        base = runs.get((config.tail_baseline, scale, q))
        if base is not None:
            tail_classes[scale] = seg.worst_classes(
                seg.iou_per_class(base['conf'].sum(axis=0)), config.tail_fraction,
                eligible=present).tolist()

    def row(method, scale, quality, data):
        conf = data['conf'].sum(axis=0)
        ious = seg.iou_per_class(conf)
        miou = seg.mean_iou(conf)
        tail = tail_classes.get(scale if method != 'hr' else None, [])
        tail_value = seg.tail_miou(ious, tail) if tail else float('nan')
        hr_tail = seg.tail_miou(hr_ious, tail) if tail else float('nan')
        mean_bytes = image.bytes_per_frame(data['bytes'])
        fw = framewise.framewise_tail(data['conf'], config.episode_length)
        return {
            'method': method, 'scale': scale, 'quality': quality,
            'miou': miou, 'miou_normalised': seg.normalised(miou, hr_miou),
            'tail_miou': tail_value, 'tail_normalised': seg.normalised(tail_value, hr_tail),
            'per_class_iou': dict(zip(names, ious.tolist())),
            'per_class_normalised': dict(zip(names, seg.normalised(ious, hr_ious).tolist())),
            'psnr': finite_mean(data['psnr']), 'ssim': finite_mean(data['ssim']),
            'grid': finite_mean(data['grid']) if 'grid' in data else float('nan'),
            'bytes_per_frame': mean_bytes, 'mbps': image.mbit_per_s(mean_bytes, config.fps),
            'framewise': fw,
            'episode_miou': framewise.episode_miou(data['conf'], config.episode_length).tolist(),
        }

    rows = [row(m, s, qq, d) for (m, s, qq), d in runs.items() if m != 'hr']
    hr_row = row('hr', 1, None, hr)
    hr_row['tail_miou_per_scale'] = {
        str(s): seg.tail_miou(hr_ious, t) for s, t in tail_classes.items()}
    return {
        'dataset': {'root': config.dataset_root, 'split': config.split,
                    'frames': len(result['frames']), 'frame_names': result['frames'],
                    'resolution': result.get('resolution')},
        **run_entries(result),
        'settings': {
            'methods': config.methods, 'scales': config.scales, 'qualities': config.qualities,
            'table_quality': q, 'class_scale': config.class_scale,
            'framewise_scales': config.framewise_scales,
            'tail_baseline': config.tail_baseline, 'tail_fraction': config.tail_fraction,
            'episode_length': config.episode_length, 'fps': config.fps,
            'device': result['device'], 'image_metrics': config.image_metrics,
        },
        'classes': names,
        'class_pixel_share': dict(zip(names, seg.class_pixel_share(hr_conf).tolist())),
        'tail_classes': {str(s): [names[c] for c in t] for s, t in tail_classes.items()},
        'hr': hr_row,
        'rows': rows,
        'paper': {'table2': paper.TABLE2, 'table3': paper.TABLE3, 'table4': paper.TABLE4,
                  'table5': paper.TABLE5},
    }


def table2(report):
    """Markdown of the class-wise breakdown at the class scale (paper Table 2)."""
    s = report['settings']['class_scale']
    methods = run_methods(report)
    if str(s) not in report['tail_classes']:
        return f'_No runs at x{s}: class-wise breakdown not available._'
    hr = report['hr']
    p2 = paper.TABLE2 if s == paper.TABLE2['scale'] else None
    header = ['class'] + [paper.METHOD_NAMES[m] for m in methods] + ['HR', 'size (%)']
    rows = []
    tail = report['tail_classes'][str(s)]
    baseline = find_row(report, report['settings']['tail_baseline'], s)
    order = sorted(report['classes'], key=lambda c: (
        math.inf if math.isnan(baseline['per_class_iou'][c]) else baseline['per_class_iou'][c]))
    for c in order:
        pr = p2['rows'].get(c) if p2 else None
        cells = [f'**{c}**' if c in tail else c]
        for m in methods:
            r = find_row(report, m, s)
            cells.append(with_paper(pct(r['per_class_iou'][c]) if r else '—',
                                    pr.get(m) if pr else None))
        cells.append(with_paper(pct(hr['per_class_iou'][c]), pr['hr'] if pr else None))
        cells.append(with_paper(pct(report['class_pixel_share'][c]),
                                pr['size'] if pr else None))
        rows.append(cells)

    def summary(label, key, paper_key, fmt=pct):
        cells = [label]
        for m in methods:
            r = find_row(report, m, s)
            cells.append(with_paper(fmt(r[key]) if r else '—',
                                    p2[paper_key].get(m) if p2 else None))
        hr_value = (hr['tail_miou_per_scale'].get(str(s)) if key == 'tail_miou'
                    else 1.0 if key == 'tail_normalised' else hr['miou'])
        cells.append(with_paper(fmt(hr_value), p2[paper_key].get('hr') if p2 else None))
        share = sum(report['class_pixel_share'][c] for c in tail)
        cells.append(with_paper(pct(share), p2['tail_classes']['size'] if p2 else None)
                     if key == 'tail_miou' else '')
        return cells

    rows.append(summary(f'tail classes ({len(tail)})', 'tail_miou', 'tail_classes'))
    rows.append(summary('normalised', 'tail_normalised', 'normalised',
                        lambda v: num(v, '.2f')))
    rows.append(summary('overall mIoU', 'miou', 'overall'))
    return md_table(header, rows)


def table3(report):
    """Markdown of tail-class vs overall mIoU per scale (paper Table 3)."""
    header = ['scale', 'method', 'tail classes (%)', 'overall mIoU (%)', 'tail / HR',
              'overall / HR']
    p3 = paper.TABLE3
    hr = report['hr']
    rows = [['HR', 'original', '—', with_paper(pct(hr['miou']), p3['hr']['overall']),
             '', '1.00']]
    for s in report['settings']['scales']:
        for m, r in method_rows(report, s):
            pp = p3['scales'].get(s, {}).get(m)
            rows.append([f'x{s}', paper.METHOD_NAMES[m],
                         with_paper(pct(r['tail_miou']), pp and pp['tail']),
                         with_paper(pct(r['miou']), pp and pp['overall']),
                         num(r['tail_normalised'], '.2f'), num(r['miou_normalised'], '.2f')])
        hr_tail = hr['tail_miou_per_scale'].get(str(s))
        rows.append([f'x{s}', 'HR (same tail classes)',
                     with_paper(pct(hr_tail), p3['hr']['tail'] if s in p3['scales'] else None),
                     pct(hr['miou']), '1.00', '1.00'])
    return md_table(header, rows)


def table4(report):
    """Markdown of frame-wise tail accuracy (paper Table 4)."""
    n = report['settings']['episode_length']
    header = ['scale', 'method', f'{n}-frame mIoU 90% tail (%)', '99% tail (%)', 'mean (%)',
              'episodes']
    p4 = paper.TABLE4['scales']
    rows = []
    for s in report['settings']['scales']:
        for m, r in method_rows(report, s):
            fw = r['framewise']
            pp = p4.get(s, {}).get(m)
            rows.append([f'x{s}', paper.METHOD_NAMES[m],
                         with_paper(pct(fw['p90_tail']), pp and pp['p90_tail']),
                         with_paper(pct(fw['p99_tail']), pp and pp['p99_tail']),
                         with_paper(pct(fw['mean']), pp and pp['mean']), fw['episodes']])
    fw = report['hr']['framewise']
    rows.append(['x1', 'HR', pct(fw['p90_tail']), pct(fw['p99_tail']), pct(fw['mean']),
                 fw['episodes']])
    return md_table(header, rows)


def table5(report):
    """Markdown of overall mIoU, PSNR, SSIM and bandwidth (paper Table 5)."""
    fps = report['settings']['fps']
    header = ['scale', 'method', 'mIoU (%)', 'PSNR (dB)', 'SSIM', 'KB/frame',
              f'Mbit/s @ {fps:g} fps']
    p5 = paper.TABLE5
    rows = []
    for s in report['settings']['scales']:
        for m, r in method_rows(report, s):
            pp = p5['scales'].get(s, {}).get(m)
            rows.append([f'x{s}', paper.METHOD_NAMES[m],
                         with_paper(pct(r['miou']), pp and pp['miou']),
                         with_paper(num(r['psnr'], '.2f'), pp and pp['psnr']),
                         with_paper(num(r['ssim'], '.3f'), pp and pp['ssim'], '.3f'),
                         num(r['bytes_per_frame'] / 1000.0, '.1f'), num(r['mbps'], '.2f')])
    hr = report['hr']
    rows.append(['x1', 'HR (original PNG)', with_paper(pct(hr['miou']), p5['hr']['miou']),
                 '—', '—', num(hr['bytes_per_frame'] / 1000.0, '.1f'), num(hr['mbps'], '.2f')])
    return md_table(header, rows)


def bandwidth_table(report):
    """Markdown of accuracy vs bandwidth of every run (all qualities; data of Fig. 14)."""
    header = ['method', 'scale', 'JPEG q', 'KB/frame', 'Mbit/s', 'mIoU (%)', 'tail (%)']
    rows = [[paper.METHOD_NAMES[r['method']], f'x{r["scale"]}', r['quality'],
             num(r['bytes_per_frame'] / 1000.0, '.1f'), num(r['mbps'], '.2f'),
             pct(r['miou']), pct(r['tail_miou'])]
            for r in sorted(report['rows'],
                            key=lambda r: (r['method'], r['scale'], r['quality']))]
    return md_table(header, rows)


def markdown(report, figures=()):
    """Return the full ``report.md`` text."""
    d, st = report['dataset'], report['settings']
    lines = ['# Runespoor evaluation report', '',
             "Numbers in [brackets] are the paper's (Runespoor, §5.1-5.2, Cityscapes val, "
             '2048x1024, SwiftNet), quoted for comparison; everything else was measured by '
             'this run.  Accuracies in %, IoU from the confusion matrix accumulated over all '
             'frames; classes absent from both label and prediction are left out of means.', '',
             '## Setup', '',
             f'- Dataset: `{d["root"]}` split `{d["split"]}`, {d["frames"]} frames'
             + (f' at {d["resolution"]}' if d.get('resolution') else ''),
             f'- Segmentation model: `{report["models"]["segmentation"]["path"]}` '
             f'(sha256 {report["models"]["segmentation"]["sha256"]}, '
             f'arch {report["models"]["segmentation"].get("arch")})']
    lines += sr_model_lines(report)
    lines += [methods_line(st),
              f'- Tail classes: worst {st["tail_fraction"]:.0%} of the classes of '
              f'{st["tail_baseline"]} per scale, fixed for every method; frame-wise tail over '
              f'{st["episode_length"]}-frame episodes; bandwidth at {st["fps"]:g} fps']
    lines += run_lines(report)
    lines += ['', f'## Class-wise tail at x{st["class_scale"]} (paper Table 2)', '',
              'Tail classes in **bold**; size = share of labelled pixels.', '',
              table2(report), '',
              '## Tail classes vs overall, all scales (paper Table 3)', '', table3(report), '',
              '## Frame-wise tail accuracy (paper Table 4)', '', table4(report), '',
              '## Overall accuracy and reconstruction quality (paper Table 5)', '',
              table5(report), '',
              '## Checkerboard guard: SR - bilinear grid periodicity', '', GRID_NOTE, '',
              grid_table(report), '',
              '## Accuracy vs bandwidth, every run (data of paper Fig. 14)', '',
              bandwidth_table(report), '']
    lines += figure_lines(figures)
    return '\n'.join(lines)
