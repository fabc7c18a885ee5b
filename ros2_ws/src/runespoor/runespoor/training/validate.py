"""Validation during training: mIoU of the segmentation model, PSNR of SR reconstructions."""

import math

import numpy as np
import torch

from ..losses import detail_mask
from ..metrics.segmentation import confusion_matrix, iou_per_class, mean_iou
from ..reconstruct import bilinear, sr_to_size


def psnr_batch(pred, target):
    """Mean over the batch of per-image PSNR (dB) of tensors in [0, 1] (pred is clamped)."""
    mse = (pred.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return float(torch.mean(-10.0 * torch.log10(mse.clamp(min=1e-10))))


def _split(batch):
    if isinstance(batch, dict):
        return batch.get('lr'), batch.get('hr', batch.get('image')), batch.get('label')
    if len(batch) == 2:
        return None, batch[0], batch[1]
    return batch[0], batch[1], batch[2]


def _seg_summary(conf, prefix=''):
    ious = iou_per_class(conf)
    return {f'{prefix}miou': float(mean_iou(conf)),
            f'{prefix}iou': [None if math.isnan(v) else float(v) for v in ious]}


@torch.no_grad()
def evaluate_seg(model, loader, device, num_classes=19, max_batches=None):
    """Compute the mIoU (and per-class IoU) of ``model`` on ``(image, label)`` batches."""
    model.eval()
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        _, image, label = _split(batch)
        pred = model(image.to(device)).argmax(1).cpu()
        conf += confusion_matrix(label.numpy(), pred.numpy(), num_classes)
    return _seg_summary(conf)


@torch.no_grad()
def evaluate_sr(sr_model, loader, device, seg_model=None, num_classes=19, max_batches=None,
                max_area_fraction=None):
    """
    PSNR of SR and of bilinear on ``(lr, hr[, label])`` batches; mIoU on SR if labelled.

    With ``seg_model`` and labelled batches, also the mIoU of the segmentation model on the SR
    output (``miou``) and on the bilinear reconstruction (``bilinear_miou``), and with
    ``max_area_fraction`` the pixel accuracy on the label's small regions (``detail_acc``,
    ``bilinear_detail_acc``) -- what the ASR loss optimises.
    """
    sr_model.eval()
    psnr_sr, psnr_bl, n = 0.0, 0.0, 0
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    conf_bl = conf.copy()
    labelled = False
    hits = hits_bl = total = 0
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        lr, hr, label = _split(batch)
        lr, hr = lr.to(device), hr.to(device)
        sr = sr_to_size(sr_model, lr, hr.shape[-2:]).clamp(0, 1)
        bl = bilinear(lr, hr.shape[-2:]).clamp(0, 1)
        psnr_sr += psnr_batch(sr, hr) * lr.shape[0]
        psnr_bl += psnr_batch(bl, hr) * lr.shape[0]
        n += lr.shape[0]
        if seg_model is not None and label is not None:
            labelled = True
            seg_model.eval()
            lab = label.numpy()
            pred = seg_model(sr).argmax(1).cpu()
            pred_bl = seg_model(bl).argmax(1).cpu()
            conf += confusion_matrix(lab, pred.numpy(), num_classes)
            conf_bl += confusion_matrix(lab, pred_bl.numpy(), num_classes)
            if max_area_fraction is not None:
                mask = detail_mask(label, max_area_fraction)
                total += int(mask.sum())
                hits += int((pred == label)[mask].sum())
                hits_bl += int((pred_bl == label)[mask].sum())
    out = {'psnr': psnr_sr / max(n, 1), 'psnr_bilinear': psnr_bl / max(n, 1)}
    if labelled:
        out.update(_seg_summary(conf))
        out['bilinear_miou'] = float(mean_iou(conf_bl))
        if total:
            out['detail_acc'] = hits / total
            out['bilinear_detail_acc'] = hits_bl / total
    return out


def detections_to_coco(found, targets=None):
    """
    Convert detector outputs (and targets) to :func:`runespoor.metrics.detection.coco_map` form.

    ``found``: list of dicts ``boxes`` x1y1x2y2, ``scores``, ``labels``; ``targets``: list of
    dicts ``boxes`` x1y1x2y2, ``labels``, ``ignore``.  Returns ``(gts, dets)`` (``gts`` None
    without targets), boxes as x, y, w, h NumPy arrays.
    """
    from ..metrics.detection import dets_from_xyxy, xyxy_to_xywh
    dets = dets_from_xyxy(found)
    if targets is None:
        return None, dets
    gts = [{'boxes': xyxy_to_xywh(t['boxes']),
            'classes': torch.as_tensor(t['labels']).cpu().numpy(),
            'ignore_regions': xyxy_to_xywh(t.get('ignore', np.zeros((0, 4))))}
           for t in targets]
    return gts, dets


#: Detections scored per image, as the VisDrone toolkit (COCO's 100 would cap the recall of
#: frames with hundreds of objects).
MAX_DETS = 500


def _coco_summary(gts, dets, class_ids, prefix=''):
    from ..metrics.detection import coco_map
    res = coco_map(gts, dets, class_ids=class_ids, max_dets=MAX_DETS, ignore_mode='visdrone')
    per_class = [None if math.isnan(v) else float(v) for v in res['per_class'].values()]
    return {f'{prefix}map': float(res['mAP']), f'{prefix}ap50': float(res['AP50']),
            f'{prefix}ap': per_class}


@torch.no_grad()
def evaluate_det(model, loader, device, num_classes=10, max_batches=None):
    """COCO-style mAP (pycocotools) of ``model`` on ``(image, targets)`` batches."""
    model.eval()
    gts, dets = [], []
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        image, targets = batch[-2], batch[-1]
        g, d = detections_to_coco(model(image.to(device)), targets)
        gts += g
        dets += d
    return _coco_summary(gts, dets, list(range(1, num_classes + 1)))


@torch.no_grad()
def evaluate_sr_det(sr_model, loader, device, detector, num_classes=10, max_batches=None):
    """PSNR of SR and bilinear on ``(lr, hr, targets)`` batches, and the mAP on each."""
    sr_model.eval()
    detector.eval()
    psnr_sr = psnr_bl = 0.0
    n = 0
    gts, dets, dets_bl = [], [], []
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        lr, hr, targets = batch[0].to(device), batch[1].to(device), batch[2]
        sr = sr_to_size(sr_model, lr, hr.shape[-2:]).clamp(0, 1)
        bl = bilinear(lr, hr.shape[-2:]).clamp(0, 1)
        psnr_sr += psnr_batch(sr, hr) * lr.shape[0]
        psnr_bl += psnr_batch(bl, hr) * lr.shape[0]
        n += lr.shape[0]
        g, d = detections_to_coco(detector(sr), targets)
        gts += g
        dets += d
        dets_bl += detections_to_coco(detector(bl))[1]
    classes = list(range(1, num_classes + 1))
    out = {'psnr': psnr_sr / max(n, 1), 'psnr_bilinear': psnr_bl / max(n, 1)}
    out.update(_coco_summary(gts, dets, classes))
    out['bilinear_map'] = _coco_summary(gts, dets_bl, classes)['map']
    return out
