# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
COCO-style mAP and per-class AP of 2-D detections, computed by pycocotools.

We hand the matching and the precision/recall integration to ``pycocotools.cocoeval.COCOeval``
(the reference implementation of the COCO benchmark), building the ground-truth and result
sets in memory.  Reported numbers:

* ``mAP``: AP averaged over IoU thresholds 0.50:0.05:0.95 and the classes with ground truth
  (COCO's ``AP``, which the paper's Table 6 / Fig. 10 call mAP), all object sizes,
  at most ``max_dets`` detections per image;
* ``AP50`` and ``AP75``: the same at a single IoU threshold;
* ``per_class``: AP@[.50:.95] of each class (NaN for a class with no ground truth in the set;
  such classes are left out of ``mAP``).

Inputs, one entry per image, in the same order for ground truth and detections::

    gts  = [{'boxes': (N, 4) x, y, w, h in px, 'classes': (N,) int,
             'ignore': (N,) bool (optional),           # e.g. VisDrone truncation/occlusion
             'ignore_regions': (M, 4) x, y, w, h (optional)}, ...]
    dets = [{'boxes': (K, 4) x, y, w, h, 'scores': (K,), 'classes': (K,)}, ...]

With ``ignore_mode='visdrone'`` (what ``runespoor eval`` uses on VisDrone data) the
``ignore_regions`` follow the official VisDrone toolkit instead: every ground-truth box and every
detection with more than half of its area inside the union of the image's ignore regions is
removed before matching (:func:`drop_in_regions`).  Otherwise (``ignore_mode='crowd'``)
ignored boxes become COCO ``iscrowd`` annotations: a detection matching one (by the fraction
of the *detection* inside it) is neither a true nor a false positive, and missing it costs
nothing.  ``ignore_regions`` are class-agnostic areas (VisDrone category 0, "ignored
regions"): every detection of any class falling inside one is ignored, which we implement by
one crowd annotation per class.  :func:`gt_from_visdrone` builds the ground truth of one image
from :func:`runespoor.data.visdrone.read_annotation`, whose ``ignore`` boxes (categories 0
"ignored regions" and 11 "others") become such regions.
"""

import contextlib
import io

import numpy as np

#: IoU thresholds of COCO's AP.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _as_boxes(values):
    boxes = np.asarray(values, dtype=np.float64).reshape(-1, 4)
    if (boxes[:, 2:] < 0).any():
        raise ValueError('boxes must be x, y, w, h with non-negative width and height')
    return boxes


def _numpy(values):
    """Return a NumPy view of an array, list or (CPU/GPU, grad or not) torch tensor."""
    if hasattr(values, 'detach'):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def xywh_to_xyxy(boxes):
    """Convert ``N x 4`` boxes ``x, y, w, h`` to ``x1, y1, x2, y2`` (float64 NumPy)."""
    b = _numpy(boxes).astype(np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)


def xyxy_to_xywh(boxes):
    """Convert ``N x 4`` boxes ``x1, y1, x2, y2`` to ``x, y, w, h`` (float64 NumPy)."""
    b = _numpy(boxes).astype(np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)


def dets_from_xyxy(found):
    """
    Convert detector outputs to :func:`coco_map`'s ``dets``.

    ``found``: one dict per image with ``boxes`` (``x1, y1, x2, y2``), ``scores`` and
    ``labels`` -- NumPy arrays or torch tensors (a torchvision detector's output).
    """
    return [{'boxes': xyxy_to_xywh(d['boxes']),
             'scores': _numpy(d['scores']).astype(np.float64).reshape(-1),
             'classes': _numpy(d['labels']).astype(np.int64).reshape(-1)} for d in found]


def drop_in_regions(boxes, regions, max_inside=0.5, union=True):
    """
    Keep mask of ``boxes`` (N x 4 x, y, w, h) not lying in the ``regions`` (M x 4 x, y, w, h).

    A box is dropped (False) when more than ``max_inside`` of its area is covered.  With
    ``union=True`` -- the official VisDrone toolkit's rule, used for scoring -- the regions are
    painted into one mask (their union) at integer pixels; with ``union=False`` a box is
    dropped when a single region covers that much of it (exact float geometry; the drone
    generator's annotation rule).  Returns a bool array of length N (True = keep).
    """
    boxes, regions = _as_boxes(boxes), _as_boxes(regions)
    keep = np.ones(len(boxes), bool)
    if not len(boxes) or not len(regions):
        return keep
    if not union:
        b, g = xywh_to_xyxy(boxes), xywh_to_xyxy(regions)
        iw = np.minimum(b[:, None, 2], g[None, :, 2]) - np.maximum(b[:, None, 0], g[None, :, 0])
        ih = np.minimum(b[:, None, 3], g[None, :, 3]) - np.maximum(b[:, None, 1], g[None, :, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        share = inter / np.maximum(area, 1e-9)[:, None]
        return ~np.any(share > max_inside, axis=1)
    both = np.concatenate([boxes, regions])
    right = int(np.ceil((both[:, 0] + both[:, 2]).max()))
    bottom = int(np.ceil((both[:, 1] + both[:, 3]).max()))
    mask = np.zeros((bottom + 1, right + 1), np.int64)
    for x, y, w, h in np.round(regions).astype(np.int64):
        mask[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = 1
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    integral[1:, 1:] = mask.cumsum(0).cumsum(1)
    for i, (x, y, w, h) in enumerate(np.round(boxes).astype(np.int64)):
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = max(x0, x + w), max(y0, y + h)
        area = max(1, (x1 - x0) * (y1 - y0))
        inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
        keep[i] = inside <= max_inside * area
    return keep


def _apply_visdrone_ignore(gts, dets):
    """Drop the boxes of ``gts``/``dets`` lying in each image's ``ignore_regions``."""
    out_g, out_d = [], []
    for gt, det in zip(gts, dets):
        regions = gt.get('ignore_regions', ())
        g = {k: v for k, v in gt.items() if k != 'ignore_regions'}
        d = dict(det)
        if len(_as_boxes(regions)):
            kg = drop_in_regions(gt.get('boxes', ()), regions)
            for key in ('boxes', 'classes', 'ignore'):
                if key in g:
                    g[key] = np.asarray(g[key])[kg]
            kd = drop_in_regions(det.get('boxes', ()), regions)
            d['boxes'] = _as_boxes(det.get('boxes', ()))[kd]
            for key in ('scores', 'classes'):
                d[key] = np.asarray(det.get(key, ())).reshape(-1)[kd]
        out_g.append(g)
        out_d.append(d)
    return out_g, out_d


def _build(gts, dets, class_ids):
    images, annotations, results = [], [], []
    ann_id = 1
    for image_id, gt in enumerate(gts, start=1):
        boxes = _as_boxes(gt.get('boxes', ()))
        classes = np.asarray(gt.get('classes', ()), dtype=np.int64).reshape(-1)
        if len(classes) != len(boxes):
            raise ValueError(f'image {image_id - 1}: {len(boxes)} boxes, {len(classes)} classes')
        ignore = np.asarray(gt.get('ignore', np.zeros(len(boxes), bool)), bool).reshape(-1)
        regions = _as_boxes(gt.get('ignore_regions', ()))
        entries = [(b, int(c), bool(i)) for b, c, i in zip(boxes, classes, ignore)]
        entries += [(r, c, True) for r in regions for c in class_ids]
        for box, cls, crowd in entries:
            annotations.append({'id': ann_id, 'image_id': image_id, 'category_id': cls,
                                'bbox': [float(v) for v in box],
                                'area': float(box[2] * box[3]), 'iscrowd': int(crowd)})
            ann_id += 1
        images.append({'id': image_id})
    for image_id, det in enumerate(dets, start=1):
        boxes = _as_boxes(det.get('boxes', ()))
        scores = np.asarray(det.get('scores', ()), dtype=np.float64).reshape(-1)
        classes = np.asarray(det.get('classes', ()), dtype=np.int64).reshape(-1)
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError(f'image {image_id - 1}: {len(boxes)} boxes, {len(scores)} scores, '
                             f'{len(classes)} classes')
        for box, score, cls in zip(boxes, scores, classes):
            results.append({'image_id': image_id, 'category_id': int(cls),
                            'bbox': [float(v) for v in box], 'score': float(score),
                            'area': float(box[2] * box[3])})
    return images, annotations, results


def gt_from_visdrone(annotation):
    """
    Return the ground truth of one image from a VisDrone annotation, for :func:`coco_map`.

    ``annotation`` is a :class:`runespoor.data.visdrone.Annotation` (or any object with
    ``boxes``, ``labels`` and ``ignore``): its boxes and classes 1..10 are scored, its ignore
    boxes become class-agnostic ignore regions.
    """
    return {'boxes': np.asarray(annotation.boxes, np.float64).reshape(-1, 4),
            'classes': np.asarray(annotation.labels, np.int64).reshape(-1),
            'ignore_regions': np.asarray(annotation.ignore, np.float64).reshape(-1, 4)}


def coco_map(gts, dets, class_ids=None, max_dets=100, ignore_mode='crowd'):
    """
    Evaluate detections against ground truth; return a dict of COCO-style AP numbers.

    ``class_ids`` lists the categories to score (default: every class seen in ``gts`` or
    ``dets``).  The result holds ``mAP``, ``AP50``, ``AP75`` (floats in ``[0, 1]``, NaN if no
    class has ground truth), ``per_class`` (``{class_id: AP}``) and ``num_gt``
    (``{class_id: number of non-ignored ground-truth boxes}``).  ``ignore_mode``: how
    ``ignore_regions`` are honoured, ``'crowd'`` (COCO) or ``'visdrone'`` (the VisDrone
    toolkit's drop rule, see the module docstring).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(gts) != len(dets):
        raise ValueError(f'{len(gts)} ground-truth images but {len(dets)} detection images')
    if ignore_mode == 'visdrone':
        gts, dets = _apply_visdrone_ignore(gts, dets)
    elif ignore_mode != 'crowd':
        raise ValueError(f'ignore_mode {ignore_mode!r}: use crowd or visdrone')
    if class_ids is None:
        seen = set()
        for entry in list(gts) + list(dets):
            seen.update(np.asarray(entry.get('classes', ()), dtype=np.int64).reshape(-1).tolist())
        class_ids = sorted(seen)
    class_ids = [int(c) for c in class_ids]
    images, annotations, results = _build(gts, dets, class_ids)
    num_gt = dict.fromkeys(class_ids, 0)
    for ann in annotations:
        if not ann['iscrowd'] and ann['category_id'] in num_gt:
            num_gt[ann['category_id']] += 1

    nan = float('nan')
    per_class = {c: (0.0 if num_gt[c] else nan) for c in class_ids}
    out = {'mAP': nan, 'AP50': nan, 'AP75': nan, 'per_class': per_class, 'num_gt': num_gt}
    if not class_ids or not any(num_gt.values()):
        return out
    if not results:  # pycocotools cannot load an empty result set; nothing found = AP 0
        out.update({'mAP': 0.0, 'AP50': 0.0, 'AP75': 0.0})
        return out

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = {'images': images, 'annotations': annotations,
                           'categories': [{'id': c} for c in class_ids]}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, 'bbox')
        evaluator.params.catIds = class_ids
        evaluator.params.maxDets = [1, 10, int(max_dets)]
        evaluator.evaluate()
        evaluator.accumulate()
    # precision: [iou threshold, recall point, class, area range, max dets]; -1 = undefined
    precision = evaluator.eval['precision'][:, :, :, 0, -1]

    def _ap(p):
        valid = p[p > -1]
        return float(valid.mean()) if valid.size else nan

    for k, c in enumerate(class_ids):
        per_class[c] = _ap(precision[:, :, k]) if num_gt[c] else nan
    t50 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.5)))
    t75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))
    out.update({'mAP': _ap(precision), 'AP50': _ap(precision[t50]), 'AP75': _ap(precision[t75])})
    return out
