# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ``runespoor eval`` configuration: one YAML file, validated into :class:`EvalConfig`.

Relative paths are resolved against the current directory (run the command from the repository
root, as the Makefile does).  ``task`` picks the analytics task: ``segmentation`` (default;
Cityscapes layout, paper Tables 2-5) or ``detection`` (VisDrone-DET layout, paper Table 6 and
Fig. 10).  Keys (defaults in brackets; see ``config/eval/*.yaml`` for commented examples)::

    task: segmentation        # or detection, or a plug-in task: package.module:TaskClass
    dataset:
      root: PATH              # segmentation: Cityscapes layout: leftImg8bit/<split>/<city>/
      split: val              #   *_leftImg8bit.png + gtFine/<split>/<city>/*_gtFine_labelIds.png
                              # detection: a VisDrone-DET split folder (images/, annotations/);
                              #   no split key
      limit: null             # evaluate only the first N frames (sorted by path)
    segmentation:             # (task segmentation) the frozen analytics model
      checkpoint: PATH        # a Runespoor checkpoint (kind 'seg'), or instead:
      arch: NAME              #   an architecture of runespoor.archs.SEG_ARCHS plus
      weights: PATH           #   a user-supplied weights file, or:
      model: {...}            #   your own model by configuration (docs/user_models.md)
    detection:                # (task detection) the frozen detector and the report's knobs
      checkpoint: PATH        # a Runespoor checkpoint (kind 'det'), or instead:
      arch: NAME              #   an architecture of runespoor.archs.DET_ARCHS plus
      weights: PATH           #   a user-supplied weights file
      arch_kwargs: {}         #   [num_classes: 10] keyword arguments of that architecture
      model: {...}            #   or your own detector by configuration (docs/user_models.md)
      score_threshold: 0.3    # boxes counted by the small-box share (tail-frame signal)
      max_area_fraction: 0.0005  # a box is small below this share of the frame area
      max_dets: 500           # detections per frame scored by AP (VisDrone toolkit: 500; COCO 100)
      keep_top: 500           # detections per frame kept in the cache (>= max_dets)
      tail_fit_method: asr    # whose predictions the tail-frame threshold is fitted on
      tail_frame_fraction: 0.1   # tail frames for the threshold fit: the worst 10 %
      target_recall: 0.9      # share of tail frames the fitted threshold must catch
    checkpoints:              # SR models, one file per method and scale; {scale} is replaced
      sr: models/sr/sr_x{scale}.pt
      asr: models/asr/asr_x{scale}.pt
      cloudseg: models/cloudseg/cloudseg_x{scale}.pt
    methods: [bilinear, sr, cloudseg, asr]   # HR (the original frames) is always evaluated
    scales: [2, 4, 6, 8]      # detection: [2, 4]
    qualities: [90]           # JPEG qualities; every method x scale x quality is run
    table_quality: null       # quality used in the tables [the highest of `qualities`]
    tail_baseline: bilinear   # method whose worst classes fix the tail class set per scale
    tail_fraction: 0.5        # worst half of the classes (9 of 19; detection 5 of 10)
    fps: 17                   # stream frame rate for Mbit/s (detection: 15, as the drone clips)
    image_metrics: true       # PSNR/SSIM (CPU-heavy at 2048x1024: about 1 s/frame)
    device: auto              # auto | cpu | cuda | cuda:N
    skip_missing: false       # true: skip methods whose checkpoint file is missing
    cache_dir: null           # [OUT/cache]
    # segmentation only:
    class_scale: 4            # scale of the class-wise breakdown (paper Table 2, Figs. 1/9)
    framewise_scales: [4, 6]  # scales of the frame-wise figure (paper Fig. 13)
    episode_length: 10        # frames per episode for the frame-wise tail
"""

import os

from runespoor.codec import SCALES
from runespoor.evaluation.plugin_api import ConfigError, METHODS, SR_METHODS

#: Keys of every task, with their defaults.
COMMON_DEFAULTS = {
    'methods': list(METHODS),
    'qualities': [90],
    'table_quality': None,
    'tail_baseline': 'bilinear',
    'tail_fraction': 0.5,
    'image_metrics': True,
    'device': 'auto',
    'skip_missing': False,
    'cache_dir': None,
    'checkpoints': {},
}
#: The segmentation defaults (every key of a segmentation config), as before tasks existed.
DEFAULTS = dict(COMMON_DEFAULTS, scales=[2, 4, 6, 8], fps=17.0, class_scale=4,
                framewise_scales=[4, 6], episode_length=10)


class EvalConfig:
    """A validated evaluation config; attributes are the keys of the YAML file."""

    def __init__(self, raw, base_dir='.'):
        if not isinstance(raw, dict):
            raise ConfigError('the eval config must be a YAML mapping')
        from runespoor.tasks import get_task, TaskError, TASKS
        try:
            self.task_plugin = get_task(str(raw.get('task', 'segmentation')))
        except TaskError as exc:
            raise ConfigError(str(exc)) from exc
        self.task = self.task_plugin.name
        defaults = dict(COMMON_DEFAULTS, **self.task_plugin.eval_defaults)
        unknown = set(raw) - set(defaults) - {'dataset', 'task', self.task}
        if unknown:
            others = [t for n, t in TASKS.items() if n != self.task]
            misplaced = sorted(k for k in unknown
                               if k in TASKS or any(k in t.eval_defaults for t in others))
            hint = (f' ({", ".join(misplaced)}: not used by task {self.task})'
                    if misplaced else '')
            raise ConfigError(f'unknown config keys: {", ".join(sorted(unknown))}{hint}')
        self.raw = raw
        self.base_dir = os.path.abspath(base_dir)
        merged = dict(defaults, **raw)

        self._dataset(raw.get('dataset'))
        self.task_plugin.configure_eval(self, raw.get(self.task), merged)

        self.methods = [str(m) for m in merged['methods']]
        for m in self.methods:
            if m not in METHODS:
                raise ConfigError(f'unknown method {m!r}; choose from {", ".join(METHODS)} '
                                  '(HR is always evaluated)')
        self.scales = [int(s) for s in merged['scales']]
        for s in self.scales:
            if s not in SCALES or s == 1:
                raise ConfigError(f'unknown scale {s}; choose from 2, 4, 6, 8')
        self.qualities = [int(q) for q in merged['qualities']]
        if not self.qualities or any(not 1 <= q <= 100 for q in self.qualities):
            raise ConfigError('qualities must be a non-empty list of JPEG qualities in 1..100')
        self.table_quality = int(merged['table_quality'] or max(self.qualities))
        if self.table_quality not in self.qualities:
            raise ConfigError(f'table_quality {self.table_quality} is not in qualities')
        self.tail_baseline = str(merged['tail_baseline'])
        if self.tail_baseline not in self.methods:
            raise ConfigError(f'tail_baseline {self.tail_baseline!r} is not among the methods')
        self.tail_fraction = float(merged['tail_fraction'])
        if not 0.0 < self.tail_fraction <= 1.0:
            raise ConfigError('tail_fraction must lie in (0, 1]')
        self.fps = float(merged['fps'])
        self.image_metrics = bool(merged['image_metrics'])
        self.device = str(merged['device'])
        self.skip_missing = bool(merged['skip_missing'])
        self.cache_dir = self.path(merged['cache_dir']) if merged['cache_dir'] else None

        checkpoints = merged['checkpoints'] or {}
        if not isinstance(checkpoints, dict):
            raise ConfigError('checkpoints must map a method to a path template')
        self.checkpoint_templates = {str(k): str(v) for k, v in checkpoints.items()}
        for method in self.methods:
            if method in SR_METHODS and method not in self.checkpoint_templates:
                raise ConfigError(f'checkpoints.{method} is missing: say where the {method} '
                                  'checkpoints live, e.g. models/' + method + '/'
                                  + method + '_x{scale}.pt')

    def _dataset(self, dataset):
        layout = self.task_plugin.dataset_layout
        if not isinstance(dataset, dict) or 'root' not in dataset:
            raise ConfigError(f'dataset.root is required ({layout})')
        unknown = set(dataset) - {'root', 'limit'} - set(self.task_plugin.dataset_keys)
        if unknown:
            raise ConfigError(f'unknown dataset keys: {", ".join(sorted(unknown))} (task '
                              f'{self.task}: dataset.root is {layout})')
        self.dataset_root = self.path(dataset['root'])
        self.split = str(dataset.get('split', 'val')) if 'split' in \
            self.task_plugin.dataset_keys else None
        self.dataset = dict(dataset)
        self.limit = dataset.get('limit')
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError('dataset.limit must be a positive number of frames or null')

    def model_section(self, section, where):
        """
        Validate a ``model:`` mapping (:mod:`runespoor.user_models`); return it or None.

        Relative file paths in it are resolved like every other path of the config.
        """
        if section is None:
            return None
        if not isinstance(section, dict):
            raise ConfigError(f'{where} must be a mapping (docs/user_models.md)')
        spec = dict(section)
        for key in ('weights', 'torchscript'):
            if spec.get(key):
                spec[key] = self.path(spec[key])
        return spec

    def path(self, value):
        """Resolve ``value`` (str) against ``base_dir`` (the current directory by default)."""
        value = os.path.expanduser(str(value))
        return value if os.path.isabs(value) else os.path.normpath(
            os.path.join(self.base_dir, value))

    def checkpoint_path(self, method, scale):
        """Path of the SR checkpoint of ``method`` at ``scale`` (None for bilinear)."""
        if method not in SR_METHODS:
            return None
        return self.path(self.checkpoint_templates[method].format(scale=scale, method=method))


def load_config(path):
    """Read and validate the YAML config at ``path``."""
    import yaml
    try:
        with open(path, encoding='utf-8') as f:
            raw = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f'cannot read eval config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'eval config {path} is not valid YAML: {exc}') from exc
    return EvalConfig(raw, base_dir=os.getcwd())
