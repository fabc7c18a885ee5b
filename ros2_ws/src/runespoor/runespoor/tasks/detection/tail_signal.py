# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The detection task's tail signal: the share of small boxes among the confident predictions.

The detection counterpart of the segmentation's small-region ratio (:mod:`runespoor.regions`):
a frame whose confident detections are mostly tiny objects is the one where the edge's
downscaling hurts most.  NumPy only (no torch), so the cloud node and the evaluation share it.
"""

import numpy as np


def small_box_share(boxes_xyxy, scores, frame_w, frame_h, score_threshold=0.3,
                    max_area_fraction=0.0005):
    """
    Return the share of small boxes among the boxes scoring at least ``score_threshold``.

    ``boxes_xyxy``: ``N x 4`` (x1, y1, x2, y2) in pixels of a ``frame_w x frame_h`` frame;
    ``scores``: ``N`` confidences.  A box is small when its area is below
    ``max_area_fraction * frame_w * frame_h`` (the rule of
    :func:`runespoor.archs.det.small_box_keep`).  0.0 when no box passes the threshold.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f'{len(boxes)} boxes but {len(scores)} scores')
    keep = scores >= float(score_threshold)
    if not keep.any():
        return 0.0
    b = boxes[keep]
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    limit = float(max_area_fraction) * float(frame_w) * float(frame_h)
    return float(np.count_nonzero(area < limit)) / float(len(b))
