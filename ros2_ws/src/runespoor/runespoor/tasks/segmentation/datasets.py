# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Torch datasets of the segmentation task (Cityscapes layout).

Tensor convention (the project's): images float32 RGB in [0, 1], ``3 x H x W``; labels int64
``H x W`` with 255 = ignore.  Crops and flips draw from ``torch``'s generator.

* :class:`SegCropDataset` -- random crops with flips of labelled frames (segmentation training);
* :class:`EvalFrames` -- whole frames in order (evaluation).
"""

import torch
from torch.utils.data import Dataset

from ...data.sr_patches import as_frames
from ...tensors import bgr_to_tensor, label_to_tensor


class SegCropDataset(Dataset):
    """
    Random crops and horizontal flips of labelled frames for segmentation training.

    ``crop`` is ``(width, height)`` or ``None`` for whole frames.  Items are
    ``(image 3xHxW float32, label HxW int64)``.
    """

    def __init__(self, source, crop=None, flips=True):
        """See the class docstring; every frame must have a label."""
        self.frames = as_frames(source)
        missing = [f.image_path for f in self.frames.frames if not f.label_path]
        if missing:
            raise ValueError(f'SegCropDataset: frame without a label: {missing[0]}')
        self.crop = crop
        self.flips = flips

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, i):
        """Frame ``i``, randomly cropped and flipped."""
        item = self.frames[i]
        img, lab = item['image'], item['label']
        if self.crop is not None:
            cw, ch = int(self.crop[0]), int(self.crop[1])
            H, W = lab.shape
            if cw > W or ch > H:
                raise ValueError(f'{item["path"]}: frame {W}x{H} smaller than crop {cw}x{ch}')
            y = int(torch.randint(0, H - ch + 1, (1,)))
            x = int(torch.randint(0, W - cw + 1, (1,)))
            img, lab = img[y:y + ch, x:x + cw], lab[y:y + ch, x:x + cw]
        if self.flips and torch.rand(()) < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        return bgr_to_tensor(img, batch=False), label_to_tensor(lab)


class EvalFrames(Dataset):
    """
    Whole frames in order, for evaluation.

    Items are dicts: ``image`` (3xHxW float32), ``label`` (HxW int64; all 255 when the frame
    has no label), ``has_label`` (bool), ``index`` and ``path`` -- all collatable.
    """

    def __init__(self, source):
        """Wrap ``source`` (frames or image paths)."""
        self.frames = as_frames(source)

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, i):
        """Frame ``i``."""
        item = self.frames[i]
        img = bgr_to_tensor(item['image'], batch=False)
        if item['label'] is None:
            lab = torch.full(img.shape[1:], 255, dtype=torch.int64)
        else:
            lab = label_to_tensor(item['label'])
        return {'image': img, 'label': lab, 'has_label': item['label'] is not None,
                'index': i, 'path': item['path']}
