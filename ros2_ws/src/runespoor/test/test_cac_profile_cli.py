# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""`runespoor profile` end to end on a tiny synthetic set with tiny untrained models."""

import os

import pytest
from runespoor.cli import main
from runespoor.edge_control import ProfileTable


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    import torch
    from runespoor.archs import build_seg, build_sr
    from runespoor.checkpoint import save_checkpoint
    from runespoor.data.synth import generate
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp('profile')
    generate(str(base / 'data'), size=(128, 64), seed=0, n_train=0, n_val=3, n_sequences=0,
             n_clips=0)
    torch.manual_seed(0)
    models = base / 'models'
    seg_kwargs = {'widths': [8, 16, 16, 16], 'decoder_channels': 8}
    save_checkpoint(str(models / 'seg.pt'), build_seg('swiftnet_r18', **seg_kwargs),
                    {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18',
                     'arch_kwargs': seg_kwargs})
    sr_kwargs = {'channels': 4, 'blocks': 1}
    for scale in (2, 4):
        save_checkpoint(str(models / f'asr_x{scale}.pt'), build_sr('carn', scale, **sr_kwargs),
                        {'kind': 'sr', 'method': 'asr', 'arch': 'carn',
                         'arch_kwargs': sr_kwargs, 'scale': scale})
    yield base
    torch.set_num_threads(threads)


def _args(base, *extra):
    return ['profile', '--data', str(base / 'data'), '--split', 'val',
            '--seg', str(base / 'models' / 'seg.pt'), '--sr-dir', str(base / 'models'),
            '--out', str(base / 'out'), '--scales', '2,4', '--qualities', '50,90',
            '--bandwidths', '1,5,20', '--device', 'cpu', '--no-progress', *extra]


def test_profile_command_writes_a_loadable_profile(workspace, capsys):
    assert main(_args(workspace, '--no-plots')) == 0
    out = capsys.readouterr().out
    assert '| pooled |' in out and 'target Mbit/s' in out
    table = ProfileTable.load(str(workspace / 'out' / 'profile.yaml'))
    assert table.source_pixels == 128 * 64
    for name in ('measurements.json', 'profile_summary.json'):
        assert os.path.getsize(workspace / 'out' / name) > 0


def test_missing_checkpoints_are_named(workspace, capsys):
    assert main(_args(workspace, '--scales', '2,8')) == 2
    assert 'asr_x8.pt' in capsys.readouterr().err
    args = _args(workspace)
    args[args.index('--seg') + 1] = str(workspace / 'nope.pt')
    assert main(args) == 2
    assert 'nope.pt does not exist' in capsys.readouterr().err
