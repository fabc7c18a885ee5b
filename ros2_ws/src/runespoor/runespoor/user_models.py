# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The user's own analytics model, plugged in by configuration only.

A *model spec* is one mapping -- the ``model:`` section of an eval config, the cloud node's
``analytics_model`` parameter, the file of ``runespoor train asr --analytics-model`` -- that
says where the model comes from and how its input and output differ from Runespoor's
convention (RGB float in [0, 1] in; for segmentation ``N x C x H x W`` logits of the task's
classes out, for detection one dict of ``boxes`` / ``scores`` / ``labels`` per image).
:func:`load_analytics_model` builds the model, checks it against the task and wraps it in an
:class:`AnalyticsAdapter` that makes up the difference, so the cloud, training and evaluation
see a model of the usual shape whatever the user brought.  Keys (defaults in brackets)::

    model:
      # where the model comes from: exactly one of arch / builder / torchscript, or only
      # weights when that file is a Runespoor checkpoint (it names its own arch)
      arch: NAME              # a Runespoor arch (runespoor.archs.SEG_ARCHS / DET_ARCHS) or
                              #   torchvision:NAME (torchvision.models.segmentation.NAME /
                              #   torchvision.models.detection.NAME, built without weights)
      weights: PATH           # a Runespoor checkpoint or a plain state dict ({'state_dict':
                              #   ...} / {'model': ...} wrappers and 'module.' prefixes are
                              #   accepted); read with weights_only=True, nothing in it runs
      builder: pkg.mod:name   # a callable that returns an nn.Module (the user's own code)
      builder_kwargs: {}      #   keyword arguments of the builder
      torchscript: PATH       # a TorchScript file (torch.jit.save); it carries its weights
      arch_kwargs: {}         # keyword arguments of a Runespoor / torchvision arch
      # how the model differs from the task
      num_classes: null       # the model's own number of classes [the task's]
      aux: auto               # torchvision segmentation: build the auxiliary head (true),
                              #   not (false: aux_classifier.* weights are dropped) or as the
                              #   weights file says (auto)
      output: null            # key of a dict output ['out' for a dict] or index of a tuple
      normalize: none         # none | imagenet | {mean: [r, g, b], std: [r, g, b]} on [0, 1]
      input_size: null        # [W, H] the model runs at: the frame is resized to it and the
                              #   logits / boxes are resized back to the frame
      class_map: null         # model class -> task class: {3: 11, 19: ignore, ...} or a
                              #   list by model class; classes mapped to nothing are ignored;
                              #   others: same keeps every unlisted id that is a task id

Runespoor checkpoints load exactly as before (:func:`runespoor.checkpoint.load_model`, the
kind, arch and class count checked; Runespoor models normalise internally, hence
``normalize: none`` by default).  Without a class map the model must have the task's number of
classes -- a 5-class checkpoint for the 19 Cityscapes classes is refused with both numbers,
and so is a segmentation model that outputs 20 channels (the metrics would otherwise meet
"predicted labels [19] outside [0, 19)").  A class map fixes either: segmentation logits of
model classes mapped to the same task class are merged (``logsumexp``: the log of the summed
probabilities), classes mapped to nothing are dropped before the argmax -- *extra classes are
ignored: a pixel goes to its most likely task class*.  Detections of unmapped classes are
dropped.  In a mapping, ``others: same`` maps every model class it does not list to the task
class of the same id (``{19: ignore, others: same}``: a Cityscapes model with a 20th
"background" output); the default, ``others: ignore``, ignores them.  Detection class ids
are the task's ids ``1 .. task_classes`` (VisDrone: 1..10; 0 is the background, as in
torchvision); for detection ``num_classes`` counts the scored classes without the background
(a ``torchvision:`` detector is built with ``num_classes + 1``).

Security: ``builder`` imports and runs the named module, and a TorchScript file is a program;
both are the user's code, chosen in the user's own configuration.  Read such specs only from
configuration files and launch-time (read-only) parameters, never from the network or a
message.  Weights files are data: read only with ``weights_only=True``
(:func:`runespoor.checkpoint.read_torch_file`), bounded in size, never unpickled otherwise.

>>> spec = ModelSpec.from_dict({'torchscript': 'my_seg.ts',
...                             'class_map': {19: 'ignore', 'others': 'same'}},
...                            kind='seg', section='segmentation.model')
>>> model, info = load_analytics_model(spec, task_classes=19)   # doctest: +SKIP

``docs/user_models.md`` has worked examples.  No ROS here.
"""

from dataclasses import dataclass, field
import hashlib
import importlib
import inspect
import io
import os

import torch
from torch import nn
import torch.nn.functional as F

from .torch_files import unwrap_state_dict

#: Analytics kinds (checkpoint ``kind``), with the task names accepted for them.
KINDS = {'seg': 'seg', 'det': 'det', 'segmentation': 'seg', 'detection': 'det'}
#: Every key of a model spec.
SPEC_KEYS = ('arch', 'weights', 'builder', 'builder_kwargs', 'torchscript', 'num_classes',
             'aux', 'output', 'normalize', 'input_size', 'class_map', 'arch_kwargs')
#: Keys that say where the model comes from (exactly one, or only ``weights``).
SOURCE_KEYS = ('arch', 'builder', 'torchscript')
#: Prefix of torchvision architectures in ``arch``.
TORCHVISION_PREFIX = 'torchvision:'
#: ImageNet statistics on the [0, 1] scale (``normalize: imagenet``).
IMAGENET = {'mean': (0.485, 0.456, 0.406), 'std': (0.229, 0.224, 0.225)}
#: Class-map key for the classes a mapping does not list, and its values.
OTHERS_KEY, OTHERS = 'others', ('ignore', 'same')
#: Class-map values that mean "ignore this model class".
IGNORE_WORDS = ('ignore', 'none', 'null', '')

_WHAT = {'seg': 'segmentation model', 'det': 'detection model'}
_AUX_PREFIXES = ('aux_classifier.', 'net.aux_classifier.')


class ModelSpecError(ValueError):
    """A model spec or model file that cannot be used; the message names the key or file."""


def _identifier_path(text):
    return bool(text) and all(part.isidentifier() for part in text.split('.'))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value, where, minimum=None):
    """Return ``value`` as an int (ints and digit strings, not bools) or raise."""
    if isinstance(value, str) and value.strip().lstrip('-').isdigit():
        value = int(value.strip())
    if not _is_int(value):
        raise ModelSpecError(f'{where}: expected an integer, got {value!r}')
    if minimum is not None and value < minimum:
        raise ModelSpecError(f'{where}: expected an integer >= {minimum}, got {value}')
    return value


def _class_range(kind, task_classes):
    """Return ``(low, high)``: the task's class ids are ``low .. high`` inclusive."""
    return (1, task_classes) if kind == 'det' else (0, task_classes - 1)


@dataclass(frozen=True)
class ModelSpec:
    """
    One analytics model as the user configured it (see the module doc for every key).

    Build it with :meth:`from_dict`, which validates keys, types and ranges and says which
    key of which section is wrong; :func:`load_analytics_model` turns it into a model.
    ``class_map`` is kept normalised as ``{model class: task class or None}`` (its ``others``
    entry as ``class_map_others``: ``'ignore'`` or ``'same'``; :meth:`resolved_class_map`
    applies it), ``input_size`` as ``(W, H)``, ``normalize`` as ``'none'``, ``'imagenet'``
    or ``{'mean': (..), 'std': (..)}``.  ``section`` names the spec in messages (e.g.
    ``'segmentation.model'``).
    """

    kind: str
    arch: str = None
    weights: str = None
    builder: str = None
    builder_kwargs: dict = field(default_factory=dict)
    torchscript: str = None
    num_classes: int = None
    aux: object = 'auto'
    output: object = None
    normalize: object = 'none'
    input_size: tuple = None
    class_map: object = None
    arch_kwargs: dict = field(default_factory=dict)
    class_map_others: str = 'ignore'
    section: str = field(default='model', compare=False)

    def __post_init__(self):
        object.__setattr__(self, 'kind', _kind(self.kind))

    @classmethod
    def from_dict(cls, d, kind, section='model', *, task_classes=None, base_dir=None):
        """
        Validate the mapping ``d`` and return a :class:`ModelSpec` of analytics ``kind``.

        ``kind``: ``'seg'`` / ``'det'`` (or the task names ``'segmentation'`` /
        ``'detection'``).  A string ``d`` is short for ``{'weights': d}`` (a Runespoor
        checkpoint).  ``task_classes``, when known, checks the class map's targets.
        ``base_dir`` resolves relative ``weights`` / ``torchscript`` paths (default: as given,
        i.e. against the current directory).  Raises :class:`ModelSpecError` naming
        ``section`` and the key.
        """
        kind = _kind(kind)
        if isinstance(d, (str, os.PathLike)):
            d = {'weights': os.fspath(d)}
        if d is None:
            raise ModelSpecError(f'{section} is empty: give arch + weights, builder, '
                                 'torchscript, or weights of a Runespoor checkpoint')
        if not isinstance(d, dict):
            raise ModelSpecError(f'{section} must be a mapping of model keys, got '
                                 f'{type(d).__name__}')
        unknown = sorted(str(k) for k in d if k not in SPEC_KEYS)
        if unknown:
            raise ModelSpecError(f'{section}: unknown key(s) {", ".join(unknown)}; the keys are '
                                 f'{", ".join(SPEC_KEYS)}')
        given = {k: v for k, v in d.items() if v is not None}
        sources = [k for k in SOURCE_KEYS if given.get(k) not in (None, '')]
        if len(sources) > 1:
            raise ModelSpecError(f'{section}: give exactly one of arch, builder, torchscript '
                                 f'(got {" and ".join(sources)})')
        for key in ('arch', 'weights', 'builder', 'torchscript'):
            if key in given and not isinstance(given[key], (str, os.PathLike)):
                raise ModelSpecError(f'{section}.{key}: expected a string, got '
                                     f'{given[key]!r}')
        weights = _path(given.get('weights'), base_dir)
        torchscript = _path(given.get('torchscript'), base_dir)
        arch = given.get('arch') or None
        builder = given.get('builder') or None
        where = f'{section}.'
        if not sources and not weights:
            raise ModelSpecError(f'{section} names no model: give arch + weights, builder '
                                 '(package.module:callable), torchscript (a TorchScript file), '
                                 'or weights of a Runespoor checkpoint')
        if torchscript and weights:
            raise ModelSpecError(f'{section}: a TorchScript file carries its own weights; '
                                 f'drop {where}weights (or use builder / arch with weights)')
        if arch:
            _check_arch(arch, kind, section)
            if not weights:
                raise ModelSpecError(f'{section}: arch {arch!r} needs {where}weights (a '
                                     'Runespoor checkpoint or a state dict for that arch)')
        if builder is not None:
            _check_import_path(builder, f'{where}builder')
        builder_kwargs = _mapping(given.get('builder_kwargs'), f'{where}builder_kwargs')
        arch_kwargs = _mapping(given.get('arch_kwargs'), f'{where}arch_kwargs')
        if builder_kwargs and not builder:
            raise ModelSpecError(f'{where}builder_kwargs needs {where}builder')
        if arch_kwargs and not arch:
            raise ModelSpecError(f'{where}arch_kwargs needs {where}arch (a Runespoor '
                                 'checkpoint records its own arch_kwargs)')
        for bad in ('weights', 'weights_backbone', 'pretrained'):
            if bad in arch_kwargs:
                raise ModelSpecError(f'{where}arch_kwargs.{bad}: pretrained weights are not '
                                     f'downloaded; give a weights file as {where}weights')
        num_classes = given.get('num_classes')
        if num_classes is not None:
            num_classes = _as_int(num_classes, f'{where}num_classes', minimum=1)
        aux = d.get('aux', 'auto')
        aux = 'auto' if aux is None else aux
        if isinstance(aux, str) and aux.lower() in ('auto', 'true', 'false'):
            aux = {'auto': 'auto', 'true': True, 'false': False}[aux.lower()]
        if not (aux is True or aux is False or aux == 'auto'):
            raise ModelSpecError(f'{where}aux: expected auto, true or false, got {aux!r}')
        if aux is True and not (kind == 'seg' and arch and arch.startswith(TORCHVISION_PREFIX)):
            raise ModelSpecError(f'{where}aux: true builds the auxiliary head of a '
                                 'torchvision:... segmentation arch; other models are used as '
                                 'built (auto / false drop aux_classifier weights they lack)')
        output = _output(given.get('output'), f'{where}output')
        normalize = _normalize(d.get('normalize', 'none'), f'{where}normalize')
        input_size = _input_size(given.get('input_size'), f'{where}input_size')
        class_map, others = _class_map(given.get('class_map'), f'{where}class_map')
        spec = cls(kind=kind, arch=arch, weights=weights, builder=builder,
                   builder_kwargs=builder_kwargs, torchscript=torchscript,
                   num_classes=num_classes, aux=aux, output=output, normalize=normalize,
                   input_size=input_size, class_map=class_map, arch_kwargs=arch_kwargs,
                   class_map_others=others, section=section)
        spec.check_classes(task_classes, num_classes)
        return spec

    def check_classes(self, task_classes, model_classes=None):
        """
        Check the class map against the task (``task_classes``) and the model's class count.

        Targets must be task classes (segmentation ``0 .. task_classes - 1``, detection
        ``1 .. task_classes``); sources must be classes of the model when its count is known.
        Without a class map, a known model class count must equal ``task_classes``.
        """
        where = f'{self.section}.class_map'
        if self.class_map is None:
            if task_classes is not None and model_classes is not None \
                    and int(model_classes) != int(task_classes):
                raise ModelSpecError(_count_mismatch(self, model_classes, task_classes))
            return
        if task_classes is not None:
            low, high = _class_range(self.kind, int(task_classes))
            bad = sorted((m, t) for m, t in self.class_map.items()
                         if t is not None and not low <= t <= high)
            if bad:
                m, t = bad[0]
                raise ModelSpecError(f'{where}: model class {m} maps to {t}, outside the '
                                     f"task's classes {low}..{high} (use ignore to drop a "
                                     'class)')
        if model_classes is not None:
            high = int(model_classes) - 1 if self.kind == 'seg' else int(model_classes)
            bad = sorted(m for m in self.class_map if m > high)
            if bad:
                raise ModelSpecError(f'{where}: model class {bad[0]} does not exist: the model '
                                     f'has {int(model_classes)} classes (0..{high})')

    def resolved_class_map(self, task_classes, model_classes=None):
        """
        Return the class map with ``others`` applied (``{model class: task class or None}``).

        ``others: same`` adds ``k -> k`` for every task class id ``k`` the map does not list
        (and that the model has, when ``model_classes`` is known).  None without a class map.
        """
        if self.class_map is None:
            return None
        resolved = dict(self.class_map)
        if self.class_map_others == 'same':
            low, high = _class_range(self.kind, int(task_classes))
            if model_classes is not None:
                high = min(high, int(model_classes) - (1 if self.kind == 'seg' else 0))
            for k in range(low, high + 1):
                resolved.setdefault(k, k)
        return resolved

    def describe(self):
        """Return a one-line description for logs, e.g. ``torchscript seg.ts, 20 -> 19``."""
        if self.torchscript:
            text = f'torchscript {self.torchscript}'
        elif self.builder:
            text = f'builder {self.builder}' + (f' + {self.weights}' if self.weights else '')
        elif self.arch:
            text = f'{self.arch} + {self.weights}'
        else:
            text = f'checkpoint {self.weights}'
        parts = []
        if self.num_classes is not None:
            parts.append(f'{self.num_classes} classes')
        if self.class_map is not None:
            kept = sum(t is not None for t in self.class_map.values())
            dropped = len(self.class_map) - kept
            parts.append('class_map ' + ', '.join(
                text for text, shown in ((f'{kept} mapped', kept), (f'{dropped} ignored', dropped),
                                         ('others same', self.class_map_others == 'same'))
                if shown))
        if self.output is not None:
            parts.append(f'output {self.output!r}')
        if self.normalize != 'none':
            parts.append('normalize ' + (self.normalize if isinstance(self.normalize, str)
                                         else 'mean/std'))
        if self.input_size:
            parts.append(f'input {self.input_size[0]}x{self.input_size[1]}')
        return text + (f' ({", ".join(parts)})' if parts else '')

    def to_dict(self):
        """Return the spec as plain JSON-able data (cache keys, logs), defaults left out."""
        out = {'kind': self.kind}
        for key in SPEC_KEYS:
            value = getattr(self, key)
            if value in (None, {}, 'none') or (key == 'aux' and value == 'auto'):
                continue
            if key == 'class_map':
                value = {str(m): t for m, t in sorted(value.items())}
                if self.class_map_others == 'same':
                    value[OTHERS_KEY] = 'same'
            elif key == 'input_size':
                value = list(value)
            elif key == 'normalize' and isinstance(value, dict):
                value = {k: list(v) for k, v in value.items()}
            out[key] = value
        return out


def _kind(kind):
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise ModelSpecError(f'unknown analytics kind {kind!r}; use seg or det') from None


def _path(value, base_dir):
    if value in (None, ''):
        return None
    value = os.path.expanduser(os.fspath(value))
    if base_dir is not None and not os.path.isabs(value):
        value = os.path.join(base_dir, value)
    return value


def _mapping(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ModelSpecError(f'{where}: expected a mapping of keyword arguments, got {value!r}')
    return dict(value)


def _check_arch(arch, kind, section):
    if arch.startswith(TORCHVISION_PREFIX):
        name = arch[len(TORCHVISION_PREFIX):]
        if not name.isidentifier():
            raise ModelSpecError(f'{section}.arch {arch!r}: expected torchvision:NAME, NAME a '
                                 f'torchvision.models.{_tv_module_name(kind)} builder')
        return
    from .archs import DET_ARCHS, SEG_ARCHS
    archs = SEG_ARCHS if kind == 'seg' else DET_ARCHS
    if arch not in archs:
        raise ModelSpecError(f'{section}.arch: unknown {_WHAT[kind][:-6]} arch {arch!r}; '
                             f'choose one of {", ".join(archs)}, or torchvision:NAME, or a '
                             'builder (package.module:callable)')


def _check_import_path(path, where):
    if not isinstance(path, str) or path.count(':') != 1:
        raise ModelSpecError(f'{where} {path!r}: expected an import path '
                             '"package.module:callable"')
    module, attr = path.split(':')
    if not _identifier_path(module) or not _identifier_path(attr):
        raise ModelSpecError(f'{where} {path!r}: expected an import path '
                             '"package.module:callable" (Python identifiers separated by dots)')


def _output(value, where):
    if value is None or value == '':
        return None
    if _is_int(value):
        if value < 0:
            raise ModelSpecError(f'{where}: an index must be >= 0, got {value}')
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else value
    raise ModelSpecError(f'{where}: expected a dict key (string) or a tuple index, got {value!r}')


def _normalize(value, where):
    if value is None or (isinstance(value, str) and value.lower() == 'none'):
        return 'none'
    if isinstance(value, str) and value.lower() == 'imagenet':
        return 'imagenet'
    if not isinstance(value, dict):
        raise ModelSpecError(f'{where}: expected none, imagenet or {{mean: [r, g, b], std: '
                             f'[r, g, b]}}, got {value!r}')
    if set(value) != {'mean', 'std'}:
        raise ModelSpecError(f'{where}: expected the keys mean and std, got '
                             f'{", ".join(sorted(map(str, value)))}')
    out = {}
    for key in ('mean', 'std'):
        v = value[key]
        if not isinstance(v, (list, tuple)) or len(v) != 3 or \
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise ModelSpecError(f'{where}.{key}: expected three numbers (R, G, B), got {v!r}')
        out[key] = tuple(float(x) for x in v)
    if any(s <= 0 for s in out['std']):
        raise ModelSpecError(f'{where}.std: must be > 0, got {list(out["std"])}')
    if any(abs(x) > 1.0 for x in out['mean'] + out['std']):
        raise ModelSpecError(f'{where}: mean and std are on the [0, 1] scale of the input '
                             f'(ImageNet: mean {list(IMAGENET["mean"])}); divide 0-255 values '
                             'by 255')
    return out


def _input_size(value, where):
    if value is None or value == '':
        return None
    if isinstance(value, str):
        parts = value.lower().replace(' ', '').split('x')
        value = parts if len(parts) == 2 else [value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ModelSpecError(f'{where}: expected [W, H] (or "WxH"), got {value!r}')
    w, h = (_as_int(v, where, minimum=1) for v in value)
    return (w, h)


def _class_target(value, where):
    if value is None or (isinstance(value, str) and value.strip().lower() in IGNORE_WORDS):
        return None
    return _as_int(value, where, minimum=0)


def _class_map(value, where):
    """Return ``({model class: task class or None}, others)`` from a mapping or a list."""
    if value is None:
        return None, 'ignore'
    if isinstance(value, (list, tuple)):
        if not value:
            raise ModelSpecError(f'{where}: an empty list maps nothing')
        return {m: _class_target(t, f'{where}[{m}]') for m, t in enumerate(value)}, 'ignore'
    if not isinstance(value, dict) or not value:
        raise ModelSpecError(f'{where}: expected a mapping {{model class: task class or '
                             f'ignore}} or a list indexed by model class, got {value!r}')
    value = dict(value)
    others = value.pop(OTHERS_KEY, 'ignore')
    others = 'ignore' if others is None else str(others).strip().lower()
    if others not in OTHERS:
        raise ModelSpecError(f'{where}.{OTHERS_KEY}: expected same or ignore, got {others!r}')
    out = {}
    for m, t in value.items():
        key = _as_int(m, f'{where} key {m!r}', minimum=0)
        if key in out:
            raise ModelSpecError(f'{where}: model class {key} is mapped twice')
        out[key] = _class_target(t, f'{where}[{key}]')
    if others == 'ignore' and all(t is None for t in out.values()):
        raise ModelSpecError(f'{where} maps no model class to a task class (classes it does not '
                             'list are ignored): add others: same to keep their ids')
    return out, others


def _count_mismatch(spec, model_classes, task_classes):
    what = _WHAT[spec.kind]
    source = spec.torchscript or spec.weights or spec.builder or spec.arch
    return (f'{what} {source} has {int(model_classes)} classes, expected {int(task_classes)} '
            f"(the task's classes): set {spec.section}.class_map to map the model's classes "
            "to the task's (e.g. {19: ignore, others: same}), or use a model trained for "
            f'{int(task_classes)} classes; refusing a model that would report other class ids')


def _tv_module_name(kind):
    return 'segmentation' if kind == 'seg' else 'detection'


# -- reading files --------------------------------------------------------------------------

def file_sha256(path):
    """Return the hex SHA-256 of the file ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _require_file(path, what, key):
    if not os.path.exists(path):
        raise ModelSpecError(f'{what} file {path} does not exist (set {key})')


def _read_weights(spec, what):
    """Read ``spec.weights`` safely; return the object stored in it."""
    from .checkpoint import CheckpointError, read_torch_file
    _require_file(spec.weights, f'{what} weights', f'{spec.section}.weights')
    try:
        return read_torch_file(spec.weights, f'{what} weights file')
    except CheckpointError as exc:
        raise ModelSpecError(str(exc)) from None


def _is_checkpoint(obj):
    from .checkpoint import FORMAT
    return isinstance(obj, dict) and obj.get('format') == FORMAT


def _state_dict(obj, path, what):
    """Return the state dict in ``obj`` (plain, wrapped, Runespoor checkpoint), prefix-free."""
    state = unwrap_state_dict(obj)
    if state is None:
        raise ModelSpecError(f'{what} weights file {path} holds no state dict (a mapping of '
                             "parameter names to tensors, or one under 'state_dict' / 'model')")
    return {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v)
            for k, v in state.items()}


def _has_aux(state):
    return any(k.startswith(_AUX_PREFIXES) for k in state)


def _fit_state(model, state, spec, what, notes):
    """Load ``state`` into ``model`` strictly, after the usual renames; raise our words."""
    own = model.state_dict()
    if own and all(k.startswith('net.') for k in own) and \
            not any(k.startswith('net.') for k in state):
        state = {'net.' + k: v for k, v in state.items()}      # into a Runespoor wrapper
    elif state and all(k.startswith('net.') for k in state) and \
            not any(k.startswith('net.') for k in own):
        state = {k[len('net.'):]: v for k, v in state.items()}  # out of a Runespoor wrapper
        notes.append("weights keys: 'net.' prefix removed")
    extra_aux = [k for k in state if k.startswith(_AUX_PREFIXES) and k not in own]
    if extra_aux:
        if spec.aux is True:
            raise ModelSpecError(f'{what} weights file {spec.weights}: aux is true but the '
                                 'built model has no auxiliary head')
        state = {k: v for k, v in state.items() if k not in extra_aux}
        notes.append(f'dropped {len(extra_aux)} aux_classifier keys (the auxiliary head is '
                     'not used for inference)')
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        why = []
        if missing:
            why.append(f'{len(missing)} missing key(s) ({", ".join(missing[:4])}'
                       + (', ...' if len(missing) > 4 else '') + ')')
        if unexpected:
            why.append(f'{len(unexpected)} unexpected key(s) ({", ".join(unexpected[:4])}'
                       + (', ...' if len(unexpected) > 4 else '') + ')')
        for k, have, want in shapes[:3]:
            why.append(f'{k} is {list(have)} in the file but {list(want)} in the model')
        hint = ''
        if shapes:
            hint = (f'; if that is the classifier, set {spec.section}.num_classes to the '
                    "model's own number of classes")
            if spec.kind == 'det':
                hint += ' (detection: without the background)'
        if _has_aux(state) or any(k.startswith(_AUX_PREFIXES) for k in missing):
            hint += f'; {spec.section}.aux decides the auxiliary head'
        raise ModelSpecError(f'{what} weights file {spec.weights} does not fit '
                             f'{_model_name(spec)}: {"; ".join(why)}{hint}')
    state = {k: (v.to(own[k].dtype) if v.is_floating_point() else v) for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelSpecError(f'{what} weights file {spec.weights} does not fit '
                             f'{_model_name(spec)}: {str(exc)[:400]}') from exc


def _model_name(spec):
    return spec.arch or spec.builder or 'the model'


# -- building -------------------------------------------------------------------------------

def _load_checkpoint_model(spec, what):
    """Load a Runespoor checkpoint with :func:`runespoor.checkpoint.load_model` (its checks)."""
    from .checkpoint import CheckpointError, load_model
    runespoor_arch = spec.arch if spec.arch and not spec.arch.startswith(
        TORCHVISION_PREFIX) else None
    if spec.arch_kwargs:
        raise ModelSpecError(f'{spec.section}.arch_kwargs: {spec.weights} is a Runespoor '
                             'checkpoint, which records its own arch_kwargs; drop the key')
    try:
        model, ckpt = load_model(spec.weights, kind=spec.kind, arch=runespoor_arch,
                                 what=f'{what} checkpoint')
    except CheckpointError as exc:
        raise ModelSpecError(f'{exc} (set in {spec.section})') from exc
    config = ckpt.get('config', {})
    extra = {'arch': config.get('arch'), 'metrics': ckpt.get('metrics', {}),
             'code_version': ckpt.get('code_version'), 'format': 'checkpoint'}
    return model, extra


def _build_runespoor(spec, model_classes):
    from .archs import build_det, build_seg
    build = build_seg if spec.kind == 'seg' else build_det
    try:
        return build(spec.arch, num_classes=model_classes, **spec.arch_kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f'{spec.section}: cannot build arch {spec.arch!r} with '
                             f'arch_kwargs {spec.arch_kwargs}: {exc}') from exc


def _build_torchvision(spec, model_classes, aux):
    import torchvision
    from torchvision.models import detection, segmentation
    module = segmentation if spec.kind == 'seg' else detection
    name = spec.arch[len(TORCHVISION_PREFIX):]
    names = torchvision.models.list_models(module=module)
    if name not in names:
        raise ModelSpecError(f'{spec.section}.arch: torchvision.models.'
                             f'{_tv_module_name(spec.kind)} has no {name!r}; choose one of '
                             f'{", ".join(names)}')
    builder = getattr(module, name)
    kwargs = {'weights': None, 'weights_backbone': None,
              'num_classes': model_classes + (1 if spec.kind == 'det' else 0)}
    if 'aux_loss' in inspect.signature(builder).parameters:
        kwargs['aux_loss'] = bool(aux)
    kwargs.update(spec.arch_kwargs)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f'{spec.section}: cannot build {spec.arch} with '
                             f'{kwargs}: {exc}') from exc


def _call_builder(spec, what):
    """Import and call ``spec.builder``; return ``(module, info about the code)``."""
    where = f'{spec.section}.builder {spec.builder!r}'
    module_name, attr = spec.builder.split(':')
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelSpecError(f'{where}: no module named {exc.name!r} (is the package '
                             'installed, or its folder on PYTHONPATH?)') from exc
    except Exception as exc:  # noqa: B902 - the user's module failed while importing
        raise ModelSpecError(f'{where}: importing {module_name} failed: '
                             f'{type(exc).__name__}: {exc}') from exc
    for part in attr.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelSpecError(f'{where}: module {module_name} has no attribute '
                                 f'{attr!r}') from None
    if not callable(obj):
        raise ModelSpecError(f'{where}: {attr} is a {type(obj).__name__}, not a callable '
                             'that returns an nn.Module')
    try:
        model = obj(**spec.builder_kwargs)
    except Exception as exc:  # noqa: B902 - the user's code failed
        raise ModelSpecError(f'{where} failed with builder_kwargs {spec.builder_kwargs}: '
                             f'{type(exc).__name__}: {exc}') from exc
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f'{where} returned a {type(model).__name__}, not a '
                             f'torch.nn.Module ({what})')
    code = {}
    source = getattr(importlib.import_module(module_name), '__file__', None)
    if source and os.path.isfile(source):
        code = {'code_path': source, 'code_sha256': file_sha256(source)}
    return model, code


def _load_torchscript(spec, what, device):
    from .safe_files import MAX_CHECKPOINT_BYTES, read_regular_file, UnsafeFileError
    _require_file(spec.torchscript, f'{what} TorchScript', f'{spec.section}.torchscript')
    try:
        data = read_regular_file(spec.torchscript, MAX_CHECKPOINT_BYTES,
                                 f'{what} TorchScript file')
    except UnsafeFileError as exc:
        raise ModelSpecError(str(exc)) from None
    try:
        model = torch.jit.load(io.BytesIO(data), map_location=device)
    except Exception as exc:  # noqa: B902 - torch.jit fails in many ways on foreign files
        raise ModelSpecError(f'{what} TorchScript file {spec.torchscript} cannot be loaded '
                             f'(torch.jit.save output expected): {str(exc)[:300]}') from exc
    return model, hashlib.sha256(data).hexdigest()


def _model_classes(spec, model):
    """Return the model's class count: the spec's, the model's ``num_classes`` or None."""
    found = getattr(model, 'num_classes', None)
    if _is_int(found) and spec.num_classes is not None and found != spec.num_classes:
        raise ModelSpecError(f'{_WHAT[spec.kind]} {spec.weights or spec.builder} has {found} '
                             f'classes but {spec.section}.num_classes is {spec.num_classes}')
    if spec.num_classes is not None:
        return spec.num_classes
    return found if _is_int(found) else None


def _default_classes(spec, task_classes, notes):
    """Return the class count to build an arch with (``num_classes``, else derived)."""
    if spec.num_classes is not None:
        return spec.num_classes
    if spec.class_map is None:
        return int(task_classes)
    n = max(spec.resolved_class_map(task_classes)) + (1 if spec.kind == 'seg' else 0)
    notes.append(f'num_classes {n} taken from the class map (set {spec.section}.num_classes '
                 'if the model has more)')
    return n


def load_analytics_model(spec, *, task_classes, device='cpu', what=None):
    """
    Build the analytics model of ``spec`` for a task of ``task_classes`` classes.

    Returns ``(module, info)``.  ``module`` is an :class:`AnalyticsAdapter` around the user's
    model, in eval mode on ``device``, frozen (no parameter requires gradients; gradients
    still flow to its input, as ASR fine-tuning needs).  ``info``: ``source``
    (``'checkpoint'``, ``'state_dict'``, ``'torchscript'``, ``'builder'`` or
    ``'torchvision'``), ``arch``, ``builder``, ``path`` and ``sha256`` of the weights /
    TorchScript file (None without one), ``model_classes``, ``task_classes``, ``notes`` (what
    was adapted, e.g. dropped auxiliary weights), ``describe`` and ``spec``
    (:meth:`ModelSpec.to_dict`); checkpoints add ``metrics`` and ``code_version``, builders
    ``code_path`` / ``code_sha256`` of their module.  ``what`` names the model in messages
    (default ``'segmentation model'`` / ``'detection model'``).  Every failure is a
    :class:`ModelSpecError` naming the file or key.
    """
    if not isinstance(spec, ModelSpec):
        raise ModelSpecError(f'expected a ModelSpec (ModelSpec.from_dict), got {spec!r}')
    what = what or _WHAT[spec.kind]
    task_classes = _as_int(task_classes, 'task_classes', minimum=1)
    spec.check_classes(task_classes)
    notes, extra = [], {}
    sha = None
    if spec.torchscript:
        model, sha = _load_torchscript(spec, what, device)
        source, path = 'torchscript', spec.torchscript
    else:
        path = spec.weights
        obj = _read_weights(spec, what) if spec.weights else None
        is_ckpt = obj is not None and _is_checkpoint(obj)
        runespoor_arch = not spec.builder and not (spec.arch or '').startswith(
            TORCHVISION_PREFIX)
        if is_ckpt and runespoor_arch:
            model, extra = _load_checkpoint_model(spec, what)
            source = 'checkpoint'
        elif not spec.builder and not spec.arch:
            raise ModelSpecError(f'{what} weights file {spec.weights} is not a Runespoor '
                                 'checkpoint (a plain state dict records no architecture): '
                                 f'set {spec.section}.arch or {spec.section}.builder too')
        else:
            state = _state_dict(obj, spec.weights, what) if obj is not None else None
            if is_ckpt:
                notes.append(f'weights taken from Runespoor checkpoint (arch '
                             f'{obj.get("config", {}).get("arch")!r})')
            if spec.builder:
                model, extra = _call_builder(spec, what)
                source = 'builder'
            elif runespoor_arch:
                model = _build_runespoor(spec, _default_classes(spec, task_classes, notes))
                source = 'state_dict'
            else:
                aux = spec.aux
                if aux == 'auto':
                    aux = spec.kind == 'seg' and state is not None and _has_aux(state)
                    if aux:
                        notes.append('auxiliary head built: the weights have aux_classifier '
                                     'keys (aux auto)')
                model = _build_torchvision(spec, _default_classes(spec, task_classes, notes),
                                           aux)
                source = 'torchvision'
                if spec.kind == 'seg' and spec.normalize == 'none':
                    notes.append('torchvision segmentation models expect normalised input; '
                                 'normalize is none (imagenet is usual)')
            if state is not None:
                _fit_state(model, state, spec, what, notes)
        if spec.weights:
            sha = file_sha256(spec.weights)
    model_classes = _model_classes(spec, model)
    if source == 'torchvision' and model_classes is None:
        model_classes = _default_classes(spec, task_classes, [])
    spec.check_classes(task_classes, model_classes)
    class_map = spec.resolved_class_map(task_classes, model_classes)
    if class_map is not None:
        notes.extend(_map_notes(spec.kind, class_map, task_classes, model_classes))
    adapter = AnalyticsAdapter(model, spec.kind, task_classes, output=spec.output,
                               normalize=spec.normalize, input_size=spec.input_size,
                               class_map=class_map, model_classes=model_classes,
                               list_input=_takes_list(model, source), what=what,
                               section=spec.section)
    adapter = adapter.to(device).eval()
    for p in adapter.parameters():
        p.requires_grad_(False)
    info = {'source': source, 'kind': spec.kind, 'arch': extra.pop('arch', spec.arch),
            'builder': spec.builder, 'path': path, 'sha256': sha,
            'model_classes': model_classes, 'task_classes': task_classes, 'notes': notes,
            'describe': spec.describe(), 'spec': spec.to_dict(),
            'format': extra.pop('format', 'torchscript' if spec.torchscript else
                                ('state_dict' if spec.weights else None))}
    info.update(extra)
    return adapter, info


def _map_notes(kind, class_map, task_classes, model_classes):
    ignored = sorted(m for m, t in class_map.items() if t is None)
    if model_classes is not None and kind == 'seg':
        ignored = sorted(set(ignored) | set(range(model_classes)) - set(class_map))
    low, high = _class_range(kind, task_classes)
    targets = {t for t in class_map.values() if t is not None}
    never = [t for t in range(low, high + 1) if t not in targets]
    notes = [f'class_map: {len(targets)} of {task_classes} task classes fed'
             + (f', model classes {_ranges(ignored)} ignored' if ignored else '')]
    if never:
        notes.append(f'task classes {_ranges(never)} are never predicted (no model class maps '
                     'to them)')
    return notes


def _ranges(ids):
    ids = list(ids)
    return ', '.join(str(i) for i in ids[:8]) + (f', ... ({len(ids)})' if len(ids) > 8 else '')


def _takes_list(model, source):
    """Return True if the forward takes a list of images (torchvision, some TorchScript)."""
    if source == 'torchvision':
        return True
    schema = getattr(getattr(model, 'forward', None), 'schema', None)
    if schema is not None and len(schema.arguments) > 1:
        return str(schema.arguments[1].type).startswith('List[')
    return False


# -- the adapter ----------------------------------------------------------------------------

class AnalyticsAdapter(nn.Module):
    """
    The user's model with Runespoor's input and output conventions.

    Segmentation: ``N x 3 x H x W`` RGB float in [0, 1] -> logits ``N x task_classes x H x
    W`` at the input's size.  Detection: the same input (or a list of ``3 x H x W`` images)
    -> one dict per image, ``boxes`` (``K x 4`` x1 y1 x2 y2 in input pixels), ``scores``
    (``K``), ``labels`` (``K`` int64 task ids).  On the way: resize to ``input_size`` (W, H),
    normalise, run the model, select ``output``, map classes (segmentation: merge by
    ``logsumexp``, drop unmapped channels; detection: relabel, drop unmapped), resize logits /
    scale boxes back.  ``model`` is the user's module, ``num_classes`` the task's classes,
    ``model_classes`` the model's (None when unknown).  The adapter stays in eval mode:
    ``train()`` does not switch the frozen model to training.  Wrong outputs raise
    :class:`ModelSpecError` at the first call, with what was expected.
    """

    def __init__(self, model, kind, task_classes, *, output=None, normalize='none',
                 input_size=None, class_map=None, model_classes=None, list_input=False,
                 what=None, section='model'):
        super().__init__()
        self.model = model
        self.kind = _kind(kind)
        self.num_classes = int(task_classes)
        self.model_classes = model_classes
        self.output = output
        self.input_size = tuple(input_size) if input_size else None
        self.class_map = dict(class_map) if class_map is not None else None
        self.list_input = bool(list_input)
        self.what = what or _WHAT[self.kind]
        self.section = section
        stats = IMAGENET if normalize == 'imagenet' else (
            normalize if isinstance(normalize, dict) else None)
        self.normalizes = stats is not None
        if stats is not None:
            self.register_buffer('mean', torch.tensor(stats['mean']).view(1, 3, 1, 1),
                                 persistent=False)
            self.register_buffer('std', torch.tensor(stats['std']).view(1, 3, 1, 1),
                                 persistent=False)
        if self.class_map is not None and self.kind == 'seg':
            groups = [[] for _ in range(self.num_classes)]
            for m, t in sorted(self.class_map.items()):
                if t is not None:
                    groups[t].append(m + 1)           # 0 is the "nothing" channel
            width = max(1, max(len(g) for g in groups))
            self.group_width = width
            self.register_buffer('groups', torch.tensor(
                [g + [0] * (width - len(g)) for g in groups], dtype=torch.int64).view(-1),
                persistent=False)
            self.max_source = max(self.class_map)
        elif self.class_map is not None:
            table = torch.full((max(self.class_map) + 1,), -1, dtype=torch.int64)
            inverse = torch.full((self.num_classes + 1,), -1, dtype=torch.int64)
            for m, t in self.class_map.items():
                if t is not None:
                    table[m] = t
                    inverse[t] = m if inverse[t] == -1 else -2   # -2: several model classes
            self.register_buffer('label_table', table, persistent=False)
            self.register_buffer('label_inverse', inverse, persistent=False)

    def train(self, mode=True):
        """Stay in eval mode: the analytics model is frozen (BatchNorm statistics included)."""
        return super().train(False)

    def extra_repr(self):
        """Summarise the adaptation for ``print(model)``."""
        return (f'kind={self.kind}, task_classes={self.num_classes}, '
                f'model_classes={self.model_classes}, input_size={self.input_size}, '
                f'normalize={self.normalizes}, class_map={self.class_map is not None}')

    def _fail(self, message):
        raise ModelSpecError(f'{self.what}: {message}')

    def _prepare(self, x):
        """Resize to ``input_size`` and normalise one ``N x 3 x H x W`` batch."""
        if x.dim() != 4 or x.shape[1] != 3:
            self._fail(f'expected N x 3 x H x W RGB input, got {tuple(x.shape)}')
        if self.input_size is not None:
            w, h = self.input_size
            if tuple(x.shape[-2:]) != (h, w):
                shrink = h < x.shape[-2] or w < x.shape[-1]
                x = F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False,
                                  antialias=shrink)
        if self.normalizes:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x

    def _select(self, out):
        if self.output is not None:
            if isinstance(out, dict):
                if self.output not in out:
                    self._fail(f'{self.section}.output {self.output!r}: the model returned a '
                               f'dict with keys {", ".join(map(str, out))}')
                return out[self.output]
            if isinstance(out, (tuple, list)) and _is_int(self.output):
                if self.output >= len(out):
                    self._fail(f'{self.section}.output {self.output}: the model returned '
                               f'{len(out)} outputs')
                return out[self.output]
            self._fail(f'{self.section}.output {self.output!r} does not select from a '
                       f'{type(out).__name__} output')
        return out

    def forward(self, images):
        """Run the model on ``images`` (RGB in [0, 1]); see the class doc for the outputs."""
        if self.kind == 'seg':
            return self._segment(images)
        return self._detect(images)

    # segmentation
    def _segment(self, x):
        size = tuple(x.shape[-2:])
        out = self._select(self.model(self._prepare(x)))
        if isinstance(out, dict) and self.output is None:
            if 'out' not in out:
                self._fail(f'the model returned a dict with keys {", ".join(map(str, out))}: '
                           f'set {self.section}.output to the key of the logits')
            out = out['out']
        if isinstance(out, (tuple, list)):
            self._fail(f'the model returned a {type(out).__name__} of {len(out)}: set '
                       f'{self.section}.output to the index of the logits')
        if not torch.is_tensor(out) or out.dim() != 4 or out.shape[0] != x.shape[0]:
            self._fail(f'expected N x C x H x W logits, got '
                       f'{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}')
        channels = int(out.shape[1])
        if self.model_classes is not None and channels != self.model_classes:
            self._fail(f'the model outputs {channels} channels but has {self.model_classes} '
                       f'classes ({self.section}.num_classes)')
        if self.class_map is None:
            if channels != self.num_classes:
                self._fail(f'the model outputs {channels} classes but the task has '
                           f'{self.num_classes}: set {self.section}.class_map to map the '
                           "model's classes to the task's (extra classes are ignored), e.g. "
                           f'class_map: {{{channels - 1}: ignore, others: same}}')
        else:
            if channels <= self.max_source:
                self._fail(f'{self.section}.class_map names model class {self.max_source} '
                           f'but the model outputs {channels} channels')
            out = self._merge(out)
        if tuple(out.shape[-2:]) != size:
            out = F.interpolate(out, size=size, mode='bilinear', align_corners=False)
        return out

    def _merge(self, logits):
        """Task logits from model logits: ``logsumexp`` over each task class's model classes."""
        n, _, h, w = logits.shape
        nothing = torch.full_like(logits[:, :1], torch.finfo(logits.dtype).min / 2)
        picked = torch.cat([nothing, logits], 1).index_select(1, self.groups)
        if self.group_width == 1:
            return picked
        return picked.view(n, self.num_classes, self.group_width, h, w).logsumexp(2)

    # detection
    def _images(self, images):
        if torch.is_tensor(images):
            if images.dim() != 4 or images.shape[1] != 3:
                self._fail(f'expected N x 3 x H x W RGB input, got {tuple(images.shape)}')
            return list(images.unbind(0))
        return list(images)

    def _det_inputs(self, images):
        """Return the prepared model input and per image the box scale back to input pixels."""
        imgs = self._images(images)
        prepared, scales = [], []
        for im in imgs:
            h, w = im.shape[-2:]
            p = self._prepare(im[None])
            ph, pw = p.shape[-2:]
            prepared.append(p[0])
            scales.append(torch.tensor([w / pw, h / ph, w / pw, h / ph], dtype=torch.float32,
                                       device=im.device))
        if self.list_input:
            return prepared, scales
        if len({tuple(p.shape) for p in prepared}) > 1:
            self._fail('images of different sizes need input_size (the model takes a batch)')
        return torch.stack(prepared), scales

    def _detect(self, images):
        batch, scales = self._det_inputs(images)
        out = self._select(self.model(batch))
        if self.output is None and isinstance(out, tuple) and len(out) == 2 \
                and isinstance(out[1], list):
            out = out[1]                      # scripted torchvision detectors: (losses, dets)
        if isinstance(out, dict):
            out = [out]
        if not isinstance(out, (list, tuple)) or len(out) != len(scales):
            self._fail(f'expected a list of {len(scales)} detection dict(s), got '
                       f'{type(out).__name__}')
        return [self._relabel(d, s) for d, s in zip(out, scales)]

    def _relabel(self, det, scale):
        if not isinstance(det, dict) or not all(k in det for k in ('boxes', 'scores', 'labels')):
            keys = ', '.join(map(str, det)) if isinstance(det, dict) else type(det).__name__
            self._fail(f'a detection must be a dict with boxes, scores and labels, got {keys}')
        boxes = det['boxes'].reshape(-1, 4)
        scores = det['scores'].reshape(-1)
        labels = det['labels'].reshape(-1).to(torch.int64)
        if self.class_map is not None:
            table = self.label_table.to(labels.device)
            inside = (labels >= 0) & (labels < len(table))
            labels = torch.where(inside, table[labels.clamp(0, len(table) - 1)],
                                 torch.full_like(labels, -1))
        keep = (labels >= 1) & (labels <= self.num_classes)
        return {'boxes': boxes[keep] * scale.to(boxes.device, boxes.dtype),
                'scores': scores[keep], 'labels': labels[keep]}

    def detection_loss(self, images, targets, keep=None):
        """
        Return the wrapped detector's own training loss on ``images`` (ASR / CloudSeg).

        Needs a detector with ``detection_loss(images, targets, keep)`` (Runespoor's
        :class:`runespoor.archs.det.Detector`).  Targets are in the task's ids and input
        pixels; they are resized to ``input_size`` and mapped back to model classes (a task
        class fed by several model classes cannot be trained through).
        """
        inner = getattr(self.model, 'detection_loss', None)
        if inner is None:
            self._fail("fine-tuning for detection needs the detector's own loss "
                       '(detection_loss(images, targets, keep), as Runespoor detectors have); '
                       'this model has none')
        batch, scales = self._det_inputs(images)
        moved = []
        for t, s in zip(targets, scales):
            t = dict(t)
            for key in ('boxes', 'ignore'):
                if t.get(key) is not None:
                    b = torch.as_tensor(t[key], dtype=torch.float32, device=s.device)
                    t[key] = b.reshape(-1, 4) / s
            if self.class_map is not None:
                labels = torch.as_tensor(t['labels'], dtype=torch.int64).reshape(-1)
                inverse = self.label_inverse.to(labels.device)
                mapped = inverse[labels.clamp(0, self.num_classes)]
                if bool((mapped < 0).any()):
                    self._fail(f'task classes {sorted(set(labels[mapped < 0].tolist()))} map '
                               'to no single model class; the targets cannot be trained on')
                t['labels'] = mapped
            moved.append(t)
        return inner(batch, moved, keep)


# -- config text and files ------------------------------------------------------------------

def spec_from_text(text, kind, section='analytics_model', *, task_classes=None, base_dir=None):
    """
    Parse a YAML / JSON mapping string (a ROS parameter) into a :class:`ModelSpec`.

    An empty string returns None (no user model: the caller's defaults apply).
    """
    import yaml
    if text is None or not str(text).strip():
        return None
    try:
        raw = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        raise ModelSpecError(f'{section}: not a YAML / JSON mapping ({exc})') from None
    return ModelSpec.from_dict(raw, kind, section, task_classes=task_classes,
                               base_dir=base_dir)


def spec_from_file(path, kind, *, task_classes=None, base_dir=None):
    """
    Read a model spec from the YAML file ``path`` (``--analytics-model FILE.yaml``).

    The file holds the model keys, at its top or under a single ``model:`` key.  Relative
    paths inside it are resolved against ``base_dir`` (default: the current directory, as in
    eval configs).
    """
    import yaml
    from .safe_files import MAX_CONFIG_BYTES, read_regular_file, UnsafeFileError
    try:
        data = read_regular_file(path, MAX_CONFIG_BYTES, 'analytics model file')
        raw = yaml.safe_load(data.decode('utf-8'))
    except UnsafeFileError as exc:
        raise ModelSpecError(str(exc)) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelSpecError(f'analytics model file {path} is not YAML ({exc})') from None
    if isinstance(raw, dict) and list(raw) == ['model']:
        raw = raw['model']
    return ModelSpec.from_dict(raw, kind, f'{path}', task_classes=task_classes,
                               base_dir=base_dir)


__all__ = ['AnalyticsAdapter', 'IMAGENET', 'KINDS', 'ModelSpec', 'ModelSpecError',
           'SPEC_KEYS', 'file_sha256', 'load_analytics_model', 'spec_from_file',
           'spec_from_text']
