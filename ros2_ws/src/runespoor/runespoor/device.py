# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The one place that turns a device name from a config, a parameter or an option into a device.

``auto`` means CUDA when torch sees a GPU, else the CPU; ``cpu``, ``cuda`` and ``cuda:N``
pass through after a check, so a ``cuda`` request on a machine without one fails at start-up
with a sentence instead of at the first frame with a torch trace.  Works without torch
installed (``auto`` is then ``cpu``), for the edge's OpenCV-only path.
"""

import re

_NAME = re.compile(r'^(auto|cpu|cuda(:\d+)?)$')


class DeviceError(ValueError):
    """A device name that is not valid here; the message says which names are."""


def cuda_available():
    """Return True if torch is importable and sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(name):
    """
    Return ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` for ``name`` (``None`` counts as ``auto``).

    Raises :class:`DeviceError` for an unknown name or a CUDA request without CUDA.
    """
    name = 'auto' if name is None else str(name).strip()
    if not _NAME.match(name):
        raise DeviceError(f'device {name!r}: use auto, cpu, cuda or cuda:N')
    if name == 'auto':
        return 'cuda' if cuda_available() else 'cpu'
    if name.startswith('cuda') and not cuda_available():
        raise DeviceError(f'device {name!r} requested but torch sees no CUDA device '
                          '(use device auto or cpu)')
    return name
