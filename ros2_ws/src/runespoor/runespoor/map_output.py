# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
What a segmentation result costs on the downlink: the ``map_output`` choices of the cloud node.

A full-resolution label map is 2 MB per frame at 2048x1024 (mono8) - more than the uplink
frame it came from, times the robots of a fleet.  :func:`encode_map` packs one map as

- ``full``: the ``H x W`` uint8 train ids as they are;
- ``downsampled``: every ``factor``-th pixel per side (nearest, the centre of each block), so
  ``H/f x W/f``; label ids stay exact (no interpolation between classes);
- ``png``: the full map as a lossless PNG (label maps are flat regions: a few % of raw);
- ``stats``: no map, only the per-class pixel shares (and the tail flag, sent anyway).

Every choice also returns ``class_shares``: the share of the frame's pixels per train id
``0..NUM_CLASSES-1`` (ignore pixels count in the denominator).  No ROS imports.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .labels import NUM_CLASSES

MAP_OUTPUTS = ('full', 'downsampled', 'png', 'stats')


@dataclass
class PackedMap:
    """One map ready for a message: labels (or None), PNG bytes (or None), class shares."""

    labels: object        # H' x W' uint8 array, or None
    png: bytes            # PNG of the full map, or None
    class_shares: list    # NUM_CLASSES floats


def class_shares(labels):
    """Return the share of ``labels``' pixels per train id ``0..NUM_CLASSES-1``."""
    counts = np.bincount(np.asarray(labels, np.uint8).ravel(), minlength=256)[:NUM_CLASSES]
    return (counts / float(max(1, labels.size))).tolist()


def downsample_labels(labels, factor):
    """Return every ``factor``-th pixel per side of ``labels`` (block centres; ids exact)."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f'downsample factor {factor} must be >= 1')
    if factor == 1:
        return labels
    off = factor // 2
    out = labels[off::factor, off::factor]
    if out.size == 0:  # a map smaller than the factor: keep its centre pixel
        out = labels[labels.shape[0] // 2:labels.shape[0] // 2 + 1,
                     labels.shape[1] // 2:labels.shape[1] // 2 + 1]
    return np.ascontiguousarray(out)


def encode_map(labels, mode='full', factor=4, png_level=1):
    """Pack the ``H x W`` uint8 map ``labels`` for ``mode`` (one of :data:`MAP_OUTPUTS`)."""
    if mode not in MAP_OUTPUTS:
        raise ValueError(f'map output {mode!r}: one of {", ".join(MAP_OUTPUTS)}')
    shares = class_shares(labels)
    if mode == 'full':
        return PackedMap(labels, None, shares)
    if mode == 'downsampled':
        return PackedMap(downsample_labels(labels, factor), None, shares)
    if mode == 'png':
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(labels, np.uint8),
                               [int(cv2.IMWRITE_PNG_COMPRESSION), int(png_level)])
        if not ok:  # pragma: no cover - OpenCV fails only on exotic inputs
            raise ValueError('PNG encoding of the label map failed')
        return PackedMap(None, buf.tobytes(), shares)
    return PackedMap(None, None, shares)


def decode_png_map(data):
    """Return the ``H x W`` uint8 train ids of a ``png`` map (what a robot does on receipt)."""
    out = cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_UNCHANGED)
    if out is None or out.ndim != 2:
        raise ValueError('not a single-channel PNG label map')
    return out
