# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""scripts/plot_training_curves.py and the table logic of scripts/sweep_asr_beta.py (fast)."""

import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))


def _script(name):
    path = os.path.join(REPO, 'scripts', name + '.py')
    if not os.path.exists(path):
        pytest.skip(f'{path} not in this checkout (package installed alone)')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ious(values):
    return list(values) + [None] * (19 - len(values))


def _log(tmp_path, resumed=False):
    """Write a fine-tuning log: training records every 10 steps, validation every 20."""
    lines = []
    for step in range(10, 61, 10):
        lines.append({'step': step, 'l1': 0.04, 'ce': 2.0, 'alpha_l1': 0.038,
                      'beta_analytics': 0.1 - step / 1000, 'analytics_share': 0.7 - step / 1000})
        if step % 20 == 0:
            ious = _ious([0.9, 0.5, 0.1 + step / 1000, 0.2])
            lines.append({'step': step, 'val': {'psnr': 25.0 + step / 100,
                                                'psnr_bilinear': 25.0,
                                                'miou': 0.3 + step / 1000,
                                                'bilinear_miou': 0.33, 'iou': ious}})
    if resumed:  # a resume logs step 60 again: the later record wins
        lines.append({'step': 60, 'val': {'psnr': 30.0, 'miou': 0.5, 'iou': _ious([1, 1, 1, 1])}})
        lines.append({'step': 60, 'alpha_l1': 0.01, 'beta_analytics': 0.01, 'analytics_share': 0.5,
                      'l1': 0.01, 'ce': 1.0})
    path = tmp_path / 'run' / 'log.jsonl'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(json.dumps(r) for r in lines) + '\n')
    return path


def test_curve_points_and_fixed_tail_set(tmp_path):
    m = _script('plot_training_curves')
    records = m.read_records(str(_log(tmp_path).parent))
    vals = m.validation_records(records)
    assert [s for s, _ in vals] == [20, 40, 60]
    tail = m.class_indices('sidewalk,building')
    c = m.curve(vals, tail, step0={'psnr': 24.0, 'miou': 0.2, 'iou': _ious([0.8, 0.3, 0.1])})
    assert c['step'] == [0, 20, 40, 60]
    assert c['tail'][0] == pytest.approx(0.2)
    assert c['tail'][1] == pytest.approx((0.5 + 0.12) / 2)
    assert c['bilinear_miou'][0] is None and c['bilinear_miou'][1] == pytest.approx(0.33)
    # worst half of the defined classes only (None = undefined), ties in id order
    assert m.worst_half(_ious([0.9, 0.5, 0.1, 0.2]), fraction=4 / 19) == [2, 3, 1, 0][:4]
    assert m.tail_from_report({'tail_classes': {'4': ['road', 'bus']}}, 4) == [0, 15]
    with pytest.raises(ValueError):
        m.class_indices('roadd')


def test_resumed_step_keeps_the_later_record(tmp_path):
    m = _script('plot_training_curves')
    records = m.read_records(str(_log(tmp_path, resumed=True)))
    vals = dict(m.validation_records(records))
    assert vals[60]['miou'] == 0.5
    assert m.training_records(records)[-1]['analytics_share'] == 0.5


def test_plot_writes_png_with_and_without_miou(tmp_path):
    pytest.importorskip('matplotlib')
    m = _script('plot_training_curves')
    log = _log(tmp_path)
    out = tmp_path / 'curves.png'
    assert m.main([f'asr={log.parent}', '--out', str(out), '--json',
                   str(tmp_path / 'c.json')]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    doc = json.loads((tmp_path / 'c.json').read_text())
    # default tail set: worst half (9) of the first record's classes; only 4 are defined
    assert doc['tail_classes'] == ['building', 'wall', 'sidewalk', 'road']
    assert doc['runs']['asr']['step'] == [20, 40, 60]
    # a fine-tuning run drawn after its base SR run: PATH@N shifts its steps
    assert m.main([f'asr={log.parent}@600', '--out', str(out), '--json',
                   str(tmp_path / 'c.json')]) == 0
    assert json.loads((tmp_path / 'c.json').read_text())['runs']['asr']['step'] == [620, 640, 660]
    assert m.parse_run_spec('out/x@home') == ('x@home', 'out/x@home', 0)
    assert m.parse_run_spec('a=out/r@12') == ('a', 'out/r', 12)
    sr_log = tmp_path / 'sr' / 'log.jsonl'  # base SR: PSNR-only validation
    sr_log.parent.mkdir()
    sr_log.write_text('\n'.join(json.dumps(r) for r in [
        {'step': 10, 'l1': 0.05}, {'step': 10, 'val': {'psnr': 25.0, 'psnr_bilinear': 24.0}}]))
    assert m.main([str(sr_log), '--out', str(tmp_path / 'sr.png'),
                   '--tail-classes', 'pole']) == 0
    assert (tmp_path / 'sr.png').stat().st_size > 1000


def test_sweep_balance_rows_and_rule(tmp_path):
    s = _script('sweep_asr_beta')
    records = s.read_log(str(_log(tmp_path, resumed=True)))
    bal = s.loss_balance(records, last=2)
    assert bal['steps'] == [50, 60]
    assert bal['analytics_share'] == pytest.approx((0.65 + 0.5) / 2)
    report = {'rows': [{'method': 'asr', 'scale': 4, 'quality': 90, 'tail_miou': 0.1,
                        'miou': 0.3, 'tail_normalised': 0.5, 'miou_normalised': 0.6,
                        'psnr': 25.0, 'grid': 1.0},
                       {'method': 'asr', 'scale': 2, 'quality': 90, 'tail_miou': 0.9}],
              'hr': {'miou': 0.5, 'tail_miou_per_scale': {'4': 0.2}}}
    rows = s.report_rows(report)
    assert rows['asr']['tail'] == 0.1 and rows['hr'] == {'miou': 0.5, 'tail': 0.2}
    sr = {'reference': {'tail': 0.1, 'psnr': 26.0, 'grid': 0.5}, 'heldout': {'tail': 0.0}}

    def run(tail_ref, tail_held, psnr, grid):
        return {'reference': {'tail': tail_ref, 'psnr': psnr, 'grid': grid},
                'heldout': {'tail': tail_held, 'psnr': None, 'grid': None}, 'sr': sr}
    # the best mean tail (0.05) paints a checkerboard: not eligible; 0.02 is
    rule = s.choose({'0.05': run(0.3, 0.3, 25.5, 5.0), '0.02': run(0.2, 0.1, 25.5, 0.9),
                     '0.001': run(0.1, 0.1, 26.0, 0.4)})
    assert rule['beta'] == '0.02' and rule['eligible']
    assert rule['eligible_by_beta'] == {'0.05': False, '0.02': True, '0.001': True}
    # nothing eligible: the best mean tail, flagged
    rule = s.choose({'0.05': run(0.3, 0.3, 20.0, 5.0), '0.02': run(0.2, 0.1, 25.5, 9.0)})
    assert rule['beta'] == '0.05' and not rule['eligible']


def test_sweep_train_command_alpha_is_one_minus_beta(monkeypatch):
    s = _script('sweep_asr_beta')
    monkeypatch.setenv('STEPS', '7')
    args = s.train_command('0.005', resume='out/x/last.pt')
    assert args[args.index('--alpha') + 1] == '0.995'
    assert args[args.index('--beta') + 1] == '0.005'
    assert args[args.index('--steps') + 1] == '7'
    assert args[-2:] == ['--resume', 'out/x/last.pt']
    assert '--analytics-target' not in args and s.run_dir('0.005').endswith('beta_0.005')


def test_sweep_run_spec_names_loss_options(monkeypatch):
    s = _script('sweep_asr_beta')
    assert s.parse_spec('0.05') == ('0.05', 'label', 0)
    assert s.parse_spec('0.02:hr:8') == ('0.02', 'hr', 8)
    assert s.run_dir('0.02:hr:8', out='o') == os.path.join('o', 'beta_0.02_hr_j8')
    assert s.run_name('0.05:label:0') == 'beta_0.05'      # the paper's loss keeps its name
    args = s.train_command('0.02:hr:8')
    assert args[args.index('--analytics-target') + 1] == 'hr'
    assert args[args.index('--judge-jitter') + 1] == '8'
    assert args[args.index('--beta') + 1] == '0.02'
    for bad in ('x', '2', '0.05:gt', '0.05:hr:-1', '0.05:hr:8:1:9'):
        with pytest.raises(ValueError):
            s.parse_spec(bad)


def test_sweep_cloudseg_baseline_run(tmp_path, monkeypatch):
    s = _script('sweep_asr_beta')
    args = s.train_command('cloudseg')
    assert args[:3] == ['runespoor', 'train', 'cloudseg'] and '--beta' not in args
    assert s.run_dir('cloudseg', out='o') == os.path.join('o', 'cloudseg')
    monkeypatch.setenv('OUT', str(tmp_path))
    text = open(s.eval_config('reference', 'cloudseg')).read()
    assert 'methods: [bilinear, sr, cloudseg]' in text
    assert f'cloudseg: {tmp_path}/cloudseg/cloudseg_x{{scale}}.pt' in text
    assert '\n  asr:' not in text


def test_sweep_run_spec_with_grid_weight():
    s = _script('sweep_asr_beta')
    assert s.run_name('0.05:hr:8:1') == 'beta_0.05_hr_j8_g1'
    assert s.run_name('0.05:label:0:0.5') == 'beta_0.05_label_j0_g0.5'
    assert s.run_name('0.05:hr:8:0') == 'beta_0.05_hr_j8'        # no grid term: old name
    args = s.train_command('0.05:hr:8:1')
    assert args[args.index('--grid-weight') + 1] == '1'
    assert '--grid-weight' not in s.train_command('0.05:hr:8')
    with pytest.raises(ValueError):
        s.run_name('0.05:hr:8:-1')


def test_sweep_markdown_table():
    s = _script('sweep_asr_beta')
    row = {'tail': 0.1, 'miou': 0.35, 'tail_hr': 0.4, 'miou_hr': 0.7, 'psnr': 26.0, 'grid': 0.5}
    doc = {'baselines': {'reference': {'bilinear': dict(row, tail=0.05), 'sr': row},
                         'heldout': {'bilinear': dict(row, psnr=None, grid=None),
                                     'sr': dict(row, psnr=None, grid=None)}},
           'runs': {'0.05:hr:8:1': {'method': 'asr', 'beta': 0.05, 'target': 'hr', 'jitter': 8,
                                    'grid_weight': 1.0,
                                    'balance': {'alpha_l1': 0.04, 'beta_analytics': 0.05,
                                                'analytics_share': 0.55},
                                    'judges': {'reference': dict(row, tail=0.12)}},
                    'cloudseg': {'method': 'cloudseg', 'judges': {}}}}
    lines = s.markdown(doc).splitlines()
    assert len(lines) == 2 + 2 + 2 and lines[2].startswith('| bilinear | — | — | 5.00 |')
    assert lines[4].startswith('| ASR β = 0.05, HR target, jitter 8, grid 1 | 0.0400 / 0.0500 '
                               '| 0.55 | 12.00 |')
    assert lines[4].endswith('| 26.00 | 0.50 |') and '| — | — | — / — |' in lines[4]
    assert lines[5].startswith('| CloudSeg (same recipe) |')


def test_sweep_cloudseg_with_grid_term():
    s = _script('sweep_asr_beta')
    assert s.run_name('cloudseg:4') == 'cloudseg_g4' and s.method_of('cloudseg:4') == 'cloudseg'
    args = s.train_command('cloudseg:4')
    assert args[2] == 'cloudseg' and args[args.index('--grid-weight') + 1] == '4'
    assert '--analytics-target' not in args
    with pytest.raises(ValueError):
        s.run_name('cloudseg:hr:8')


def test_sweep_at_another_scale(tmp_path, monkeypatch):
    monkeypatch.setenv('SCALE', '8')
    s = _script('sweep_asr_beta')
    assert s.SCALE == 8 and s.run_dir('0.05:hr:8:16').startswith('out/asr_sweep_x8')
    args = s.train_command('0.05:hr:8:16')
    assert args[args.index('--scale') + 1] == '8'
    assert args[args.index('--init') + 1] == 'models/sr/sr_x8.pt'
    assert args[args.index('--grid-weight') + 1] == '16'
    monkeypatch.setenv('OUT', str(tmp_path))
    text = open(s.eval_config('heldout', '0.05:hr:8:16')).read()
    assert '\nscales: [8]' in text and '\nclass_scale: 8' in text
    assert '\nframewise_scales: [8]' in text and '[4]' not in text
    report = {'rows': [{'scale': 4, 'quality': 90, 'method': 'asr', 'tail_miou': 0.1},
                       {'scale': 8, 'quality': 90, 'method': 'asr', 'tail_miou': 0.05}]}
    assert s.report_rows(report)['asr']['tail'] == 0.05
    monkeypatch.setenv('SCALE', '3')
    with pytest.raises(SystemExit):
        _script('sweep_asr_beta')
