# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Loading a task's frozen analytics model from a file, with refusals that name the file.

:func:`load_model_file` takes a Runespoor checkpoint or a plain state dict for a Runespoor
arch; :mod:`runespoor.user_models` adds the user's own models (import-path builders,
TorchScript, torchvision, class maps).  Both raise :class:`ModelError`.
"""

import os


class ModelError(RuntimeError):
    """A missing or mismatched model file, raised at start-up; the text names the file."""


#: What the class ids of each analytics kind are (for messages).
CLASS_NOTE = {'seg': 'the Cityscapes train ids', 'det': 'the VisDrone categories'}


def load_model_file(weights, kind, arch, device, num_classes, build, expected, what):
    """
    Load an analytics model from the existing file ``weights``; return ``(model, info)``.

    ``weights`` is a Runespoor checkpoint of ``kind`` and ``arch``, or a plain state dict for
    ``build(arch, num_classes=..., weights=...)`` (user-supplied weights), read only with
    ``weights_only=True`` (:func:`runespoor.checkpoint.read_torch_file`).  A mismatch raises
    :class:`ModelError` with the loader's text and ``(expected <expected>)`` (checkpoint) or
    ``(expected arch ..., N classes)`` (state dict); so does a model with another class count
    than ``num_classes``.  ``what`` names the file in messages.  ``info`` says the arch and the
    format (``checkpoint``: also its metrics and code version).
    """
    from runespoor.checkpoint import CheckpointError, ForeignFileError, load_model
    info = None
    try:
        model, ckpt = load_model(weights, kind=kind, arch=arch, device=device, what=what)
        info = {'arch': arch, 'metrics': ckpt.get('metrics', {}),
                'code_version': ckpt.get('code_version'), 'format': 'checkpoint'}
    except ForeignFileError:
        pass  # safe to read, but not a Runespoor checkpoint: try it as a plain state dict
    except CheckpointError as exc:
        raise ModelError(f'{exc} (expected {expected})') from exc
    if info is None:
        from runespoor.archs import WeightsError
        try:
            model = build(arch, num_classes=num_classes, weights=weights)
        except WeightsError as exc:
            raise ModelError(f'{exc} (expected arch {arch!r}, {num_classes} classes)') from exc
        model, info = model.to(device).eval(), {'arch': arch, 'format': 'state_dict'}
    found = getattr(model, 'num_classes', None)
    if found is not None and int(found) != int(num_classes):
        raise ModelError(f'{what} {weights} has {int(found)} classes, expected {num_classes} '
                         f'({CLASS_NOTE.get(kind, "the classes this node publishes")}); '
                         f'refusing a model that would publish other class ids')
    return model, info


#: Largest ``analytics_model`` YAML file read [bytes].
MAX_SPEC_BYTES = 64 * 1024


def model_spec_param(value, what='analytics_model'):
    """
    Return the ``model:`` mapping of a parameter value, or None when it is empty.

    ``value`` is a mapping, a YAML / JSON mapping as text (``"{torchvision: ..., weights:
    ...}"``) or the path of a YAML file holding one (read once, bounded, regular files only:
    :mod:`runespoor.safe_files`).  The keys are those of :mod:`runespoor.user_models`; in a
    file, relative ``weights`` / ``torchscript`` paths are relative to the file's folder.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dict):
        return dict(value)
    import yaml
    text = str(value).strip()
    folder = None
    if not text.startswith('{') and text.endswith(('.yaml', '.yml', '.json')):
        from runespoor.safe_files import read_text_file
        folder = os.path.dirname(os.path.abspath(text))
        try:
            text = read_text_file(text, MAX_SPEC_BYTES, what=f'{what} file', empty_ok=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f'{what}: {exc}') from exc
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f'{what} is not a YAML mapping: {exc}') from exc
    if isinstance(spec, dict) and set(spec) == {'model'} and isinstance(spec['model'], dict):
        spec = spec['model']  # a file holding "model: {...}"
    if not isinstance(spec, dict):
        raise ModelError(f'{what} must be a mapping of model keys (docs/user_models.md), got '
                         f'{type(spec).__name__}')
    for key in ('weights', 'torchscript'):
        if folder and isinstance(spec.get(key), str) and spec[key] and \
                not os.path.isabs(os.path.expanduser(spec[key])):
            spec[key] = os.path.join(folder, spec[key])
    return spec


def load_user_model(spec, kind, num_classes, device, what):
    """
    Load the user's model of the ``model:`` mapping ``spec``; return ``(model, info)``.

    :func:`runespoor.user_models.load_analytics_model` with its errors as :class:`ModelError`.
    """
    from runespoor.user_models import load_analytics_model, ModelSpec, ModelSpecError
    try:
        return load_analytics_model(ModelSpec.from_dict(spec, kind, what),
                                    task_classes=num_classes, device=device, what=what)
    except (ModelSpecError, OSError) as exc:
        raise ModelError(str(exc)) from exc
