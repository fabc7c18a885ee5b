"""
Checkpoints: model weights plus the metadata needed to trust and rebuild them.

A checkpoint is a ``torch.save``-d dict (readable with ``weights_only=True``)::

    {'format': 'runespoor-checkpoint', 'version': 1,
     'model': state_dict,            # fp32, or fp16 when saved with half=True (shipping)
     'optimizer': ..., 'scheduler': ..., 'step': int,   # only in resumable checkpoints
     'config': {'kind': 'sr'|'seg'|'det', 'method': 'sr'|'asr'|'cloudseg'|'seg'|'det',
                'arch': str, 'arch_kwargs': {...}, 'scale': int|None, ...training config},
     'seed': int, 'data': {...}, 'train_time_s': float, 'metrics': {...},
     'code_version': str, 'command': str, 'created': ISO time}

:func:`load_checkpoint` refuses a file of the wrong kind, method, architecture or scale with a
:class:`CheckpointError` whose message names the file, as the cloud node must at start-up.

Every file is read by :func:`runespoor.torch_files.read_torch_file`, the one place that calls
``torch.load``: only
regular files up to :data:`MAX_CHECKPOINT_BYTES` (:mod:`runespoor.safe_files`), always with
``weights_only=True`` (tensors and plain containers; a pickle that asks for any other Python
object is refused before anything runs), and every failure -- empty, truncated, foreign or
unsafe file -- is a :class:`CheckpointError` in our words.  :func:`inspect_checkpoint` reads a
file's kind and architecture the same way, for tools that only need to know what a file is.
"""

import datetime
import os
import subprocess

from .torch_files import (CheckpointError, ForeignFileError, read_torch_file,  # noqa: F401
                          UnsafeCheckpointError, unwrap_state_dict)

FORMAT = 'runespoor-checkpoint'
VERSION = 1


def code_version():
    """``git describe`` of the source tree when available, else the package version."""
    from . import __version__
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(['git', 'describe', '--always', '--dirty', '--tags'], cwd=here,
                             capture_output=True, text=True, timeout=5, check=True)
        return f'{__version__}+{out.stdout.strip()}'
    except (OSError, subprocess.SubprocessError):
        return __version__


def save_checkpoint(path, model, config, *, optimizer=None, scheduler=None, step=0, seed=None,
                    data=None, train_time_s=None, metrics=None, command=None, half=False,
                    extra=None):
    """
    Write a checkpoint atomically (temp file + rename) and return ``path``.

    ``config`` must hold ``kind``, ``arch`` and ``arch_kwargs`` (and ``scale``/``method`` for
    SR models).  ``half=True`` stores floating weights in fp16 (half the size; for shipped
    models, loaded back as fp32).  Optimiser/scheduler states make the checkpoint resumable.
    """
    import torch
    for key in ('kind', 'arch', 'arch_kwargs'):
        if key not in config:
            raise ValueError(f'checkpoint config needs {key!r}')
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    ckpt = {
        'format': FORMAT, 'version': VERSION, 'model': state,
        'step': int(step), 'config': dict(config), 'seed': seed, 'data': data or {},
        'train_time_s': train_time_s, 'metrics': metrics or {},
        'code_version': code_version(), 'command': command,
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
    }
    if optimizer is not None:
        ckpt['optimizer'] = optimizer.state_dict()
    if scheduler is not None:
        ckpt['scheduler'] = scheduler.state_dict()
    if extra:
        ckpt.update(extra)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, *, kind=None, method=None, arch=None, scale=None,
                    map_location='cpu', what='checkpoint'):
    """
    Read and check a checkpoint; return its dict (weights converted back to fp32).

    Each of ``kind``, ``method``, ``arch``, ``scale`` that is not None must match the
    checkpoint's config, else :class:`CheckpointError` (naming ``path``) is raised; a safe
    torch file of another format raises :class:`ForeignFileError`.  ``what`` names the file in
    messages.
    """
    ckpt = read_torch_file(path, what, map_location)
    if not isinstance(ckpt, dict) or ckpt.get('format') != FORMAT:
        raise ForeignFileError(f'{path} is not a Runespoor checkpoint')
    if not isinstance(ckpt.get('config'), dict) or not isinstance(ckpt.get('model'), dict):
        raise CheckpointError(f'{what} {path} is damaged: it has no config or no model weights')
    config = ckpt['config']
    expected = {'kind': kind, 'method': method, 'arch': arch,
                'scale': None if scale is None else int(scale)}
    for key, want in expected.items():
        if want is not None and config.get(key) != want:
            raise CheckpointError(f'checkpoint {path} has {key}={config.get(key)!r}, '
                                  f'expected {key}={want!r}')
    import torch
    if not all(torch.is_tensor(v) for v in ckpt['model'].values()):
        raise CheckpointError(f'{what} {path} is damaged: its model weights are not all tensors')
    ckpt['model'] = {k: (v.float() if v.is_floating_point() else v)
                     for k, v in ckpt['model'].items()}
    return ckpt


def inspect_checkpoint(path, *, kind=None, what='checkpoint'):
    """
    Say what the weights file ``path`` is, reading it safely (:func:`read_torch_file`).

    Returns a dict: ``format`` (``'checkpoint'``: a Runespoor checkpoint, ``'state_dict'``: a
    plain state dict), ``kind``, ``method``, ``arch``, ``scale``, ``num_classes`` (None where
    the file does not record them: a state dict records no architecture), ``metrics``,
    ``code_version``.  With ``kind`` given the file must be a Runespoor checkpoint of that kind
    that names its arch, else :class:`CheckpointError` naming ``path``.  Any other content is
    refused with :class:`CheckpointError` (:class:`UnsafeCheckpointError` for unsafe pickles).
    """
    obj = read_torch_file(path, what)
    if isinstance(obj, dict) and obj.get('format') == FORMAT:
        config = obj.get('config') if isinstance(obj.get('config'), dict) else {}
        arch_kwargs = config.get('arch_kwargs') if isinstance(config.get('arch_kwargs'),
                                                              dict) else {}
        info = {'format': 'checkpoint', 'kind': config.get('kind'),
                'method': config.get('method'), 'arch': config.get('arch'),
                'scale': config.get('scale'),
                'num_classes': arch_kwargs.get('num_classes', config.get('num_classes')),
                'metrics': obj.get('metrics') or {}, 'code_version': obj.get('code_version')}
    elif unwrap_state_dict(obj) is not None:
        info = {'format': 'state_dict', 'kind': None, 'method': None, 'arch': None,
                'scale': None, 'num_classes': None, 'metrics': {}, 'code_version': None}
    else:
        raise ForeignFileError(f'{what} {path} is not a Runespoor checkpoint (nor a state dict '
                               'of model weights)')
    if kind is not None:
        if info['format'] != 'checkpoint':
            raise CheckpointError(f'{what} {path} is a plain state dict, not a Runespoor '
                                  f'checkpoint of kind {kind!r}: it records no architecture')
        if info['kind'] != kind:
            raise CheckpointError(f'{what} {path} has kind={info["kind"]!r}, expected '
                                  f'kind={kind!r}')
        if not isinstance(info['arch'], str) or not info['arch']:
            raise CheckpointError(f'{what} {path} records no architecture (config.arch)')
    return info


def build_model(ckpt, path='<checkpoint>'):
    """Build the network recorded in a loaded checkpoint dict and load its weights."""
    from .archs import build_det, build_seg, build_sr
    config = ckpt['config']
    try:
        kwargs = dict(config.get('arch_kwargs') or {})
        if config.get('kind') == 'sr':
            kwargs.pop('scale', None)
            model = build_sr(config['arch'], scale=config['scale'], **kwargs)
        elif config.get('kind') == 'seg':
            model = build_seg(config['arch'], **kwargs)
        elif config.get('kind') == 'det':
            model = build_det(config['arch'], **kwargs)
        else:
            raise CheckpointError(f'checkpoint {path} has unknown kind {config.get("kind")!r}')
        model.load_state_dict(ckpt['model'], strict=True)
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f'checkpoint {path} does not fit its architecture '
                              f'{config.get("arch")!r}: {str(exc)[:300]}') from exc
    return model


def sr_from_state_dict(path, scale, arch=None, what='SR weights file'):
    """
    Build a Runespoor SR network ``x scale`` from the plain state dict ``path``; ``(model, ckpt)``.

    For a state dict of Runespoor's own tensor names (``torch.save(model.state_dict())``, key
    map ``runespoor``): the architecture is ``arch`` or the one of :data:`runespoor.archs.
    SR_ARCHS` the tensors fit strictly, the width and block count are read from the shapes, the
    global residual is off (it has no tensors).  ``ckpt`` is a checkpoint-shaped dict (config
    ``kind``, ``method`` None: a state dict does not say how it was trained, ``arch``,
    ``scale``, ``arch_kwargs``, ``state_dict``: the path).  Weights of other code bases need
    their key map (``runespoor convert sr --key-map``); a state dict that fits no
    architecture raises :class:`ForeignFileError` saying so.
    """
    from .archs import SR_ARCHS
    from .archs.key_maps import build_foreign_sr, KeyMapError
    from .torch_files import WeightsError
    tried = []
    for name in ([arch] if arch else list(SR_ARCHS)):
        try:
            model, info = build_foreign_sr(path, name, scale, 'runespoor', what=what)
        except (WeightsError, KeyMapError, ValueError) as exc:
            tried.append(f'{name}: {str(exc).split(": ", 1)[-1][:160]}')
            continue
        config = {'kind': 'sr', 'method': None, 'arch': name, 'scale': int(scale),
                  'arch_kwargs': info['arch_kwargs'], 'state_dict': str(path)}
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in model.state_dict().items()}
        return model, {'format': FORMAT, 'config': config, 'model': state, 'metrics': {},
                       'code_version': None}
    raise ForeignFileError(
        f'{what} {path} is not a Runespoor checkpoint, and as a plain state dict it fits no '
        f'Runespoor SR network x{int(scale)} ({"; ".join(tried)})')


def load_model(path, *, kind=None, method=None, arch=None, scale=None, device='cpu',
               what='checkpoint'):
    """
    Load, check and build the model of checkpoint ``path``; return ``(model, ckpt)``.

    The model is in eval mode on ``device``; ``what`` names the file in messages.  An SR model
    (``kind='sr'`` with ``scale``) may also be a plain state dict of Runespoor's own tensor
    names (:func:`sr_from_state_dict`; ``method`` cannot be checked there: it is not recorded).
    """
    try:
        ckpt = load_checkpoint(path, kind=kind, method=method, arch=arch, scale=scale,
                               what=what)
    except ForeignFileError:
        if kind != 'sr' or scale is None:
            raise
        model, ckpt = sr_from_state_dict(path, scale, arch, what)
        return model.to(device).eval(), ckpt
    model = build_model(ckpt, path).to(device).eval()
    return model, ckpt
