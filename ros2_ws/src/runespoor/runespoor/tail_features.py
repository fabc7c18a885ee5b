# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Per-frame summary features of a segmentation forward pass, for the fitted tail detector.

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
