# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
PNG figures shaped like the paper's Figs. 1, 9, 13 and 14 (matplotlib, Agg backend).

Where the paper prints a number for a plotted quantity it is drawn too, in black outline
markers labelled "paper"; the paper's figures themselves carry no printed data, so those
numbers come from its tables (see :mod:`runespoor.evaluation.paper`).
"""

import math
import os
import textwrap

import numpy as np

from runespoor.evaluation import paper
from runespoor.evaluation.report_common import find_row, method_rows, run_methods

COLOURS = {'bilinear': '#1f77b4', 'sr': '#ff7f0e', 'cloudseg': '#2ca02c', 'asr': '#d62728',
           'hr': '#000000'}


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, claim=None, wrap=110, bottom=0.08):
    """
    Lay out ``fig``, write it to ``path`` at 120 dpi and close it; return ``path``.

    ``claim``: a key of :data:`runespoor.evaluation.paper.FIGURE_CLAIMS`, printed as a caption
    (wrapped at ``wrap`` characters) in a strip of height ``bottom`` (figure fraction).
    """
    if claim is None:
        fig.tight_layout()
    else:
        fig.tight_layout(rect=(0, bottom, 1, 1))
        fig.text(0.01, 0.01, textwrap.fill(paper.FIGURE_CLAIMS[claim], wrap), fontsize=7,
                 va='bottom')
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def write_figures(jobs, out_dir):
    """
    Draw ``jobs`` (``(title, file name, draw)``) into ``out_dir``; return what was drawn.

    ``draw(path)`` writes the figure and returns a false value when it has nothing to show;
    the result lists ``(title, file name)`` of the figures written, in job order.
    """
    out = []
    for title, name, draw in jobs:
        if draw(os.path.join(out_dir, name)):
            out.append((title, name))
    return out


def _nan(v):
    return float('nan') if v is None else float(v)


def classwise(report, path):
    """Fig. 9 shape: normalised per-class IoU of every method at the class scale, worst first."""
    plt = _pyplot()
    s = report['settings']['class_scale']
    methods = run_methods(report)
    baseline = find_row(report, report['settings']['tail_baseline'], s)
    if baseline is None:
        return None
    classes = sorted(report['classes'], key=lambda c: (
        math.inf if _nan(baseline['per_class_normalised'][c]) != _nan(
            baseline['per_class_normalised'][c]) else baseline['per_class_normalised'][c]))
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for k, m in enumerate(methods):
        r = find_row(report, m, s)
        values = [_nan(r['per_class_normalised'][c]) for c in classes]
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, values, width,
               color=COLOURS[m], label=f'{paper.METHOD_NAMES[m]} (mIoU/HR '
               f'{_nan(r["miou_normalised"]):.2f})')
        ax.axhline(_nan(r['miou_normalised']), color=COLOURS[m], lw=0.8, ls=':')
    if s == paper.TABLE2['scale']:
        first = True
        for k, m in enumerate(methods):
            for i, c in enumerate(classes):
                pr = paper.TABLE2['rows'].get(c)
                if pr and m in pr:
                    ax.plot(i + (k - (len(methods) - 1) / 2) * width, pr[m] / pr['hr'], 'o',
                            mfc='none', mec='black', ms=5,
                            label='paper Table 2 (normalised)' if first else None)
                    first = False
    tail = set(report['tail_classes'].get(str(s), []))
    ax.set_xticks(x)
    ax.set_xticklabels([c + (' *' if c in tail else '') for c in classes], rotation=45,
                       ha='right')
    ax.axhline(1.0, color='grey', lw=0.8)
    ax.set_ylabel('IoU / IoU on HR')
    ax.set_title(f'Normalised class-wise accuracy at x{s} (* = tail class; dotted = mIoU/HR)')
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def classwise_panels(report, path):
    """Fig. 1 shape: one panel per method, normalised per-class IoU with its mIoU line."""
    plt = _pyplot()
    s = report['settings']['class_scale']
    methods = [m for m, _ in method_rows(report, s)]
    if not methods:
        return None
    classes = report['classes']
    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 3.8), squeeze=False)
    for ax, m in zip(axes[0], methods):
        r = find_row(report, m, s)
        values = [_nan(r['per_class_normalised'][c]) for c in classes]
        ax.bar(np.arange(len(classes)), values, color=COLOURS[m])
        ax.axhline(_nan(r['miou_normalised']), color='red', lw=1, label='mIoU / HR')
        ax.set_xticks(np.arange(len(classes)))
        ax.set_xticklabels(classes, rotation=90, fontsize=7)
        ax.set_title(f'{paper.METHOD_NAMES[m]} x{s}', fontsize=9)
        if m == 'sr' and s == 4:
            ax.axhline(0.94, color='black', ls='--', lw=1, label='paper: SR mIoU/HR 0.94')
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel('IoU / IoU on HR')
    return save_figure(fig, path)


def framewise(report, scale, path):
    """Fig. 13 shape: sorted episode mIoU per method at ``scale`` with mean and tails."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for m in run_methods(report) + ['hr']:
        r = find_row(report, m, scale)
        if r is None:
            continue
        values = np.sort([v for v in r['episode_miou'] if v is not None and v == v])
        if values.size == 0:
            continue
        drawn = True
        pct = (np.arange(values.size) + 0.5) / values.size * 100.0
        ax.plot(pct, 100 * values, '.-', color=COLOURS[m], label=paper.METHOD_NAMES[m], ms=3)
        ax.axhline(100 * r['framewise']['mean'], color=COLOURS[m], lw=0.8, ls=':')
        pp = paper.TABLE4['scales'].get(scale, {}).get(m)
        if pp:
            ax.plot([10, 1], [pp['p90_tail'], pp['p99_tail']], 's', mfc='none',
                    mec=COLOURS[m], ms=7, label=f'paper Table 4: {paper.METHOD_NAMES[m]} '
                    '90%/99% tail')
            ax.axhline(pp['mean'], color=COLOURS[m], lw=0.8, ls='--')
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel('episodes, worst first (percentile)')
    ax.set_ylabel(f'{report["settings"]["episode_length"]}-frame mIoU (%)')
    ax.set_title(f'Frame-wise accuracy distribution at x{scale} (dotted: our mean, '
                 'dashed: paper mean)', fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def bandwidth(report, path):
    """Fig. 14 shape: mIoU vs Mbit/s (log x) per method over scales; paper values annotated."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    q = report['settings']['table_quality']
    first_paper = True
    for m in run_methods(report):
        rows = sorted((r for r in report['rows'] if r['method'] == m), key=lambda r: r['mbps'])
        main = [r for r in rows if r['quality'] == q]
        other = [r for r in rows if r['quality'] != q]
        ax.plot([r['mbps'] for r in main], [100 * _nan(r['miou']) for r in main], 'o-',
                color=COLOURS[m], label=f'{paper.METHOD_NAMES[m]} (q{q})')
        if other:
            ax.plot([r['mbps'] for r in other], [100 * _nan(r['miou']) for r in other], '.',
                    color=COLOURS[m], alpha=0.4)
        for r in main:
            pp = paper.TABLE5['scales'].get(r['scale'], {}).get(m)
            if pp:
                ax.plot(r['mbps'], pp['miou'], 'D', mfc='none', mec=COLOURS[m], ms=6,
                        label='paper Table 5 mIoU at our Mbit/s' if first_paper else None)
                first_paper = False
    hr = report['hr']
    ax.plot(hr['mbps'], 100 * _nan(hr['miou']), '*', color='black', ms=10,
            label='HR (original PNG)')
    ax.set_xscale('log')
    ax.set_xlabel(f'bandwidth (Mbit/s at {report["settings"]["fps"]:g} fps, log scale)')
    ax.set_ylabel('mIoU (%)')
    ax.set_title('Accuracy vs bandwidth', fontsize=10)
    ax.legend(fontsize=7, loc='best')
    return save_figure(fig, path, 'fig14')


def write_all(report, out_dir):
    """Write every figure into ``out_dir``; return ``[(title, file name), ...]``."""
    s = report['settings']['class_scale']
    jobs = [(f'Fig. 1 shape: normalised class-wise accuracy per method at x{s}',
             f'fig1_classwise_panels_x{s}.png', lambda p: classwise_panels(report, p)),
            (f'Fig. 9 shape: normalised class-wise accuracy, all methods at x{s}',
             f'fig9_classwise_x{s}.png', lambda p: classwise(report, p))]
    for fs in report['settings'].get('framewise_scales', []):
        jobs.append((f'Fig. 13 shape: frame-wise accuracy distribution at x{fs}',
                     f'fig13_framewise_x{fs}.png',
                     lambda p, fs=fs: framewise(report, fs, p)))
    jobs.append(('Fig. 14 shape: accuracy vs bandwidth', 'fig14_accuracy_bandwidth.png',
                 lambda p: bandwidth(report, p)))
    return write_figures(jobs, out_dir)
