# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Semantic-segmentation accuracy: confusion matrix, per-class IoU, mIoU and class-wise tail.

Conventions (the Cityscapes benchmark's, paper §5.1.1):

* Labels are *train ids* ``0 .. num_classes - 1``; ``ignore_index`` (255) marks void pixels,
  which are dropped from the ground truth before counting.  A prediction is never ``255``.
* The confusion matrix ``conf[t, p]`` counts pixels of ground-truth class ``t`` predicted as
  ``p``; it is one ``bincount`` over ``num_classes * target + pred``.  Matrices of several
  frames add up, and IoU is computed from the *accumulated* matrix (dataset-level IoU, as the
  Cityscapes evaluator does), not averaged over frames.
* ``IoU_c = TP / (TP + FP + FN)``.  A class absent from both the ground truth and the
  prediction has ``TP + FP + FN = 0``: its IoU is **NaN** (undefined), and every mean in
  this module (:func:`mean_iou`, :func:`average_iou`, :func:`tail_miou`) skips NaN entries,
  which is what ``cityscapesscripts`` does too.  A class present in the ground truth but
  never predicted (or predicted but absent) has IoU 0 and counts.
* **Class-wise tail** (paper Table 2/3, "average of 50 % to 100 % class-wise tail accuracy"):
  the mean IoU over the worst half of the classes (9 of 19).  The class set is chosen once,
  per scale, from a baseline method (bilinear upsampling) with :func:`worst_classes`, and the
  same set is then used for every method, so all methods are averaged over the same classes.
  :func:`normalised` divides a score by the score on the original high-resolution frames.
"""

import numpy as np

#: Number of Cityscapes evaluation classes (train ids 0..18).
NUM_CLASSES = 19
#: Label value of void / ignored pixels.
IGNORE_INDEX = 255


def confusion_matrix(target, pred, num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX):
    """
    Return the ``num_classes x num_classes`` int64 confusion matrix of one or more frames.

    ``target`` and ``pred`` are integer arrays of the same shape (``H x W`` or ``N x H x W``;
    a torch tensor on the CPU works too).  Rows are ground truth, columns prediction.  Pixels
    whose target equals ``ignore_index`` are not counted, so an all-ignore frame gives a matrix
    of zeros.  Any other value outside ``[0, num_classes)`` raises :class:`ValueError`.
    """
    target = np.asarray(target)
    pred = np.asarray(pred)
    if target.shape != pred.shape:
        raise ValueError(f'target shape {target.shape} != prediction shape {pred.shape}')
    target = target.reshape(-1).astype(np.int64)
    pred = pred.reshape(-1).astype(np.int64)
    keep = target != ignore_index
    target = target[keep]
    pred = pred[keep]
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        bad = np.unique(target[(target < 0) | (target >= num_classes)])
        raise ValueError(f'target labels {bad.tolist()} outside [0, {num_classes}) '
                         f'and not ignore ({ignore_index})')
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        bad = np.unique(pred[(pred < 0) | (pred >= num_classes)])
        raise ValueError(f'predicted labels {bad.tolist()} outside [0, {num_classes})')
    counts = np.bincount(num_classes * target + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def iou_per_class(conf):
    """
    Per-class IoU (float64, in ``[0, 1]``) of a confusion matrix; NaN for absent classes.

    ``conf`` may also be a stack ``N x C x C`` of matrices, giving ``N x C`` IoUs.
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    denom = conf.sum(axis=-1) + conf.sum(axis=-2) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, tp / np.where(denom > 0, denom, 1.0), np.nan)


def _nanmean(values, axis=-1):
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def mean_iou(conf):
    """
    Mean IoU of a ``C x C`` confusion matrix (or of each matrix of an ``N x C x C`` stack).

    Classes whose IoU is undefined (NaN) are skipped; NaN when no class is defined (e.g. only
    ignore pixels were seen).
    """
    conf = np.asarray(conf)
    if conf.ndim < 2 or conf.shape[-1] != conf.shape[-2]:
        raise ValueError(f'expected a C x C confusion matrix, got shape {conf.shape}')
    return average_iou(iou_per_class(conf))


def average_iou(ious):
    """Mean of per-class IoUs along the last axis, skipping NaN (undefined) classes."""
    result = _nanmean(ious)
    return float(result) if np.ndim(result) == 0 else result


def worst_classes(baseline_ious, fraction=0.5, num=None, eligible=None):
    """
    Return the indices of the worst classes of a baseline, worst first (the tail class set).

    By default the worst ``int(num_classes * fraction)`` classes (9 of 19, paper Table 2).
    Classes with a NaN IoU (absent from both ground truth and prediction) cannot be ranked and
    are left out, and so are classes where the boolean mask ``eligible`` is False -- pass
    ``class_pixel_share(conf) > 0`` to rank only classes that occur in the ground truth (a
    class that is only ever *predicted* has IoU 0 but no objects to be a tail of).  Fewer
    classes are returned when fewer can be ranked.  Ties keep class-id order.
    """
    ious = np.asarray(baseline_ious, dtype=np.float64)
    if num is None:
        num = int(len(ious) * fraction)
    ok = ~np.isnan(ious)
    if eligible is not None:
        ok &= np.asarray(eligible, dtype=bool)
    defined = np.flatnonzero(ok)
    order = defined[np.argsort(ious[defined], kind='stable')]
    return order[:num].astype(int)


def tail_miou(ious, classes):
    """Mean of ``ious`` over the fixed tail ``classes`` (NaN entries skipped)."""
    ious = np.asarray(ious, dtype=np.float64)
    classes = np.asarray(classes, dtype=int)
    if classes.size == 0:
        return float('nan')
    return float(_nanmean(ious[classes]))


def normalised(value, hr_value):
    """``value / hr_value`` (accuracy relative to the original frames); NaN if undefined."""
    value = np.asarray(value, dtype=np.float64)
    hr_value = np.asarray(hr_value, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = np.where(hr_value > 0, value / np.where(hr_value > 0, hr_value, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def class_pixel_share(conf):
    """
    Share of each ground-truth class among the counted (non-ignore) pixels, in ``[0, 1]``.

    This is the "size (%)" column of paper Table 2 when multiplied by 100.
    """
    conf = np.asarray(conf, dtype=np.float64)
    rows = conf.sum(axis=-1)
    total = rows.sum(axis=-1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(total > 0, rows / np.where(total > 0, total, 1.0), np.nan)
