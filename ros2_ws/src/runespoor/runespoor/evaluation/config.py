# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ``runespoor eval`` configuration: one YAML file, validated into :class:`EvalConfig`.

Relative paths are resolved against the current directory (run the command from the repository
root, as the Makefile does).  Keys (defaults in
brackets; see ``config/eval/*.yaml`` for commented examples)::

    dataset:
      root: PATH              # Cityscapes layout: leftImg8bit/<split>/<city>/*_leftImg8bit.png
      split: val              #   + gtFine/<split>/<city>/*_gtFine_labelIds.png
      limit: null             # evaluate only the first N frames (sorted by path)
    segmentation:             # the frozen analytics model
      checkpoint: PATH        # a Runespoor checkpoint (kind 'seg'), or instead:
      arch: NAME              #   an architecture of runespoor.archs.SEG_ARCHS plus
      weights: PATH           #   a user-supplied weights file
    checkpoints:              # SR models, one file per method and scale; {scale} is replaced
      sr: models/sr/sr_x{scale}.pt
      asr: models/asr/asr_x{scale}.pt
      cloudseg: models/cloudseg/cloudseg_x{scale}.pt
    methods: [bilinear, sr, cloudseg, asr]   # HR (the original frames) is always evaluated
    scales: [2, 4, 6, 8]
    qualities: [90]           # JPEG qualities; every method x scale x quality is run
    table_quality: null       # quality used in the tables [the highest of `qualities`]
    class_scale: 4            # scale of the class-wise breakdown (paper Table 2, Figs. 1/9)
    framewise_scales: [4, 6]  # scales of the frame-wise figure (paper Fig. 13)
    tail_baseline: bilinear   # method whose worst classes fix the tail class set per scale
    tail_fraction: 0.5        # worst half of the classes (9 of 19)
    episode_length: 10        # frames per episode for the frame-wise tail
    fps: 17                   # stream frame rate for Mbit/s
    image_metrics: true       # PSNR/SSIM (CPU-heavy at 2048x1024: about 1 s/frame)
    device: auto              # auto | cpu | cuda | cuda:N
    skip_missing: false       # true: skip methods whose checkpoint file is missing
    cache_dir: null           # [OUT/cache]
"""

import os

from runespoor.codec import SCALES

#: Methods that the command knows, in the order the paper's tables list them.
METHODS = ('bilinear', 'sr', 'cloudseg', 'asr')
#: Methods whose reconstruction needs a super-resolution checkpoint.
SR_METHODS = ('sr', 'cloudseg', 'asr')

DEFAULTS = {
    'methods': list(METHODS),
    'scales': [2, 4, 6, 8],
    'qualities': [90],
    'table_quality': None,
    'class_scale': 4,
    'framewise_scales': [4, 6],
    'tail_baseline': 'bilinear',
    'tail_fraction': 0.5,
    'episode_length': 10,
    'fps': 17.0,
    'image_metrics': True,
    'device': 'auto',
    'skip_missing': False,
    'cache_dir': None,
    'checkpoints': {},
}


class ConfigError(ValueError):
    """An evaluation config that cannot be used; the message says which key and why."""


class EvalConfig:
    """A validated evaluation config; attributes are the keys of the YAML file."""

    def __init__(self, raw, base_dir='.'):
        if not isinstance(raw, dict):
            raise ConfigError('the eval config must be a YAML mapping')
        unknown = set(raw) - set(DEFAULTS) - {'dataset', 'segmentation'}
        if unknown:
            raise ConfigError(f'unknown config keys: {", ".join(sorted(unknown))}')
        self.raw = raw
        self.base_dir = os.path.abspath(base_dir)
        merged = dict(DEFAULTS, **raw)

        dataset = raw.get('dataset')
        if not isinstance(dataset, dict) or 'root' not in dataset:
            raise ConfigError('dataset.root is required (a Cityscapes-layout directory)')
        self.dataset_root = self.path(dataset['root'])
        self.split = str(dataset.get('split', 'val'))
        self.limit = dataset.get('limit')
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError('dataset.limit must be a positive number of frames or null')

        seg = raw.get('segmentation')
        if not isinstance(seg, dict) or not (seg.get('checkpoint') or seg.get('weights')):
            raise ConfigError('segmentation.checkpoint (or segmentation.arch + weights) is '
                              'required: the analytics model to evaluate with')
        self.seg_checkpoint = self.path(seg['checkpoint']) if seg.get('checkpoint') else None
        self.seg_arch = seg.get('arch')
        self.seg_weights = self.path(seg['weights']) if seg.get('weights') else None
        if self.seg_weights and not self.seg_arch:
            raise ConfigError('segmentation.weights needs segmentation.arch')

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
        self.class_scale = int(merged['class_scale'])
        self.framewise_scales = [int(s) for s in merged['framewise_scales']]
        self.tail_baseline = str(merged['tail_baseline'])
        if self.tail_baseline not in self.methods:
            raise ConfigError(f'tail_baseline {self.tail_baseline!r} is not among the methods')
        self.tail_fraction = float(merged['tail_fraction'])
        self.episode_length = int(merged['episode_length'])
        if self.episode_length < 1:
            raise ConfigError('episode_length must be >= 1')
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
