# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The one image <-> tensor convention of the project, in one module.

OpenCV images are BGR ``uint8`` ``H x W x 3`` arrays; tensors are float32 RGB in [0, 1],
``3 x H x W`` (one image, datasets) or ``1 x 3 x H x W`` (a batch of one, models).  Label
maps are ``uint8`` train ids (255 = ignore) as arrays and ``int64`` as tensors.  Conversions
from ROS messages live in :mod:`runespoor_edge.image_conv`.
"""

import numpy as np
import torch


def _check_bgr(image):
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError(f'expected an HxWx3 uint8 BGR image, got '
                         f'{getattr(image, "shape", None)} {getattr(image, "dtype", None)}')


def bgr_to_uint8_tensor(image, batch=True):
    """
    BGR uint8 ``H x W x 3`` -> RGB uint8 tensor on the CPU, still bytes.

    ``1 x 3 x H x W`` (``batch=True``) or ``3 x H x W``; what a host-to-device copy sends
    before the division (:func:`bgr_to_tensor`, the fast path's pinned copy).
    """
    _check_bgr(image)
    t = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).permute(2, 0, 1)
    return t.unsqueeze(0) if batch else t


def bgr_to_tensor(image, device='cpu', batch=True):
    """
    BGR uint8 ``H x W x 3`` -> RGB float tensor in [0, 1] on ``device``.

    ``batch=True`` gives ``1 x 3 x H x W`` (a model input), ``False`` ``3 x H x W`` (a dataset
    item).  The division runs on ``device`` so a GPU receives bytes, not floats.
    """
    return bgr_to_uint8_tensor(image, batch).to(device).float().div_(255.0)


def tensor_to_bgr(tensor):
    """``1 x 3 x H x W`` or ``3 x H x W`` RGB tensor in [0, 1] -> BGR uint8 ``H x W x 3``."""
    t = tensor.detach()
    if t.dim() == 4:
        t = t[0]
    t = t.float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(t[:, :, ::-1])


def label_to_tensor(label):
    """``uint8 H x W`` train ids -> ``int64 H x W`` tensor (255 stays ignore)."""
    return torch.from_numpy(np.ascontiguousarray(label)).long()
