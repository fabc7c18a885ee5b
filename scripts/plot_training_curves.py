#!/usr/bin/env python3
"""
Validation curves of training runs: tail / overall mIoU and PSNR vs step, to a PNG.

    python scripts/plot_training_curves.py out/asr_sweep/beta_0.05 out/asr_sweep/beta_0.02 \
        --step0 out/asr_sweep/step0/metrics.json --tail-from REPORT.json \
        --out results/asr_beta_sweep/curves.png --json results/asr_beta_sweep/curves.json

Each RUN is a ``runespoor train`` output folder (or its ``log.jsonl``): the validation records
(``{"step": N, "val": {...}}``) give the points; the training records give the logged balance
of Eq. 3 (``analytics_share``), drawn in a fourth panel when present.  The tail mIoU is the mean
IoU over one fixed class set for every run and step: ``--tail-classes`` (names), else the tail
set of a ``runespoor eval`` report (``--tail-from``, at ``--scale``), else the worst half of
the classes of the first validation record of the first run (said in the figure).  A base SR
run validates PSNR only unless it was trained with a judge (``runespoor train sr --seg``):
without one its mIoU panels stay empty and say so.  ``PATH@N`` shifts a run's steps by N (a
fine-tuning run drawn after the base SR run it started from).  ``--step0 metrics.json`` adds
the initial model's validation (e.g. a ``--steps 0`` run of the same command) at step 0 of
every run.  Matplotlib with the Agg backend; no display.
"""

import argparse
import json
import math
import os
import sys

#: Cityscapes train-id names, in train-id order (runespoor.labels.TRAIN_ID_NAMES).
CLASS_NAMES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
               'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
               'bus', 'train', 'motorcycle', 'bicycle')


def read_records(path):
    """Return the JSON records of a run folder's ``log.jsonl`` (or of that file)."""
    if os.path.isdir(path):
        path = os.path.join(path, 'log.jsonl')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _finite(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def validation_records(records):
    """Return ``[(step, val dict)]`` by step; a step logged twice (resume) keeps the last."""
    by_step = {}
    for r in records:
        if isinstance(r.get('val'), dict):
            by_step[int(r['step'])] = r['val']
    return sorted(by_step.items())


def training_records(records):
    """Return the training-step records (no ``val``), one per step, sorted by step."""
    by_step = {}
    for r in records:
        if 'val' not in r and 'step' in r:
            by_step[int(r['step'])] = r
    return [by_step[s] for s in sorted(by_step)]


def parse_run_spec(spec):
    """
    Return ``(label, path, step offset)`` of a ``[LABEL=]PATH[@OFFSET]`` run argument.

    ``@OFFSET`` shifts the run's steps, e.g. a fine-tuning run drawn after the base SR run it
    started from (``asr=out/asr_x4@600``).
    """
    label, _, rest = spec.rpartition('=') if '=' in spec else ('', '', spec)
    path, offset = rest, 0
    if '@' in rest:
        head, _, tail = rest.rpartition('@')
        if tail.isdigit():
            path, offset = head, int(tail)
    label = label or os.path.basename(os.path.normpath(path).replace('/log.jsonl', ''))
    return label, path, offset


def worst_half(ious, fraction=0.5):
    """Return the worst ``int(len * fraction)`` class ids with a defined IoU (ties: id order)."""
    defined = [i for i, v in enumerate(ious) if _finite(v)]
    defined.sort(key=lambda i: (ious[i], i))
    return defined[:int(len(ious) * fraction)]


def class_indices(names):
    """Train ids of class ``names`` (a comma-separated string or a list)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(',') if n.strip()]
    unknown = [n for n in names if n not in CLASS_NAMES]
    if unknown:
        raise ValueError(f'unknown class names {unknown}; choose from {", ".join(CLASS_NAMES)}')
    return [CLASS_NAMES.index(n) for n in names]


def tail_from_report(report, scale):
    """Return the tail class ids of a ``runespoor eval`` report.json at ``scale``."""
    tails = report.get('tail_classes') or {}
    entry = tails.get(str(scale), tails.get(scale))
    if entry is None:
        raise ValueError(f'report has no tail classes at x{scale} (has {sorted(tails)})')
    if isinstance(entry, dict):
        entry = entry.get('ids', entry.get('names'))
    return [CLASS_NAMES.index(c) if isinstance(c, str) else int(c) for c in entry]


def tail_value(ious, classes):
    """Mean IoU over ``classes`` (undefined entries skipped); None without any defined."""
    vals = [ious[i] for i in classes if i < len(ious) and _finite(ious[i])]
    return sum(vals) / len(vals) if vals else None


def curve(val_records, tail_classes, step0=None):
    """
    Return the plotted series of one run.

    ``{'step', 'tail', 'miou', 'bilinear_miou', 'psnr', 'psnr_bilinear'}``: lists, None where
    a record lacks the number.

    ``step0``: the validation dict of the initial model, put at step 0.
    """
    points = ([(0, step0)] if step0 is not None else []) + list(val_records)
    out = {k: [] for k in ('step', 'tail', 'miou', 'bilinear_miou', 'psnr', 'psnr_bilinear')}
    for step, val in points:
        out['step'].append(int(step))
        ious = val.get('iou')
        out['tail'].append(tail_value(ious, tail_classes) if ious else None)
        for key in ('miou', 'bilinear_miou', 'psnr', 'psnr_bilinear'):
            v = val.get(key)
            out[key].append(float(v) if _finite(v) else None)
    return out


def _xy(steps, values, scale=1.0):
    pts = [(s, v * scale) for s, v in zip(steps, values) if v is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot(runs, out_png, tail_classes, tail_note, title=None):
    """
    Draw ``runs`` (``[(label, curve dict, training records)]``) into ``out_png``.

    Panels: tail mIoU, overall mIoU (bilinear dotted), PSNR (bilinear dotted) and, when any run
    logged it, the analytics term's share of the objective.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    share = any(any('analytics_share' in r for r in train) for _, _, train in runs)
    n = 4 if share else 3
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6))
    names = ', '.join(CLASS_NAMES[i] for i in tail_classes)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for k, (label, c, train) in enumerate(runs):
        col = colours[k % len(colours)]
        for ax, key in ((axes[0], 'tail'), (axes[1], 'miou'), (axes[2], 'psnr')):
            x, y = _xy(c['step'], c[key], 1.0 if key == 'psnr' else 100.0)
            if x:
                ax.plot(x, y, 'o-', color=col, label=label, ms=3)
        for ax, key, scale in ((axes[1], 'bilinear_miou', 100.0),
                               (axes[2], 'psnr_bilinear', 1.0)):
            x, y = _xy(c['step'], c[key], scale)
            if x and k == 0:
                ax.plot(x, y, ':', color='grey', label='bilinear')
        if share:
            x = [r['step'] for r in train if 'analytics_share' in r]
            y = [r['analytics_share'] for r in train if 'analytics_share' in r]
            if x:
                axes[3].plot(x, y, '-', color=col, label=label, lw=1)
    axes[0].set_title('val tail-class mIoU (%)', fontsize=9)
    axes[1].set_title('val overall mIoU (%)', fontsize=9)
    axes[2].set_title('val PSNR (dB)', fontsize=9)
    for ax, key in ((axes[0], 'tail'), (axes[1], 'miou')):
        if not any(any(v is not None for v in c[key]) for _, c, _ in runs):
            ax.text(0.5, 0.5, 'no mIoU in these validation\nrecords (base SR without\n'
                    'a --seg judge: PSNR only)', ha='center', va='center',
                    transform=ax.transAxes, fontsize=8)
    if share:
        axes[3].set_title('training: analytics share of Eq. 3', fontsize=9)
        axes[3].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.suptitle((title + '\n' if title else '') + f'tail classes ({tail_note}): {names}',
                 fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def main(argv=None):
    """Plot the runs named on the command line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('runs', nargs='+',
                   help='run folders or log.jsonl files (LABEL=PATH to name one, PATH@N to '
                        'shift its steps by N)')
    p.add_argument('--out', required=True, help='PNG to write')
    p.add_argument('--json', help='also write the plotted numbers here')
    p.add_argument('--tail-classes', help='comma-separated class names of the tail set')
    p.add_argument('--tail-from', help='runespoor eval report.json whose tail set to use')
    p.add_argument('--scale', type=int, default=4, help='scale of --tail-from (default 4)')
    p.add_argument('--step0', help='metrics.json of the initial model (plotted at step 0)')
    p.add_argument('--title')
    args = p.parse_args(argv)
    runs = []
    for spec in args.runs:
        label, path, offset = parse_run_spec(spec)
        records = read_records(path)
        vals = [(step + offset, v) for step, v in validation_records(records)]
        train = [dict(r, step=r['step'] + offset) for r in training_records(records)]
        runs.append((label, vals, train))
    step0 = None
    if args.step0:
        with open(args.step0) as f:
            step0 = json.load(f).get('metrics') or None
    if args.tail_classes:
        tail, note = class_indices(args.tail_classes), 'given'
    elif args.tail_from:
        with open(args.tail_from) as f:
            tail = tail_from_report(json.load(f), args.scale)
        note = f'x{args.scale} tail set of {os.path.basename(os.path.dirname(args.tail_from))}'
    else:
        first = next((v for _, vals, _ in runs for _, v in vals if v.get('iou')), None)
        if first is None and step0 and step0.get('iou'):
            first = step0
        tail = worst_half(first['iou']) if first else []
        note = 'worst half of the first validation'
    curves = [(label, curve(vals, tail, step0), train) for label, vals, train in runs]
    plot(curves, args.out, tail, note, args.title)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'tail_classes': [CLASS_NAMES[i] for i in tail], 'tail_note': note,
                       'runs': {label: c for label, c, _ in curves}}, f, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
