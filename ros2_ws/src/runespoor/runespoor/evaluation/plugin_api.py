# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
What a task's eval plug-in shares with ``runespoor eval``: the types, the errors, the loader.

The eval loop (:mod:`.runner`) and the config (:mod:`.config`) ask the tasks registry
(:mod:`runespoor.tasks`) for the task; the task's plug-in (``tasks/<name>/evaluation.py``) and
its config section (:meth:`runespoor.tasks.Task.configure_eval`) use only this module, so no
import runs from a task back into the runner or the config (no cycle).

- :class:`Frame`, :class:`EvalError`, :class:`ConfigError`; :data:`METHODS`,
  :data:`SR_METHODS`;
- :func:`load_analytics_model` (a ``model:`` mapping, a checkpoint, or an arch + weights) and
  :func:`file_digest_of_spec`.

A task's eval plug-in (from :meth:`runespoor.tasks.Task.eval_plugin`) is an object with:

* ``name``, ``model_key`` (its model's key in ``models``), ``cache_prefix`` and ``fields``
  (its cached per-frame fields, see :class:`.cache.RunCache`);
* ``frames()`` -> ``[Frame, ...]`` in stream order;
* ``load_model(device)`` -> ``(model, info)``, ``info`` with ``path`` and ``sha256``;
* ``key_fields(info)`` -> what identifies the model in the cache key;
* ``load(frame)`` -> ``(image BGR uint8, ground truth)``;
* ``analyse(model, recon, truth)`` -> a record of its fields for one reconstructed frame
  (``1 x 3 x H x W`` RGB tensor in [0, 1]);
* ``collect(records)`` -> the run's arrays; ``extras(frames, results)`` -> entries added to
  the result (e.g. the ground truth the report scores against).
"""

from collections import namedtuple
import os

from runespoor.evaluation.cache import file_digest

#: Methods that the command knows, in the order the paper's tables list them.
METHODS = ('bilinear', 'sr', 'cloudseg', 'asr')
#: Methods whose reconstruction needs a super-resolution checkpoint.
SR_METHODS = ('sr', 'cloudseg', 'asr')


class ConfigError(ValueError):
    """An evaluation config that cannot be used; the message says which key and why."""


#: One frame of the data set: its name, image file and every file its cache key hashes.
Frame = namedtuple('Frame', 'name image_path files')


class EvalError(RuntimeError):
    """An evaluation that cannot run (missing data or checkpoint); the message names the file."""


def load_analytics_model(kind, checkpoint, arch, weights, device, section, arch_kwargs=None,
                         spec=None, num_classes=None):
    """
    Load a frozen analytics model: a ``model:`` mapping, a checkpoint, or ``arch`` + weights.

    ``spec`` is a :mod:`runespoor.user_models` mapping (the user's own model: torchvision,
    TorchScript, an import-path builder, a class map...); else ``checkpoint`` is a Runespoor
    checkpoint of ``kind`` (``'seg'``, ``'det'``) or ``arch`` + ``weights`` a Runespoor
    architecture and a (plain state dict) weights file.  ``section`` names the config section
    in messages.  Returns ``(model in eval mode on device, info dict with path, sha256 and
    arch)``.
    """
    if spec is not None:
        from runespoor.user_models import load_analytics_model as load_user, ModelSpec, \
            ModelSpecError
        try:
            model, info = load_user(ModelSpec.from_dict(spec, kind, f'{section}.model'),
                                    task_classes=num_classes, device=device,
                                    what=f'{section} model')
        except (ModelSpecError, OSError) as exc:
            raise EvalError(str(exc)) from exc
        path = info.get('path')
        info = dict(info, path=path, sha256=info.get('sha256') or file_digest_of_spec(spec),
                    arch=info.get('arch') or info.get('source'))
        return model, info
    from runespoor.checkpoint import CheckpointError, load_model
    if checkpoint:
        if not os.path.isfile(checkpoint):
            raise EvalError(f'{section} checkpoint {checkpoint} does not exist '
                            f'(set {section}.checkpoint in the eval config)')
        try:
            model, ckpt = load_model(checkpoint, kind=kind, device=device)
        except CheckpointError as exc:
            raise EvalError(str(exc)) from exc
        return model, {'path': checkpoint, 'sha256': file_digest(checkpoint),
                       'arch': ckpt['config'].get('arch'), 'metrics': ckpt.get('metrics', {}),
                       'code_version': ckpt.get('code_version')}
    from runespoor.archs import build_det, build_seg, WeightsError
    if not os.path.isfile(weights):
        raise EvalError(f'{section} weights {weights} do not exist')
    build = build_seg if kind == 'seg' else build_det
    try:
        model = build(arch, weights=weights, **(arch_kwargs or {}))
    except (WeightsError, ValueError, TypeError) as exc:
        raise EvalError(str(exc)) from exc
    return model.to(device).eval(), {'path': weights, 'sha256': file_digest(weights),
                                     'arch': arch}


def file_digest_of_spec(spec):
    """Return a digest of a ``model:`` mapping without a file (a builder with no weights)."""
    import hashlib
    import json

    def plain(obj):  # class maps mix int and str keys: compare them as text
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        return [plain(v) for v in obj] if isinstance(obj, (list, tuple)) else obj
    return hashlib.sha256(json.dumps(plain(spec), sort_keys=True, default=str).encode()) \
        .hexdigest()
