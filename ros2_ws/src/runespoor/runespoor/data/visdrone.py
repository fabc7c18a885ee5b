"""
Read the VisDrone2019-DET layout: ``images/*.jpg`` and ``annotations/*.txt``.

Each annotation line is ``x,y,w,h,score,category,truncation,occlusion`` (pixels, top-left
corner).  Category 0 ("ignored regions") and 11 ("others") are not evaluated: they are returned
separately as ignore boxes.  Categories 1..10 are the classes below.
"""

from dataclasses import dataclass
import os

import numpy as np

#: VisDrone category id -> name for the 10 evaluated classes.
CATEGORIES = {1: 'pedestrian', 2: 'people', 3: 'bicycle', 4: 'car', 5: 'van', 6: 'truck',
              7: 'tricycle', 8: 'awning-tricycle', 9: 'bus', 10: 'motor'}
IGNORED_CATEGORIES = (0, 11)


@dataclass
class Annotation:
    """
    Boxes of one image.

    ``boxes`` (N x 4, x, y, w, h float32), ``labels`` (N, int64 1..10),
    ``truncation`` and ``occlusion`` (N, int64), ``ignore`` (M x 4 boxes of categories 0/11).
    """

    boxes: np.ndarray
    labels: np.ndarray
    truncation: np.ndarray
    occlusion: np.ndarray
    ignore: np.ndarray


def read_annotation(path):
    """Parse a VisDrone annotation file into an :class:`Annotation`; errors name the line."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: annotation file not found')
    keep, ign = [], []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip().rstrip(',')
            if not line:
                continue
            try:
                v = [int(float(x)) for x in line.split(',')]
            except ValueError:
                raise ValueError(f'{path}:{n}: not a list of numbers: {line!r}') from None
            if len(v) < 8:
                raise ValueError(f'{path}:{n}: expected 8 fields '
                                 f'(x,y,w,h,score,category,truncation,occlusion), got {len(v)}')
            x, y, w, h, _score, cat, trunc, occ = v[:8]
            if cat in IGNORED_CATEGORIES:
                ign.append((x, y, w, h))
            elif cat in CATEGORIES:
                keep.append((x, y, w, h, cat, trunc, occ))
            else:
                raise ValueError(f'{path}:{n}: unknown category {cat}')
    k = np.array(keep, dtype=np.int64).reshape(-1, 7)
    return Annotation(k[:, :4].astype(np.float32), k[:, 4], k[:, 5], k[:, 6],
                      np.array(ign, dtype=np.float32).reshape(-1, 4))


def list_images(root):
    """
    ``[(image_path, annotation_path), ...]`` of a VisDrone-DET split folder, sorted.

    ``root`` holds ``images/`` and ``annotations/``; an image without an annotation file raises
    ``FileNotFoundError`` naming the missing path.
    """
    idir, adir = os.path.join(root, 'images'), os.path.join(root, 'annotations')
    for d in (idir, adir):
        if not os.path.isdir(d):
            raise FileNotFoundError(f'{d}: folder not found (expected VisDrone-DET layout '
                                    f'<root>/images, <root>/annotations)')
    out = []
    for name in sorted(os.listdir(idir)):
        if not name.lower().endswith(('.jpg', '.jpeg', '.png')):
            continue
        ann = os.path.join(adir, os.path.splitext(name)[0] + '.txt')
        if not os.path.isfile(ann):
            raise FileNotFoundError(f'{ann}: annotation file not found for {name}')
        out.append((os.path.join(idir, name), ann))
    return out


class VisDroneDet:
    """Indexable VisDrone-DET split: item ``i`` is ``dict(image BGR uint8, annotation, path)``."""

    def __init__(self, root):
        """Index the split folder ``root``."""
        self.items = list_images(root)

    def __len__(self):
        """Return the number of images."""
        return len(self.items)

    def __getitem__(self, i):
        """Load image ``i`` and its annotation."""
        from .cityscapes import read_image
        img_path, ann_path = self.items[i]
        return {'image': read_image(img_path), 'annotation': read_annotation(ann_path),
                'path': img_path}
