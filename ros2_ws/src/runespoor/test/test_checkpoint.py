"""Tests of checkpoint save / load / refusal."""

import pytest

from runespoor.archs import build_seg, build_sr
from runespoor.checkpoint import (build_model, CheckpointError, load_checkpoint, load_model,
                                  save_checkpoint)
import torch

SR_KW = {'channels': 8, 'blocks': 1}


def _sr_config(scale=4, method='sr'):
    return {'kind': 'sr', 'method': method, 'arch': 'carn', 'arch_kwargs': SR_KW,
            'scale': scale}


def test_round_trip_with_metadata_and_optimizer(tmp_path):
    torch.manual_seed(0)
    model = build_sr('carn', 4, **SR_KW)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(1, 3, 4, 4)).mean().backward()
    opt.step()
    path = str(tmp_path / 'sr_x4.pt')
    save_checkpoint(path, model, _sr_config(), optimizer=opt, step=7, seed=3,
                    data={'root': 'x'}, train_time_s=1.5, metrics={'psnr': 30.0},
                    command='runespoor train sr')
    ckpt = load_checkpoint(path, kind='sr', method='sr', arch='carn', scale=4)
    assert ckpt['step'] == 7 and ckpt['seed'] == 3 and ckpt['metrics'] == {'psnr': 30.0}
    assert ckpt['data'] == {'root': 'x'} and ckpt['train_time_s'] == 1.5
    assert ckpt['code_version'] and ckpt['command'] == 'runespoor train sr'
    assert 'state' in ckpt['optimizer']
    rebuilt = build_model(ckpt, path)
    x = torch.rand(1, 3, 5, 6)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))
    loaded, _ = load_model(path, scale=4)
    assert not loaded.training


@pytest.mark.parametrize('kwargs, what', [({'scale': 2}, 'scale'), ({'arch': 'carn_m'}, 'arch'),
                                          ({'method': 'asr'}, 'method'),
                                          ({'kind': 'seg'}, 'kind')])
def test_mismatch_is_refused_naming_the_file(tmp_path, kwargs, what):
    path = str(tmp_path / 'sr_x4.pt')
    save_checkpoint(path, build_sr('carn', 4, **SR_KW), _sr_config())
    with pytest.raises(CheckpointError, match=rf'sr_x4\.pt has {what}='):
        load_checkpoint(path, **kwargs)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match='nothere.pt does not exist'):
        load_checkpoint(str(tmp_path / 'nothere.pt'))
    foreign = tmp_path / 'foreign.pt'
    torch.save({'a': torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match='foreign.pt is not a Runespoor checkpoint'):
        load_checkpoint(str(foreign))
    junk = tmp_path / 'junk.pt'
    junk.write_bytes(b'junk')
    with pytest.raises(CheckpointError, match='junk.pt'):
        load_checkpoint(str(junk))


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = str(tmp_path / 'sr_x4.pt')
    config = dict(_sr_config(), arch_kwargs={'channels': 16, 'blocks': 1})
    save_checkpoint(path, build_sr('carn', 4, **SR_KW), config)   # lies about its width
    with pytest.raises(CheckpointError, match='does not fit'):
        load_model(path)


def test_half_storage_loads_as_float32(tmp_path):
    kw = {'widths': (8, 8, 16, 16), 'decoder_channels': 8}
    model = build_seg('swiftnet_r18', **kw)
    path = str(tmp_path / 'seg.pt')
    save_checkpoint(path, model, {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18',
                                  'arch_kwargs': kw}, half=True)
    raw = torch.load(path, weights_only=True)
    assert raw['model']['classifier.2.weight'].dtype == torch.float16
    loaded, _ = load_model(path, kind='seg')
    assert loaded.classifier[2].weight.dtype == torch.float32
    assert torch.allclose(loaded.classifier[2].weight, model.classifier[2].weight, atol=1e-3)
