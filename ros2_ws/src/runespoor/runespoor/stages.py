# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Overlapping the stages of consecutive frames: one thread per stage, bounded hand-overs, in order.

The cloud's per-frame work is decode (CPU) -> reconstruct + analyse (the models, GPU) ->
tail decision + publish (CPU, Python).  Run one after the other, the GPU waits while Python
decodes and publishes; run as a :class:`StagePipeline`, frame N+1 is decoded and frame N-1
published while frame N is on the models.  Each hand-over queue holds at most ``depth`` items,
so a slow stage makes the earlier ones wait instead of piling frames up (nothing grows without
bound), and every stage sees the items in the order they were put (the tail state needs it).

A stage that raises drops that item: ``on_error(item, exc, stage)`` is called on the stage's
thread and the next item goes on.  :meth:`StagePipeline.close` lets the items already inside
finish and joins the threads.  No ROS here.
"""

import queue
import threading

#: Marks the end of the stream in the hand-over queues.
_STOP = object()


class StagePipeline:
    """
    Run every put item through ``stages`` (callables ``item -> item``), one thread each.

    ``depth`` bounds each hand-over queue; ``on_error(item, exc, stage_index)`` handles an
    exception of a stage (default: ignore the item).  :attr:`done` counts the items that went
    through the last stage, :attr:`failed` those dropped by an error.
    """

    def __init__(self, stages, depth=1, on_error=None, name='stage'):
        if not stages:
            raise ValueError('a StagePipeline needs at least one stage')
        if int(depth) < 1:
            raise ValueError(f'depth {depth}: must be >= 1')
        self.stages = list(stages)
        self.on_error = on_error
        self.done = 0
        self.failed = 0
        self._count_lock = threading.Lock()
        self._queues = [queue.Queue(maxsize=int(depth)) for _ in self.stages]
        self._closed = False
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                          name=f'{name}-{i}')
                         for i in range(len(self.stages))]
        for t in self._threads:
            t.start()

    def put(self, item, timeout=None):
        """
        Hand ``item`` to the first stage; block while it is full (up to ``timeout`` seconds).

        Return False if the pipeline is closed or the wait timed out (the item is not taken).
        """
        if self._closed:
            return False
        try:
            self._queues[0].put(item, timeout=timeout)
        except queue.Full:
            return False
        return True

    def pending(self):
        """Return how many items wait in the hand-over queues (not counting running stages)."""
        return sum(q.qsize() for q in self._queues)

    def _run(self, index):
        inbox = self._queues[index]
        outbox = self._queues[index + 1] if index + 1 < len(self._queues) else None
        stage = self.stages[index]
        while True:
            item = inbox.get()
            if item is _STOP:
                if outbox is not None:
                    outbox.put(_STOP)
                return
            try:
                result = stage(item)
            except Exception as exc:  # noqa: B902 - one bad item must not stop the stream
                with self._count_lock:
                    self.failed += 1
                if self.on_error is not None:
                    try:
                        self.on_error(item, exc, index)
                    except Exception:  # noqa: B902 - an error handler error is dropped too
                        pass
                continue
            if outbox is not None:
                outbox.put(result)
            else:
                with self._count_lock:
                    self.done += 1

    def close(self, timeout=5.0):
        """Let the items inside finish, stop the threads; return True if all of them ended."""
        if not self._closed:
            self._closed = True
            try:
                self._queues[0].put(_STOP, timeout=timeout)
            except queue.Full:
                return False
        for t in self._threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)
