# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""`runespoor eval` end to end on a tiny Cityscapes-layout set with tiny untrained models."""

import json
import os

import pytest
from runespoor.cli import main
import yaml

SCALES = (2, 4, 6, 8)
SR_METHODS = ('sr', 'cloudseg', 'asr')


def _write_dataset(root, n=4):
    """Write ``n`` synthetic val frames of 128x64 in Cityscapes layout."""
    from runespoor.data.synth import generate
    generate(root, size=(128, 64), seed=0, n_train=0, n_val=n, n_sequences=0, n_clips=0)


def _write_models(models, methods=SR_METHODS, scales=SCALES):
    import torch
    from runespoor.archs import build_seg, build_sr
    from runespoor.checkpoint import save_checkpoint
    torch.manual_seed(0)
    seg_kwargs = {'widths': [8, 16, 16, 16], 'decoder_channels': 8}
    save_checkpoint(os.path.join(models, 'seg.pt'), build_seg('swiftnet_r18', **seg_kwargs),
                    {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18',
                     'arch_kwargs': seg_kwargs})
    sr_kwargs = {'channels': 4, 'blocks': 1}
    for method in methods:
        for scale in scales:
            save_checkpoint(os.path.join(models, f'{method}_x{scale}.pt'),
                            build_sr('carn', scale, **sr_kwargs),
                            {'kind': 'sr', 'method': method, 'arch': 'carn',
                             'arch_kwargs': sr_kwargs, 'scale': scale})


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only fight over the 2 CI cores
    base = tmp_path_factory.mktemp('eval')
    _write_dataset(str(base / 'data'))
    _write_models(str(base / 'models'))
    yield base
    torch.set_num_threads(threads)


def _config(base, **overrides):
    config = {
        'dataset': {'root': str(base / 'data'), 'split': 'val'},
        'segmentation': {'checkpoint': str(base / 'models' / 'seg.pt')},
        'checkpoints': {m: str(base / 'models' / (m + '_x{scale}.pt')) for m in SR_METHODS},
        'scales': list(SCALES), 'qualities': [90], 'episode_length': 2,
        'framewise_scales': [4], 'device': 'cpu',
    }
    config.update(overrides)
    path = base / f'config_{len(os.listdir(base))}.yaml'
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_report_has_every_method_and_scale_and_rerun_uses_cache(workspace, capsys):
    out = workspace / 'out'
    config = _config(workspace)
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    report = json.loads((out / 'report.json').read_text())
    rows = {(r['method'], r['scale']) for r in report['rows']}
    assert rows == {(m, s) for m in ('bilinear', 'sr', 'cloudseg', 'asr') for s in SCALES}
    assert report['dataset']['frames'] == 4
    assert report['frames_computed'] == 4 * (1 + 4 * len(SCALES))
    for r in report['rows']:
        assert 0.0 <= r['miou'] <= 1.0
        assert r['psnr'] > 0 and 0.0 < r['ssim'] <= 1.0
        assert r['grid'] >= 0.0 and (r['grid'] == 0.0) == (r['method'] == 'bilinear')
        assert r['bytes_per_frame'] > 0 and r['mbps'] > 0
        assert r['framewise']['episodes'] == 2
    assert report['hr']['psnr'] is None  # undefined for the originals
    assert len(report['tail_classes']['4']) <= 9
    assert report['models']['segmentation']['sha256']
    assert set(report['models']['sr']) == {f'{m}_x{s}' for m in SR_METHODS for s in SCALES}
    for fig in report['figures']:
        assert (out / fig['file']).stat().st_size > 0
    assert {'fig9_classwise_x4.png', 'fig14_accuracy_bandwidth.png',
            'fig13_framewise_x4.png'} <= {f['file'] for f in report['figures']}
    md = (out / 'report.md').read_text()
    for heading in ('Table 2', 'Table 3', 'Table 4', 'Table 5', 'sha256', 'torch',
                    'Checkerboard guard'):
        assert heading in md
    assert '[66.92]' in md  # the paper's ASR tail accuracy at x4 is quoted beside ours

    # Same config again: everything comes from the cache and the numbers are identical.
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    again = json.loads((out / 'report.json').read_text())
    assert again['frames_computed'] == 0
    assert again['rows'] == report['rows']


def test_missing_checkpoint_is_named_or_skipped(workspace, capsys):
    checkpoints = {'sr': str(workspace / 'models' / 'sr_x{scale}.pt'),
                   'asr': str(workspace / 'nowhere' / 'asr_x{scale}.pt')}
    config = _config(workspace, methods=['bilinear', 'sr', 'asr'], scales=[4],
                     checkpoints=checkpoints)
    out = workspace / 'out_missing'
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 2
    assert str(workspace / 'nowhere' / 'asr_x4.pt') in capsys.readouterr().err

    config = _config(workspace, methods=['bilinear', 'sr', 'asr'], scales=[4],
                     checkpoints=checkpoints, skip_missing=True, image_metrics=False)
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    report = json.loads((out / 'report.json').read_text())
    assert {r['method'] for r in report['rows']} == {'bilinear', 'sr'}
    assert report['skipped'][0]['method'] == 'asr'
    assert 'Skipped' in (out / 'report.md').read_text()


def test_bad_config_is_a_clear_error(workspace, capsys):
    config = _config(workspace, methods=['bilinear', 'magic'])
    assert main(['eval', '--config', config, '--out', str(workspace / 'o'), '--no-progress']) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err
