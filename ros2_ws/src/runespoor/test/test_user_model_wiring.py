# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The user's own model reaches every place a model is used: ``runespoor eval`` and ``train asr``.

The same ``model:`` mapping (docs/user_models.md) goes in an eval config section, a YAML file
for ``runespoor train asr --analytics-model`` and the cloud node's ``analytics_model`` (tested
in runespoor_cloud).  Plain state dicts work where a checkpoint does, given the arch.
"""

import json
import os

import pytest
from runespoor.cli import main
import torch
import yaml


class TwentyClassSeg(torch.nn.Module):
    """A user's segmentation net: 20 outputs (the 20th "background"), a dict output."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 20, 3, padding=1)

    def forward(self, x):
        return {'out': self.conv(x)}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    from runespoor.archs import build_seg, build_sr
    from runespoor.checkpoint import save_checkpoint
    from runespoor.data.synth import generate
    base = tmp_path_factory.mktemp('wiring')
    generate(str(base / 'data'), size=(64, 32), seed=0, n_train=2, n_val=2, n_sequences=0,
             n_clips=0)
    torch.manual_seed(0)
    torch.jit.script(TwentyClassSeg()).save(str(base / 'user_seg.ts'))
    seg_kwargs = {'widths': [8, 16, 16, 16], 'decoder_channels': 8}
    seg = build_seg('swiftnet_r18', **seg_kwargs)
    torch.save(seg.state_dict(), str(base / 'plain_seg.pt'))  # a plain state dict
    sr_kwargs = {'channels': 4, 'blocks': 1}
    save_checkpoint(str(base / 'sr_x2.pt'), build_sr('carn', 2, **sr_kwargs),
                    {'kind': 'sr', 'method': 'sr', 'arch': 'carn', 'arch_kwargs': sr_kwargs,
                     'scale': 2})
    return base


def _spec(base):
    return {'torchscript': str(base / 'user_seg.ts'), 'num_classes': 20, 'output': 'out',
            'normalize': 'imagenet', 'class_map': {19: 'ignore', 'others': 'same'}}


def test_eval_runs_a_torchscript_model_with_a_class_map(workspace):
    config = workspace / 'eval.yaml'
    config.write_text(yaml.safe_dump({
        'dataset': {'root': str(workspace / 'data'), 'split': 'val'},
        'segmentation': {'model': _spec(workspace)},
        'methods': ['bilinear'], 'scales': [2], 'qualities': [90], 'episode_length': 1,
        'framewise_scales': [2], 'class_scale': 2, 'device': 'cpu'}))
    out = workspace / 'eval_out'
    assert main(['eval', '--config', str(config), '--out', str(out), '--no-progress']) == 0
    report = json.loads((out / 'report.json').read_text())
    model = report['models']['segmentation']
    assert model['source'] == 'torchscript' and model['path'] == str(workspace / 'user_seg.ts')
    # 19 classes scored (the 20th dropped by the class map), so the metrics accept the model
    assert len(report['hr']['per_class_iou']) == 19


def test_train_asr_with_an_analytics_model_file(workspace):
    spec_file = workspace / 'model.yaml'
    spec_file.write_text(yaml.safe_dump({'model': _spec(workspace)}))
    out = workspace / 'asr_user'
    assert main(['train', 'asr', '--data', 'random', '--scale', '2', '--crop', '32', '32',
                 '--steps', '1', '--batch', '2', '--device', 'cpu', '--no-progress',
                 '--init', str(workspace / 'sr_x2.pt'), '--analytics-model', str(spec_file),
                 '--out', str(out)]) == 0
    assert os.path.isfile(out / 'asr_x2.pt')


def test_train_asr_takes_a_plain_state_dict_with_its_arch(workspace, capsys):
    common = ['train', 'cloudseg', '--data', 'random', '--scale', '2', '--crop', '32', '32',
              '--steps', '1', '--batch', '2', '--device', 'cpu', '--no-progress',
              '--init', str(workspace / 'sr_x2.pt'), '--seg', str(workspace / 'plain_seg.pt')]
    assert main(common + ['--out', str(workspace / 'no_arch')]) == 1
    err = capsys.readouterr().err
    assert 'plain_seg.pt' in err and 'arch' in err
    spec_file = workspace / 'plain.yaml'
    spec_file.write_text(yaml.safe_dump({'arch': 'swiftnet_r18', 'weights': 'plain_seg.pt',
                                         'arch_kwargs': {'widths': [8, 16, 16, 16],
                                                         'decoder_channels': 8}}))
    assert main(common[:-2] + ['--analytics-model', str(spec_file),
                               '--out', str(workspace / 'plain_ok')]) == 0


def test_plain_sr_state_dicts_work_where_an_sr_checkpoint_does(workspace, capsys):
    from runespoor.archs import build_sr
    from runespoor.checkpoint import load_model
    from runespoor.reconstruct import Reconstructor
    torch.manual_seed(1)
    net = build_sr('carn_m', 2, channels=8, blocks=2).eval()
    sr_dir = workspace / 'plain_sr'
    sr_dir.mkdir()
    # what a user's own training script saves, here through DataParallel (module. prefix)
    torch.save({f'module.{k}': v for k, v in net.state_dict().items()}, sr_dir / 'asr_x2.pt')
    model, ckpt = load_model(str(sr_dir / 'asr_x2.pt'), kind='sr', method='asr', scale=2)
    cfg = ckpt['config']
    assert cfg['arch'] == 'carn_m' and cfg['method'] is None  # not recorded in a state dict
    assert cfg['arch_kwargs']['channels'] == 8 and cfg['arch_kwargs']['blocks'] == 2
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(lr), net(lr))
        # the cloud's and the evaluation's reconstruction, from an sr_dir of such files
        rec = Reconstructor('asr', checkpoint_dir=str(sr_dir))
        assert torch.allclose(rec(lr, 2), net(lr).clamp(0, 1), atol=1e-6)
    assert rec.info[2]['arch'] == 'carn_m'
    # or written as a checkpoint with its metadata
    conv = workspace / 'converted_x2.pt'
    assert main(['convert', 'sr', '--weights', str(sr_dir / 'asr_x2.pt'), '--arch', 'carn_m',
                 '--scale', '2', '--key-map', 'runespoor', '--out', str(conv)]) == 0
    converted, _ = load_model(str(conv), kind='sr', method='sr', scale=2)
    with torch.no_grad():
        assert torch.equal(converted(lr), net(lr))
    # train asr / cloudseg --init from it
    spec_file = workspace / 'model_for_plain_sr.yaml'
    spec_file.write_text(yaml.safe_dump({'model': _spec(workspace)}))
    out = workspace / 'cloudseg_from_plain'
    assert main(['train', 'cloudseg', '--data', 'random', '--scale', '2', '--crop', '32', '32',
                 '--steps', '1', '--batch', '2', '--device', 'cpu', '--no-progress',
                 '--init', str(sr_dir / 'asr_x2.pt'), '--analytics-model', str(spec_file),
                 '--out', str(out)]) == 0
    again, ckpt = load_model(str(out / 'cloudseg_x2.pt'), kind='sr', method='cloudseg',
                             scale=2)
    assert ckpt['config']['arch'] == 'carn_m' and \
        ckpt['config']['arch_kwargs']['channels'] == 8
    # a state dict that fits no Runespoor SR network still says what to do
    torch.save({'weight': torch.zeros(3)}, workspace / 'other.pt')
    with pytest.raises(Exception, match='fits no Runespoor SR network x2'):
        load_model(str(workspace / 'other.pt'), kind='sr', scale=2)
    assert main(['train', 'sr', '--data', 'random', '--scale', '2', '--steps', '0',
                 '--init', str(workspace / 'other.pt'), '--out', str(workspace / 'x'),
                 '--no-progress']) == 2
    assert 'add --init-key-map carn_reference' in capsys.readouterr().err
