# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The report of a plug-in task without its own: one table of every run's per-frame means.

For each run (HR first, then method x scale x quality) it lists the bytes per frame and the
stream's Mbit/s at the config's ``fps``, PSNR, SSIM and the checkerboard statistic, and the
mean of every per-frame number the task's eval plug-in recorded (a scalar field of its
``collect`` arrays, e.g. an error per frame).  Segmentation and detection have the paper's
tables instead (:mod:`runespoor.tasks.segmentation.report`,
:mod:`runespoor.tasks.detection.report`).
"""

import numpy as np

from runespoor.evaluation.report_common import (figure_lines, finite_mean, md_table, num,
                                                run_entries, sr_model_lines)

#: Run arrays every task has; the report shows them in fixed columns.
IMAGE_COLUMNS = ('bytes', 'psnr', 'ssim', 'grid')


def _task_columns(runs):
    """Return the names of the task's per-frame scalar arrays (same in every run)."""
    first = next(iter(runs.values()))
    return sorted(k for k, v in first.items() if k not in IMAGE_COLUMNS
                  and isinstance(v, np.ndarray) and v.ndim == 1
                  and np.issubdtype(v.dtype, np.number))


def summarise(config, result):
    """Return the report dict: settings, one row per run with its means, and the run entries."""
    runs = result['runs']
    columns = _task_columns(runs)
    rows = []
    for (method, scale, quality), arrays in runs.items():
        nbytes = finite_mean(arrays['bytes'])
        row = {'method': method, 'scale': scale, 'quality': quality,
               'bytes': nbytes, 'mbps': nbytes * 8 * config.fps / 1e6,
               'psnr': finite_mean(arrays['psnr']), 'ssim': finite_mean(arrays['ssim']),
               'grid': finite_mean(arrays['grid'])}
        row.update({c: finite_mean(arrays[c]) for c in columns})
        rows.append(row)
    report = {'task': result['task'], 'frames': len(result['frames']),
              'resolution': result.get('resolution'), 'columns': columns, 'rows': rows,
              'settings': {'methods': config.methods, 'scales': config.scales,
                           'qualities': config.qualities, 'fps': config.fps,
                           'device': result['device']}}
    report.update(run_entries(result))
    return report


def markdown(report, figures=()):
    """Return ``report.md`` of a plug-in task."""
    cols = report['columns']
    header = ['run', 'bytes/frame', 'Mbit/s', 'PSNR', 'SSIM', 'grid'] + cols
    rows = []
    for r in report['rows']:
        name = 'HR' if r['method'] == 'hr' else f'{r["method"]} x{r["scale"]} q{r["quality"]}'
        rows.append([name, num(r['bytes'], '.0f'), num(r['mbps'], '.3f'), num(r['psnr'], '.2f'),
                     num(r['ssim'], '.4f'), num(r['grid'], '.2f')]
                    + [num(r[c], '.4g') for c in cols])
    mach = report.get('machine', {})
    lines = [f'# Evaluation: task {report["task"]}', '',
             f'- Frames: {report["frames"]} at {report["resolution"] or "?"}; '
             f'{report["settings"]["fps"]:g} fps for Mbit/s',
             f'- Machine: {mach.get("cpu", "?")}; GPU: {mach.get("gpu") or "none"}; '
             f'device `{report["settings"]["device"]}`',
             f'- Time: {report["time_s"]:.1f} s ({report["frames_computed"]} frame-runs '
             'computed, the rest from the cache)']
    lines += sr_model_lines(report)
    lines += ['', '## Runs (means over the frames)', '', md_table(header, rows), '']
    lines += figure_lines(figures)
    return '\n'.join(lines)
