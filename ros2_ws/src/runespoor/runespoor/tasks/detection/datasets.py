# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Torch datasets for the detection task (VisDrone-DET layout).

Items are ``(image, target)``: ``image`` float RGB ``3 x H x W`` in [0, 1] (the project's
tensor convention), ``target`` a dict of tensors ``boxes`` (N x 4, x1 y1 x2 y2 px),
``labels`` (N, int64 1..10) and ``ignore`` (M x 4 x1 y1 x2 y2: VisDrone categories 0 and 11).
Batches need :func:`det_collate` (images stacked, targets kept as a list).

* :class:`DetFrames` -- whole frames of a split folder, in order (evaluation, fine-tuning);
* :class:`DetCropDataset` -- random crops with flips (detector training);
* :func:`sr_frames` -- the split's images as frames for :class:`runespoor.data.sr_patches.
  SRPatchDataset` (base SR training on drone video);
* :class:`RandomDetData` -- tiny learnable boxes on noise for smoke runs and tests.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ...metrics.detection import xywh_to_xyxy
from ...tensors import bgr_to_tensor

#: A box must keep at least this many pixels of width and height after cropping.
MIN_BOX_SIDE = 2.0


def annotation_to_target(annotation):
    """Convert a :class:`runespoor.data.visdrone.Annotation` into a target dict of tensors."""
    boxes = np.asarray(annotation.boxes, np.float32).reshape(-1, 4)
    ignore = np.asarray(annotation.ignore, np.float32).reshape(-1, 4)
    labels = np.asarray(annotation.labels, np.int64).reshape(-1)
    ok = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    boxes, labels = boxes[ok], labels[ok]
    return {'boxes': torch.from_numpy(xywh_to_xyxy(boxes).astype(np.float32)),
            'labels': torch.from_numpy(labels),
            'ignore': torch.from_numpy(xywh_to_xyxy(ignore).astype(np.float32))}


def crop_target(target, x0, y0, width, height):
    """Shift and clip a target to the crop ``(x0, y0, width, height)``; drop boxes outside."""
    out = {}
    for key in ('boxes', 'ignore'):
        b = target[key].clone()
        b[:, 0::2] = (b[:, 0::2] - x0).clamp(0, width)
        b[:, 1::2] = (b[:, 1::2] - y0).clamp(0, height)
        keep = ((b[:, 2] - b[:, 0]) >= MIN_BOX_SIDE) & ((b[:, 3] - b[:, 1]) >= MIN_BOX_SIDE)
        out[key] = b[keep]
        if key == 'boxes':
            out['labels'] = target['labels'][keep]
    return out


def hflip_target(target, width):
    """Mirror a target left-right in a frame of ``width`` pixels."""
    out = dict(target)
    for key in ('boxes', 'ignore'):
        b = target[key].clone()
        b[:, [0, 2]] = width - target[key][:, [2, 0]]
        out[key] = b
    return out


class DetFrames(Dataset):
    """
    Whole frames of a VisDrone-DET split folder (``images/``, ``annotations/``), sorted.

    Item ``i`` is ``(image tensor, target)``; :meth:`raw` gives the BGR image and the
    :class:`runespoor.data.visdrone.Annotation`.
    """

    def __init__(self, root):
        from ...data.visdrone import VisDroneDet
        self.root = root
        self.source = VisDroneDet(root)
        if len(self.source) == 0:
            raise ValueError(f'{root}: no images in {root}/images')

    def __len__(self):
        return len(self.source)

    def raw(self, i):
        """Return ``dict(image BGR uint8, annotation, path)`` of frame ``i``."""
        return self.source[i]

    def __getitem__(self, i):
        item = self.source[i]
        return bgr_to_tensor(item['image'], batch=False), annotation_to_target(item['annotation'])


class DetCropDataset(Dataset):
    """
    Random ``crop = (width, height)`` crops of :class:`DetFrames` with left-right flips.

    ``crop=None`` keeps whole frames (flips only).  Boxes are clipped to the crop and dropped
    when less than :data:`MIN_BOX_SIDE` pixels of them remain.
    """

    def __init__(self, frames, crop=None, flips=True):
        self.frames = frames
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))
        self.flips = bool(flips)

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        image, target = self.frames[i]
        h, w = image.shape[-2:]
        if self.crop is not None:
            cw, ch = self.crop
            if cw > w or ch > h:
                raise ValueError(f'crop {cw}x{ch} larger than frame {w}x{h} '
                                 f'({getattr(self.frames, "root", "")})')
            x0 = int(torch.randint(0, w - cw + 1, (1,)))
            y0 = int(torch.randint(0, h - ch + 1, (1,)))
            image = image[:, y0:y0 + ch, x0:x0 + cw]
            target = crop_target(target, x0, y0, cw, ch)
            w = cw
        if self.flips and torch.rand(()) < 0.5:
            image = image.flip(-1)
            target = hflip_target(target, w)
        return image.contiguous(), target


def det_collate(batch):
    """Stack the tensors of each position of the samples; keep target dicts as a list."""
    out = []
    for column in zip(*batch):
        if isinstance(column[0], dict):
            out.append(list(column))
        else:
            out.append(torch.stack(column))
    return tuple(out)


def sr_frames(*roots):
    """Images of VisDrone-DET split folders as frames for ``SRPatchDataset`` (labels unused)."""
    from ...data.cityscapes import CityscapesFrames, Frame
    from ...data.visdrone import list_images
    frames = []
    for root in roots:
        for n, (image_path, _) in enumerate(list_images(root)):
            frames.append(Frame(image_path, None, 'drone', 0, n, ''))
    return CityscapesFrames(frames)


class RandomDetData(Dataset):
    """Deterministic tiny detection samples: bright rectangles of class colours on noise."""

    def __init__(self, length=8, size=(64, 96), num_classes=10, boxes=4, seed=0):
        self.length, self.size = int(length), tuple(size)
        self.num_classes, self.boxes, self.seed = int(num_classes), int(boxes), int(seed)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, index))
        h, w = self.size
        image = 0.3 + 0.05 * rng.standard_normal((3, h, w)).astype(np.float32)
        palette = np.random.default_rng(4321).random((self.num_classes + 1, 3))
        boxes, labels = [], []
        for _ in range(self.boxes):
            bw, bh = int(rng.integers(4, max(5, w // 4))), int(rng.integers(4, max(5, h // 4)))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            c = int(rng.integers(1, self.num_classes + 1))
            image[:, y:y + bh, x:x + bw] = palette[c][:, None, None]
            boxes.append((x, y, x + bw, y + bh))
            labels.append(c)
        target = {'boxes': torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  'labels': torch.tensor(labels, dtype=torch.int64),
                  'ignore': torch.zeros((0, 4))}
        return torch.from_numpy(np.clip(image, 0, 1)), target
