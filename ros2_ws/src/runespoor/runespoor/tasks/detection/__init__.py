# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ``detection`` task: VisDrone's 10 categories on drone video (paper §5.2, Table 6).

Analytics :mod:`.analytics` (small-box share as the tail signal; box counts and score
statistics of the same forward pass for the fitted tail detector), evaluation
:mod:`.evaluation` (the kept detections per frame), report :mod:`.report` (COCO AP) and
figures :mod:`.figures` (Fig. 10); fine-tuning losses :class:`runespoor.losses.DetASRLoss`
and :class:`runespoor.losses.DetCloudSegLoss`.
"""

from runespoor.tasks.base import Task

#: Keys of the ``detection:`` section of an eval config and their defaults.
EVAL_SECTION = {
    'checkpoint': None,
    'arch': None,
    'weights': None,
    'arch_kwargs': {},
    'model': None,
    'score_threshold': 0.3,
    'max_area_fraction': 0.0005,
    'max_dets': 500,
    'keep_top': 500,
    'tail_fit_method': 'asr',
    'tail_frame_fraction': 0.1,
    'target_recall': 0.9,
}


class DetectionTask(Task):
    """Object detection of the VisDrone categories (ids 1..10)."""

    name = 'detection'
    description = 'object detection (VisDrone categories; Detection2DArray)'
    model_kind = 'det'
    num_classes = 10
    signal_name = 'small_box_share'
    #: ``analyse_with_features``: the fitted tail detector (``models/tail/tail_model_det.json``)
    fitted_tail = True
    frame_metric = 'frame AP50'
    #: the x2 fit of results/eval_drone_val that config/cloud_detection.yaml shipped
    reference_tail_rule = (0.2342, 'above', 'the earlier detection default (small-box share '
                           'above 0.2342, results/eval_drone_val)')
    tail_settings = ('score_threshold', 'small_box_fraction')
    #: :func:`runespoor.tail_features.det_features` names
    tail_feature_sets = {
        'ratio': ('small_box_share',),
        'counts': ('small_box_share', 'box_count', 'small_count', 'medium_count',
                   'large_count', 'det_class_count'),
        'confidence': ('small_box_share', 'box_count', 'small_count', 'medium_count',
                       'large_count', 'det_class_count', 'candidate_count',
                       'low_score_count', 'kept_share', 'mean_score', 'mean_candidate_score',
                       'uncertain_share', 'top_score', 'expected_count', 'mean_log_area'),
        'all': None,  # every feature: the per-class counts included
    }
    ros_output = 'runespoor_cloud.outputs:DetectionsOutput'
    loss_defaults = {'alpha': 0.9, 'beta': 0.1, 'max_area_fraction': 0.0005}
    eval_defaults = {'scales': [2, 4], 'fps': 15.0}
    dataset_layout = 'a VisDrone-DET split folder holding images/ and annotations/'
    #: Fine-tuning batches carry a list of target dicts: no flips in the step (the dataset's).
    finetune_flip = False
    model_option = 'det'

    def training_data(self, cfg):
        """Read a VisDrone-DET-layout root, or make random boxes (:mod:`.training`)."""
        from runespoor.tasks.detection.training import training_data
        return training_data(cfg)

    def training_collate(self, job, split):
        """Box targets stay lists (``det_collate``), except in SR's patch pairs."""
        from .datasets import det_collate
        return None if job == 'sr' and split == 'train' else det_collate

    def make_analytics(self, params, device):
        """Build a :class:`.analytics.DetectorAnalytics` (``analytics_model``, or ``det_arch``)."""
        from runespoor.tasks.detection.analytics import DetectorAnalytics
        return DetectorAnalytics.from_params(params, device, self.num_classes)

    def describe_signal(self, config):
        """Return the small-box rule for logs."""
        return f'small-box share (boxes < {config.small_box_fraction:g} of the frame)'

    def finetune_loss(self, method, model, alpha, beta, max_area_fraction, frame_area=None,
                      **options):
        """Detection-aware ASR / CloudSeg losses around the frozen detector."""
        from runespoor.losses import DetASRLoss, DetCloudSegLoss
        self.refuse_loss_options(method, {k: v for k, v in options.items() if v is not None})
        if method == 'asr':
            return DetASRLoss(model, alpha, beta, max_area_fraction, frame_area=frame_area)
        if method == 'cloudseg':
            return DetCloudSegLoss(model, alpha, beta)
        return super().finetune_loss(method)

    def finetune_validate(self, sr_model, loader, device, model, max_batches=None,
                          max_area_fraction=None):
        """PSNR and mAP through SR vs bilinear."""
        from runespoor.training.validate import evaluate_sr_det
        return evaluate_sr_det(sr_model, loader, device, model,
                               int(getattr(model, 'num_classes', self.num_classes)),
                               max_batches=max_batches)

    def configure_eval(self, config, section, merged):
        """Read the ``detection:`` section (the detector and the report's knobs)."""
        from runespoor.evaluation.plugin_api import ConfigError, METHODS
        det = section
        if not isinstance(det, dict) or not (det.get('checkpoint') or det.get('weights')
                                             or det.get('model')):
            raise ConfigError('detection.checkpoint (or detection.arch + weights, or '
                              'detection.model) is required: the detector to evaluate with')
        unknown = set(det) - set(EVAL_SECTION)
        if unknown:
            raise ConfigError(f'unknown detection keys: {", ".join(sorted(unknown))}')
        det = dict(EVAL_SECTION, **det)
        config.det_checkpoint = config.path(det['checkpoint']) if det['checkpoint'] else None
        config.det_arch = det['arch']
        config.det_weights = config.path(det['weights']) if det['weights'] else None
        if config.det_weights and not config.det_arch:
            raise ConfigError('detection.weights needs detection.arch')
        if not isinstance(det['arch_kwargs'] or {}, dict):
            raise ConfigError('detection.arch_kwargs must be a mapping')
        config.det_arch_kwargs = dict(det['arch_kwargs'] or {})
        config.model_spec = config.model_section(det['model'], 'detection.model')
        config.score_threshold = float(det['score_threshold'])
        config.max_area_fraction = float(det['max_area_fraction'])
        if not 0.0 < config.max_area_fraction <= 1.0:
            raise ConfigError('detection.max_area_fraction must lie in (0, 1]')
        config.max_dets = int(det['max_dets'])
        config.keep_top = int(det['keep_top'])
        if not 1 <= config.max_dets <= config.keep_top:
            raise ConfigError('detection.max_dets must be >= 1 and <= detection.keep_top '
                              f'({config.keep_top}, the detections kept per frame)')
        config.tail_fit_method = str(det['tail_fit_method'])
        if config.tail_fit_method not in METHODS:
            raise ConfigError(f'detection.tail_fit_method {config.tail_fit_method!r}: choose '
                              f'from {", ".join(METHODS)}')
        config.tail_frame_fraction = float(det['tail_frame_fraction'])
        config.target_recall = float(det['target_recall'])
        if not 0.0 < config.tail_frame_fraction <= 1.0 or not 0.0 < config.target_recall <= 1.0:
            raise ConfigError('detection.tail_frame_fraction and target_recall must lie in '
                              '(0, 1]')

    def eval_plugin(self, config):
        """Per-frame kept detections (:class:`.evaluation.DetectionEval`)."""
        from runespoor.tasks.detection.evaluation import DetectionEval
        return DetectionEval(config)

    def report(self):
        """Paper Table 6 with COCO AP (:mod:`.report`)."""
        from runespoor.tasks.detection import report
        return report

    def figures(self):
        """Paper Fig. 10 (:mod:`.figures`)."""
        from runespoor.tasks.detection import figures
        return figures
