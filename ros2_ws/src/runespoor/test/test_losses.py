"""Tests of the SR losses: detailed regions, frozen analytics model, one fine-tuning step."""

import pytest

from runespoor.archs import build_seg, build_sr
from runespoor.losses import (ASRLoss, CloudSegLoss, detail_mask, freeze, masked_cross_entropy,
                              sr_loss)
from runespoor.reconstruct import sr_to_size
import torch

SEG_KW = {'widths': (8, 8, 16, 16), 'decoder_channels': 8}


def _batch(scale=2, h=16, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(2, 3, h, w, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, scale)
    label = torch.zeros(2, h, w, dtype=torch.int64)
    label[:, :8] = 2
    label[:, 2:4, 3:5] = 5          # small: 4 px of 512
    label[:, 10, 20] = 11           # small: 1 px
    label[:, 12:14, 0:2] = 255      # ignore
    return lr, hr, label


def test_detail_mask_batches_small_region_mask():
    _, _, label = _batch()
    mask = detail_mask(label, max_area_fraction=0.02)      # threshold ~10 px
    assert mask.shape == label.shape and mask.dtype == torch.bool
    assert mask[:, 2:4, 3:5].all() and mask[:, 10, 20].all()
    assert mask.sum() == 2 * 5


def test_masked_cross_entropy_only_counts_masked_pixels():
    logits = torch.randn(1, 4, 3, 3, requires_grad=True)
    target = torch.zeros(1, 3, 3, dtype=torch.int64)
    mask = torch.zeros(1, 3, 3, dtype=torch.bool)
    mask[0, 1, 1] = True
    got = masked_cross_entropy(logits, target, mask)
    want = torch.nn.functional.cross_entropy(logits[:, :, 1, 1], target[:, 1, 1])
    assert torch.allclose(got, want)
    empty = masked_cross_entropy(logits, target, torch.zeros_like(mask))
    assert float(empty.detach()) == 0.0 and not torch.isnan(empty.detach())
    empty.backward()      # still differentiable


def test_asr_loss_is_weighted_sum():
    torch.manual_seed(0)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    lr, hr, label = _batch()
    sr = torch.nn.functional.interpolate(lr, size=hr.shape[-2:], mode='bilinear')
    loss_fn = ASRLoss(seg, alpha=0.95, beta=0.05, max_area_fraction=0.02)
    loss, parts = loss_fn(sr, hr, label)
    assert parts['ce'] > 0 and parts['detail_px'] == pytest.approx(10 / (2 * 512))
    assert float(loss) == pytest.approx(0.95 * parts['l1'] + 0.05 * parts['ce'], rel=1e-5)
    assert parts['l1'] == pytest.approx(float(sr_loss(sr, hr)))
    # the balance of Eq. 3, logged every step: weighted terms and the analytics share
    assert parts['alpha_l1'] == pytest.approx(0.95 * parts['l1'], rel=1e-5)
    assert parts['beta_analytics'] == pytest.approx(0.05 * parts['ce'], rel=1e-5)
    assert parts['analytics_share'] == pytest.approx(
        parts['beta_analytics'] / (parts['alpha_l1'] + parts['beta_analytics']), rel=1e-5)


@pytest.mark.parametrize('method', ['asr', 'cloudseg'])
def test_one_finetune_step_lowers_loss_and_keeps_analytics_frozen(method):
    torch.manual_seed(0)
    sr_model = build_sr('carn', 2, channels=8, blocks=1)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    seg.train()                                   # the loss must put it in eval mode
    before = {k: v.clone() for k, v in seg.state_dict().items()}
    if method == 'asr':
        loss_fn = ASRLoss(seg, max_area_fraction=0.02)
    else:
        loss_fn = CloudSegLoss(seg)
    loss_fn.train()                               # and keep it there
    assert not seg.training
    assert not any(p.requires_grad for p in seg.parameters())
    lr, hr, label = _batch()
    opt = torch.optim.Adam(sr_model.parameters(), lr=1e-3)

    def loss_value():
        return loss_fn(sr_to_size(sr_model, lr, hr.shape[-2:]), hr, label)[0]

    loss0 = loss_value()
    opt.zero_grad()
    loss0.backward()
    assert all(p.grad is None for p in seg.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in sr_model.parameters())
    opt.step()
    with torch.no_grad():
        loss1 = loss_value()
    assert float(loss1) < float(loss0.detach())
    for k, v in seg.state_dict().items():
        assert torch.equal(v, before[k]), k       # bit-identical, BN statistics included


def test_analytics_gradient_reaches_sr_model():
    torch.manual_seed(0)
    sr_model = build_sr('carn', 2, channels=8, blocks=1)
    seg = freeze(build_seg('swiftnet_r18', **SEG_KW))
    lr, hr, label = _batch()
    loss_fn = ASRLoss(seg, alpha=0.0, beta=1.0, max_area_fraction=0.02)
    loss, _ = loss_fn(sr_to_size(sr_model, lr, hr.shape[-2:]), hr, label)
    loss.backward()
    assert sr_model.entry.weight.grad.abs().sum() > 0


def test_hr_target_is_zero_at_hr_and_positive_elsewhere():
    # target='hr': the analytics term is KL to the model's own HR prediction, so a perfect
    # reconstruction costs nothing there (no pressure towards patterns the HR frame lacks)
    torch.manual_seed(0)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    lr, hr, label = _batch()
    loss_fn = ASRLoss(seg, alpha=0.5, beta=0.5, max_area_fraction=0.02, target='hr')
    _, at_hr = loss_fn(hr.clone(), hr, label)
    assert at_hr['ce'] == pytest.approx(0.0, abs=1e-6) and at_hr['l1'] == 0.0
    blurred = torch.nn.functional.interpolate(lr, size=hr.shape[-2:], mode='bilinear')
    loss, parts = loss_fn(blurred, hr, label)
    assert parts['ce'] > 1e-6
    assert float(loss) == pytest.approx(0.5 * parts['l1'] + 0.5 * parts['ce'], rel=1e-5)
    # the label's CE on the same frame is another quantity (the paper's Eq. 3)
    paper = ASRLoss(seg, alpha=0.5, beta=0.5, max_area_fraction=0.02)
    assert paper(blurred, hr, label)[1]['ce'] != pytest.approx(parts['ce'])


def test_hr_target_gradient_reaches_sr_model_only_through_sr():
    torch.manual_seed(0)
    sr_model = build_sr('carn', 2, channels=8, blocks=1)
    seg = freeze(build_seg('swiftnet_r18', **SEG_KW))
    lr, hr, label = _batch()
    hr.requires_grad_(True)
    loss_fn = ASRLoss(seg, alpha=0.0, beta=1.0, max_area_fraction=0.02, target='hr')
    loss, _ = loss_fn(sr_to_size(sr_model, lr, hr.shape[-2:]), hr, label)
    loss.backward()
    assert sr_model.entry.weight.grad.abs().sum() > 0
    # the teacher carries no gradient (alpha = 0: nothing else reaches the HR frame)
    assert hr.grad is None or float(hr.grad.abs().sum()) == 0.0


def test_judge_jitter_shows_the_model_shifted_crops():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return torch.zeros(x.shape[0], 19, *x.shape[-2:]) + x.mean(1, keepdim=True)

    _, hr, label = _batch(h=32, w=64)
    ramp = torch.arange(64.0).view(1, 1, 1, 64).expand(2, 3, 32, 64) / 64
    torch.manual_seed(3)
    loss_fn = ASRLoss(Probe(), max_area_fraction=0.02, jitter=8)
    for _ in range(12):
        loss_fn(ramp, hr, label)
    assert all(tuple(x.shape[-2:]) == (32 - 7, 64 - 7) for x in seen)
    offsets = {round(float(x[0, 0, 0, 0]) * 64) for x in seen}
    assert len(offsets) > 1 and offsets <= set(range(8))
    seen.clear()
    ASRLoss(Probe(), max_area_fraction=0.02)(ramp, hr, label)
    assert tuple(seen[0].shape[-2:]) == (32, 64)   # no jitter by default


@pytest.mark.parametrize('kwargs, words', [({'target': 'gt'}, 'analytics target'),
                                           ({'jitter': -1}, 'jitter'),
                                           ({'jitter': 2.5}, 'jitter')])
def test_asr_loss_refuses_bad_options(kwargs, words):
    seg = build_seg('swiftnet_r18', **SEG_KW)
    with pytest.raises(ValueError, match=words):
        ASRLoss(seg, **kwargs)


def test_loss_options_reach_the_task_and_detection_refuses_them():
    from runespoor.tasks import get_task, TaskError
    seg = build_seg('swiftnet_r18', **SEG_KW)
    loss = get_task('segmentation').finetune_loss('asr', seg, 0.9, 0.1, 0.02, target='hr',
                                                  jitter=4)
    assert (loss.target, loss.jitter) == ('hr', 4)
    with pytest.raises(TaskError, match='no loss option'):
        get_task('segmentation').finetune_loss('cloudseg', seg, 0.9, 0.1, 0.02, target='hr')
    with pytest.raises(TaskError, match='no loss option'):
        get_task('detection').finetune_loss('asr', seg, 0.9, 0.1, 0.0005, jitter=4)


def test_grid_error_sees_a_periodic_offset_not_noise():
    from runespoor.losses import grid_error
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 64, 96, generator=g)
    assert float(grid_error(hr, hr, 4)) == 0.0
    pattern = torch.zeros(1, 1, 4, 4)
    pattern[..., 0, :], pattern[..., 2, :] = 0.03, -0.03         # stripes of period 4
    planted = hr + pattern.repeat(1, 1, 16, 24)
    noisy = hr + 0.03 * torch.randn(hr.shape, generator=g)          # same per-pixel size
    assert float(grid_error(planted, hr, 4)) == pytest.approx(0.015, rel=1e-4)
    assert float(grid_error(noisy, hr, 4)) < 0.3 * float(grid_error(planted, hr, 4))
    # per-pixel L1 cannot tell them apart, the grid term can
    assert float(sr_loss(planted, hr)) < float(sr_loss(noisy, hr))
    assert float(grid_error(hr, hr, 1)) == 0.0                     # no grid at scale 1
    assert float(grid_error(planted[..., :6, :6], hr[..., :6, :6], 4)) > 0   # tiny frames


def test_asr_grid_term_is_added_and_logged():
    torch.manual_seed(0)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    lr, hr, label = _batch()
    sr = torch.nn.functional.interpolate(lr, size=hr.shape[-2:], mode='bilinear')
    plain = ASRLoss(seg, max_area_fraction=0.02)(sr, hr, label)
    loss, parts = ASRLoss(seg, max_area_fraction=0.02, grid_weight=2.0, grid_period=2)(
        sr, hr, label)
    assert parts['grid_error'] > 0 and 'grid_error' not in plain[1]
    assert float(loss) == pytest.approx(float(plain[0]) + 2.0 * parts['grid_error'], rel=1e-5)
    with pytest.raises(ValueError, match='grid_period'):
        ASRLoss(seg, grid_weight=1.0)
    with pytest.raises(ValueError, match='grid weight'):
        ASRLoss(seg, grid_weight=-1.0, grid_period=2)


def test_cloudseg_takes_the_grid_term_and_nothing_else():
    from runespoor.tasks import get_task, TaskError
    torch.manual_seed(0)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    lr, hr, label = _batch()
    sr = torch.nn.functional.interpolate(lr, size=hr.shape[-2:], mode='bilinear')
    plain = CloudSegLoss(seg)(sr, hr)
    loss_fn = get_task('segmentation').finetune_loss('cloudseg', seg, 0.95, 0.05, 0.02,
                                                     grid_weight=3.0, grid_period=2)
    loss, parts = loss_fn(sr, hr, label)
    assert float(loss) == pytest.approx(float(plain[0]) + 3.0 * parts['grid_error'], rel=1e-5)
    with pytest.raises(TaskError, match='jitter'):
        get_task('segmentation').finetune_loss('cloudseg', seg, 0.95, 0.05, 0.02, jitter=4)
