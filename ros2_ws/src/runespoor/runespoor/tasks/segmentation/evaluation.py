# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The segmentation task of ``runespoor eval`` (paper §5.1-5.2, Tables 2-5).

Frames come from a Cityscapes-layout split; per frame and run the frozen segmentation model's
prediction is scored against the label as a 19 x 19 confusion matrix, which is what the cache
keeps.  :mod:`.report` turns the matrices into the paper's tables.
"""

import os

import numpy as np

from runespoor.evaluation.plugin_api import EvalError, file_digest_of_spec, Frame, \
    load_analytics_model
from runespoor.metrics.segmentation import confusion_matrix, NUM_CLASSES


def list_frames(root, split, limit=None):
    """
    Return the :class:`.engine.Frame` list of a Cityscapes-layout split, in stream order.

    Uses :func:`runespoor.data.cityscapes.list_frames` (``*_gtFine_labelIds.png`` or
    ``*_labelTrainIds.png``), sorted by city, sequence and frame number: stream order for the
    frame-wise metric.  A frame's name is ``<city>/<file stem>``; its files are the image and
    the label.
    """
    from runespoor.data.cityscapes import list_frames as cityscapes_frames
    try:
        frames = cityscapes_frames(root, split, require_labels=True)
    except (OSError, ValueError) as exc:
        raise EvalError(f'data set {root} split {split!r}: {exc}') from exc
    if not frames:
        raise EvalError(f'no *_leftImg8bit.png frames under {root}/leftImg8bit/{split}')
    out = []
    for f in frames[:int(limit)] if limit else frames:
        name = os.path.basename(f.image_path)[:-len('_leftImg8bit.png')]
        out.append(Frame(f'{f.city}/{name}', f.image_path, (f.image_path, f.label_path)))
    return out


def load_frame(image_path, label_path):
    """Read a frame: ``(image BGR uint8 HxWx3, train-id label uint8 HxW)``."""
    from runespoor.data.cityscapes import read_image, read_label
    try:
        image = read_image(image_path)
        return image, read_label(label_path, image.shape)
    except (OSError, ValueError) as exc:
        raise EvalError(str(exc)) from exc


class SegmentationEval:
    """Task plug-in of :func:`runespoor.evaluation.runner.evaluate` for segmentation."""

    name = 'segmentation'
    model_key = 'segmentation'
    cache_prefix = ''
    fields = {'conf': ('array', np.int64)}

    def __init__(self, config):
        self.config = config

    def frames(self):
        """Return the frames of the configured split."""
        return list_frames(self.config.dataset_root, self.config.split, self.config.limit)

    def load_model(self, device):
        """Load the frozen segmentation model."""
        c = self.config
        return load_analytics_model('seg', c.seg_checkpoint, c.seg_arch, c.seg_weights,
                                    device, 'segmentation', spec=c.model_spec,
                                    num_classes=NUM_CLASSES)

    def key_fields(self, info):
        """Identify the model in the cache key (as before tasks existed: old caches stay)."""
        fields = {'seg': info['sha256']}
        if self.config.model_spec is not None:  # class map, normalisation... change results
            fields['model'] = file_digest_of_spec(self.config.model_spec)
        return fields

    def load(self, frame):
        """Return ``(image, label)``."""
        return load_frame(frame.image_path, frame.files[1])

    def analyse(self, model, recon, label):
        """Segment ``recon`` and score it against ``label``: the confusion matrix."""
        import torch
        pred = model(recon).argmax(1)[0].to(torch.uint8).cpu().numpy()
        return {'conf': confusion_matrix(label, pred, NUM_CLASSES)}

    def collect(self, records):
        """Stack the frames' confusion matrices: ``{'conf': N x C x C}``."""
        return {'conf': np.stack([r['conf'] for r in records])}

    def extras(self, frames, results):
        """Return the resolution of the first frame."""
        first, _ = self.load(frames[0])
        return {'resolution': f'{first.shape[1]}x{first.shape[0]}'}
