# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Object detectors: the analytics model of the drone-view detection task.

:class:`Detector` wraps torchvision's RetinaNet (Lin et al., "Focal Loss for Dense Object
Detection", ICCV 2017): sigmoid focal loss for classification and a box-regression loss,
anchors on a feature pyramid.  The paper uses YOLOv3; any detector whose training loss can be
evaluated on a chosen set of ground-truth boxes fits ASR, and RetinaNet's loss has exactly the
hook ASR needs: anchors can be marked "ignore" (torchvision's ``BETWEEN_THRESHOLDS``), so the
analytics term can be restricted to the anchors of small ground-truth boxes
(:meth:`Detector.detection_loss`).

Backbones:

* ``retinanet_r18_lite`` -- the ResNet-18-style encoder of :mod:`runespoor.archs.seg` at the
  "lite" widths (32, 64, 128, 256) with an FPN over strides 4..32 (P2-P5), anchors of 8..64 px
  times three octave scales and three aspect ratios, two head convolutions.  Stride-4 anchors
  are what tiny drone-view objects need; the model trains on CPU in minutes.
* ``retinanet_resnet50_fpn`` -- torchvision's standard RetinaNet (P3-P7, anchors 32..512),
  randomly initialised, for users who bring their own weights.

Images go in as ``B x 3 x H x W`` RGB float in [0, 1] (the tensor an SR model outputs); the
ImageNet normalisation happens inside.  By default the frame is *not* resized (``min_size=0``):
the detector sees the source resolution; set ``min_size`` / ``max_size`` for a fixed input size
(the paper: 832x832).  Class ids are the task's ids, 1..``num_classes`` (VisDrone: 1..10);
column 0 of the classifier is an unused background slot, as in torchvision.

Outputs (eval mode): one dict per image, ``boxes`` (K x 4, x1 y1 x2 y2 in input pixels),
``scores`` (K) and ``labels`` (K, int64 1..num_classes), best first.  Targets (training): one
dict per image with ``boxes`` (N x 4 x1 y1 x2 y2), ``labels`` (N int64) and optionally
``ignore`` (M x 4 x1 y1 x2 y2): regions whose anchors count neither as object nor as
background (VisDrone categories 0 and 11).
"""

from collections import OrderedDict

import torch
from torch import nn

from .seg import ResNetEncoder

#: Anchor base sizes (px) per pyramid level of the lite detector (strides 4, 8, 16, 32).
LITE_ANCHOR_SIZES = (8, 16, 32, 64)


class EncoderFPN(nn.Module):
    """ResNet-style encoder + torchvision ``FeaturePyramidNetwork`` over its four stages."""

    def __init__(self, widths=(32, 64, 128, 256), channels=64):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        self.encoder = ResNetEncoder(widths)
        self.fpn = FeaturePyramidNetwork(list(widths), channels)
        self.out_channels = int(channels)
        for m in self.encoder.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        feats = self.encoder(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def _keep_size_transform(transform):
    """Make a ``GeneralizedRCNNTransform`` normalise and batch only, never resize."""
    def resize(image, target=None):
        return image, target
    transform.resize = resize
    return transform


class Detector(nn.Module):
    """
    RetinaNet with our tensor conventions and an ASR-ready loss.

    Constructor arguments (all recorded in checkpoints):
        num_classes: scored classes (10 for VisDrone); labels are 1..num_classes.
        backbone: ``'r18_lite'`` (our encoder + FPN) or ``'resnet50_fpn'`` (torchvision).
        fpn_channels, widths: width of the pyramid / encoder stages (``r18_lite``).
        anchor_sizes: base anchor size per level (``r18_lite``).
        head_convs: 3x3 convolutions per head branch (torchvision: 4).
        min_size, max_size: resize the input like torchvision (0: keep the input size).
        score_thresh, nms_thresh, detections_per_img: post-processing.
        box_loss: ``'l1'``, ``'smooth_l1'``, ``'giou'``, ``'ciou'`` or ``'diou'``.
    """

    def __init__(self, num_classes=10, backbone='r18_lite', fpn_channels=64,
                 widths=(32, 64, 128, 256), anchor_sizes=LITE_ANCHOR_SIZES, head_convs=2,
                 min_size=0, max_size=0, score_thresh=0.05, nms_thresh=0.5,
                 detections_per_img=500, box_loss='giou'):
        super().__init__()
        from torchvision.models.detection import RetinaNet
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        self.num_classes = int(num_classes)
        self.backbone_name = backbone
        size_kw = {'min_size': int(min_size) or 800, 'max_size': int(max_size) or 1333}
        post_kw = {'score_thresh': float(score_thresh), 'nms_thresh': float(nms_thresh),
                   'detections_per_img': int(detections_per_img)}
        if backbone == 'r18_lite':
            body = EncoderFPN(tuple(widths), fpn_channels)
            octaves = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
            anchors = AnchorGenerator(tuple(tuple(s * o for o in octaves)
                                            for s in anchor_sizes),
                                      ((0.5, 1.0, 2.0),) * len(anchor_sizes))
            self.net = RetinaNet(body, self.num_classes + 1, anchor_generator=anchors,
                                 **size_kw, **post_kw)
        elif backbone == 'resnet50_fpn':
            from torchvision.models.detection import retinanet_resnet50_fpn
            self.net = retinanet_resnet50_fpn(weights=None, weights_backbone=None,
                                              num_classes=self.num_classes + 1,
                                              **size_kw, **post_kw)
        else:
            raise ValueError(f'unknown detector backbone {backbone!r}; '
                             'choose r18_lite or resnet50_fpn')
        if not min_size:
            _keep_size_transform(self.net.transform)
        head = self.net.head
        for branch in (head.classification_head, head.regression_head):
            if head_convs < len(branch.conv):
                branch.conv = nn.Sequential(*list(branch.conv)[:int(head_convs)])
        head.regression_head._loss_type = box_loss

    @staticmethod
    def _as_list(images):
        if torch.is_tensor(images):
            if images.dim() != 4 or images.shape[1] != 3:
                raise ValueError(f'expected B x 3 x H x W images, got {tuple(images.shape)}')
            return list(images.unbind(0))
        return list(images)

    def forward(self, images, targets=None):
        """
        Detect objects (eval mode) or return the loss dict (``targets`` given).

        With targets this is :meth:`detection_loss` (in either mode), so a frozen detector in
        eval mode still yields its training loss.
        """
        if targets is not None:
            return self.detection_loss(images, targets)
        return self.net(self._as_list(images))

    def detection_loss(self, images, targets, keep=None):
        """
        Return the detector's own training loss, optionally restricted to some GT boxes.

        ``keep``: per image a bool tensor over its target boxes; a box whose ``keep`` is False
        is left out of the loss altogether: the anchors matched to it *and* the anchors lying
        inside it (intersection > half the anchor's area) are ignored -- neither foreground nor
        background -- so the loss says nothing about that object's pixels (as ASR's
        segmentation term says nothing about large regions).  The loss is then the focal loss
        + box regression of the kept boxes, with the anchors elsewhere as background.  Anchors
        inside ``ignore`` regions of the targets that match no kept box are ignored too.

        Returns ``{'classification': tensor, 'bbox_regression': tensor}``; gradients flow into
        ``images`` whether or not the detector's parameters require gradients.
        """
        from torchvision.ops import box_iou
        net = self.net
        images = self._as_list(images)
        targets = [_clean_target(t, images[0].device) for t in targets]
        if len(targets) != len(images):
            raise ValueError(f'{len(images)} images but {len(targets)} targets')
        batch, targets = net.transform(images, targets)
        features = list(net.backbone(batch.tensors).values())
        head_outputs = net.head(features)
        anchors = net.anchor_generator(batch, features)
        ignore_id = net.proposal_matcher.BETWEEN_THRESHOLDS
        matched = []
        for i, (anc, tgt) in enumerate(zip(anchors, targets)):
            if tgt['boxes'].numel():
                idx = net.proposal_matcher(box_iou(tgt['boxes'], anc))
            else:
                idx = torch.full((anc.shape[0],), -1, dtype=torch.int64, device=anc.device)
            ign = tgt.get('ignore')
            if keep is not None and tgt['boxes'].numel():
                k = torch.as_tensor(keep[i], dtype=torch.bool, device=idx.device)
                dropped = (idx >= 0) & ~k[idx.clamp(min=0)]
                idx = torch.where(dropped, torch.full_like(idx, ignore_id), idx)
                left_out = tgt['boxes'][~k]
                ign = left_out if ign is None else torch.cat([ign, left_out])
            if ign is not None and ign.numel():
                inside = _intersection_over_anchor(ign, anc).amax(0) > 0.5
                idx = torch.where(inside & (idx < 0), torch.full_like(idx, ignore_id), idx)
            matched.append(idx)
        return net.head.compute_loss(targets, head_outputs, anchors, matched)


def _clean_target(target, device):
    boxes = torch.as_tensor(target['boxes'], dtype=torch.float32, device=device).reshape(-1, 4)
    labels = torch.as_tensor(target['labels'], dtype=torch.int64, device=device).reshape(-1)
    if len(boxes) != len(labels):
        raise ValueError(f'target with {len(boxes)} boxes but {len(labels)} labels')
    out = {'boxes': boxes, 'labels': labels}
    if target.get('ignore') is not None:
        out['ignore'] = torch.as_tensor(target['ignore'], dtype=torch.float32,
                                        device=device).reshape(-1, 4)
    return out


def _intersection_over_anchor(regions, anchors):
    """``M x A`` intersection area of each region with each anchor, over the anchor's area."""
    lt = torch.max(regions[:, None, :2], anchors[None, :, :2])
    rb = torch.min(regions[:, None, 2:], anchors[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    area = (anchors[:, 2:] - anchors[:, :2]).clamp(min=1e-6).prod(1)
    return inter / area[None]


def small_box_keep(boxes_xyxy, max_area_fraction, frame_area):
    """Bool mask of the boxes whose area is below ``max_area_fraction * frame_area``."""
    boxes = torch.as_tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    return area < float(max_area_fraction) * float(frame_area)
