"""
The Cityscapes label table: ids, train ids, colours, names, categories.

The table is read from ``cityscapesscripts.helpers.labels`` when that package is importable and
otherwise from the frozen copy below (identical to cityscapesscripts 2.x; a test checks that the
two agree), so the cloud node on a robot does not need ``cityscapesscripts``.

Terms: a *label id* is what ``*_gtFine_labelIds.png`` stores (0..33); a *train id* is one of the
19 evaluated classes (0..18) or :data:`IGNORE_ID` (255).  Colours are RGB tuples, as in
cityscapesscripts; :func:`colorize` returns RGB unless asked for BGR (OpenCV order).
"""

from collections import namedtuple

import numpy as np

#: One row of the table; the same fields as ``cityscapesscripts.helpers.labels.Label``.
Label = namedtuple('Label', ['name', 'id', 'trainId', 'category', 'categoryId',
                             'hasInstances', 'ignoreInEval', 'color'])

#: Number of evaluated classes.
NUM_CLASSES = 19
#: Train id of pixels that are not evaluated (void, unlabelled, rare classes).
IGNORE_ID = 255

# Frozen copy of cityscapesscripts.helpers.labels.labels (license: MIT, Cityscapes team).
_FROZEN = [
    Label('unlabeled', 0, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('ego vehicle', 1, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('rectification border', 2, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('out of roi', 3, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('static', 4, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('dynamic', 5, 255, 'void', 0, False, True, (111, 74, 0)),
    Label('ground', 6, 255, 'void', 0, False, True, (81, 0, 81)),
    Label('road', 7, 0, 'flat', 1, False, False, (128, 64, 128)),
    Label('sidewalk', 8, 1, 'flat', 1, False, False, (244, 35, 232)),
    Label('parking', 9, 255, 'flat', 1, False, True, (250, 170, 160)),
    Label('rail track', 10, 255, 'flat', 1, False, True, (230, 150, 140)),
    Label('building', 11, 2, 'construction', 2, False, False, (70, 70, 70)),
    Label('wall', 12, 3, 'construction', 2, False, False, (102, 102, 156)),
    Label('fence', 13, 4, 'construction', 2, False, False, (190, 153, 153)),
    Label('guard rail', 14, 255, 'construction', 2, False, True, (180, 165, 180)),
    Label('bridge', 15, 255, 'construction', 2, False, True, (150, 100, 100)),
    Label('tunnel', 16, 255, 'construction', 2, False, True, (150, 120, 90)),
    Label('pole', 17, 5, 'object', 3, False, False, (153, 153, 153)),
    Label('polegroup', 18, 255, 'object', 3, False, True, (153, 153, 153)),
    Label('traffic light', 19, 6, 'object', 3, False, False, (250, 170, 30)),
    Label('traffic sign', 20, 7, 'object', 3, False, False, (220, 220, 0)),
    Label('vegetation', 21, 8, 'nature', 4, False, False, (107, 142, 35)),
    Label('terrain', 22, 9, 'nature', 4, False, False, (152, 251, 152)),
    Label('sky', 23, 10, 'sky', 5, False, False, (70, 130, 180)),
    Label('person', 24, 11, 'human', 6, True, False, (220, 20, 60)),
    Label('rider', 25, 12, 'human', 6, True, False, (255, 0, 0)),
    Label('car', 26, 13, 'vehicle', 7, True, False, (0, 0, 142)),
    Label('truck', 27, 14, 'vehicle', 7, True, False, (0, 0, 70)),
    Label('bus', 28, 15, 'vehicle', 7, True, False, (0, 60, 100)),
    Label('caravan', 29, 255, 'vehicle', 7, True, True, (0, 0, 90)),
    Label('trailer', 30, 255, 'vehicle', 7, True, True, (0, 0, 110)),
    Label('train', 31, 16, 'vehicle', 7, True, False, (0, 80, 100)),
    Label('motorcycle', 32, 17, 'vehicle', 7, True, False, (0, 0, 230)),
    Label('bicycle', 33, 18, 'vehicle', 7, True, False, (119, 11, 32)),
    Label('license plate', -1, -1, 'vehicle', 7, False, True, (0, 0, 142)),
]


def _load_table():
    """Return ``(labels, source)``: the cityscapesscripts table if importable, else the copy."""
    try:
        from cityscapesscripts.helpers import labels as cs_labels
    except Exception:  # ImportError, or a broken install: the frozen copy is equivalent
        return list(_FROZEN), 'frozen'
    return [Label(*tuple(lab)) for lab in cs_labels.labels], 'cityscapesscripts'


#: All rows of the table, in cityscapesscripts order.
LABELS, LABEL_TABLE_SOURCE = _load_table()
#: Label id -> :class:`Label` (ids 0..33; license plate, id -1, left out).
ID_TO_LABEL = {lab.id: lab for lab in LABELS if lab.id >= 0}
#: Name -> :class:`Label`.
NAME_TO_LABEL = {lab.name: lab for lab in LABELS}
#: Train id -> :class:`Label` for the 19 evaluated classes.
TRAIN_ID_TO_LABEL = {lab.trainId: lab for lab in LABELS
                     if 0 <= lab.trainId < NUM_CLASSES}
#: The 19 class names in train-id order ('road', 'sidewalk', ..., 'bicycle').
TRAIN_ID_NAMES = tuple(TRAIN_ID_TO_LABEL[i].name for i in range(NUM_CLASSES))
#: Train id -> label id for the 19 classes (the inverse mapping used to write labelIds PNGs).
TRAIN_ID_TO_ID = tuple(TRAIN_ID_TO_LABEL[i].id for i in range(NUM_CLASSES))


def _id_lut():
    lut = np.full(256, IGNORE_ID, dtype=np.uint8)
    for lab in ID_TO_LABEL.values():
        if 0 <= lab.trainId < NUM_CLASSES:
            lut[lab.id] = lab.trainId
    return lut


def _train_lut():
    lut = np.zeros(256, dtype=np.uint8)      # 255 and unknown train ids -> 0 ('unlabeled')
    for tid, lid in enumerate(TRAIN_ID_TO_ID):
        lut[tid] = lid
    return lut


def _palette():
    pal = np.zeros((256, 3), dtype=np.uint8)  # ignore (255) and unknown -> black
    for tid in range(NUM_CLASSES):
        pal[tid] = TRAIN_ID_TO_LABEL[tid].color
    return pal


def _id_palette():
    pal = np.zeros((256, 3), dtype=np.uint8)
    for lab in ID_TO_LABEL.values():
        pal[lab.id] = lab.color
    return pal


#: uint8[256] lookup table: label id -> train id (255 for void and unknown ids).
ID_TO_TRAIN_ID_LUT = _id_lut()
#: uint8[256] lookup table: train id -> label id (255 and unknown -> 0, 'unlabeled').
TRAIN_ID_TO_ID_LUT = _train_lut()
#: uint8[256, 3] RGB palette indexed by train id (19 classes; 255 -> black).
TRAIN_ID_PALETTE = _palette()
#: uint8[256, 3] RGB palette indexed by label id (as in ``*_gtFine_color.png``).
ID_PALETTE = _id_palette()


def _as_index_array(array, what):
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f'{what} must be an integer array, got {array.dtype}')
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f'{what} values must lie in [0, 255], got '
                         f'[{array.min()}, {array.max()}]')
    return array


def label_ids_to_train_ids(array):
    """Map an array of Cityscapes label ids to train ids (uint8; void/unknown -> 255)."""
    return ID_TO_TRAIN_ID_LUT[_as_index_array(array, 'label ids')]


def train_ids_to_label_ids(array):
    """Map an array of train ids (0..18, 255) to label ids (uint8; 255 -> 0 'unlabeled')."""
    return TRAIN_ID_TO_ID_LUT[_as_index_array(array, 'train ids')]


def colorize(train_id_map, bgr=False):
    """
    Colour a train-id map with the Cityscapes palette.

    Returns an ``H x W x 3`` uint8 image, **RGB** by default (``bgr=True`` for OpenCV order);
    train id 255 and unknown ids are black.
    """
    out = TRAIN_ID_PALETTE[_as_index_array(train_id_map, 'train ids')]
    return out[..., ::-1].copy() if bgr else out


def colorize_label_ids(label_id_map, bgr=False):
    """Colour a label-id map as ``*_gtFine_color.png`` does (RGB; ``bgr=True`` for OpenCV)."""
    out = ID_PALETTE[_as_index_array(label_id_map, 'label ids')]
    return out[..., ::-1].copy() if bgr else out
