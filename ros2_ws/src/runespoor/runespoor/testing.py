# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Helpers for the hostile-file tests of every package (no ROS, no pytest).

- :class:`Plant`: an object whose unpickling would create a marker file - what a crafted
  "checkpoint" does to a loader that runs pickled code.  A test saves one inside a weights file
  and checks the marker never appears.
- :func:`call_bounded`: run a call in a thread and give up after a generous timeout, so a
  loader that blocks on a FIFO fails the test instead of hanging the whole run (the FIFO is
  opened for writing once, which releases the blocked reader).
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
