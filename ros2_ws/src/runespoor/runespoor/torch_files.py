# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Reading torch files safely: the one ``torch.load`` of the project, and its errors.

:func:`read_torch_file` (``weights_only=True``, regular files of bounded size, opened without
blocking) and :func:`read_state_dict` (a state dict, also under ``'state_dict'`` / ``'model'``
/ ``'model_state'``) sit below :mod:`runespoor.checkpoint` (the checkpoint format) and
:mod:`runespoor.archs` (building models), which both use them.  Nothing in a file is ever run.
"""

import pickle
import re
import warnings

from .safe_files import MAX_CHECKPOINT_BYTES, open_regular_file, UnsafeFileError


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not match what the caller expects."""


class ForeignFileError(CheckpointError):
    """A readable, safe torch file that is not a Runespoor checkpoint (e.g. a plain state dict)."""


class UnsafeCheckpointError(CheckpointError):
    """A file whose pickle asks for Python objects beyond tensors and plain data (refused)."""


_GLOBAL = re.compile(r'GLOBAL ([\w.]+)')


def read_torch_file(path, what='checkpoint', map_location='cpu',
                    max_bytes=MAX_CHECKPOINT_BYTES):
    """
    Return the object stored in the ``torch.save`` file ``path``, read safely.

    ``torch.load(weights_only=True)`` on a regular file of at most ``max_bytes`` (opened
    without blocking: a FIFO or device is refused at once).  Raises :class:`CheckpointError`
    naming ``path`` (``what`` says what it is, e.g. ``'segmentation weights file'``) for a
    missing, special, oversize, empty or corrupt file, and :class:`UnsafeCheckpointError` for a
    pickle that asks for anything but tensors and plain data -- nothing in it is run.
    """
    import torch
    try:
        f = open_regular_file(path, max_bytes, what, empty_ok=False)
    except UnsafeFileError as exc:
        raise CheckpointError(str(exc)) from None
    with f:
        head = f.read(4)
        f.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', UserWarning)  # pickle protocol notes
                return torch.load(f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            if not head.startswith(b'PK') and not head.startswith(b'\x80'):
                raise CheckpointError(_corrupt(what, path, head)) from None
            found = _GLOBAL.search(str(exc))
            if found:
                why = f"unsafe content refused (it asks for the Python object '{found.group(1)}'"
            else:
                why = ('unsafe or corrupt content refused (it holds pickle instructions beyond '
                       'tensors and plain data')
            raise UnsafeCheckpointError(
                f'{what} {path} is not a Runespoor checkpoint: {why}; only tensors and plain '
                'containers are loaded, and nothing in the file was run)') from None
        except Exception as exc:  # noqa: B902 - torch's readers fail in many ways on damage
            raise CheckpointError(_corrupt(what, path, head)) from exc


def _corrupt(what, path, head):
    if head.startswith(b'PK'):
        return (f'{what} {path} is corrupt or truncated (its torch.save zip archive cannot be '
                'read); copy it again or re-create it')
    return (f'{what} {path} is corrupt or not a checkpoint at all (no torch.save archive; '
            f'it starts with {head!r})')


class WeightsError(RuntimeError):
    """A weights file that cannot be read or does not fit the model; the message names it."""


#: Keys under which weights files usually wrap their state dict, in the order they are tried.
STATE_DICT_KEYS = ('model', 'state_dict', 'model_state')


def unwrap_state_dict(obj):
    """
    Return the state dict held by ``obj``, or None when it holds none.

    ``obj`` is what a weights file held: a plain state dict (a non-empty mapping of names to
    tensors), or a mapping with one under a key of :data:`STATE_DICT_KEYS` (a Runespoor
    checkpoint's weights too).  A ``module.`` prefix on every key (DataParallel) is removed.
    The one unwrapper of the project: checkpoints, user models and SR weights use it.
    """
    import torch

    def tensors_only(d):
        return isinstance(d, dict) and bool(d) and \
            all(isinstance(k, str) and torch.is_tensor(v) for k, v in d.items())

    state = obj
    if isinstance(obj, dict) and not tensors_only(obj):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict):
                state = obj[key]
                break
    if not tensors_only(state):
        return None
    if all(k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}
    return dict(state)


def read_state_dict(path, what='SR weights file'):
    """
    Read the state dict of a weights file with ``read_torch_file`` (``weights_only=True``).

    Accepted: a plain state dict, one under ``'state_dict'`` / ``'model'`` /
    ``'model_state'`` (a Runespoor checkpoint's weights too); a ``module.`` prefix of every key
    (DataParallel) is removed.  Raises :class:`WeightsError` naming ``path``.
    """
    try:
        obj = read_torch_file(path, what)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    state = unwrap_state_dict(obj)
    if state is None:
        raise WeightsError(f'{what} {path} holds no state dict (a mapping of names to '
                           'tensors)')
    return state
