# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
PNG figures of the detection evaluation (matplotlib, Agg backend).

* Fig. 10 shape -- per scale, class-wise tail AP and overall mAP of every method, normalised
  by HR; the paper's Table 6 mAP / HR mAP as outlined markers, its Fig. 10 claim as caption
  (the figure itself prints no numbers);
* Fig. 8 shape -- per scale, frame AP50 vs small-box share of the tail-fit method's frames,
  tail frames as red crosses, the fitted threshold and the regression line
  (:func:`runespoor.cac.tail.plot_per_scale`).
"""

import numpy as np

from runespoor.evaluation import paper
from runespoor.evaluation.report_common import find_row, run_methods
from runespoor.tasks.segmentation.figures import _nan, _pyplot, COLOURS, save_figure, write_figures


def classwise_tail(report, path):
    """Fig. 10 shape: normalised class-wise tail AP and overall mAP per method and scale."""
    plt = _pyplot()
    scales = [s for s in report['settings']['scales'] if str(s) in report['tail_classes']]
    methods = run_methods(report)
    if not scales or not methods:
        return None
    fig, axes = plt.subplots(1, len(scales), figsize=(5.2 * len(scales), 4.4), squeeze=False,
                             sharey=True)
    width = 0.8 / len(methods)
    first_paper = True
    for ax, s in zip(axes[0], scales):
        for k, m in enumerate(methods):
            r = find_row(report, m, s)
            if r is None:
                continue
            x = np.arange(2) + (k - (len(methods) - 1) / 2) * width
            values = [_nan(r['tail_normalised']), _nan(r['map_normalised'])]
            ax.bar(x, values, width, color=COLOURS[m], label=paper.METHOD_NAMES[m])
            for xi, v in zip(x, values):
                if v == v:
                    ax.text(xi, v, f'{v:.2f}', ha='center', va='bottom', fontsize=6)
            pp = paper.TABLE6['scales'].get(s, {}).get(m)
            if pp:
                ax.plot(x[1], pp['map'] / paper.TABLE6['hr']['map'], 'D', mfc='none',
                        mec='black', ms=6,
                        label='paper Table 6 mAP / HR' if first_paper else None)
                first_paper = False
        ax.axhline(1.0, color='grey', lw=0.8, label='HR' if s == scales[0] else None)
        ax.set_xticks(np.arange(2))
        tail = report['tail_classes'][str(s)]
        ax.set_xticklabels([f'class-wise tail ({len(tail)} classes)', 'overall mAP'])
        ax.set_title(f'x{s}: tail = {", ".join(tail)}', fontsize=8)
    axes[0][0].set_ylabel('AP / AP on HR')
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path, 'fig10', wrap=120, bottom=0.1)


def tail_threshold(report, path):
    """Fig. 8 shape: frame AP50 vs small-box share per scale, with the fitted threshold."""
    from runespoor.cac.tail import plot_per_scale
    tt = report['tail_threshold']
    fits = {int(s): f for s, f in tt['scales'].items()}
    samples = {int(s): (np.asarray(v['share'], np.float64),
                        np.array([_nan(a) for a in v['ap50']], np.float64))
               for s, v in tt['samples'].items() if 'error' not in fits.get(int(s), {})}
    if not samples:
        return None
    return plot_per_scale(samples, {'scales': fits}, path, tt['tail_frame_fraction'],
                          xlabel='small-box share (%)', ylabel='frame AP50 (%)')


def write_all(report, out_dir):
    """Write every detection figure into ``out_dir``; return ``[(title, file name), ...]``."""
    jobs = [('Fig. 10 shape: class-wise tail and overall accuracy normalised by HR',
             'fig10_classwise_tail.png', lambda p: classwise_tail(report, p)),
            ('Fig. 8 shape: tail frames vs small-box share, fitted threshold',
             'fig8_tail_threshold.png', lambda p: tail_threshold(report, p))]
    return write_figures(jobs, out_dir)
