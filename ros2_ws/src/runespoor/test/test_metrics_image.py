# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""PSNR, SSIM and bandwidth helpers on images with known answers."""

import math

import numpy as np
import pytest

from runespoor.metrics import image


def test_psnr_known_value_uint8_and_float():
    ref = np.full((8, 8, 3), 100, np.uint8)
    test = ref.copy()
    test[...] = 110  # MSE 100 -> PSNR = 10 log10(255^2 / 100)
    expected = 10 * math.log10(255 ** 2 / 100)
    assert image.psnr(ref, test) == pytest.approx(expected)
    assert image.psnr(ref / 255.0, test / 255.0) == pytest.approx(expected)
    assert image.psnr(ref, ref) == math.inf


def test_ssim_identical_is_one_and_noise_lowers_it():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    assert image.ssim(ref, ref) == pytest.approx(1.0)
    noisy = np.clip(ref.astype(int) + rng.integers(-90, 91, ref.shape), 0, 255).astype(np.uint8)
    assert 0.0 < image.ssim(ref, noisy) < 0.95
    chw = np.moveaxis(ref, -1, 0)
    assert image.ssim(chw, np.moveaxis(noisy, -1, 0), channel_axis=0) == pytest.approx(
        image.ssim(ref, noisy))
    assert image.ssim(ref[..., 0], noisy[..., 0]) < 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='shape'):
        image.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match='dtype'):
        image.ssim(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32))


def test_bandwidth():
    assert image.bytes_per_frame([1000, 3000]) == 2000
    assert math.isnan(image.bytes_per_frame([]))
    # 87 KB per frame at 17 fps is about 12 Mbit/s (SPEC reference table).
    assert image.mbit_per_s(87_000, 17) == pytest.approx(11.832)


@pytest.mark.parametrize('period', [2, 4, 6])
def test_grid_periodicity_finds_a_painted_checkerboard_not_noise(period):
    rng = np.random.default_rng(0)
    base = rng.integers(60, 190, (96, 192, 3)).astype(np.uint8)
    yy, xx = np.mgrid[:96, :192]
    pattern = np.where((yy % period == 0) & (xx % period == 0), 12, -4)[..., None]
    painted = np.clip(base.astype(int) + pattern, 0, 255).astype(np.uint8)
    assert image.grid_periodicity(painted, base, period) == pytest.approx(16.0, abs=0.5)
    noisy = np.clip(base.astype(int) + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
    assert image.grid_periodicity(noisy, base, period) < 1.0
    assert image.grid_periodicity(base, base, period) == 0.0
    assert math.isnan(image.grid_periodicity(painted, base, 1))
    with pytest.raises(ValueError):
        image.grid_periodicity(painted[:10], base, period)
