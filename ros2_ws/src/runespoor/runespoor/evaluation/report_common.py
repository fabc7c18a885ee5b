# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Helpers shared by the task reports.

:mod:`runespoor.tasks.segmentation.report`, :mod:`runespoor.tasks.detection.report` and
:mod:`runespoor.evaluation.generic_report` use them.

Row look-up, number formatting (``—`` for a missing or non-finite value, the paper's number in
brackets), Markdown tables and the ``report.md`` lines both reports write the same way (SR
models, machine and time, skipped runs, tail classes, figures).
"""

import math

import numpy as np

from runespoor.evaluation import paper


def find_row(report, method, scale, quality=None):
    """Return the row of ``method`` at ``scale`` and ``quality`` (default: table quality)."""
    if method == 'hr':
        return report['hr']
    quality = report['settings']['table_quality'] if quality is None else quality
    for r in report['rows']:
        if r['method'] == method and r['scale'] == scale and r['quality'] == quality:
            return r
    return None


def run_entries(result):
    """Return the report entries about the run: models, machine, time, computed and skipped."""
    return {
        'models': result['models'],
        'machine': result.get('machine', {}),
        'time_s': result['time_s'],
        'frames_computed': result['computed'],
        'skipped': result['skipped'],
    }


def run_methods(report):
    """Return the configured methods that have rows, in the configured order."""
    return [m for m in report['settings']['methods']
            if any(r['method'] == m for r in report['rows'])]


def method_rows(report, scale):
    """Yield ``(method, row)`` for each method (in order) with a row at ``scale``."""
    for m in run_methods(report):
        r = find_row(report, m, scale)
        if r is not None:
            yield m, r


def finite_mean(values):
    """Mean of the finite ``values`` (NaN when there is none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float('nan')


def pct(value, digits=2):
    """Format a fraction as a percentage (``—`` for None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '—'
    return f'{100.0 * value:.{digits}f}'


def num(value, fmt):
    """Format a number with ``fmt`` (``—`` for None or a non-finite value)."""
    if value is None or not math.isfinite(value):
        return '—'
    return format(value, fmt)


def with_paper(ours, theirs, fmt='.2f'):
    """Return ``ours`` followed by the paper's value in brackets, when there is one."""
    if theirs is None:
        return ours
    return f'{ours} [{format(theirs, fmt) if isinstance(theirs, float) else theirs}]'


def grid_table(report):
    """
    Markdown of the checkerboard statistic per scale and method (grey levels).

    Grid periodicity of SR - bilinear (:func:`runespoor.metrics.image.grid_periodicity`): the
    range of the mean difference over the ``scale x scale`` pixel grid.  Near 0: no periodic
    pattern; several grey levels: the model paints a texture on flat areas - a pattern tuned to
    the analytics model it was trained against, which another model may not survive.
    """
    methods = [m for m in run_methods(report) if m != 'bilinear']
    header = ['scale'] + [paper.METHOD_NAMES[m] for m in methods]
    rows = []
    for s in report['settings']['scales']:
        rows.append([f'x{s}'] + [num(r.get('grid', float('nan')), '.2f') if r else '—'
                                 for r in (find_row(report, m, s) for m in methods)])
    return md_table(header, rows)


GRID_NOTE = ('Checkerboard statistic of each reconstruction against bilinear of the same '
             'low-resolution frame: the range, over the scale x scale pixel grid, of the mean '
             'difference [grey levels]. Near 0 for plain SR; a model that paints a periodic '
             'pattern on flat areas scores several grey levels.')


def md_table(header, rows):
    """Return a Markdown table of ``rows`` (lists of cells) under ``header``."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(lines)


def sr_model_lines(report):
    """Return the setup list items of the SR models (path and sha256), sorted by name."""
    return [f'- SR model {name}: `{info["path"]}` (sha256 {info["sha256"]})'
            for name, info in sorted(report['models']['sr'].items())]


def methods_line(settings):
    """Return the setup list item of the methods, scales and JPEG qualities."""
    st = settings
    return (f'- Methods: {", ".join(paper.METHOD_NAMES[m] for m in st["methods"])}; '
            f'scales {", ".join("x%d" % s for s in st["scales"])}; JPEG qualities '
            f'{st["qualities"]} (tables at q{st["table_quality"]})')


def run_lines(report):
    """Return the setup lines of the machine, the time, the skipped runs and the tail classes."""
    st, mach = report['settings'], report['machine']
    lines = [f'- Machine: {mach.get("cpu", "?")}; GPU: {mach.get("gpu") or "none"}; device '
             f'`{st["device"]}`; torch {mach.get("torch", "?")}; Python '
             f'{mach.get("python", "?")}',
             f'- Time: {report["time_s"]:.1f} s ({report["frames_computed"]} frame-runs '
             'computed, the rest from the cache)']
    if report['skipped']:
        lines += ['', '**Skipped (skip_missing: true):**', '']
        lines += [f'- {paper.METHOD_NAMES[s["method"]]} x{s["scale"]}: {s["reason"]}'
                  for s in report['skipped']]
    for s, names in report['tail_classes'].items():
        lines.append(f'- Tail classes at x{s}: {", ".join(names)}')
    return lines


def figure_lines(figures):
    """Return the ``## Figures`` section listing ``(title, path)`` links (none: no lines)."""
    if not figures:
        return []
    return ['## Figures', ''] + [f'- [{title}]({path})' for title, path in figures] + ['']


def to_json(report):
    """JSON-safe copy (NaN/inf -> None, int keys -> str)."""
    def clean(obj):
        if isinstance(obj, dict):
            return {str(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        if isinstance(obj, (np.floating, float)):
            return float(obj) if math.isfinite(obj) else None
        if isinstance(obj, np.integer):
            return int(obj)
        return obj
    return clean(report)
