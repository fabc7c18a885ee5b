# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Segmentation analytics in the cloud: a frozen model -> a train-id map, and its tail signal.

The map is ``H x W`` uint8; the signal the small-region ratio (paper §3.2;
:mod:`runespoor.regions`).

:class:`Segmenter` is the :class:`runespoor.tasks.Analytics` of the ``segmentation`` task;
:func:`palette_segment` and the ``none`` mode (:data:`TEST_SEGMENTERS`) stand in for a model
in tests and the model-less demo.
"""

import os

import cv2
import numpy as np

from runespoor.tasks.model_files import (load_model_file, load_user_model, model_spec_param,
                                         ModelError)


#: Segmentation "models" that need no weights: ``none`` (every pixel 255, ratio 0 -> every frame
#: is a tail frame) and ``palette`` (nearest Cityscapes palette colour; meaningful only on the
#: source node's ``palette`` synthetic pattern).  Both are for tests and the model-less demo.
TEST_SEGMENTERS = ('none', 'palette')


def _palette_bgr():
    from runespoor.labels import NUM_CLASSES, TRAIN_ID_PALETTE
    return np.asarray(TRAIN_ID_PALETTE[:NUM_CLASSES], dtype=np.float32)[:, ::-1].copy()


class Segmenter:
    """
    Segmentation analytics: BGR uint8 frame -> ``H x W`` uint8 train-id map.

    ``arch`` is a key of :data:`runespoor.archs.SEG_ARCHS` (needs ``weights``: a Runespoor
    checkpoint of kind ``seg``, or a plain state dict for that arch) or one of
    :data:`TEST_SEGMENTERS`.  Missing or mismatched weights raise :class:`ModelError` naming
    the file and what was expected.  Tail signal: the small-region ratio.
    """

    task = 'segmentation'

    def __init__(self, arch, weights='', device='cpu', num_classes=19, model=None, info=None):
        self.arch = arch
        self.weights = weights
        self.device = device
        self.model = model
        self.info = dict(info or {})
        if model is not None:  # the user's own model (runespoor.user_models), already loaded
            return
        if arch in TEST_SEGMENTERS:
            self._palette = _palette_bgr() if arch == 'palette' else None
            return
        self._load(arch, weights, device, num_classes)

    @classmethod
    def from_params(cls, p, device, num_classes=19):
        """
        Build from the cloud's parameters: ``analytics_model`` when set, else ``seg_arch``.

        ``analytics_model`` is a :mod:`runespoor.user_models` mapping (text, file or dict):
        the user's own network by configuration.
        """
        spec = model_spec_param(p.get('analytics_model'))
        if spec is not None:
            model, info = load_user_model(spec, 'seg', num_classes, device,
                                          'analytics_model (segmentation)')
            return cls(info.get('arch') or info.get('source', 'user'), info.get('path') or '',
                       device, num_classes, model=model, info=info)
        seg = cls(p['seg_arch'], p['seg_weights'], device, num_classes)
        if p['seg_arch'] in TEST_SEGMENTERS:
            seg.info['warning'] = (
                f'seg_arch "{p["seg_arch"]}": TEST MODE, no segmentation model is used (none: '
                'every pixel ignore; palette: nearest palette colour, only meaningful on the '
                "source's palette pattern)")
            seg.info['summary'] = f'test mode {p["seg_arch"]} (no model)'
        return seg

    def _load(self, arch, weights, device, num_classes):
        from runespoor.archs import SEG_ARCHS
        if arch not in SEG_ARCHS:
            raise ModelError(f'unknown segmentation arch {arch!r}; choose one of '
                             f'{", ".join(list(SEG_ARCHS) + list(TEST_SEGMENTERS))}')
        if not weights:
            raise ModelError(f'segmentation arch {arch!r} needs a weights file (parameter '
                             f'seg_weights, e.g. models/seg/{arch}.pt); none is set. Use '
                             f'seg_arch "none" or "palette" only for tests.')
        if not os.path.exists(weights):
            raise ModelError(f'segmentation weights file {weights} does not exist (expected a '
                             f'Runespoor checkpoint of kind "seg", arch {arch!r}, '
                             f'{num_classes} classes)')
        from runespoor.archs import build_seg
        self.model, self.info = load_model_file(weights, 'seg', arch, device, num_classes,
                                                build_seg, f'kind "seg", arch {arch!r}',
                                                'segmentation weights file')

    def __call__(self, image_bgr, tensor=None):
        """Segment ``image_bgr``; ``tensor`` (1x3xHxW RGB [0,1]) avoids a conversion."""
        if self.arch == 'none':
            return np.full(image_bgr.shape[:2], 255, np.uint8)
        if self.arch == 'palette':
            return palette_segment(image_bgr, self._palette)
        import torch
        from runespoor.tensors import bgr_to_tensor
        with torch.no_grad():
            x = tensor if tensor is not None else bgr_to_tensor(image_bgr, self.device)
            logits = self.model(x.to(self.device))
            return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()

    def tail_signal(self, labels, frame_size, config):
        """Return the share of pixels in small regions (``config.small_region_fraction``)."""
        return small_region_ratio(labels, config.small_region_fraction)

    def analyse_with_features(self, image_bgr, tensor=None, config=None):
        """
        Segment ``image_bgr`` and summarise the same forward pass for the fitted tail detector.

        Returns :class:`runespoor.tail_features.AnalysisOutput` (map, feature vector in
        :func:`runespoor.tail_features.seg_feature_names` order).  ``config`` is the pipeline's
        :class:`runespoor.cloud_pipeline.PipelineConfig` (its ``small_region_fraction``; None:
        0.001).  The test modes have no logits: their confidence features are those of a
        certain prediction.
        """
        small_region_fraction = getattr(config, 'small_region_fraction', 0.001)
        from runespoor.tail_features import AnalysisOutput, map_features, seg_feature_names
        if self.model is None:
            labels = self(image_bgr, tensor)
            feats = map_features(labels, 19, small_region_fraction)
            feats.update({'mean_max_prob': 1.0, 'low_conf_share': 0.0, 'mean_margin': 1.0,
                          'mean_entropy': 0.0})
            return AnalysisOutput(labels, np.array([feats[k] for k in seg_feature_names(19)],
                                                   dtype=np.float64))
        import torch
        from runespoor.tensors import bgr_to_tensor
        from runespoor.tail_features import seg_features_torch
        with torch.no_grad():
            x = tensor if tensor is not None else bgr_to_tensor(image_bgr, self.device)
            logits = self.model(x.to(self.device))
            return seg_features_torch(logits, small_region_fraction=small_region_fraction)


_PALETTE_LUT = {}


def _palette_lut(palette_bgr):
    """Nearest palette index for every colour quantised to 5 bits per channel (32768 bins)."""
    key = palette_bgr.tobytes()
    if key not in _PALETTE_LUT:
        levels = (np.arange(32, dtype=np.float32) * 8 + 4)
        b, g, r = np.meshgrid(levels, levels, levels, indexing='ij')
        bins = np.stack([b.ravel(), g.ravel(), r.ravel()], 1)
        dist = ((bins[:, None, :] - palette_bgr[None, :, :]) ** 2).sum(2)
        _PALETTE_LUT[key] = dist.argmin(1).astype(np.uint8)
    return _PALETTE_LUT[key]


def palette_segment(image_bgr, palette_bgr=None):
    """
    Label each pixel with the train id of the nearest Cityscapes palette colour.

    A lookup table over colours quantised to 5 bits per channel (no BLAS call, so it does not
    compete with torch's threads); exact for palette colours, nearest bin otherwise.
    """
    pal = _palette_bgr() if palette_bgr is None else palette_bgr
    lut = _palette_lut(np.ascontiguousarray(pal, dtype=np.float32))
    q = (image_bgr >> 3).astype(np.int32)
    return lut[(q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]]


def small_region_ratio(labels, max_area_fraction):
    """Share of pixels in small regions (:func:`runespoor.regions.small_region_ratio`)."""
    try:
        from runespoor.regions import small_region_ratio as impl
    except ImportError:  # pragma: no cover - scikit-image missing: OpenCV per class
        return _small_region_ratio_cv(labels, max_area_fraction)
    return impl(labels, max_area_fraction)


def _small_region_ratio_cv(labels, max_area_fraction):
    limit = max_area_fraction * labels.size
    small = 0
    for cls in np.unique(labels):
        if cls == 255:
            continue
        n, _, stats, _ = cv2.connectedComponentsWithStats((labels == cls).astype(np.uint8), 8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        small += int(areas[areas < limit].sum())
    return small / float(labels.size) if labels.size else 0.0
