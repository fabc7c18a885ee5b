#!/usr/bin/env python3
"""
The Eq. 3 balance sweep of ASR at x4, 512x256 demo scale (issue 12, item 3).

Three steps, each resumable::

    python scripts/sweep_asr_beta.py train 0.05 0.005      # one lane of runs, one after another
    python scripts/sweep_asr_beta.py eval 0.05 0.02 0.005 0.001
    python scripts/sweep_asr_beta.py table 0.05 0.02 0.005 0.001 \
        > results/asr_beta_sweep/sweep.json

``train BETA...`` fine-tunes ``models/sr/sr_x4.pt`` with ASR (alpha = 1 - beta) against the
frozen reference model ``models/seg/swiftnet_r18_lite.pt`` into ``$OUT/beta_<BETA>/``; a run
with a ``last.pt`` and no final ``asr_x4.pt`` is resumed, a finished one is skipped.  The data
root (``$DATA``) holds the train split and, as ``val``, the *tune* split (not the evaluation
split): validation during training is on it.  ``eval BETA...`` runs ``runespoor eval`` on the
tune split through both judges (the reference model and the held-out one) with bilinear, sr and
the run's ASR, one output folder per judge and beta (the cache makes bilinear / sr / HR run
once).  ``table BETA...`` prints one JSON document: per beta the loss balance (mean of the last
``--last`` logged steps), per judge tail / overall mIoU (and / HR), PSNR, checkerboard, and the
choice by the rule in :func:`choose`.

A run is named by its beta, or ``BETA:TARGET[:JITTER[:GRID]]`` for the loss options beyond the
paper (``runespoor train asr --analytics-target TARGET --judge-jitter JITTER --grid-weight
GRID``): ``0.05:hr:8`` is beta 0.05 with the HR-prediction target and an 8-pixel judge jitter,
in ``$OUT/beta_0.05_hr_j8/``; ``0.05:hr:8:1`` adds the grid term with weight 1, in
``$OUT/beta_0.05_hr_j8_g1/``.  A plain beta is the paper's Eq. 3 (label target, no jitter).
The run ``cloudseg`` is the
CloudSeg baseline (paper Eq. 2, its default weights) fine-tuned with the same recipe from the
same base SR, in ``$OUT/cloudseg/`` (``cloudseg:GRID`` with the grid term, in
``$OUT/cloudseg_gGRID/``): a row of the table, never chosen by the rule.

``SCALE=6`` (or 2, 8) runs the same at another scale: base SR ``models/sr/sr_x<S>.pt``, the tune
configs' scales set to it, output in ``out/asr_sweep_x<S>`` (the per-scale grid-weight check).

Settings from the environment: ``SCALE`` (4), ``DATA`` (data/asr_sweep), ``OUT``
(out/asr_sweep), ``STEPS`` (120), ``BATCH`` (4), ``LR`` (1e-4), ``SEED`` (0), ``VAL_EVERY``
(20), ``VAL_BATCHES`` (20), ``CKPT_EVERY`` (20), ``THREADS`` (1), ``NICE`` (19), ``DEVICE``
(cpu).
"""

import argparse
import json
import math
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The scale of the sweep (``SCALE``; 4 unless said): the base SR ``models/sr/sr_x<S>.pt``, the
#: eval configs' ``scales`` / ``class_scale`` / ``framewise_scales``, the table's rows.
SCALE = int(os.environ.get('SCALE', '4'))
if SCALE not in (2, 4, 6, 8):
    raise SystemExit(f'SCALE={SCALE}: the shipped SR models are x2, x4, x6, x8')
#: Default output folder: out/asr_sweep at x4 (the committed sweeps), out/asr_sweep_x<S> else.
DEFAULT_OUT = 'out/asr_sweep' if SCALE == 4 else f'out/asr_sweep_x{SCALE}'
JUDGES = {
    'reference': 'ros2_ws/src/runespoor/config/eval/asr_beta_sweep_tune.yaml',
    'heldout': 'ros2_ws/src/runespoor/config/eval/asr_beta_sweep_tune_heldout.yaml',
}
#: The checkpoint path of the committed eval configs, replaced per beta.
CONFIG_ASR_PATH = 'out/asr_sweep/beta_0.05/asr_x{scale}.pt'


def env(name, default):
    """Return the environment setting ``name`` or ``default``."""
    return os.environ.get(name, default)


#: Runs that are baselines fine-tuned with the sweep's recipe, not ASR variants.
BASELINE_RUNS = ('cloudseg',)


def method_of(spec):
    """Return the fine-tuning method of a run: ``cloudseg`` for that baseline, else ``asr``."""
    return 'cloudseg' if str(spec).split(':')[0] in BASELINE_RUNS else 'asr'


def parse_spec(spec):
    """
    Split a run name ``BETA[:TARGET[:JITTER]]`` into ``(beta, target, jitter)``.

    ``beta`` stays the string given (it names folders); ``target`` is 'label' or 'hr' (default
    'label'), ``jitter`` an int >= 0 (default 0).  A fourth field, the grid weight, is read by
    :func:`grid_of`.  Raises ``ValueError`` on anything else.
    """
    if method_of(spec) != 'asr':
        grid_of(spec)
        return str(spec).split(':')[0], 'label', 0
    parts = str(spec).split(':')
    if not 1 <= len(parts) <= 4:
        raise ValueError(f'run {spec!r}: expected BETA[:TARGET[:JITTER[:GRID]]]')
    beta = parts[0]
    b = float(beta)
    if not 0.0 <= b <= 1.0:
        raise ValueError(f'run {spec!r}: beta must be in [0, 1]')
    target = parts[1] if len(parts) > 1 and parts[1] else 'label'
    if target not in ('label', 'hr'):
        raise ValueError(f'run {spec!r}: target must be label or hr')
    jitter = int(parts[2]) if len(parts) > 2 else 0
    if jitter < 0:
        raise ValueError(f'run {spec!r}: jitter must be >= 0')
    return beta, target, jitter


def grid_of(spec):
    """Return the grid weight of a run name (its fourth field, a baseline's second; or '0')."""
    parts = str(spec).split(':')
    at = 1 if method_of(spec) != 'asr' else 3
    if at == 1 and len(parts) > 2:
        raise ValueError(f'run {spec!r}: expected {parts[0]}[:GRID]')
    grid = parts[at] if len(parts) > at else '0'
    if not float(grid) >= 0:
        raise ValueError(f'run {spec!r}: the grid weight must be >= 0')
    return grid


def run_name(spec):
    """Return the folder name of a run: ``beta_B`` (paper loss) or ``beta_B_TARGET_jJ``."""
    beta, target, jitter = parse_spec(spec)
    grid = grid_of(spec)
    if method_of(spec) != 'asr':
        return beta + (f'_g{grid}' if float(grid) else '')
    if target == 'label' and jitter == 0 and float(grid) == 0:
        return f'beta_{beta}'
    name = f'beta_{beta}_{target}_j{jitter}'
    return name + (f'_g{grid}' if float(grid) else '')


def run_dir(beta, out=None):
    """Return the output folder of the run named ``beta`` (a run spec, see :func:`parse_spec`)."""
    return os.path.join(out or env('OUT', DEFAULT_OUT), run_name(beta))


def train_command(spec, resume=None):
    """Return the ``runespoor train asr`` (or ``cloudseg``) argument list of one sweep run."""
    beta, target, jitter = parse_spec(spec)
    method = method_of(spec)
    args = ['runespoor', 'train', method, '--data', env('DATA', 'data/asr_sweep'),
            '--out', run_dir(spec), '--scale', str(SCALE),
            '--init', f'models/sr/sr_x{SCALE}.pt', '--seg', 'models/seg/swiftnet_r18_lite.pt',
            '--steps', env('STEPS', '120'), '--batch', env('BATCH', '4'),
            '--lr', env('LR', '1e-4'), '--seed', env('SEED', '0'),
            '--device', env('DEVICE', 'cpu'),
            '--threads', env('THREADS', '1'), '--val-every', env('VAL_EVERY', '20'),
            '--val-batches', env('VAL_BATCHES', '20'),
            '--checkpoint-every', env('CKPT_EVERY', '20'), '--no-progress']
    if method == 'asr':
        b = float(beta)
        args += ['--alpha', f'{1.0 - b:.6g}', '--beta', f'{b:.6g}']
    if target != 'label' or jitter:
        args += ['--analytics-target', target, '--judge-jitter', str(jitter)]
    if float(grid_of(spec)):
        args += ['--grid-weight', grid_of(spec)]
    if resume:
        args += ['--resume', resume]
    return args


def _run(args):
    nice = env('NICE', '19')
    full = (['nice', '-n', nice] if nice != '0' else []) + args
    print('+ ' + ' '.join(shlex.quote(a) for a in full), flush=True)
    threads = env('THREADS', '1')
    child = dict(os.environ, PYTHONUNBUFFERED='1')
    if threads != '0':
        child.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    return subprocess.call(full, cwd=ROOT, env=child)


def cmd_train(betas):
    """Train (or resume, or skip) the run of each beta in turn."""
    for beta in betas:
        out = run_dir(beta)
        final = os.path.join(ROOT, out, f'{method_of(beta)}_x{SCALE}.pt')
        last = os.path.join(ROOT, out, 'last.pt')
        if os.path.exists(final):
            print(f'{out}: finished, skipped', flush=True)
            continue
        rc = _run(train_command(beta, resume=os.path.join(out, 'last.pt')
                                if os.path.exists(last) else None))
        if rc:
            return rc
    return 0


def eval_config(judge, beta):
    """Write the eval config of ``judge`` for the run of ``beta``; return its path."""
    with open(os.path.join(ROOT, JUDGES[judge])) as f:
        text = f.read()
    if CONFIG_ASR_PATH not in text:
        raise SystemExit(f'{JUDGES[judge]}: no {CONFIG_ASR_PATH} to replace')
    method = method_of(beta)
    text = text.replace(CONFIG_ASR_PATH, os.path.join(run_dir(beta), method + '_x{scale}.pt'))
    if SCALE != 4:  # the committed tune configs are the x4 sweep's
        for key in ('scales', 'class_scale', 'framewise_scales'):
            old = f'\n{key}: [4]' if key != 'class_scale' else f'\n{key}: 4'
            if old not in text:
                raise SystemExit(f'{JUDGES[judge]}: no "{old.strip()}" to replace')
            text = text.replace(old, old.replace('4', str(SCALE)))
    if method != 'asr':
        if 'methods: [bilinear, sr, asr]' not in text:
            raise SystemExit(f'{JUDGES[judge]}: no "methods: [bilinear, sr, asr]" to replace')
        text = text.replace('methods: [bilinear, sr, asr]', f'methods: [bilinear, sr, {method}]')
        text = text.replace('\n  asr: ', f'\n  {method}: ')
    path = os.path.join(env('OUT', DEFAULT_OUT), 'eval_configs',
                        f'{judge}_{run_name(beta)}.yaml')
    os.makedirs(os.path.join(ROOT, os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(ROOT, path), 'w') as f:
        f.write(text)
    return path


def eval_dir(judge, beta):
    """Return the report folder of ``judge`` for the run of ``beta``."""
    return os.path.join(env('OUT', DEFAULT_OUT), 'eval', f'{judge}_{run_name(beta)}')


def cmd_eval(betas, judges):
    """Evaluate each finished run through each judge on the tune split."""
    for beta in betas:
        for judge in judges:
            if os.path.exists(os.path.join(ROOT, eval_dir(judge, beta), 'report.json')):
                print(f'{eval_dir(judge, beta)}: done, skipped', flush=True)
                continue
            rc = _run(['runespoor', 'eval', '--config', eval_config(judge, beta),
                       '--out', eval_dir(judge, beta), '--device', env('DEVICE', 'cpu'),
                       '--no-progress'])
            if rc:
                return rc
    return 0


# ---- the table (pure functions, tested in test_training_curves.py) -------------------------

def read_log(path):
    """Return the records of a ``log.jsonl`` (one JSON object a line; blank lines skipped)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def loss_balance(records, last=5):
    """
    Mean of the last ``last`` logged training steps' loss terms.

    Returns ``{'l1', 'ce', 'alpha_l1', 'beta_analytics', 'analytics_share', 'steps'}``: the
    raw and weighted terms of Eq. 3 and the analytics term's share of the objective, over the
    training records (those without ``val``) of the latest run segment of each step (a resumed
    run may log a step twice; the later record wins).
    """
    by_step = {}
    for r in records:
        if 'val' not in r and 'alpha_l1' in r:
            by_step[int(r['step'])] = r
    steps = sorted(by_step)[-last:]
    out = {'steps': steps}
    for key in ('l1', 'ce', 'alpha_l1', 'beta_analytics', 'analytics_share'):
        vals = [by_step[s][key] for s in steps if key in by_step[s]]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


def report_rows(report, scale=SCALE, quality=90):
    """
    Return ``{method: row}`` of a ``runespoor eval`` report.json at ``scale`` / ``quality``.

    A row: ``tail``, ``miou`` (fractions 0-1), ``tail_hr``, ``miou_hr`` (normalised to HR),
    ``psnr``, ``grid``; plus ``'hr'``: HR's ``miou`` and its ``tail`` on the same tail classes.
    """
    out = {}
    for row in report['rows']:
        if int(row['scale']) != scale or int(row['quality']) != quality:
            continue
        out[row['method']] = {'tail': row.get('tail_miou'), 'miou': row.get('miou'),
                              'tail_hr': row.get('tail_normalised'),
                              'miou_hr': row.get('miou_normalised'),
                              'psnr': row.get('psnr'), 'grid': row.get('grid')}
    hr = report.get('hr') or {}
    per_scale = hr.get('tail_miou_per_scale') or {}
    out['hr'] = {'miou': hr.get('miou'), 'tail': per_scale.get(str(scale))}
    return out


def _num(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def choose(rows, grid_factor=2.0, psnr_margin=1.0):
    """
    Pick the beta to ship by the rule fixed before the sweep was evaluated.

    ``rows``: ``{beta: {'reference': row, 'heldout': row, 'sr': {'reference': row, ...}}}``
    where each ``row`` has ``tail``, ``psnr``, ``grid``.  Eligible: checkerboard <= ``grid_factor``
    x standard SR's and PSNR >= standard SR's - ``psnr_margin`` dB (the issue's guards).  Among
    the eligible, the best mean of the tail mIoU over both judges; if none is eligible, the
    best mean tail over all, flagged ``eligible: False``.  Returns ``{'beta', 'eligible',
    'score', 'scores'}``.
    """
    scores, eligible = {}, {}
    for beta, r in rows.items():
        tails = [r[j]['tail'] for j in ('reference', 'heldout') if _num(r[j].get('tail'))]
        scores[beta] = sum(tails) / len(tails) if tails else float('-inf')
        sr = r['sr']['reference']
        ok = (_num(r['reference'].get('grid')) and _num(sr.get('grid'))
              and r['reference']['grid'] <= grid_factor * sr['grid']
              and _num(r['reference'].get('psnr')) and _num(sr.get('psnr'))
              and r['reference']['psnr'] >= sr['psnr'] - psnr_margin)
        eligible[beta] = bool(ok)
    pool = [b for b in rows if eligible[b]] or list(rows)
    best = max(pool, key=lambda b: scores[b])
    return {'beta': best, 'eligible': eligible[best], 'score': scores[best],
            'scores': scores, 'eligible_by_beta': eligible}


def cmd_table(betas, last):
    """Print the sweep's JSON: balance, both judges' rows per beta, baselines, the choice."""
    doc = {'scale': SCALE, 'quality': 90, 'runs': {}, 'baselines': {}}
    rows_for_rule = {}
    for beta in betas:
        b, target, jitter = parse_spec(beta)
        entry = {'method': 'asr', 'alpha': 1.0 - float(b), 'beta': float(b), 'target': target,
                 'jitter': jitter, 'grid_weight': float(grid_of(beta))} \
            if method_of(beta) == 'asr' else {'method': method_of(beta),
                                              'grid_weight': float(grid_of(beta))}
        log = os.path.join(ROOT, run_dir(beta), 'log.jsonl')
        if os.path.exists(log):
            records = read_log(log)
            entry['balance'] = loss_balance(records, last)
            entry['val'] = [dict(step=r['step'], **{k: v for k, v in r['val'].items()
                                                    if not isinstance(v, list)})
                            for r in records if 'val' in r]
        metrics = os.path.join(ROOT, run_dir(beta), 'metrics.json')
        if os.path.exists(metrics):
            with open(metrics) as f:
                m = json.load(f)
            entry.update(step=m['step'], train_time_s=m['train_time_s'], command=m['command'])
        judged = {}
        for judge in JUDGES:
            rep = os.path.join(ROOT, eval_dir(judge, beta), 'report.json')
            if not os.path.exists(rep):
                continue
            with open(rep) as f:
                rows = report_rows(json.load(f))
            judged[judge] = rows.get(method_of(beta))
            for method in ('bilinear', 'sr', 'hr'):
                doc['baselines'].setdefault(judge, {})[method] = rows.get(method)
        entry['judges'] = judged
        doc['runs'][str(beta)] = entry
        if method_of(beta) != 'asr':
            continue                     # a baseline's row, not a candidate of the rule
        if set(judged) == set(JUDGES) and all(judged.values()):
            rows_for_rule[str(beta)] = dict(judged, sr={j: doc['baselines'][j]['sr']
                                                        for j in JUDGES})
    if rows_for_rule:
        doc['choice'] = choose(rows_for_rule)
    json.dump(doc, sys.stdout, indent=1, default=str)
    print()
    return 0


def _pct(v):
    return f'{100 * v:.2f}' if _num(v) else '—'


def _ratio(v):
    return f'{v:.2f}' if _num(v) else '—'


def run_label(spec, entry):
    """Return the table's name of a run: the loss it used, in words."""
    if entry.get('method') != 'asr':
        grid = f', grid {entry["grid_weight"]:g}' if entry.get('grid_weight') else ''
        return f'CloudSeg (same recipe{grid})'
    text = f'ASR β = {entry["beta"]:g}'
    text += ', HR target' if entry.get('target') == 'hr' else ', label target'
    if entry.get('jitter'):
        text += f', jitter {entry["jitter"]}'
    if entry.get('grid_weight'):
        text += f', grid {entry["grid_weight"]:g}'
    return text


def markdown(doc):
    """Return the markdown table of a :func:`cmd_table` document (baselines, then the runs)."""
    head = ('| run | α·L1 / β·analytics | analytics share | ref. tail % | ref. mIoU % | '
            'ref. tail/HR / mIoU/HR | held-out tail % | held-out mIoU % | '
            'held-out tail/HR / mIoU/HR | PSNR dB | checkerboard |')
    lines = [head, '|' + '---|' * 11]

    def row(name, judged, balance=None):
        ref, held = judged.get('reference') or {}, judged.get('heldout') or {}
        bal = balance or {}
        terms = (f'{bal["alpha_l1"]:.4f} / {bal["beta_analytics"]:.4f}'
                 if _num(bal.get('alpha_l1')) and _num(bal.get('beta_analytics')) else '—')
        share = _ratio(bal.get('analytics_share'))
        psnr = f'{ref["psnr"]:.2f}' if _num(ref.get('psnr')) else '—'
        grid = f'{ref["grid"]:.2f}' if _num(ref.get('grid')) else '—'
        lines.append(f'| {name} | {terms} | {share} | {_pct(ref.get("tail"))} | '
                     f'{_pct(ref.get("miou"))} | {_ratio(ref.get("tail_hr"))} / '
                     f'{_ratio(ref.get("miou_hr"))} | {_pct(held.get("tail"))} | '
                     f'{_pct(held.get("miou"))} | {_ratio(held.get("tail_hr"))} / '
                     f'{_ratio(held.get("miou_hr"))} | {psnr} | {grid} |')

    base = doc.get('baselines', {})
    for method in ('bilinear', 'sr'):
        row('bilinear' if method == 'bilinear' else f'standard SR (`sr_x{doc.get("scale", 4)}`)',
            {j: base.get(j, {}).get(method) or {} for j in JUDGES})
    for spec, entry in doc.get('runs', {}).items():
        row(run_label(spec, entry), entry.get('judges', {}), entry.get('balance'))
    return '\n'.join(lines) + '\n'


def main(argv=None):
    """Run the sweep step named on the command line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('step', choices=('train', 'eval', 'table'))
    p.add_argument('betas', nargs='+')
    p.add_argument('--judges', nargs='+', default=list(JUDGES), choices=list(JUDGES))
    p.add_argument('--last', type=int, default=5, help='table: logged steps averaged')
    p.add_argument('--markdown', metavar='JSON',
                   help='table: print the markdown table of this earlier table JSON instead')
    args = p.parse_args(argv)
    os.chdir(ROOT)
    if args.step == 'train':
        return cmd_train(args.betas)
    if args.step == 'eval':
        return cmd_eval(args.betas, args.judges)
    if args.markdown:
        with open(args.markdown) as f:
            print(markdown(json.load(f)), end='')
        return 0
    return cmd_table(args.betas, args.last)


if __name__ == '__main__':
    sys.exit(main())
