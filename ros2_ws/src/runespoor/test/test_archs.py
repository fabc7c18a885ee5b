"""Tests of the network architectures and the name -> builder registry."""

import pytest

from runespoor.archs import (build_seg, build_sr, count_parameters, load_weights, SEG_ARCHS,
                             SR_ARCHS, WeightsError)
import torch

# Parameters per scale of our single-scale models (one upsampler each).
CARN_PARAMS = {2: 964163, 3: 1148803, 4: 1111875, 6: 1296515, 8: 1259587}
CARNM_PARAMS = {2: 257027, 3: 303427, 4: 294147, 6: 340547, 8: 331267}


@pytest.mark.parametrize('arch', sorted(SR_ARCHS))
@pytest.mark.parametrize('scale', [2, 3, 4, 6, 8])
def test_sr_output_shape(arch, scale):
    model = build_sr(arch, scale=scale).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 5, 7))
    assert out.shape == (2, 3, 5 * scale, 7 * scale)
    assert out.dtype == torch.float32


@pytest.mark.parametrize('scale', [2, 3, 4, 6, 8])
def test_sr_parameter_counts(scale):
    assert count_parameters(build_sr('carn', scale)) == CARN_PARAMS[scale]
    assert count_parameters(build_sr('carn_m', scale)) == CARNM_PARAMS[scale]


def test_parameter_counts_match_the_paper_multiscale_models():
    # The paper's multi-scale models share the body and carry x2, x3 and x4 upsamplers:
    # CARN 1,592K and CARN-M 412K parameters.  Rebuild that total from our single-scale parts.
    for arch, reference in (('carn', 1592e3), ('carn_m', 412e3)):
        models = {s: build_sr(arch, s) for s in (2, 3, 4)}
        up = {s: count_parameters(m.upsample) for s, m in models.items()}
        body = count_parameters(models[2]) - up[2]
        total = body + up[2] + up[3] + up[4]
        assert abs(total - reference) / reference < 0.01, (arch, total)


def test_carn_m_shares_unit_weights():
    model = build_sr('carn_m', 4)
    block = model.blocks[0]
    assert block.units[0] is block.units[1] is block.units[2]
    assert build_sr('carn', 4).blocks[0].units[0] is not build_sr('carn', 4).blocks[0].units[1]


def test_unknown_names_and_scales():
    with pytest.raises(ValueError, match='unknown SR arch'):
        build_sr('edsr', 4)
    with pytest.raises(ValueError, match='unsupported SR scale'):
        build_sr('carn', 5)
    with pytest.raises(ValueError, match='unknown segmentation arch'):
        build_seg('unet')


@pytest.mark.parametrize('name', ['swiftnet_r18', 'swiftnet_r18_lite',
                                  'lraspp_mobilenet_v3_large'])
def test_seg_output_shape(name):
    torch.manual_seed(0)
    kwargs = {'widths': (8, 8, 16, 16), 'decoder_channels': 8} if name == 'swiftnet_r18' else {}
    model = build_seg(name, num_classes=19, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 96))
    assert out.shape == (1, 19, 64, 96)


def test_seg_registry_lists_the_shipped_and_torchvision_archs():
    assert {'swiftnet_r18', 'swiftnet_r18_lite', 'lraspp_mobilenet_v3_large'} <= set(SEG_ARCHS)


def test_load_user_weights(tmp_path):
    kwargs = {'widths': (8, 8, 16, 16), 'decoder_channels': 8}
    src = build_seg('swiftnet_r18', **kwargs)
    path = tmp_path / 'user.pth'
    torch.save({'state_dict': {'module.' + k: v for k, v in src.state_dict().items()}}, path)
    dst = build_seg('swiftnet_r18', weights=str(path), **kwargs)
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k])
    with pytest.raises(WeightsError, match='user.pth'):
        load_weights(build_seg('swiftnet_r18', widths=(8, 8, 16, 32), decoder_channels=8),
                     str(path))
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'nope')
    with pytest.raises(WeightsError, match='bad.pth'):
        load_weights(src, str(bad))


@pytest.mark.parametrize('arch', sorted(SR_ARCHS))
def test_global_residual_starts_at_bilinear(arch):
    x = torch.rand(1, 3, 6, 9)
    model = build_sr(arch, 6, global_residual=True)
    want = torch.nn.functional.interpolate(x, size=(36, 54), mode='bilinear',
                                           align_corners=False)
    assert torch.allclose(model(x), want)
    assert count_parameters(model) == count_parameters(build_sr(arch, 6))
