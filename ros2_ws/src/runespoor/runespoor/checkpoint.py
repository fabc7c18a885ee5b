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
"""

import datetime
import os
import subprocess

FORMAT = 'runespoor-checkpoint'
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not match what the caller expects."""


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
                    map_location='cpu'):
    """
    Read and check a checkpoint; return its dict (weights converted back to fp32).

    Each of ``kind``, ``method``, ``arch``, ``scale`` that is not None must match the
    checkpoint's config, else :class:`CheckpointError` (naming ``path``) is raised.
    """
    import torch
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint file {path} does not exist')
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: B902 - any failure becomes one clear message
        raise CheckpointError(f'cannot read checkpoint {path}: {exc}') from exc
    if not isinstance(ckpt, dict) or ckpt.get('format') != FORMAT:
        raise CheckpointError(f'{path} is not a Runespoor checkpoint')
    config = ckpt.get('config', {})
    expected = {'kind': kind, 'method': method, 'arch': arch,
                'scale': None if scale is None else int(scale)}
    for key, want in expected.items():
        if want is not None and config.get(key) != want:
            raise CheckpointError(f'checkpoint {path} has {key}={config.get(key)!r}, '
                                  f'expected {key}={want!r}')
    ckpt['model'] = {k: (v.float() if v.is_floating_point() else v)
                     for k, v in ckpt['model'].items()}
    return ckpt


def build_model(ckpt, path='<checkpoint>'):
    """Build the network recorded in a loaded checkpoint dict and load its weights."""
    from .archs import build_det, build_seg, build_sr
    config = ckpt['config']
    kwargs = dict(config.get('arch_kwargs') or {})
    try:
        if config['kind'] == 'sr':
            kwargs.pop('scale', None)
            model = build_sr(config['arch'], scale=config['scale'], **kwargs)
        elif config['kind'] == 'seg':
            model = build_seg(config['arch'], **kwargs)
        elif config['kind'] == 'det':
            model = build_det(config['arch'], **kwargs)
        else:
            raise CheckpointError(f'checkpoint {path} has unknown kind {config["kind"]!r}')
        model.load_state_dict(ckpt['model'], strict=True)
    except (ValueError, RuntimeError, TypeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f'checkpoint {path} does not fit its architecture '
                              f'{config.get("arch")!r}: {str(exc)[:300]}') from exc
    return model


def load_model(path, *, kind=None, method=None, arch=None, scale=None, device='cpu'):
    """
    Load, check and build the model of checkpoint ``path``; return ``(model, ckpt)``.

    The model is in eval mode on ``device``.
    """
    ckpt = load_checkpoint(path, kind=kind, method=method, arch=arch, scale=scale)
    model = build_model(ckpt, path).to(device).eval()
    return model, ckpt
