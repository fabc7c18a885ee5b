# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Frame sizes given as ``'WIDTHxHEIGHT'``, a preset name or a ``(width, height)`` pair."""


def parse_size(text, presets, min_size):
    """
    Parse ``'640x360'``, a key of ``presets`` or ``(w, h)`` into ``(width, height)``.

    Raises ``ValueError`` naming the expected forms, or the minimum ``min_size`` (``(w, h)``)
    for a smaller size.
    """
    if isinstance(text, (tuple, list)):
        w, h = int(text[0]), int(text[1])
    elif text in presets:
        w, h = presets[text]
    else:
        try:
            w, h = (int(v) for v in str(text).lower().split('x'))
        except ValueError:
            raise ValueError(f'size {text!r}: expected WIDTHxHEIGHT or one of '
                             f'{", ".join(presets)}') from None
    min_w, min_h = min_size
    if w < min_w or h < min_h:
        raise ValueError(f'size {w}x{h} too small (at least {min_w}x{min_h})')
    return w, h
