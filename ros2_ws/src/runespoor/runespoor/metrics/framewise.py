# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Frame-wise tail accuracy: mIoU of 10-frame episodes and its low percentiles (paper §5.1.2).

The frames of a stream (in playback order) are cut into consecutive, non-overlapping episodes
of ``episode_length`` frames (10 in the paper: 500 Cityscapes val frames -> 50 episodes).  Each
episode gets one accuracy, by default the mIoU of the episode's *pooled* confusion matrix (the
same definition as the dataset mIoU, applied to 10 frames; ``reduce='pooled'``).  The paper's
wording "average accuracy on an episode" can also be read as the mean of the per-frame mIoUs;
``reduce='mean'`` gives that.  Over the episodes we report

* ``mean``: the mean episode mIoU (it differs from the dataset mIoU, as the paper notes),
* ``p90_tail``: the 10th percentile, the paper's "90 % tail accuracy",
* ``p99_tail``: the 1st percentile, the paper's "99 % tail accuracy".

Percentiles use NumPy's default linear interpolation.  Episodes whose mIoU is undefined (only
ignore pixels) are NaN and left out of all three numbers.
"""

import numpy as np

from runespoor.metrics.segmentation import mean_iou

#: Frames per episode in the paper.
EPISODE_LENGTH = 10


def episode_slices(num_frames, episode_length=EPISODE_LENGTH, drop_last=True):
    """
    ``slice`` objects of the consecutive episodes of a ``num_frames``-frame stream.

    With ``drop_last`` a final episode shorter than ``episode_length`` is dropped (so every
    episode weighs the same); otherwise it is kept.
    """
    if episode_length < 1:
        raise ValueError(f'episode_length must be >= 1, got {episode_length}')
    out = []
    for start in range(0, num_frames, episode_length):
        stop = min(start + episode_length, num_frames)
        if stop - start < episode_length and drop_last:
            break
        out.append(slice(start, stop))
    return out


def episode_miou(frame_confs, episode_length=EPISODE_LENGTH, reduce='pooled', drop_last=True):
    """
    Return the mIoU of every episode (1-D float array, may hold NaN).

    ``frame_confs`` is an ``N x C x C`` stack of per-frame confusion matrices in stream order.
    ``reduce='pooled'`` sums the matrices of the episode then takes the mIoU; ``'mean'`` takes
    the mean of the per-frame mIoUs (frames with undefined mIoU skipped).
    """
    confs = np.asarray(frame_confs)
    if confs.ndim != 3:
        raise ValueError(f'expected an N x C x C stack of confusion matrices, got {confs.shape}')
    values = []
    for sl in episode_slices(len(confs), episode_length, drop_last):
        if reduce == 'pooled':
            values.append(mean_iou(confs[sl].sum(axis=0)))
        elif reduce == 'mean':
            per_frame = np.asarray(mean_iou(confs[sl]), dtype=np.float64)
            valid = per_frame[~np.isnan(per_frame)]
            values.append(float(valid.mean()) if valid.size else float('nan'))
        else:
            raise ValueError(f"reduce must be 'pooled' or 'mean', got {reduce!r}")
    return np.asarray(values, dtype=np.float64)


def tail_stats(values):
    """``{'mean', 'p90_tail', 'p99_tail', 'episodes'}`` of episode accuracies (NaN skipped)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        nan = float('nan')
        return {'mean': nan, 'p90_tail': nan, 'p99_tail': nan, 'episodes': 0}
    return {
        'mean': float(values.mean()),
        'p90_tail': float(np.percentile(values, 10)),
        'p99_tail': float(np.percentile(values, 1)),
        'episodes': int(values.size),
    }


def framewise_tail(frame_confs, episode_length=EPISODE_LENGTH, reduce='pooled',
                   drop_last=True):
    """:func:`tail_stats` of :func:`episode_miou`: the numbers of paper Table 4."""
    return tail_stats(episode_miou(frame_confs, episode_length, reduce, drop_last))
