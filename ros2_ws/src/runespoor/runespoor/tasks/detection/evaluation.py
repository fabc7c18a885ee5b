# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The detection task of ``runespoor eval`` (paper §5.1-5.2 on VisDrone: Table 6, Fig. 10).

Frames come from a VisDrone-DET split folder (``images/``, ``annotations/``, see
:mod:`runespoor.data.visdrone`), in file-name order.  Per frame and run the frozen detector
(:class:`runespoor.archs.det.Detector`, or any model returning torchvision-style
``boxes``/``scores``/``labels`` dicts) runs on the reconstruction; the cache keeps its
``keep_top`` best detections (boxes ``x1, y1, x2, y2`` px, scores, labels 1..10) and the
frame's size.  :mod:`.report` scores them against the ground truth with COCO AP
(:func:`runespoor.metrics.detection.coco_map`, VisDrone ignore regions honoured).
"""

import os

import numpy as np

from runespoor.evaluation.plugin_api import EvalError, file_digest_of_spec, Frame, \
    load_analytics_model


def list_frames(root, limit=None):
    """Return the :class:`.engine.Frame` list of a VisDrone-DET split folder, sorted by name."""
    from runespoor.data.visdrone import list_images
    try:
        items = list_images(root)
    except OSError as exc:
        raise EvalError(f'data set {root}: {exc}') from exc
    if not items:
        raise EvalError(f'no images (*.jpg, *.png) under {root}/images')
    return [Frame(os.path.splitext(os.path.basename(img))[0], img, (img, ann))
            for img, ann in (items[:int(limit)] if limit else items)]


def read_truth(frame):
    """Return the ground truth of ``frame`` for :func:`runespoor.metrics.detection.coco_map`."""
    from runespoor.data.visdrone import read_annotation
    from runespoor.metrics.detection import gt_from_visdrone
    try:
        return gt_from_visdrone(read_annotation(frame.files[1]))
    except (OSError, ValueError) as exc:
        raise EvalError(str(exc)) from exc


class DetectionEval:
    """Task plug-in of :func:`runespoor.evaluation.runner.evaluate` for object detection."""

    name = 'detection'
    model_key = 'detection'
    cache_prefix = 'det_'
    fields = {'boxes': ('ragged', np.float32, (4,)), 'scores': ('ragged', np.float32),
              'labels': ('ragged', np.int16), 'width': ('scalar', np.int64),
              'height': ('scalar', np.int64)}

    def __init__(self, config):
        self.config = config

    def frames(self):
        """Return the frames of the configured split folder."""
        return list_frames(self.config.dataset_root, self.config.limit)

    def load_model(self, device):
        """Load the frozen detector."""
        c = self.config
        return load_analytics_model('det', c.det_checkpoint, c.det_arch, c.det_weights,
                                    device, 'detection', c.det_arch_kwargs,
                                    spec=c.model_spec, num_classes=10)

    def key_fields(self, info):
        """Identify the detector (and how many detections are kept) in the cache key."""
        fields = {'task': 'detection', 'det': info['sha256'], 'keep_top': self.config.keep_top}
        if self.config.model_spec is not None:
            fields['model'] = file_digest_of_spec(self.config.model_spec)
        elif not self.config.det_checkpoint:  # a bare weights file: the arch is part of it
            fields.update(arch=self.config.det_arch, arch_kwargs=self.config.det_arch_kwargs)
        return fields

    def load(self, frame):
        """Return ``(image BGR uint8, None)``: the ground truth is read by :meth:`extras`."""
        from runespoor.data.cityscapes import read_image
        try:
            return read_image(frame.image_path), None
        except (OSError, ValueError) as exc:
            raise EvalError(str(exc)) from exc

    def analyse(self, model, recon, truth):
        """Detect on ``recon``; keep the ``keep_top`` highest-scored detections."""
        found = model(recon)[0]
        scores = found['scores'].detach().float().cpu().numpy()
        order = np.argsort(-scores, kind='stable')[:self.config.keep_top]
        return {'boxes': found['boxes'].detach().float().cpu().numpy()[order],
                'scores': scores[order],
                'labels': found['labels'].detach().cpu().numpy()[order],
                'width': int(recon.shape[-1]), 'height': int(recon.shape[-2])}

    def collect(self, records):
        """Return ``{'detections': [{'boxes', 'scores', 'labels'}, ...], 'sizes': N x 2}``."""
        return {'detections': [{k: r[k] for k in ('boxes', 'scores', 'labels')}
                               for r in records],
                'sizes': np.array([(r['width'], r['height']) for r in records], np.int64)}

    def extras(self, frames, results):
        """Return the ground truth of every frame and the frame size(s)."""
        sizes = sorted({tuple(s) for s in results[('hr', 1, None)]['sizes'].tolist()})
        resolution = ('%dx%d' % sizes[0] if len(sizes) == 1 else
                      f'mixed ({len(sizes)} sizes, {sizes[0][0]}x{sizes[0][1]} to '
                      f'{sizes[-1][0]}x{sizes[-1][1]})')
        return {'ground_truth': [read_truth(f) for f in frames], 'resolution': resolution}
