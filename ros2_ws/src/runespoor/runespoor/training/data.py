"""
Dataset adapters for training: edge degradation of labelled frames, and tiny random data.

* :class:`DegradedFrames` turns ``(image, label)`` samples (e.g. whole frames or large crops)
  into ``(lr, hr, label)`` triples with the edge's own resize + JPEG
  (:func:`runespoor.codec.degrade`), for ASR / CloudSeg fine-tuning and validation.
* :class:`RandomSegData`, :class:`RandomSRData` make small blob images with labels (colour per
  class plus noise) for smoke runs (``--data random``) and tests; learnable, so a few steps
  lower the loss.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import degrade
from ..tensors import bgr_to_tensor, tensor_to_bgr


class DegradedFrames(Dataset):
    """
    ``(image, label)`` -> ``(lr, hr, label)`` with ``lr = degrade(hr, scale, quality)``.

    ``quality`` is an int or an inclusive ``(lo, hi)`` range drawn per sample (torch RNG, so
    it follows the run's seed).  ``hr`` is the base image itself; ``lr`` has the codec's size
    (``round(W / scale) x round(H / scale)``).
    """

    def __init__(self, base, scale, quality=(40, 90)):
        self.base = base
        self.scale = int(scale)
        self.quality = quality

    def __len__(self):
        return len(self.base)

    def _quality(self):
        if isinstance(self.quality, (tuple, list)):
            lo, hi = int(self.quality[0]), int(self.quality[1])
            return int(torch.randint(lo, hi + 1, ()).item())
        return int(self.quality)

    def __getitem__(self, index):
        sample = self.base[index]
        image, label = sample[0], sample[1]
        lr = degrade(tensor_to_bgr(image), self.scale, self._quality())
        return bgr_to_tensor(lr, batch=False), image, label


def _blob_sample(rng, height, width, num_classes, blobs):
    label = np.full((height, width), rng.integers(num_classes), dtype=np.int64)
    for _ in range(blobs):
        h = int(rng.integers(1, max(2, height // 2)))
        w = int(rng.integers(1, max(2, width // 2)))
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        label[y:y + h, x:x + w] = rng.integers(num_classes)
    label[rng.random((height, width)) < 0.01] = 255
    palette = np.random.default_rng(12345).random((256, 3)).astype(np.float32)
    image = palette[label] + 0.05 * rng.standard_normal((height, width, 3)).astype(np.float32)
    image = torch.from_numpy(np.clip(image, 0, 1)).permute(2, 0, 1).contiguous()
    return image, torch.from_numpy(label)


class RandomSegData(Dataset):
    """Deterministic tiny ``(image, label)`` samples: rectangles of class colours plus noise."""

    def __init__(self, length=8, size=(32, 64), num_classes=19, blobs=6, seed=0):
        self.length, self.size = int(length), tuple(size)
        self.num_classes, self.blobs, self.seed = int(num_classes), int(blobs), int(seed)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, index))
        return _blob_sample(rng, self.size[0], self.size[1], self.num_classes, self.blobs)


class RandomSRData(Dataset):
    """``(lr, hr)`` pairs from :class:`RandomSegData` images, ``lr`` = area-downsampled ``hr``."""

    def __init__(self, length=8, scale=4, patch=8, seed=0):
        self.scale = int(scale)
        self.seg = RandomSegData(length, (patch * scale, patch * scale), seed=seed)

    def __len__(self):
        return len(self.seg)

    def __getitem__(self, index):
        hr = self.seg[index][0]
        lr = torch.nn.functional.avg_pool2d(hr[None], self.scale)[0]
        return lr, hr


def sr_qualities(quality, levels=4):
    """JPEG qualities for SR patch training: ``levels`` evenly spaced values of a range."""
    if isinstance(quality, (list, tuple)):
        lo, hi = int(quality[0]), int(quality[1])
        if lo == hi:
            return [lo]
        return sorted({int(round(lo + (hi - lo) * i / (levels - 1))) for i in range(levels)})
    return [int(quality)]


def image_area(path):
    """Return the pixel count of the image file ``path`` (OSError if unreadable)."""
    import cv2
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'cannot read image {path}')
    return int(img.shape[0] * img.shape[1])
