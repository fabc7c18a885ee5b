# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ``segmentation`` task: Cityscapes' 19 train ids, the paper's main task (§3, §5.1).

Analytics :mod:`.analytics` (small-region ratio as the tail signal), evaluation
:mod:`.evaluation` (confusion matrices per frame), report :mod:`.report` and figures
:mod:`.figures` (paper Tables 2-5, Figs. 4-6); fine-tuning losses
:class:`runespoor.losses.ASRLoss` (Eq. 3) and :class:`runespoor.losses.CloudSegLoss` (Eq. 2).
"""

from runespoor.tasks.base import Task


class SegmentationTask(Task):
    """Semantic segmentation into the Cityscapes train ids."""

    name = 'segmentation'
    description = 'semantic segmentation (Cityscapes train ids; SemanticMap)'
    model_kind = 'seg'
    num_classes = 19
    signal_name = 'small_region_ratio'
    ros_output = 'runespoor_cloud.outputs:SemanticMapOutput'
    fitted_tail = True
    frame_metric = 'frame mIoU'
    reference_tail_rule = (0.01, 'below', "the paper's literal rule (ratio below 1 %)")
    #: :mod:`runespoor.tail_features` ``seg_features`` names
    tail_feature_sets = {
        'ratio': ('small_region_ratio',),
        'regions': ('small_region_ratio', 'small_region_count', 'boundary_share',
                    'class_count'),
        'confidence': ('small_region_ratio', 'small_region_count', 'mean_max_prob',
                       'low_conf_share', 'mean_margin', 'mean_entropy', 'boundary_share',
                       'class_count'),
        'classes': ('small_region_ratio', 'small_region_count', 'mean_max_prob',
                    'low_conf_share', 'mean_margin', 'mean_entropy', 'boundary_share',
                    'class_count', 'tiny_class_count', 'small_class_count'),
        'all': None,  # every feature: the class histogram and the derived ones included
    }
    loss_defaults = {'alpha': 0.95, 'beta': 0.05, 'max_area_fraction': 0.001}
    eval_defaults = {'scales': [2, 4, 6, 8], 'fps': 17.0, 'class_scale': 4,
                     'framewise_scales': [4, 6], 'episode_length': 10}
    dataset_layout = 'a Cityscapes-layout directory'
    dataset_keys = ('split',)
    model_option = 'seg'
    tensor_output = True

    def training_data(self, cfg):
        """Read a Cityscapes-layout root, or make random blobs (:mod:`.training`)."""
        from runespoor.tasks.segmentation.training import training_data
        return training_data(cfg)

    def make_analytics(self, params, device):
        """Build a :class:`.analytics.Segmenter` (``analytics_model``, or ``seg_arch``)."""
        from runespoor.tasks.segmentation.analytics import Segmenter
        return Segmenter.from_params(params, device, self.num_classes)

    def fitted_tail_unavailable(self, params):
        """Say that a test segmenter (``seg_arch`` none / palette) has no logits."""
        from runespoor.tasks.segmentation.analytics import TEST_SEGMENTERS
        if not params.get('analytics_model') and params.get('seg_arch') in TEST_SEGMENTERS:
            return f'seg_arch {params["seg_arch"]} (a test segmenter) has no logits'
        return super().fitted_tail_unavailable(params)

    def describe_signal(self, config):
        """Return the small-region rule for logs."""
        return f'small-region ratio (regions < {config.small_region_fraction:g} of the frame)'

    def finetune_loss(self, method, model, alpha, beta, max_area_fraction, frame_area=None,
                      **options):
        """
        ASR (paper Eq. 3) or CloudSeg (Eq. 2) loss around the frozen segmentation model.

        ``options``: ASR's ``target`` ('label' or 'hr'), ``jitter`` (pixels), and, for ASR
        and CloudSeg, ``grid_weight`` and ``grid_period`` of
        :class:`runespoor.losses.ASRLoss`.
        """
        from runespoor.losses import ASRLoss, CloudSegLoss
        options = {k: v for k, v in options.items() if v is not None}
        if method == 'asr':
            return ASRLoss(model, alpha, beta, max_area_fraction, frame_area=frame_area,
                           **options)
        if method == 'cloudseg':
            grid = {k: options.pop(k) for k in ('grid_weight', 'grid_period') if k in options}
            self.refuse_loss_options(method, options)
            return CloudSegLoss(model, alpha, beta, **grid)
        self.refuse_loss_options(method, options)
        return super().finetune_loss(method)

    def finetune_validate(self, sr_model, loader, device, model, max_batches=None,
                          max_area_fraction=None):
        """PSNR, mIoU through SR vs bilinear and the accuracy on small regions."""
        from runespoor.training.validate import evaluate_sr
        return evaluate_sr(sr_model, loader, device, model,
                           int(getattr(model, 'num_classes', self.num_classes)),
                           max_batches=max_batches, max_area_fraction=max_area_fraction)

    def configure_eval(self, config, section, merged):
        """Read ``segmentation:`` (the model) and the frame-wise keys of the eval config."""
        from runespoor.evaluation.plugin_api import ConfigError
        seg = section
        if not isinstance(seg, dict) or not (seg.get('checkpoint') or seg.get('weights')
                                             or seg.get('model')):
            raise ConfigError('segmentation.checkpoint (or segmentation.arch + weights, or '
                              'segmentation.model) is required: the analytics model to '
                              'evaluate with')
        unknown = set(seg) - {'checkpoint', 'arch', 'weights', 'model'}
        if unknown:
            raise ConfigError(f'unknown segmentation keys: {", ".join(sorted(unknown))}')
        config.seg_checkpoint = config.path(seg['checkpoint']) if seg.get('checkpoint') \
            else None
        config.seg_arch = seg.get('arch')
        config.seg_weights = config.path(seg['weights']) if seg.get('weights') else None
        if config.seg_weights and not config.seg_arch:
            raise ConfigError('segmentation.weights needs segmentation.arch')
        config.model_spec = config.model_section(seg.get('model'), 'segmentation.model')
        config.class_scale = int(merged['class_scale'])
        config.framewise_scales = [int(s) for s in merged['framewise_scales']]
        config.episode_length = int(merged['episode_length'])
        if config.episode_length < 1:
            raise ConfigError('episode_length must be >= 1')

    def eval_plugin(self, config):
        """Per-frame confusion matrices (:class:`.evaluation.SegmentationEval`)."""
        from runespoor.tasks.segmentation.evaluation import SegmentationEval
        return SegmentationEval(config)

    def report(self):
        """Paper Tables 2-5 (:mod:`.report`)."""
        from runespoor.tasks.segmentation import report
        return report

    def figures(self):
        """Paper Figs. 4-6 (:mod:`.figures`)."""
        from runespoor.tasks.segmentation import figures
        return figures
