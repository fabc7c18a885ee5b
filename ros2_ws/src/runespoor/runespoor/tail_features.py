# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Per-frame summary features of an analytics forward pass, for the fitted tail detector.

The paper's CAC flags a tail frame from one number, the small-region ratio of the predicted
map.  The cloud has more than the map at no extra DNN cost: the logits of the same forward
pass.  :func:`seg_features` reduces them (and the argmax map) to a short vector:

==========================  =======================================================
``small_region_ratio``      share of pixels in small components (the paper's signal)
``small_region_count``      ``log1p`` of the number of small components
``mean_max_prob``           mean over pixels of the top softmax probability
``low_conf_share``          share of pixels whose top probability is below 0.5
``mean_margin``             mean of top-1 minus top-2 probability
``mean_entropy``            mean softmax entropy, divided by ``log(C)`` (0..1)
``boundary_share``          share of pixels whose right or lower neighbour has another class
``class_count``             number of classes covering at least 0.1 % of the frame, / C
``class_share_<k>``         share of pixels predicted as train id ``k`` (the class histogram)
==========================  =======================================================

Everything is a float in a fixed order (:func:`seg_feature_names`), so a fitted model
(:mod:`runespoor.cac.detector`) stores plain weights per name.  No ROS, no new DNN work.

:func:`with_derived` appends features computed from those (so a stored vector gives them too):
``tiny_class_count`` and ``small_class_count`` (classes predicted on a share of the frame in
(0, 0.1 %) and [0.1 %, 1 %), / C: a per-frame mIoU is dominated by classes of few pixels, each
counting as much as the road) and ``log_class_share_<k>`` (``log10(share + 1e-4)``: lets a
linear model see "present but small").

Detection (:func:`det_features`, :func:`det_feature_names`) reduces the detector's boxes,
scores and labels of the same forward pass: the small-box share, box counts by size and by
class (kept and all returned), and score statistics.
"""

from collections import namedtuple
import math

import numpy as np

from .regions import DEFAULT_MAX_AREA_FRACTION, IGNORE_ID

#: Scalar features before the class histogram, in order.
SCALAR_FEATURES = ('small_region_ratio', 'small_region_count', 'mean_max_prob',
                   'low_conf_share', 'mean_margin', 'mean_entropy', 'boundary_share',
                   'class_count')
#: A class "is present" when it covers at least this share of the frame (``class_count``).
PRESENT_SHARE = 0.001

#: A segmentation result with its summary features: ``labels`` (H x W uint8), ``features``
#: (1-D float64 in :func:`seg_feature_names` order).
AnalysisOutput = namedtuple('AnalysisOutput', 'labels features')


def seg_feature_names(num_classes=19):
    """Return the feature names in vector order for ``num_classes`` classes."""
    return SCALAR_FEATURES + tuple(f'class_share_{k}' for k in range(int(num_classes)))


def map_features(labels, num_classes=19, small_region_fraction=DEFAULT_MAX_AREA_FRACTION,
                 ignore_id=IGNORE_ID):
    """Return ``{name: value}`` of the features that need only the label map."""
    from .regions import _small_components
    labels = np.asarray(labels)
    n = float(labels.size) or 1.0
    comp, small, areas = _small_components(labels, small_region_fraction, ignore_id, None)
    if comp is None:
        ratio, count = 0.0, 0
    else:
        ratio, count = float(areas[small].sum()) / comp.size, int(small.sum())
    diff = np.zeros(labels.shape, dtype=bool)
    diff[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    diff[:-1, :] |= labels[:-1, :] != labels[1:, :]
    valid = labels.ravel()
    valid = valid[valid < num_classes].astype(np.int64)
    hist = np.bincount(valid, minlength=num_classes)[:num_classes] / n
    out = {'small_region_ratio': ratio, 'small_region_count': math.log1p(count),
           'boundary_share': float(diff.mean()) if diff.size else 0.0,
           'class_count': float((hist >= PRESENT_SHARE).sum()) / num_classes}
    out.update({f'class_share_{k}': float(v) for k, v in enumerate(hist)})
    return out


def prob_features(probs):
    """
    Return ``{name: value}`` of the confidence features of softmax ``probs`` (C x H x W).

    NumPy or torch input; computed in float64 on the host.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 2:
        raise ValueError(f'expected C x H x W probabilities with C >= 2, got {p.shape}')
    c = p.shape[0]
    part = np.partition(p, c - 2, axis=0)
    top1, top2 = part[-1], part[-2]
    ent = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(0) / math.log(c)
    return {'mean_max_prob': float(top1.mean()), 'low_conf_share': float((top1 < 0.5).mean()),
            'mean_margin': float((top1 - top2).mean()), 'mean_entropy': float(ent.mean())}


def seg_features_torch(logits, labels=None, small_region_fraction=DEFAULT_MAX_AREA_FRACTION):
    """
    Return ``(labels, features)`` from ``1 x C x H x W`` (or ``C x H x W``) torch logits.

    ``labels`` (the argmax map) is computed when not given.  The confidence reductions run
    in torch (one softmax over the logits of the forward pass already made).
    """
    import torch
    x = logits[0] if logits.dim() == 4 else logits
    c = int(x.shape[0])
    with torch.no_grad():
        x = x.float()
        logp = torch.log_softmax(x, 0)
        p = logp.exp()
        top = torch.topk(p, 2, dim=0).values
        ent = -(p * logp).sum(0) / math.log(c)
        conf = {'mean_max_prob': float(top[0].mean()),
                'low_conf_share': float((top[0] < 0.5).float().mean()),
                'mean_margin': float((top[0] - top[1]).mean()),
                'mean_entropy': float(ent.mean())}
        if labels is None:
            labels = x.argmax(0).to(torch.uint8).cpu().numpy()
    feats = map_features(labels, c, small_region_fraction)
    feats.update(conf)
    names = seg_feature_names(c)
    return AnalysisOutput(labels, np.array([feats[k] for k in names], dtype=np.float64))


def seg_features(probs, labels, small_region_fraction=DEFAULT_MAX_AREA_FRACTION):
    """Return the feature vector (NumPy) from softmax ``probs`` (C x H x W) and ``labels``."""
    feats = map_features(labels, int(np.shape(probs)[0]), small_region_fraction)
    feats.update(prob_features(probs))
    return np.array([feats[k] for k in seg_feature_names(int(np.shape(probs)[0]))],
                    dtype=np.float64)


#: Share bins of :func:`with_derived`'s class counts (fraction of the frame).
TINY_SHARE, SMALL_SHARE = 0.001, 0.01
DERIVED_PREFIX = ('tiny_class_count', 'small_class_count')


def derived_names(names):
    """Return the names :func:`with_derived` appends to base features ``names``."""
    k = [n for n in names if n.startswith('class_share_')]
    return DERIVED_PREFIX + tuple('log_' + n for n in k)


def with_derived(features, names):
    """
    Return ``(features with the derived ones appended, their names)``.

    ``features`` is ``(..., F)`` in ``names`` order (the class histogram must be among them).
    """
    x = np.asarray(features, dtype=np.float64)
    names = tuple(names)
    cols = [i for i, n in enumerate(names) if n.startswith('class_share_')]
    if not cols:
        raise ValueError('derived features need the class histogram (class_share_<k>)')
    share = x[..., cols]
    c = float(len(cols))
    tiny = ((share > 0) & (share < TINY_SHARE)).sum(-1) / c
    small = ((share >= TINY_SHARE) & (share < SMALL_SHARE)).sum(-1) / c
    logs = np.log10(share + 1e-4)
    out = np.concatenate([x, tiny[..., None], small[..., None], logs], axis=-1)
    return out, names + derived_names(names)


# --------------------------------------------------------------------------- detection

#: Scalar detection features, in order (:func:`det_feature_names`).
DET_SCALAR_FEATURES = ('small_box_share', 'box_count', 'small_count', 'medium_count',
                       'large_count', 'candidate_count', 'low_score_count', 'kept_share',
                       'mean_score', 'mean_candidate_score', 'uncertain_share', 'top_score',
                       'expected_count', 'mean_log_area', 'det_class_count')
#: A kept box below this score is "uncertain" (``uncertain_share``).
UNCERTAIN_SCORE = 0.5
#: Boxes up to this many times the small-box limit are "medium" (``medium_count``).
MEDIUM_FACTOR = 10.0
#: Default small-box limit [share of the frame] (``PipelineConfig.small_box_fraction``).
DEFAULT_SMALL_BOX_FRACTION = 0.0005


def det_feature_names(num_classes=10):
    """
    Return the detection feature names in vector order (class ids ``1 .. num_classes``).

    ``kept_count_<k>`` / ``cand_count_<k>``: ``log1p`` of the boxes of class ``k`` scored at
    least the score threshold / returned by the detector at all (its own low floor).
    """
    k = range(1, int(num_classes) + 1)
    return DET_SCALAR_FEATURES + tuple(f'kept_count_{c}' for c in k) + \
        tuple(f'cand_count_{c}' for c in k)


def det_features(boxes_xyxy, scores, labels, frame_w, frame_h, score_threshold=0.3,
                 small_box_fraction=DEFAULT_SMALL_BOX_FRACTION, num_classes=10):
    """
    Return the detection feature vector (:func:`det_feature_names` order) of one frame.

    ``boxes_xyxy`` / ``scores`` / ``labels`` are *all* the detections the detector returned
    (after its NMS, down to its own score floor): the same forward pass the cloud publishes
    from, whose boxes at or above ``score_threshold`` are the kept ones.

    ==========================  =======================================================
    ``small_box_share``         share of kept boxes below ``small_box_fraction`` of the
                                frame (the paper-style signal,
                                :mod:`runespoor.tasks.detection.tail_signal`)
    ``box_count``               ``log1p`` of the kept boxes
    ``small/medium/large_count``  ``log1p`` of the kept boxes by area: below the small-box
                                limit, up to 10 x it, above
    ``candidate_count``         ``log1p`` of all returned boxes
    ``low_score_count``         ``log1p`` of the returned boxes below ``score_threshold``
    ``kept_share``              kept / returned boxes (0 when none)
    ``mean_score``              mean score of the kept boxes (0 when none)
    ``mean_candidate_score``    mean score of all returned boxes (0 when none)
    ``uncertain_share``         share of kept boxes scored below 0.5
    ``top_score``               highest score (0 when none)
    ``expected_count``          ``log1p`` of the sum of all scores
    ``mean_log_area``           score-weighted mean ``log10`` of the box area / frame area
                                (``log10(small_box_fraction)`` when no box)
    ``det_class_count``         classes with a kept box, / ``num_classes``
    ==========================  =======================================================
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    if not len(b) == len(s) == len(lab):
        raise ValueError(f'{len(b)} boxes, {len(s)} scores, {len(lab)} labels')
    c = int(num_classes)
    valid = (lab >= 1) & (lab <= c)
    b, s, lab = b[valid], s[valid], lab[valid]
    frame = max(float(frame_w) * float(frame_h), 1.0)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    keep = s >= float(score_threshold)
    limit = float(small_box_fraction) * frame
    ka, ks = area[keep], s[keep]
    n_keep, n_all = int(keep.sum()), int(len(s))
    small = int((ka < limit).sum())
    medium = int(((ka >= limit) & (ka < MEDIUM_FACTOR * limit)).sum())
    large = n_keep - small - medium
    if n_all and s.sum() > 0:
        log_area = float((s * np.log10(np.maximum(area, 1.0) / frame)).sum() / s.sum())
    else:
        log_area = math.log10(max(float(small_box_fraction), 1e-12))
    kept_cls = np.bincount(lab[keep], minlength=c + 1)[1:c + 1]
    cand_cls = np.bincount(lab, minlength=c + 1)[1:c + 1]
    feats = {
        'small_box_share': small / n_keep if n_keep else 0.0,
        'box_count': math.log1p(n_keep), 'small_count': math.log1p(small),
        'medium_count': math.log1p(medium), 'large_count': math.log1p(large),
        'candidate_count': math.log1p(n_all), 'low_score_count': math.log1p(n_all - n_keep),
        'kept_share': n_keep / n_all if n_all else 0.0,
        'mean_score': float(ks.mean()) if n_keep else 0.0,
        'mean_candidate_score': float(s.mean()) if n_all else 0.0,
        'uncertain_share': float((ks < UNCERTAIN_SCORE).mean()) if n_keep else 0.0,
        'top_score': float(s.max()) if n_all else 0.0,
        'expected_count': math.log1p(float(s.sum())), 'mean_log_area': log_area,
        'det_class_count': float((kept_cls > 0).sum()) / c}
    vec = [feats[k] for k in DET_SCALAR_FEATURES]
    vec += [math.log1p(float(v)) for v in kept_cls] + [math.log1p(float(v)) for v in cand_cls]
    return np.array(vec, dtype=np.float64)
