"""
The task-neutral torch dataset: (LR, HR) patch pairs for super-resolution training.

The tasks' own datasets (labelled crops, whole frames for evaluation, detection targets) live in
``runespoor.tasks.<task>.datasets``.

Tensor convention for the whole project: images float32 RGB in [0, 1], shape ``3 x H x W``;
labels int64 ``H x W`` with 255 = ignore.  Randomness (crops, flips) comes from ``torch``'s
generator, so DataLoader workers draw different crops and ``torch.manual_seed`` reproduces them.

The SR pairs are made by the edge's own codec (:func:`runespoor.codec.degrade`) on the *whole*
frame, then cropped at matching positions: the LR patch is exactly what the cloud would decode.
"""

from collections import OrderedDict

import torch
from torch.utils.data import Dataset

from .cityscapes import CityscapesFrames, read_image
from .. import codec
from ..tensors import bgr_to_tensor


def as_frames(source):
    """Accept a :class:`CityscapesFrames`, a list of Frames, or a list of image paths."""
    return source if isinstance(source, CityscapesFrames) else CityscapesFrames(list(source))


class _LRU:
    """A bounded least-recently-used cache (nothing grows without bound)."""

    def __init__(self, size):
        self.size = int(size)
        self.data = OrderedDict()

    def get(self, key, make):
        if self.size <= 0:
            return make()
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        value = make()
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)
        return value


class SRPatchDataset(Dataset):
    """
    Random (LR, HR) patch pairs for super-resolution training.

    ``source``: frames (labels are not needed: sequence frames work).  ``scale`` and
    ``quality`` are the edge knobs; ``lr_patch`` the LR patch side (HR side ``lr_patch*scale``);
    ``samples`` the epoch length (default: one patch per frame); ``cache`` how many degraded
    frame pairs to keep in memory (0 disables; CPU time is scarce, JPEG encoding is not free).
    Items are ``(lr, hr)`` tensors, ``3 x p x p`` and ``3 x p*s x p*s``.
    """

    def __init__(self, source, scale, quality, lr_patch=64, samples=None, flips=True,
                 cache=64):
        """See the class docstring."""
        self.frames = as_frames(source)
        if len(self.frames) == 0:
            raise ValueError('SRPatchDataset: no frames')
        self.scale = codec.check_scale(scale)
        self.quality = codec.check_quality(quality)
        self.lr_patch = int(lr_patch)
        self.samples = int(samples) if samples else len(self.frames)
        self.flips = flips
        self._cache = _LRU(cache)

    def __len__(self):
        """Return the number of patches per epoch."""
        return self.samples

    def pair(self, i):
        """Return the whole degraded pair of frame ``i``: ``(lr_bgr, hr_bgr)`` uint8 (cached)."""
        def make():
            hr = read_image(self.frames.frames[i].image_path)
            return codec.degrade(hr, self.scale, self.quality), hr
        return self._cache.get(i, make)

    def __getitem__(self, k):
        """Return a random patch pair from frame ``k % len(frames)``."""
        lr, hr = self.pair(k % len(self.frames))
        s, p = self.scale, self.lr_patch
        h = min(lr.shape[0], hr.shape[0] // s)
        w = min(lr.shape[1], hr.shape[1] // s)
        if h < p or w < p:
            raise ValueError(f'{self.frames.frames[k % len(self.frames)].image_path}: '
                             f'LR frame {w}x{h} smaller than the {p}x{p} patch')
        y = int(torch.randint(0, h - p + 1, (1,)))
        x = int(torch.randint(0, w - p + 1, (1,)))
        lr_t = bgr_to_tensor(lr[y:y + p, x:x + p], batch=False)
        hr_t = bgr_to_tensor(hr[y * s:(y + p) * s, x * s:(x + p) * s], batch=False)
        if self.flips:
            if torch.rand(()) < 0.5:
                lr_t, hr_t = lr_t.flip(-1), hr_t.flip(-1)
            if torch.rand(()) < 0.5:
                lr_t, hr_t = lr_t.flip(-2), hr_t.flip(-2)
        return lr_t, hr_t
