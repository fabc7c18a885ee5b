# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Reconstruction quality (PSNR, SSIM) and bandwidth (bytes per frame, Mbit/s).

PSNR and SSIM come from scikit-image's ``skimage.metrics`` (``peak_signal_noise_ratio`` and
``structural_similarity``): a maintained, widely cited implementation, so our numbers are
comparable with other work and we do not own the subtle parts (data range, windowing).  The
settings follow the SR literature and the reference SSIM of Wang et al. (2004): an 11x11
Gaussian window with sigma 1.5, population covariance, the standard K1/K2, computed on every
RGB channel and averaged (``channel_axis``).  PSNR is over all RGB pixels (not the Y channel of
YCbCr, which some SR papers use; the Runespoor paper does not say which it used, so compare
trends, not decimals).  PSNR of identical images is ``inf``.

Images are ``H x W x 3`` arrays (any channel order, same for both), ``uint8`` (data range
255) or floating point in ``[0, 1]`` (data range 1); pass ``channel_axis=0`` for the
project's ``3 x H x W`` tensors converted with ``.numpy()``.
"""

import numpy as np

#: Bits in one Mbit (decimal mega, as link rates are quoted).
BITS_PER_MBIT = 1e6


def _data_range(image):
    return 255.0 if np.asarray(image).dtype == np.uint8 else 1.0


def _check_pair(reference, test):
    reference = np.asarray(reference)
    test = np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f'reference shape {reference.shape} != test shape {test.shape}')
    if reference.dtype != test.dtype:
        raise ValueError(f'reference dtype {reference.dtype} != test dtype {test.dtype}')
    return reference, test


def psnr(reference, test, data_range=None):
    """Peak signal-to-noise ratio in dB of ``test`` against ``reference`` (scikit-image)."""
    from skimage.metrics import peak_signal_noise_ratio
    reference, test = _check_pair(reference, test)
    if data_range is None:
        data_range = _data_range(reference)
    if np.array_equal(reference, test):
        return float('inf')
    return float(peak_signal_noise_ratio(reference, test, data_range=data_range))


def ssim(reference, test, data_range=None, channel_axis=-1):
    """
    Structural similarity of ``test`` against ``reference`` (scikit-image, Wang et al.).

    ``channel_axis=None`` for a single-channel ``H x W`` image.
    """
    from skimage.metrics import structural_similarity
    reference, test = _check_pair(reference, test)
    if data_range is None:
        data_range = _data_range(reference)
    if channel_axis is not None and reference.ndim == 2:
        channel_axis = None
    return float(structural_similarity(
        reference.astype(np.float64), test.astype(np.float64), data_range=data_range,
        channel_axis=channel_axis, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False))


def bytes_per_frame(frame_sizes):
    """Mean encoded size in bytes of the frames whose sizes are given (NaN if none)."""
    sizes = np.asarray(frame_sizes, dtype=np.float64)
    return float(sizes.mean()) if sizes.size else float('nan')


def mbit_per_s(mean_bytes_per_frame, fps):
    """Stream bit rate in Mbit/s of frames of ``mean_bytes_per_frame`` bytes at ``fps``."""
    return float(mean_bytes_per_frame) * 8.0 * float(fps) / BITS_PER_MBIT


def grid_periodicity(test_bgr, reference_bgr, period):
    """
    Checkerboard statistic: how much ``test - reference`` depends on the position mod ``period``.

    ``test`` is an SR reconstruction and ``reference`` the bilinear upsampling of the same
    low-resolution frame (both ``H x W x 3`` uint8, or ``H x W``).  The difference (mean over
    channels) is averaged over every pixel at each of the ``period x period`` grid positions
    ``(y mod period, x mod period)``; the statistic is the range (max - min) of those means in
    grey levels.  A model that paints a periodic pattern on flat areas - an adversarial
    texture tuned to one frozen analytics model - scores high (several grey levels); a plain
    SR model stays near 0.  ``period`` <= 1 gives NaN (no grid).
    """
    period = int(period)
    if period <= 1:
        return float('nan')
    test, reference = _check_pair(test_bgr, reference_bgr)
    diff = test.astype(np.float64) - reference.astype(np.float64)
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    h = diff.shape[0] - diff.shape[0] % period
    w = diff.shape[1] - diff.shape[1] % period
    if h == 0 or w == 0:
        return float('nan')
    cells = diff[:h, :w].reshape(h // period, period, w // period, period)
    means = cells.mean(axis=(0, 2))
    return float(means.max() - means.min())
