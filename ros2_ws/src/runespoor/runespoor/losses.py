"""
Training losses of the SR models (paper §3.1).

* :func:`sr_loss`: the similarity term ``L_s`` -- L1 between SR output and HR (base SR, "NAS").
* :class:`ASRLoss`: paper Eq. 3, ``alpha * L1(SR, HR) + beta * CE(inf(SR)[dtl], label[dtl])``:
  the analytics term is the cross entropy of the frozen analytics model's prediction on the SR
  frame against the *label*, on the pixels of small ("detailed") regions of the label only
  (:func:`runespoor.regions.small_region_mask`).
* :class:`CloudSegLoss`: paper Eq. 2 (CloudSeg baseline), ``alpha * L1(SR, HR) +
  beta * CE(inf(SR), argmax inf(HR))`` on the whole frame: the model's own HR prediction is the
  target, no label is needed.

The analytics model is frozen (:func:`freeze`): ``requires_grad_(False)`` and eval mode (BN
statistics fixed).  Gradients still flow *through* it into the SR model.  Tensors follow the
project convention: images ``B x 3 x H x W`` float RGB in [0, 1], labels ``B x H x W`` int64
with 255 = ignore.
"""

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .regions import DEFAULT_MAX_AREA_FRACTION, IGNORE_ID, small_region_mask

#: Default loss weights for segmentation (paper §4): alpha (similarity), beta (analytics).
SEG_ALPHA, SEG_BETA = 0.95, 0.05


def freeze(model):
    """Freeze ``model`` in place (no parameter gradients, eval mode) and return it."""
    model.requires_grad_(False)
    model.eval()
    return model


def sr_loss(sr, hr):
    """L1 similarity loss between the SR output and the HR target (mean over pixels)."""
    return F.l1_loss(sr, hr)


def detail_mask(labels, max_area_fraction=DEFAULT_MAX_AREA_FRACTION, ignore_id=IGNORE_ID,
                frame_area=None):
    """
    Batch version of :func:`small_region_mask`: ``B x H x W`` bool tensor on ``labels``' device.

    ``frame_area``: area in pixels (at the labels' resolution) of the frame the fraction refers
    to, for labels that are crops of larger frames; default: each label map's own area.
    """
    lab = labels.detach().to('cpu', torch.uint8).numpy()
    masks = np.stack([small_region_mask(m, max_area_fraction, ignore_id, frame_area)
                      for m in lab])
    return torch.from_numpy(masks).to(labels.device)


def masked_cross_entropy(logits, target, mask, ignore_id=IGNORE_ID):
    """
    Mean cross entropy over the pixels where ``mask`` is True (and target != ignore).

    Returns 0 (still attached to the graph) when no pixel is selected, instead of NaN.
    """
    target = target.masked_fill(~mask, ignore_id)
    total = F.cross_entropy(logits, target, ignore_index=ignore_id, reduction='sum')
    count = (target != ignore_id).sum()
    return total / count.clamp(min=1).to(total.dtype)


class _FrozenAnalyticsLoss(nn.Module):
    """Base class: holds the frozen analytics model and keeps it frozen in ``train()``."""

    def __init__(self, analytics_model, alpha, beta):
        super().__init__()
        self.analytics = freeze(analytics_model)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def train(self, mode=True):
        """Switch this module's mode but keep the analytics model in eval mode."""
        super().train(mode)
        self.analytics.eval()
        return self


class ASRLoss(_FrozenAnalyticsLoss):
    """
    Analytics-aware loss of paper Eq. 3 (Runespoor's ASR fine-tuning).

    Constructor arguments:
        analytics_model: segmentation model (input RGB [0, 1], output logits); frozen here.
        alpha, beta: weights of the L1 and the detailed-region CE terms (0.95 / 0.05).
        max_area_fraction: small-region cutoff (fraction of the frame area).
        frame_area: area the fraction refers to when the labels are crops (pixels).

    ``forward(sr, hr, labels, mask=None)`` returns ``(loss, parts)`` with ``parts`` a dict of
    detached floats ``{'l1', 'ce', 'detail_px'}``.  ``mask`` (``B x H x W`` bool) may be passed
    precomputed; otherwise it is computed from ``labels``.
    """

    def __init__(self, analytics_model, alpha=SEG_ALPHA, beta=SEG_BETA,
                 max_area_fraction=DEFAULT_MAX_AREA_FRACTION, ignore_id=IGNORE_ID,
                 frame_area=None):
        super().__init__(analytics_model, alpha, beta)
        self.max_area_fraction = float(max_area_fraction)
        self.ignore_id = int(ignore_id)
        self.frame_area = frame_area

    def forward(self, sr, hr, labels, mask=None):
        if mask is None:
            mask = detail_mask(labels, self.max_area_fraction, self.ignore_id, self.frame_area)
        l1 = sr_loss(sr, hr)
        logits = self.analytics(sr)
        ce = masked_cross_entropy(logits, labels, mask, self.ignore_id)
        loss = self.alpha * l1 + self.beta * ce
        parts = {'l1': float(l1.detach()), 'ce': float(ce.detach()),
                 'detail_px': float(mask.float().mean())}
        return loss, parts


class CloudSegLoss(_FrozenAnalyticsLoss):
    """
    CloudSeg baseline loss of paper Eq. 2: CE of inf(SR) against argmax inf(HR), whole frame.

    ``forward(sr, hr, labels=None)`` returns ``(loss, parts)``; labels are not used.
    """

    def __init__(self, analytics_model, alpha=SEG_ALPHA, beta=SEG_BETA):
        super().__init__(analytics_model, alpha, beta)

    def forward(self, sr, hr, labels=None):
        l1 = sr_loss(sr, hr)
        with torch.no_grad():
            target = self.analytics(hr).argmax(dim=1)
        ce = F.cross_entropy(self.analytics(sr), target)
        loss = self.alpha * l1 + self.beta * ce
        return loss, {'l1': float(l1.detach()), 'ce': float(ce.detach())}
