# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Helpers for the hostile-file and hostile-input tests of every package (no ROS, no pytest).

- :class:`Plant`: an object whose unpickling would create a marker file - what a crafted
  "checkpoint" does to a loader that runs pickled code.  A test saves one inside a weights file
  and checks the marker never appears.
- :func:`call_bounded`: run a call in a thread and give up after a generous timeout, so a
  loader that blocks on a FIFO fails the test instead of hanging the whole run (the FIFO is
  opened for writing once, which releases the blocked reader).
- :func:`set_jpeg_size`, :func:`mutate_jpeg`: damaged JPEG payloads (a rewritten frame size,
  bit flips, cuts, splices) for the fuzz tests of the cloud pipeline and the image converters.
"""

import os
import threading

#: Generous: a refusal is immediate, a blocked open would wait forever.
TIMEOUT_S = 60.0


class Plant:
    """Unpickling this would create ``marker`` (arbitrary code, as a real attack would run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


class StillBlocked(AssertionError):
    """:func:`call_bounded`'s call did not return within the timeout."""


def call_bounded(fn, fifo=None, timeout_s=TIMEOUT_S):
    """
    Run ``fn()`` in a thread; return ``(result, exception)`` (one of them None).

    Raises :class:`StillBlocked` when it has not returned after ``timeout_s``; ``fifo`` (a path)
    is then opened for writing so the blocked reader lets go.
    """
    box = {}

    def run():
        try:
            box['result'] = fn()
        except BaseException as exc:  # noqa: B902 - handed back to the test
            box['error'] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        raise StillBlocked(f'still blocked after {timeout_s:g} s')
    return box.get('result'), box.get('error')


def set_jpeg_size(data, width, height):
    """Rewrite the frame size in a JPEG's SOF0 header."""
    buf = bytearray(data)
    i = buf.find(b'\xff\xc0')
    buf[i + 5:i + 7] = height.to_bytes(2, 'big')
    buf[i + 7:i + 9] = width.to_bytes(2, 'big')
    return bytes(buf)


def mutate_jpeg(rng, data):
    """Return a damaged variant of JPEG ``data`` (``rng``: a ``random.Random``)."""
    buf = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 20)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short
        buf = buf[:rng.randrange(len(buf))]
    elif kind == 2:  # spliced garbage
        i = rng.randrange(len(buf))
        buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 3:  # a lying frame size
        buf = bytearray(set_jpeg_size(bytes(buf), rng.choice([0, 1, 31, 33, 65535]),
                                      rng.choice([0, 1, 15, 17, 65535])))
    elif kind == 4:  # not a JPEG at all
        buf = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 600)))
    else:  # a broken APP1 segment
        buf[2:2] = b'\xff\xe1' + rng.choice([b'\x00\x00', b'\xff\xff', b'\x00\x02'])
    return bytes(buf)
