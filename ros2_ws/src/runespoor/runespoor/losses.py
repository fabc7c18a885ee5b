"""
Training losses of the SR models (paper §3.1).

* :func:`sr_loss`: the similarity term ``L_s`` -- L1 between SR output and HR (base SR, "NAS").
* :class:`ASRLoss`: paper Eq. 3, ``alpha * L1(SR, HR) + beta * CE(inf(SR)[dtl], label[dtl])``:
  the analytics term is the cross entropy of the frozen analytics model's prediction on the SR
  frame against the *label*, on the pixels of small ("detailed") regions of the label only
  (:func:`runespoor.regions.small_region_mask`).  Three options beyond the paper (all off by
  default): ``target='hr'`` replaces the label by the frozen model's own soft prediction on the
  HR frame (KL divergence on the same detailed pixels), so the analytics term is minimal at
  SR = HR -- a natural image -- instead of asking the reconstruction to make the model right
  where it is wrong even on HR, which only an adversarial pattern can do; ``jitter=J`` shows
  the analytics model a random crop offset by 0..J-1 pixels each step, so a pattern locked to
  the SR grid's phase relative to the model's strides does not pay off; ``grid_weight=G`` adds
  ``G * grid_error(SR, HR)`` (:func:`grid_error`): a fixed pattern on the SR grid -- the
  checkerboard an analytics term can buy -- is a second-order cost for the per-pixel L1 (it
  hides in the noise of the per-pixel errors) but a first-order one for this term.
* :class:`CloudSegLoss`: paper Eq. 2 (CloudSeg baseline), ``alpha * L1(SR, HR) +
  beta * CE(inf(SR), argmax inf(HR))`` on the whole frame: the model's own HR prediction is the
  target, no label is needed.

Detection (the drone-view task), with a :class:`runespoor.archs.det.Detector`:

* :class:`DetASRLoss`: Eq. 3 with the detector's own training loss (focal classification + box
  regression) restricted to the *small* ground-truth boxes (area below
  :data:`DET_SMALL_BOX_FRACTION` of the frame); the anchors of larger boxes (matched to them or
  inside them) are ignored.
* :class:`DetCloudSegLoss`: Eq. 2 for detection -- the targets are the detector's own
  detections on the HR frame (score >= ``pseudo_score``), all sizes.

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
#: Default loss weights for detection (paper §4).
DET_ALPHA, DET_BETA = 0.9, 0.1
#: A ground-truth box is "small" (detailed) below this share of the frame area: 0.0005 of
#: 1920x1080 is 1037 px^2, about COCO's "small" object (32 x 32 px) at VisDrone resolution.
DET_SMALL_BOX_FRACTION = 0.0005


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
        self.grid_weight, self.grid_period = 0.0, None     # the grid term: off (set_grid)

    def train(self, mode=True):
        """Switch this module's mode but keep the analytics model in eval mode."""
        super().train(mode)
        self.analytics.eval()
        return self

    def set_grid(self, grid_weight, grid_period):
        """Configure the optional grid term (:func:`grid_error`, weight 0 = off)."""
        if not grid_weight >= 0:
            raise ValueError(f'grid weight must be >= 0, got {grid_weight!r}')
        if grid_weight and (grid_period is None or int(grid_period) < 2):
            raise ValueError('the grid term needs the SR scale as grid_period (>= 2)')
        self.grid_weight = float(grid_weight)
        self.grid_period = int(grid_period) if grid_period else None

    def add_grid(self, loss, parts, sr, hr):
        """Return ``loss`` plus the weighted grid term (logged in ``parts`` as ``grid_error``)."""
        if not self.grid_weight:
            return loss
        grid = grid_error(sr, hr, self.grid_period)
        parts['grid_error'] = float(grid.detach())
        return loss + self.grid_weight * grid

    def combine(self, l1, analytics):
        """
        Return ``alpha * l1 + beta * analytics`` and the balance of its two terms.

        The parts (detached floats) are the weighted terms ``alpha_l1`` and ``beta_analytics``
        and ``analytics_share`` = ``beta_analytics / (alpha_l1 + beta_analytics)``: how much of
        the objective is the analytics term, logged every step so the balance of Eq. 3 is
        measured rather than assumed.
        """
        a, b = self.alpha * l1, self.beta * analytics
        loss = a + b
        total = float(loss.detach())
        return loss, {'alpha_l1': float(a.detach()), 'beta_analytics': float(b.detach()),
                      'analytics_share': float(b.detach()) / total if total > 0 else 0.0}


#: What the analytics term of ASR compares the SR prediction with (:class:`ASRLoss`).
ASR_TARGETS = ('label', 'hr')


def masked_kl(logits, teacher_logits, mask):
    """
    Mean over the ``mask`` pixels of KL(softmax(teacher) || softmax(logits)) (nats).

    Zero (still attached to the graph) when no pixel is selected.  The teacher carries no
    gradient.
    """
    log_p = F.log_softmax(logits, dim=1)
    log_q = F.log_softmax(teacher_logits.detach(), dim=1)
    kl = (log_q.exp() * (log_q - log_p)).sum(dim=1)
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum().clamp(min=1)


def grid_error(sr, hr, period, tile=8):
    """
    Mean absolute per-phase mean error of ``sr`` against ``hr`` on the SR grid, per tile.

    The frames (``B x C x H x W``) are cut into tiles of ``tile x tile`` grid cells of
    ``period x period`` pixels; in each tile and channel, the error ``sr - hr`` is averaged over
    the pixels of each of the ``period x period`` grid positions ``(y mod period, x mod
    period)``, and the result is the mean of the absolute values of those averages.  A periodic
    offset of amplitude ``d`` scores about ``d``; noise-like per-pixel errors average out.  It is
    zero at ``sr = hr``.  ``period <= 1`` gives 0 (no grid).  The frames are cropped to a whole
    number of tiles (at least one; smaller frames: one tile of whole cells).
    """
    period = int(period)
    if period <= 1:
        return sr.new_zeros(())
    err = sr - hr
    b, c, h, w = err.shape
    cells_y = max(1, min(int(tile), h // period))
    cells_x = max(1, min(int(tile), w // period))
    ty, tx = h // (cells_y * period), w // (cells_x * period)
    if ty == 0 or tx == 0:
        return sr.new_zeros(())
    err = err[..., :ty * cells_y * period, :tx * cells_x * period]
    err = err.reshape(b, c, ty, cells_y, period, tx, cells_x, period)
    return err.mean(dim=(3, 6)).abs().mean()


def jitter_crop(tensors, jitter):
    """
    Crop every tensor of ``tensors`` at one random offset in ``[0, jitter)`` per axis.

    Each ``... x H x W`` tensor becomes ``(H - jitter + 1) x (W - jitter + 1)``; ``jitter <= 1``
    returns them unchanged.
    """
    if jitter <= 1:
        return tensors
    dy, dx = (int(v) for v in torch.randint(0, jitter, (2,)))
    h, w = tensors[0].shape[-2:]
    hh, ww = h - jitter + 1, w - jitter + 1
    return [t[..., dy:dy + hh, dx:dx + ww] for t in tensors]


class ASRLoss(_FrozenAnalyticsLoss):
    """
    Analytics-aware loss of paper Eq. 3 (Runespoor's ASR fine-tuning).

    Constructor arguments:
        analytics_model: segmentation model (input RGB [0, 1], output logits); frozen here.
        alpha, beta: weights of the L1 and the detailed-region analytics terms (0.95 / 0.05).
        max_area_fraction: small-region cutoff (fraction of the frame area).
        frame_area: area the fraction refers to when the labels are crops (pixels).
        target: ``'label'`` (paper Eq. 3: CE against the label) or ``'hr'`` (KL to the frozen
            model's soft prediction on the HR frame: minimal at SR = HR).
        jitter: the analytics model sees the frames cropped at a random offset in
            ``[0, jitter)`` per axis each call (0 or 1: no jitter); the L1 term is on the
            whole frame.
        grid_weight, grid_period: add ``grid_weight * grid_error(SR, HR, grid_period)`` (the
            SR scale as the period); 0 (default): no such term.

    ``forward(sr, hr, labels, mask=None)`` returns ``(loss, parts)`` with ``parts`` a dict of
    detached floats ``{'l1', 'ce', 'detail_px', ...}`` (``ce`` is the raw analytics term: the
    CE, or the KL with ``target='hr'``).  ``mask`` (``B x H x W`` bool) may be passed
    precomputed; otherwise it is computed from ``labels``.
    """

    def __init__(self, analytics_model, alpha=SEG_ALPHA, beta=SEG_BETA,
                 max_area_fraction=DEFAULT_MAX_AREA_FRACTION, ignore_id=IGNORE_ID,
                 frame_area=None, target='label', jitter=0, grid_weight=0.0, grid_period=None):
        super().__init__(analytics_model, alpha, beta)
        if target not in ASR_TARGETS:
            raise ValueError(f'ASR analytics target {target!r}: choose one of '
                             f'{", ".join(ASR_TARGETS)}')
        if int(jitter) != jitter or jitter < 0:
            raise ValueError(f'ASR jitter must be a whole number of pixels >= 0, got {jitter!r}')
        self.max_area_fraction = float(max_area_fraction)
        self.ignore_id = int(ignore_id)
        self.frame_area = frame_area
        self.set_grid(grid_weight, grid_period)
        self.target = target
        self.jitter = int(jitter)

    def forward(self, sr, hr, labels, mask=None):
        if mask is None:
            mask = detail_mask(labels, self.max_area_fraction, self.ignore_id, self.frame_area)
        l1 = sr_loss(sr, hr)
        sr_j, hr_j, lab_j, mask_j = jitter_crop([sr, hr, labels, mask], self.jitter)
        logits = self.analytics(sr_j)
        if self.target == 'hr':
            with torch.no_grad():
                teacher = self.analytics(hr_j)
            term = masked_kl(logits, teacher, mask_j & (lab_j != self.ignore_id))
        else:
            term = masked_cross_entropy(logits, lab_j, mask_j, self.ignore_id)
        loss, balance = self.combine(l1, term)
        parts = {'l1': float(l1.detach()), 'ce': float(term.detach()),
                 'detail_px': float(mask.float().mean()), **balance}
        return self.add_grid(loss, parts, sr, hr), parts


class CloudSegLoss(_FrozenAnalyticsLoss):
    """
    CloudSeg baseline loss of paper Eq. 2: CE of inf(SR) against argmax inf(HR), whole frame.

    ``forward(sr, hr, labels=None)`` returns ``(loss, parts)``; labels are not used.
    ``grid_weight`` / ``grid_period``: the optional grid term, as for :class:`ASRLoss` (off by
    default), so the baseline can be compared under the same guard.
    """

    def __init__(self, analytics_model, alpha=SEG_ALPHA, beta=SEG_BETA, grid_weight=0.0,
                 grid_period=None):
        super().__init__(analytics_model, alpha, beta)
        self.set_grid(grid_weight, grid_period)

    def forward(self, sr, hr, labels=None):
        l1 = sr_loss(sr, hr)
        with torch.no_grad():
            target = self.analytics(hr).argmax(dim=1)
        ce = F.cross_entropy(self.analytics(sr), target)
        loss, balance = self.combine(l1, ce)
        parts = {'l1': float(l1.detach()), 'ce': float(ce.detach()), **balance}
        return self.add_grid(loss, parts, sr, hr), parts


def _detection_total(parts):
    return parts['classification'] + parts['bbox_regression']


class DetASRLoss(_FrozenAnalyticsLoss):
    """
    Analytics-aware loss of paper Eq. 3 for detection.

    ``alpha * L1(SR, HR) + beta * L_det(det(SR), small GT boxes)`` where ``L_det`` is the frozen
    detector's own loss (:meth:`runespoor.archs.det.Detector.detection_loss`: focal loss +
    box regression) with only the boxes whose area is below ``max_area_fraction`` of the frame
    as objects; anchors matched to or lying inside larger boxes are ignored, the rest is
    background.
    ``frame_area``: area (px) the fraction refers to, when the images are crops.

    ``forward(sr, hr, targets)`` returns ``(loss, parts)``, parts ``{'l1', 'det', 'cls',
    'box', 'small_boxes'}`` (detached floats).
    """

    def __init__(self, detector, alpha=DET_ALPHA, beta=DET_BETA,
                 max_area_fraction=DET_SMALL_BOX_FRACTION, frame_area=None):
        super().__init__(detector, alpha, beta)
        self.max_area_fraction = float(max_area_fraction)
        self.frame_area = frame_area

    def small_boxes(self, targets, image_size):
        """Per target, the bool mask of its small boxes."""
        from .archs.det import small_box_keep
        area = self.frame_area or image_size[0] * image_size[1]
        return [small_box_keep(t['boxes'], self.max_area_fraction, area).to(
            t['boxes'].device if torch.is_tensor(t['boxes']) else 'cpu') for t in targets]

    def forward(self, sr, hr, targets):
        keep = self.small_boxes(targets, sr.shape[-2:])
        l1 = sr_loss(sr, hr)
        parts = self.analytics.detection_loss(sr, targets, keep)
        det = _detection_total(parts)
        loss, balance = self.combine(l1, det)
        return loss, {'l1': float(l1.detach()), 'det': float(det.detach()),
                      'cls': float(parts['classification'].detach()),
                      'box': float(parts['bbox_regression'].detach()),
                      'small_boxes': float(sum(int(k.sum()) for k in keep)), **balance}


class DetCloudSegLoss(_FrozenAnalyticsLoss):
    """
    CloudSeg's loss (paper Eq. 2) for detection: match the detector's own output on HR.

    The analytics term is the detector's loss on SR against its detections on HR (score >=
    ``pseudo_score``), whole frame, no labels.

    ``forward(sr, hr, targets=None)`` returns ``(loss, parts)``.
    """

    def __init__(self, detector, alpha=DET_ALPHA, beta=DET_BETA, pseudo_score=0.3):
        super().__init__(detector, alpha, beta)
        self.pseudo_score = float(pseudo_score)

    def forward(self, sr, hr, targets=None):
        with torch.no_grad():
            found = self.analytics(hr)
        pseudo = [{'boxes': d['boxes'][d['scores'] >= self.pseudo_score],
                   'labels': d['labels'][d['scores'] >= self.pseudo_score]} for d in found]
        l1 = sr_loss(sr, hr)
        det = _detection_total(self.analytics.detection_loss(sr, pseudo))
        loss, balance = self.combine(l1, det)
        return loss, {'l1': float(l1.detach()), 'det': float(det.detach()),
                      'pseudo_boxes': float(sum(len(p['boxes']) for p in pseudo)), **balance}
