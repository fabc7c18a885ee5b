"""Tests of the Cityscapes label table, id mappings and colourisation."""

import numpy as np
import pytest

from runespoor import labels


def test_train_ids_and_names():
    assert labels.NUM_CLASSES == 19 and labels.IGNORE_ID == 255
    assert labels.TRAIN_ID_NAMES[:3] == ('road', 'sidewalk', 'building')
    assert labels.TRAIN_ID_NAMES[-1] == 'bicycle' and len(labels.TRAIN_ID_NAMES) == 19


def test_frozen_copy_matches_cityscapesscripts():
    cs = pytest.importorskip('cityscapesscripts.helpers.labels')
    assert [tuple(lab) for lab in cs.labels] == [tuple(lab) for lab in labels._FROZEN]


def test_id_mapping_round_trip():
    ids = np.arange(34, dtype=np.uint8).reshape(2, 17)
    tid = labels.label_ids_to_train_ids(ids)
    assert tid[0, 7] == 0 and tid[0, 0] == 255 and tid.flatten()[33] == 18
    assert tid.flatten()[9] == 255          # parking is not evaluated
    back = labels.train_ids_to_label_ids(tid)
    valid = tid != 255
    assert np.array_equal(back[valid], ids[valid])
    assert (back[~valid] == 0).all()


def test_colorize_rgb_and_bgr():
    m = np.array([[0, 10, 255]], dtype=np.uint8)
    rgb = labels.colorize(m)
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (128, 64, 128) and tuple(rgb[0, 1]) == (70, 130, 180)
    assert tuple(rgb[0, 2]) == (0, 0, 0)
    assert tuple(labels.colorize(m, bgr=True)[0, 1]) == (180, 130, 70)


def test_bad_values_rejected():
    with pytest.raises(ValueError):
        labels.label_ids_to_train_ids(np.array([300]))
    with pytest.raises(ValueError):
        labels.colorize(np.array([0.5]))
