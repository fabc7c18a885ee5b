"""Tests of the small-region mask and ratio on hand-made label maps."""

import numpy as np
import pytest

from runespoor.regions import DEFAULT_MAX_AREA_FRACTION, small_region_mask, small_region_ratio


def _map():
    m = np.zeros((20, 20), np.uint8)        # road everywhere: 400 px
    m[:8, :] = 2                            # building: 160 px, large
    m[2:4, 2:4] = 5                         # a pole of 4 px: small
    m[10, 10] = 11                          # a person of 1 px: small
    m[15:17, 15:17] = 255                   # ignore: never small
    return m


def test_small_component_in_large_out_ignore_out():
    m = _map()
    mask = small_region_mask(m, max_area_fraction=0.05)   # threshold 20 px
    assert mask.dtype == bool and mask.shape == m.shape
    assert mask[2:4, 2:4].all() and mask[10, 10]
    assert not mask[m == 2].any() and not mask[m == 0].any()
    assert not mask[m == 255].any()
    assert mask.sum() == 5


def test_components_are_per_class_and_8_connected():
    m = np.zeros((30, 30), np.uint8)
    m[5, 5] = m[6, 6] = m[7, 7] = 7          # diagonal chain: one 3 px component
    m[20:22, 20:22] = 7                      # another component of the same class: 4 px
    mask = small_region_mask(m, max_area_fraction=3.5 / 900)   # threshold 3.5 px
    assert mask[5, 5] and mask[6, 6] and mask[7, 7]
    assert not mask[20:22, 20:22].any()      # 4 px is not below 3.5


def test_same_class_regions_touching_other_classes_stay_apart():
    m = np.zeros((10, 10), np.uint8)
    m[:, 5:] = 1
    m[0, 0:2] = 1                          # fragment of class 1 not touching the big one
    mask = small_region_mask(m, max_area_fraction=0.1)
    assert mask[0, 0] and mask[0, 1] and mask.sum() == 2


def test_frame_area_refers_to_the_whole_frame():
    m = np.zeros((10, 10), np.uint8)
    m[0:3, 0:3] = 4                          # 9 px: small in a 10x10 map at 10 %
    assert small_region_mask(m, 0.1).sum() == 9
    assert small_region_mask(m, 0.1, frame_area=50).sum() == 0   # threshold 5 px


def test_ratio():
    m = _map()
    assert small_region_ratio(m, 0.05) == pytest.approx(5 / 400)
    assert small_region_ratio(np.zeros((64, 128), np.uint8)) == 0.0
    assert small_region_ratio(m, 0.0) == 0.0


def test_default_and_bad_input():
    assert DEFAULT_MAX_AREA_FRACTION == 0.001
    with pytest.raises(ValueError):
        small_region_mask(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        small_region_mask(np.full((4, 4), 300))
    with pytest.raises(ValueError):
        small_region_mask(np.zeros((4, 4), np.uint8), max_area_fraction=2.0)


def test_int64_torch_style_labels_and_no_ignore():
    m = _map().astype(np.int64)
    assert small_region_mask(m, 0.05).sum() == 5
    # without an ignore id the 4 px of 255 form a small region of their own
    assert small_region_mask(m, 0.05, ignore_id=None).sum() == 9
