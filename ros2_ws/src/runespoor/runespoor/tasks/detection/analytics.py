# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Detection analytics in the cloud: a frozen detector -> boxes, and their tail signal.

The boxes are :class:`Detections` above a score threshold; the signal the share of small
boxes (:mod:`.tail_signal`); :meth:`DetectorAnalytics.analyse_with_features`
adds the summary features of the same forward pass for the fitted tail detector
(:func:`runespoor.tail_features.det_features`).

:class:`DetectorAnalytics` is the :class:`runespoor.tasks.Analytics` of the ``detection``
task; :func:`draw_detections` draws the boxes for RViz and the demo.
"""

from dataclasses import dataclass
import os

import cv2
import numpy as np

from runespoor.tasks.model_files import (load_model_file, load_user_model, model_spec_param,
                                         ModelError)


@dataclass
class Detections:
    """Detector output for one frame, at source size, above the score threshold."""

    boxes: np.ndarray             # K x 4 float32 (x1, y1, x2, y2) [px]
    scores: np.ndarray            # K float32 in [0, 1]
    labels: np.ndarray            # K int64 class ids (VisDrone: 1..10)

    def __len__(self):
        return int(len(self.scores))


class DetectorAnalytics:
    """
    Detection analytics: BGR uint8 frame -> :class:`Detections` above ``score_threshold``.

    ``arch`` is a key of :data:`runespoor.archs.DET_ARCHS`; ``weights`` a Runespoor checkpoint
    of kind ``det`` (``runespoor train det``) or a plain state dict for that arch.  Missing or
    mismatched weights raise :class:`ModelError` naming the file and what was expected.  Tail
    signal: the share of small boxes (:func:`.tail_signal.small_box_share`).
    """

    task = 'detection'

    def __init__(self, arch='retinanet_r18_lite', weights='', device='cpu', num_classes=10,
                 score_threshold=0.3, model=None, info=None):
        self.arch = arch
        self.weights = weights
        self.device = device
        self.score_threshold = float(score_threshold)
        self.info = dict(info or {})
        self.model = model if model is not None else \
            self._load(arch, weights, device, int(num_classes))
        self.num_classes = int(getattr(self.model, 'num_classes', num_classes))

    @classmethod
    def from_params(cls, p, device, num_classes=10):
        """
        Build from the cloud's parameters: ``analytics_model`` when set, else ``det_arch``.

        ``det_score_threshold`` applies either way.
        """
        threshold = p.get('det_score_threshold', 0.3)
        spec = model_spec_param(p.get('analytics_model'))
        if spec is not None:
            model, info = load_user_model(spec, 'det', num_classes, device,
                                          'analytics_model (detection)')
            return cls(info.get('arch') or info.get('source', 'user'), info.get('path') or '',
                       device, num_classes, threshold, model=model, info=info)
        det = cls(p['det_arch'], p['det_weights'], device, num_classes, threshold)
        sr_dir = os.path.normpath(str(p.get('sr_dir') or ''))
        if p.get('method', 'bilinear') != 'bilinear' and \
                sr_dir.endswith(os.path.join('models', 'sr')):
            det.info['warning'] = (f'task detection with the segmentation SR models in '
                                   f'{p["sr_dir"]}; the detection ones are models/det/sr '
                                   '(config/cloud_detection.yaml)')
        return det

    def _load(self, arch, weights, device, num_classes):
        from runespoor.archs import DET_ARCHS
        if arch not in DET_ARCHS:
            raise ModelError(f'unknown detection arch {arch!r}; choose one of '
                             f'{", ".join(DET_ARCHS)}')
        expected = f'a Runespoor checkpoint of kind "det", arch {arch!r}, {num_classes} classes'
        if not weights:
            raise ModelError(f'detection arch {arch!r} needs a weights file (parameter '
                             f'det_weights, e.g. models/det/{arch}.pt); none is set')
        if not os.path.exists(weights):
            raise ModelError(f'detection weights file {weights} does not exist (expected '
                             f'{expected}; train one with "runespoor train det")')
        from runespoor.archs import build_det
        model, self.info = load_model_file(weights, 'det', arch, device, num_classes,
                                           build_det, expected, 'detection weights file')
        return model

    def detect_all(self, image_bgr, tensor=None):
        """
        Return every detection of one forward pass as a :class:`Detections` (no score cut).

        The detector's own floor applies (``score_thresh`` of the arch, 0.05); ``tensor``
        (1x3xHxW RGB [0,1]) avoids a conversion.
        """
        import torch
        from runespoor.tensors import bgr_to_tensor
        with torch.no_grad():
            x = tensor if tensor is not None else bgr_to_tensor(image_bgr, self.device)
            out = self.model(x.to(self.device).float().clamp(0, 1))[0]
        return Detections(out['boxes'].float().cpu().numpy().reshape(-1, 4),
                          out['scores'].float().cpu().numpy(),
                          out['labels'].cpu().numpy().astype(np.int64))

    def kept(self, found):
        """Return the detections of ``found`` (:meth:`detect_all`) the cloud keeps."""
        # RetinaNet scores num_classes + 1 outputs; 0 is the never-trained background slot.
        keep = (found.scores >= self.score_threshold) & (found.labels >= 1)
        return Detections(found.boxes[keep].reshape(-1, 4), found.scores[keep],
                          found.labels[keep])

    def __call__(self, image_bgr, tensor=None):
        """Detect objects in ``image_bgr``; ``tensor`` (1x3xHxW RGB [0,1]) avoids a conversion."""
        return self.kept(self.detect_all(image_bgr, tensor))

    def features(self, found, frame_size, small_box_fraction=None):
        """Return the tail feature vector of ``found`` (``tail_features.det_features``)."""
        from runespoor.tail_features import DEFAULT_SMALL_BOX_FRACTION, det_features
        h, w = frame_size
        frac = DEFAULT_SMALL_BOX_FRACTION if small_box_fraction is None else \
            float(small_box_fraction)
        return det_features(found.boxes, found.scores, found.labels, w, h,
                            self.score_threshold, frac, self.num_classes)

    def analyse_with_features(self, image_bgr, tensor=None, config=None):
        """
        Detect objects and summarise the same forward pass for the fitted tail detector.

        Returns :class:`runespoor.tail_features.AnalysisOutput`: the kept :class:`Detections`
        (what :meth:`__call__` returns) and the feature vector in
        :func:`runespoor.tail_features.det_feature_names` order.  ``config`` is the pipeline's
        :class:`runespoor.cloud_pipeline.PipelineConfig` (its ``small_box_fraction``; None:
        the default 0.0005).
        """
        from runespoor.tail_features import AnalysisOutput
        found = self.detect_all(image_bgr, tensor)
        size = image_bgr.shape[:2] if image_bgr is not None else tuple(tensor.shape[-2:])
        return AnalysisOutput(self.kept(found), self.features(
            found, size, getattr(config, 'small_box_fraction', None)))

    def tail_signal(self, detections, frame_size, config):
        """Return the share of small boxes (``config.small_box_fraction`` of the frame)."""
        from runespoor.tasks.detection.tail_signal import small_box_share
        h, w = frame_size
        return small_box_share(detections.boxes, detections.scores, w, h,
                               self.score_threshold, config.small_box_fraction)


def category_name(class_id):
    """Return the VisDrone name of detector class ``class_id`` (``class <id>`` if unknown)."""
    from runespoor.data.visdrone import CATEGORIES
    return CATEGORIES.get(int(class_id), f'class {int(class_id)}')


#: BGR colour per detector class id (VisDrone 1..10), cycled for other ids.
DETECTION_COLORS = ((0, 0, 255), (0, 128, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0),
                    (255, 128, 0), (255, 0, 0), (255, 0, 255), (128, 0, 255), (128, 128, 128))


def detection_color(class_id):
    """Return the BGR colour of class ``class_id``."""
    return DETECTION_COLORS[(int(class_id) - 1) % len(DETECTION_COLORS)]


def draw_detections(image_bgr, detections, thickness=1):
    """Return a copy of ``image_bgr`` with the boxes drawn in class colours, with names/scores."""
    out = np.ascontiguousarray(image_bgr).copy()
    h, w = out.shape[:2]
    for box, score, cls in zip(detections.boxes, detections.scores, detections.labels):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        x1, x2 = max(0, min(x1, w - 1)), max(0, min(x2, w - 1))
        y1, y2 = max(0, min(y1, h - 1)), max(0, min(y2, h - 1))
        color = detection_color(cls)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = f'{category_name(cls)} {float(score):.2f}'
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(h - 1, y2 + th + 2)
        cv2.rectangle(out, (x1, ty - th - 1), (x1 + tw + 2, ty + base - 1), color, -1)
        cv2.putText(out, text, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out
