# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ``main()`` of every Runespoor node: start, spin, and shut down once, however often asked.

:func:`run` is what ``edge_node``, ``source_node`` and ``cloud_node`` call.  It

- refuses bad parameters at start-up through rclpy logging under the node's name (so the line
  reads ``[FATAL] [<time>] [runespoor_cloud]: refusing to start: ...`` and, while the node
  exists, reaches ``/rosout``) and returns status 2 (``ros2 launch`` sees the process fail);
- handles SIGINT and SIGTERM itself (``rclpy.init(signal_handler_options=NO)``): the first
  signal stops the spin loop, later ones are ignored, so a second SIGINT (what ``ros2 launch``
  sends in non-interactive use, or an impatient Ctrl-C) gives no ``KeyboardInterrupt``
  traceback in the middle of the shutdown;
- destroys the node while the context is still valid and only then shuts rclpy down, so
  nothing logs into a dead ``/rosout`` publisher ("Failed to publish log message to rosout");
- optionally ends on its own when the node says it is done (the frame source at the end of a
  clip: status 0; a bag it could not read: status 1).

Python 3.10 and Humble's rclpy API only.
"""

import signal
import threading
import time

import rclpy
import rclpy.executors
import rclpy.logging

try:  # rclpy >= Humble
    from rclpy.signals import SignalHandlerOptions
except ImportError:  # pragma: no cover - older rclpy: install our handlers after init
    SignalHandlerOptions = None

#: exit status of a node that refused to start (bad parameters, missing or wrong model files)
STATUS_REFUSED = 2


class _Stop:
    """Set by the first SIGINT/SIGTERM; the spin loop polls it between callbacks."""

    def __init__(self):
        self.event = threading.Event()
        self.signal = None
        self.executor = None

    def __call__(self, signum, frame):
        if self.event.is_set():
            return  # already stopping: a second signal changes nothing
        self.signal = signum
        self.event.set()
        if self.executor is not None:
            try:
                self.executor.wake()
            except Exception:  # noqa: B902 - the executor may already be shut down
                pass


def install_signal_handlers(stop):
    """Route SIGINT and SIGTERM to ``stop`` for the rest of the process's life."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


#: How long a refused start lingers so that /rosout subscribers still get its FATAL [s].
REFUSAL_LINGER_S = 1.5


def report_refusal(node_name, text, stop=None, linger_s=REFUSAL_LINGER_S):
    """
    Log ``text`` at FATAL as ``node_name``, on the console and on ``/rosout``; then linger.

    Called while the refusing node's exception is handled, so the node (constructed up to the
    failed parameter check) still exists and its ``/rosout`` publisher carries the message.
    ``/rosout`` is transient-local, but only while the publisher lives: the process stays
    ``linger_s`` seconds (less when ``stop`` is set) so that subscribers that discover it in
    that time (rqt, a bag, ``ros2 topic echo /rosout``, a loaded machine) still receive it.
    """
    rclpy.logging.get_logger(node_name).fatal(text)
    deadline = time.monotonic() + linger_s
    while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        time.sleep(0.05)


def run(node_factory, args=None, node_name='runespoor_node', refuse=(ValueError,),
        done=None):
    """
    Run the node made by ``node_factory()`` until a signal, rclpy shutdown or ``done(node)``.

    ``refuse``: exception types that mean "bad configuration" at start-up: logged at FATAL
    under ``node_name`` and answered with status 2.  ``done``: optional callable; ``None``
    while the node should go on, else the exit status to end with.  Nodes in the node's
    ``companion_nodes`` (a sequence, optional) are spun by the same executor; the node's
    ``destroy_node`` destroys them.  Returns the exit status (0 after a signal).
    """
    stop = _Stop()
    if SignalHandlerOptions is not None:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    else:  # pragma: no cover
        rclpy.init(args=args)
    install_signal_handlers(stop)
    node = None
    executor = None
    status = 0
    try:
        try:
            node = node_factory()
        except refuse as exc:
            report_refusal(node_name, f'refusing to start: {exc}', stop.event)
            return STATUS_REFUSED
        if stop.event.is_set():  # asked to stop while starting (e.g. loading models)
            return 0
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        for companion in getattr(node, 'companion_nodes', ()):  # e.g. the fleet's robots
            executor.add_node(companion)
        stop.executor = executor
        while not stop.event.is_set() and rclpy.ok():
            finished = None if done is None else done(node)
            if finished is not None:
                status = int(finished)
                break
            executor.spin_once(timeout_sec=0.1)
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        stop.executor = None
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status


class ThrottledWarnings:
    """
    Warnings at most once per ``period_s`` per key (kind of bad input), through ``logger``.

    The first of each kind is logged at once; repeats within the period are dropped (they are
    counted in /diagnostics).  Shared by the edge and cloud nodes.
    """

    def __init__(self, logger, period_s=1.0):
        self.logger = logger
        self.period_s = float(period_s)
        self._last = {}

    def warn(self, key, text):
        """Log ``text`` as a warning unless ``key`` was logged within the period."""
        now = time.monotonic()
        if now - self._last.get(key, -1e9) >= self.period_s:
            self._last[key] = now
            self.logger.warning(text)
