"""
Tests of foreign SR weights: key maps, ``runespoor convert sr`` and ``train sr --init-key-map``.

A tiny module here has the *reference* CARN / CARN-M structure and key names (the authors'
code, github.com/nmhkahn/CARN-pytorch: mean shift as a frozen 1x1 conv, ``b1..b3`` blocks
with ``b*``/``c*`` children, ``c1..c3`` fusions, ``upsample.up`` or the multi-scale
``upsample.up2/up3/up4`` with conv -> ReLU -> PixelShuffle) at a small width.  Its state dict,
loaded through the ``carn_reference`` key map, must give outputs bit-identical to its own.
"""

import hashlib
import math

import pytest

from runespoor.archs import build_sr, WeightsError
from runespoor.archs.carn import RGB_MEAN
from runespoor.archs.key_maps import (build_foreign_sr, get_key_map, KEY_MAPS, KeyMapError,
                                      load_foreign_sr)
from runespoor.checkpoint import load_checkpoint, load_model
from runespoor.cli import main as cli_main
import torch
from torch import nn

WIDTH = 8


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- a small model with the reference structure and key names ------------------------------------

class _Shift(nn.Module):
    def __init__(self, sign):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1, 1, 0)
        self.shifter.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.shifter.bias.data = torch.Tensor([sign * m for m in RGB_MEAN])
        self.shifter.requires_grad_(False)  # frozen, as in the reference

    def forward(self, x):
        return self.shifter(x)


class _Basic(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 1, 1, 0), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class _Res(nn.Module):
    def __init__(self, c, group, mobile):
        super().__init__()
        if mobile:
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=group), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, 1, 1, groups=group), nn.ReLU(),
                                      nn.Conv2d(c, c, 1, 1, 0))
        else:
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x):
        return torch.relu(self.body(x) + x)


class _Block(nn.Module):
    def __init__(self, c, group, mobile):
        super().__init__()
        self.mobile = mobile
        self.b1 = _Res(c, group, mobile)
        if not mobile:
            self.b2 = _Res(c, group, mobile)
            self.b3 = _Res(c, group, mobile)
        self.c1, self.c2, self.c3 = _Basic(2 * c, c), _Basic(3 * c, c), _Basic(4 * c, c)

    def forward(self, x):
        units = [self.b1] * 3 if self.mobile else [self.b1, self.b2, self.b3]
        cat = out = x
        for unit, fuse in zip(units, (self.c1, self.c2, self.c3)):
            cat = torch.cat([cat, unit(out)], dim=1)
            out = fuse(cat)
        return out


class _UpBranch(nn.Module):
    def __init__(self, c, scale, group):
        super().__init__()
        layers = []
        for r in [2] * int(math.log2(scale)) if scale in (2, 4, 8) else [scale]:
            layers += [nn.Conv2d(c, r * r * c, 3, 1, 1, groups=group), nn.ReLU(),
                       nn.PixelShuffle(r)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class _Up(nn.Module):
    def __init__(self, c, scale, multi_scale, group):
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            self.up2, self.up3, self.up4 = (_UpBranch(c, s, group) for s in (2, 3, 4))
        else:
            self.up = _UpBranch(c, scale, group)

    def forward(self, x, scale):
        return getattr(self, f'up{scale}')(x) if self.multi_scale else self.up(x)


class ReferenceCARN(nn.Module):
    """The reference CARN (``mobile=False``) / CARN-M (``mobile=True``) layout and names."""

    def __init__(self, scale=4, multi_scale=False, group=1, mobile=True, c=WIDTH):
        super().__init__()
        self.sub_mean, self.add_mean = _Shift(-1), _Shift(1)
        self.entry = nn.Conv2d(3, c, 3, 1, 1)
        self.b1, self.b2, self.b3 = (_Block(c, group, mobile) for _ in range(3))
        self.c1, self.c2, self.c3 = _Basic(2 * c, c), _Basic(3 * c, c), _Basic(4 * c, c)
        self.upsample = _Up(c, scale, multi_scale, group)
        self.exit = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, x, scale):
        cat = out = self.entry(self.sub_mean(x))
        for block, fuse in zip((self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3)):
            cat = torch.cat([cat, block(out)], dim=1)
            out = fuse(cat)
        return self.add_mean(self.exit(self.upsample(out, scale)))


def _reference(tmp_path, name='ref.pth', seed=0, **kwargs):
    torch.manual_seed(seed)
    ref = ReferenceCARN(**kwargs).eval()
    with torch.no_grad():  # non-trivial biases too (the default init leaves them small)
        for p in ref.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / name
    torch.save(ref.state_dict(), path)
    return ref, str(path)


def _x():
    return torch.rand(2, 3, 7, 9, generator=torch.Generator().manual_seed(1))


def _same(ref, model, scale):
    with torch.no_grad():
        return torch.equal(ref(_x(), scale), model.eval()(_x()))


# -- loading through the key map -----------------------------------------------------------------

@pytest.mark.parametrize('scale', [2, 3, 4])
def test_multi_scale_carn_m_loads_bit_identically(tmp_path, scale):
    ref, path = _reference(tmp_path, multi_scale=True, group=4)
    model, info = build_foreign_sr(path, 'carn_m', scale, 'carn_reference')
    assert info['arch_kwargs'] == {'channels': WIDTH, 'blocks': 3, 'groups': 4,
                                   'global_residual': False}
    assert _same(ref, model, scale)
    others = [s for s in (2, 3, 4) if s != scale]
    text = ' '.join(info['notes'])
    assert all(f'upsample.up{s}' in text for s in others) and f'upsample.up{scale}' not in text
    assert 'other scales' in text and 'shifter' in text
    assert info['tied'] == 3 * 2 * 6  # units 1, 2 of three blocks, 3 convs x (weight, bias)


@pytest.mark.parametrize('scale', [4, 8])
def test_single_scale_carn_loads_bit_identically(tmp_path, scale):
    ref, path = _reference(tmp_path, scale=scale, mobile=False)
    model, info = build_foreign_sr(path, 'carn', scale, 'carn_reference')
    assert info['tied'] == 0 and info['arch_kwargs']['channels'] == WIDTH
    assert _same(ref, model, scale)


def test_dataparallel_prefix_and_wrapped_state_dict(tmp_path):
    ref, _ = _reference(tmp_path, multi_scale=True, group=4)
    path = tmp_path / 'wrapped.pth'
    torch.save({'state_dict': {f'module.{k}': v.half() for k, v in ref.state_dict().items()}},
               path)
    model, info = build_foreign_sr(str(path), 'carn_m', 2, 'carn_reference')
    assert next(model.parameters()).dtype == torch.float32
    assert any('rounding' in n for n in info['notes'])  # fp16 mean shift, within tolerance


def test_load_into_an_existing_model_from_a_state_dict(tmp_path):
    ref, _ = _reference(tmp_path, multi_scale=True, group=4)
    model = build_sr('carn_m', 4, channels=WIDTH)
    info = load_foreign_sr(model, ref.state_dict(), 'carn_reference')
    assert info['key_map'] == 'carn_reference' and _same(ref, model, 4)


def test_yaml_key_map_from_print_key_map_is_the_same_map(tmp_path, capsys):
    ref, path = _reference(tmp_path, multi_scale=True, group=4)
    assert cli_main(['convert', 'sr', '--print-key-map', 'carn_reference']) == 0
    text = capsys.readouterr().out
    assert 'upsample\\.up{scale}\\.' in text or 'upsample\\\\.up{scale}' in text
    yaml_map = tmp_path / 'my_map.yaml'
    yaml_map.write_text(text)
    key_map = get_key_map(str(yaml_map))
    assert key_map.to_list() == KEY_MAPS['carn_reference']().to_list()
    model, _ = build_foreign_sr(path, 'carn_m', 3, str(yaml_map))
    assert _same(ref, model, 3)


# -- runespoor convert sr -------------------------------------------------------------------------

def test_convert_round_trip_with_metadata(tmp_path, capsys):
    ref, path = _reference(tmp_path, multi_scale=True, group=4)
    out = str(tmp_path / 'models' / 'sr_x4.pt')
    argv = ['convert', 'sr', '--weights', path, '--arch', 'carn_m', '--scale', '4',
            '--key-map', 'carn_reference', '--out', out]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert 'bit-identical' in printed and 'upsample.up2' in printed
    model, ckpt = load_model(out, kind='sr', method='sr', arch='carn_m', scale=4)
    assert _same(ref, model, 4)
    source = ckpt['converted_from']
    assert source['sha256'] == hashlib.sha256(open(path, 'rb').read()).hexdigest()
    assert source['key_map'] == 'carn_reference' and source['key_map_rules']
    assert ckpt['command'].startswith('runespoor convert sr --weights ')
    assert ckpt['config']['arch_kwargs']['global_residual'] is False
    # a converted checkpoint is an SR checkpoint like any other: load_checkpoint, --init
    assert load_checkpoint(out, kind='sr', scale=4)['config']['key_map'] == 'carn_reference'
    # no silent overwrite
    assert cli_main(argv) == 2
    assert 'exists; pass --force' in capsys.readouterr().err
    assert cli_main(argv + ['--force']) == 0


def test_train_sr_init_key_map(tmp_path, capsys):
    ref, path = _reference(tmp_path, multi_scale=True, group=4)
    out = str(tmp_path / 'run')
    argv = ['train', 'sr', '--data', 'random', '--scale', '2', '--steps', '0', '--batch', '2',
            '--patch', '6', '--init', path, '--init-key-map', 'carn_reference', '--out', out,
            '--no-progress', '--val-batches', '1']
    assert cli_main(argv) == 0
    assert '--init: key map carn_reference' in capsys.readouterr().out
    model, ckpt = load_model(f'{out}/sr_x2.pt', kind='sr', scale=2)
    assert ckpt['config']['init_key_map'] == 'carn_reference'
    assert ckpt['config']['arch_kwargs']['global_residual'] is False
    assert _same(ref, model, 2)


def test_train_init_foreign_without_key_map_or_for_asr(tmp_path, capsys):
    _, path = _reference(tmp_path, multi_scale=True, group=4)
    base = ['--data', 'random', '--scale', '2', '--steps', '0', '--init', path,
            '--out', str(tmp_path / 'run'), '--no-progress']
    assert cli_main(['train', 'sr'] + base) == 2
    assert 'add --init-key-map carn_reference' in capsys.readouterr().err
    assert cli_main(['train', 'asr', '--init-key-map', 'carn_reference'] + base) == 2
    assert 'convert the weights first' in capsys.readouterr().err
    assert cli_main(['train', 'sr', '--init-key-map', 'nope'] + base) == 2
    assert "unknown key map 'nope'" in capsys.readouterr().err


# -- refusals -------------------------------------------------------------------------------------

def test_unmapped_keys_are_refused_and_listed(tmp_path, capsys):
    ref, _ = _reference(tmp_path, multi_scale=True, group=4)
    state = dict(ref.state_dict(), **{'b1.extra.weight': torch.zeros(2),
                                      'tail.weight': torch.zeros(2)})
    path = tmp_path / 'extra.pth'
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r'2 tensor\(s\) of the file have no place in the '
                                           r'model \(unmapped\): b1\.extra\.weight, tail\.weight'):
        build_foreign_sr(str(path), 'carn_m', 4, 'carn_reference')
    rc = cli_main(['convert', 'sr', '--weights', str(path), '--scale', '4', '--out',
                   str(tmp_path / 'x.pt')])
    assert rc == 2 and 'unmapped' in capsys.readouterr().err
    assert not (tmp_path / 'x.pt').exists()


def test_shape_mismatch_is_refused(tmp_path):
    _, path = _reference(tmp_path, multi_scale=True, group=4)
    model = build_sr('carn_m', 4, channels=2 * WIDTH)
    with pytest.raises(WeightsError, match=r'shape mismatch: entry\.weight is \[8, 3, 3, 3\] in '
                                           r'the file but \[16, 3, 3, 3\] in the model'):
        load_foreign_sr(model, path, 'carn_reference')
    # CARN-M weights (grouped convs, one unit per block) into CARN: both kinds listed
    with pytest.raises(WeightsError, match=r'missing\).*blocks\.0\.units\.1\.body\.0\.weight.*'
                                           r'shape mismatch'):
        build_foreign_sr(path, 'carn', 4, 'carn_reference')


def test_missing_scale_branch_is_refused_saying_what_was_dropped(tmp_path):
    _, path = _reference(tmp_path, multi_scale=True, group=4)
    with pytest.raises(WeightsError, match=r'missing\): upsample\.body\.0\.weight.*the key map '
                                           r'dropped .*upsample\.up2 \(2\), upsample\.up3 \(2\), '
                                           r'upsample\.up4 \(4\)'):
        build_foreign_sr(path, 'carn_m', 8, 'carn_reference')


def test_foreign_mean_shift_is_refused(tmp_path):
    ref, _ = _reference(tmp_path, multi_scale=True, group=4)
    state = ref.state_dict()
    state['sub_mean.shifter.bias'] = torch.tensor([-0.5, -0.5, -0.5])
    with pytest.raises(WeightsError, match='sub_mean.shifter is not the identity plus -1 x the '
                                           'DIV2K mean'):
        load_foreign_sr(build_sr('carn_m', 4, channels=WIDTH), state, 'carn_reference')


def test_unknown_key_map_name(tmp_path, capsys):
    with pytest.raises(KeyMapError, match=r"unknown key map 'carn_ref'; choose one of "
                                          'carn_reference, runespoor'):
        get_key_map('carn_ref')
    _, path = _reference(tmp_path)
    rc = cli_main(['convert', 'sr', '--weights', path, '--scale', '4', '--key-map', 'carn_ref',
                   '--out', str(tmp_path / 'x.pt')])
    assert rc == 2 and 'unknown key map' in capsys.readouterr().err


@pytest.mark.parametrize('text, match', [
    ('entry: exit\n', 'must hold a list of \\[pattern, replacement\\] pairs, got dict'),
    ('- [a]\n', 'rule 1 must be a pair'),
    ('- ["^b(1", "x"]\n', 'rule 1: pattern .* is not a regular expression'),
    ('- ["^b1\\\\.", 3]\n', 'rule 1: the replacement must be a string, or null'),
    ('- ["^(b)1", "\\\\2x"]\n', 'refers to group\\(s\\) 2'),
    ('- [a, b\n', 'is not valid YAML'),
    ('[]\n', 'has no rules'),
])
def test_malformed_yaml_key_map(tmp_path, capsys, text, match):
    bad = tmp_path / 'bad.yaml'
    bad.write_text(text)
    with pytest.raises(KeyMapError, match=match):
        get_key_map(str(bad))
    _, path = _reference(tmp_path)
    rc = cli_main(['convert', 'sr', '--weights', path, '--scale', '4', '--key-map', str(bad),
                   '--out', str(tmp_path / 'x.pt')])
    assert rc == 2 and 'key map file' in capsys.readouterr().err


def test_missing_key_map_file_and_unsafe_weights(tmp_path, capsys):
    with pytest.raises(KeyMapError, match='key map file .*nothere.yaml does not exist'):
        get_key_map(str(tmp_path / 'nothere.yaml'))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a torch file')
    rc = cli_main(['convert', 'sr', '--weights', str(junk), '--scale', '4',
                   '--out', str(tmp_path / 'x.pt')])
    assert rc == 2 and 'junk.pth is corrupt' in capsys.readouterr().err
