# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Map output choices: exact ids when downsampled, lossless PNG, class shares, bad modes."""

import numpy as np
import pytest

from runespoor.labels import NUM_CLASSES
from runespoor.map_output import (class_shares, decode_png_map, downsample_labels, encode_map,
                                  MAP_OUTPUTS)


def street(h=64, w=128):
    rng = np.random.default_rng(3)
    m = np.zeros((h, w), np.uint8)
    m[: h // 3] = 10
    m[h // 3: h // 2] = 2
    for _ in range(20):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        m[y:y + 3, x:x + 2] = rng.integers(0, NUM_CLASSES)
    m[-2:, -3:] = 255
    return m


def test_class_shares_sum_to_the_non_ignore_share():
    m = street()
    shares = class_shares(m)
    assert len(shares) == NUM_CLASSES
    assert sum(shares) == pytest.approx(1 - 6 / m.size)
    assert shares[10] == pytest.approx(np.mean(m == 10))


@pytest.mark.parametrize('factor', [1, 2, 4, 5])
def test_downsampled_keeps_exact_ids_at_block_centres(factor):
    m = street()
    d = downsample_labels(m, factor)
    off = factor // 2
    assert d.shape == m[off::factor, off::factor].shape
    np.testing.assert_array_equal(d, m[off::factor, off::factor])
    assert set(np.unique(d)) <= set(np.unique(m))


def test_png_is_lossless_and_much_smaller_than_raw():
    m = street(256, 512)
    packed = encode_map(m, 'png')
    assert packed.labels is None
    np.testing.assert_array_equal(decode_png_map(packed.png), m)
    assert len(packed.png) < m.size / 4


def test_every_mode_fills_class_shares_and_only_what_it_names():
    m = street()
    out = {mode: encode_map(m, mode, factor=4) for mode in MAP_OUTPUTS}
    assert out['full'].labels is m and out['full'].png is None
    assert out['downsampled'].labels.shape == (16, 32)
    assert out['stats'].labels is None and out['stats'].png is None
    assert all(p.class_shares == class_shares(m) for p in out.values())
    with pytest.raises(ValueError, match='one of full'):
        encode_map(m, 'jpeg')
    with pytest.raises(ValueError):
        downsample_labels(m, 0)
    assert downsample_labels(m[:1, :1], 8).shape == (1, 1)
