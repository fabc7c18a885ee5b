"""Tests of the reconstruction methods and the Reconstructor interface."""

import os
import subprocess
import sys

import numpy as np
import pytest

from runespoor.archs import build_sr
from runespoor.checkpoint import CheckpointError, save_checkpoint
from runespoor.codec import degrade
from runespoor.reconstruct import bilinear, checkpoint_name, Reconstructor
from runespoor.tensors import bgr_to_tensor, tensor_to_bgr
import torch
import torch.nn.functional as F

SR_KW = {'channels': 4, 'blocks': 1}
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def _write(folder, method, scale):
    path = os.path.join(folder, checkpoint_name(method, scale))
    save_checkpoint(path, build_sr('carn', scale, **SR_KW),
                    {'kind': 'sr', 'method': method, 'arch': 'carn', 'arch_kwargs': SR_KW,
                     'scale': scale})
    return path


def test_bilinear_is_pytorch_default():
    x = torch.rand(1, 3, 43, 85)
    want = F.interpolate(x, size=(256, 512), mode='bilinear', align_corners=False)
    assert torch.equal(bilinear(x, (256, 512)), want)
    out = Reconstructor('bilinear')(x, 6, (256, 512))
    assert torch.equal(out, want.clamp(0, 1))


@pytest.mark.parametrize('scale', [2, 4, 6, 8])
def test_sr_reconstructs_to_exact_source_size(tmp_path, scale):
    torch.manual_seed(0)
    _write(str(tmp_path), 'asr', scale)
    frame = np.random.default_rng(0).integers(0, 255, (256, 512, 3), dtype=np.uint8)
    lr = degrade(frame, scale, 75)                  # x6: 85x43
    recon = Reconstructor('asr', checkpoint_dir=str(tmp_path), scales=[scale])
    out = recon.reconstruct_bgr(lr, scale, (256, 512))
    assert out.shape == (1, 3, 256, 512) and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert recon.info[scale]['arch'] == 'carn'


def test_scale_one_and_default_size():
    x = torch.rand(1, 3, 8, 8)
    recon = Reconstructor('sr', checkpoints={})
    assert torch.equal(recon(x, 1, (8, 8)), x)
    assert Reconstructor('bilinear')(x, 2).shape[-2:] == (16, 16)


def test_missing_or_wrong_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=r'sr_x4\.pt does not exist'):
        Reconstructor('sr', checkpoint_dir=str(tmp_path), scales=[4])
    path = _write(str(tmp_path), 'sr', 2)
    with pytest.raises(CheckpointError, match=r'sr_x2\.pt has scale=2, expected scale=4'):
        Reconstructor('sr', checkpoints={4: path}, scales=[4])
    with pytest.raises(CheckpointError, match=r'has method=.sr., expected method=.asr.'):
        Reconstructor('asr', checkpoints={2: path}, scales=[2])
    with pytest.raises(CheckpointError, match='no cloudseg checkpoint configured'):
        Reconstructor('cloudseg')(torch.rand(1, 3, 4, 4), 2)
    with pytest.raises(ValueError, match='unknown reconstruction method'):
        Reconstructor('bicubic')


def test_fp16_path_runs_on_cpu(tmp_path):
    _write(str(tmp_path), 'sr', 4)
    x = torch.rand(1, 3, 6, 10)
    ref = Reconstructor('sr', checkpoint_dir=str(tmp_path))(x, 4)
    half = Reconstructor('sr', checkpoint_dir=str(tmp_path), fp16=True)(x, 4)
    assert half.dtype == torch.float32
    assert torch.allclose(ref, half, atol=2e-2)


def test_bgr_tensor_round_trip():
    img = np.random.default_rng(1).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    t = bgr_to_tensor(img)
    assert t.shape == (1, 3, 5, 7)
    assert torch.allclose(t[0, 0], torch.from_numpy(img[:, :, 2]).float() / 255)  # red first
    assert np.array_equal(tensor_to_bgr(t), img)
    with pytest.raises(ValueError):
        bgr_to_tensor(img.astype(np.float32))


def test_gpu_bench_tiny_runs_on_cpu(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, 'ros2_ws', 'src', 'runespoor'))
    out = tmp_path / 'bench'
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'gpu_bench.py'),
                           '--tiny', '--device', 'cpu', '--out', str(out), '--train-steps', '1'],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json
    with open(out / 'gpu_bench.json') as f:
        result = json.load(f)
    assert result['device'] == 'cpu' and result['tiny'] is True
    names = {r['name'] for r in result['results']}
    assert {'bilinear_x4_fp32', 'carn_m_x4_fp32', 'seg_swiftnet_r18_lite_fp32'} <= names
    for r in result['results']:
        assert r['median_ms'] > 0 and r['p90_ms'] >= r['median_ms']
    assert result['train']['steps'] == 1
