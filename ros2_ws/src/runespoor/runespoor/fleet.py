# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
One cloud for N robots, without ROS: fair dynamic batching and a batched pipeline.

:class:`FleetScheduler` keeps a bounded FIFO per robot (full -> that robot's oldest frame is
dropped, never another robot's) and hands out *batches*: frames of different robots with the
same batch key (scale and source size, :func:`batch_key`) that the GPU can run as one tensor.
Fairness is round robin with a quantum of one frame (deficit round robin over frames): the
robot at the round-robin pointer leads the batch, every other robot with a frame of the same
key contributes its oldest one, and only then does any robot contribute a second frame; the
pointer then moves past the leader.  A robot sending a burst therefore fills at most its own
queue and one slot per round, and cannot starve another robot.

A batch is dispatched when it is full (``max_batch``), when its oldest frame has waited
``max_wait_ms`` (the latency budget of batching), or at once when every robot that could
add a frame already has one in it (one robot: no waiting at all).  The clock is injectable,
so tests drive it by hand.

:class:`FleetPipeline` owns one :class:`~runespoor.cloud_pipeline.CloudPipeline` per robot
(its own sequence guard, tail controller, counters, latency windows and a copy of the
configuration) sharing one reconstructor and one analytics model, and runs a batch as
decode (per frame) -> one batched reconstruction -> one batched forward pass of the
segmentation model -> per-frame tail decision (:meth:`CloudPipeline.conclude`).  In fp32 the
results are those of one-at-a-time processing (tests compare).
"""

from collections import deque
import dataclasses
import threading
import time

import numpy as np

from .cloud_pipeline import CloudPipeline, FrameError, PipelineConfig, TorchReconstructor
from .tasks.segmentation.analytics import Segmenter

#: What happens to a frame that arrives for a robot the fleet does not serve.
UNKNOWN_ROBOT = 'unknown robot'


def batch_key(frame):
    """Return the key frames must share to be batched: ``(scale, width, height)``."""
    return (int(frame.scale), int(frame.source_width), int(frame.source_height))


class RobotQueue:
    """The :class:`FleetScheduler` queue of one robot, with the ``FrameQueue`` interface."""

    def __init__(self, scheduler, robot):
        self.scheduler = scheduler
        self.robot = robot

    def put(self, item):
        """Queue ``item``; return the robot's dropped oldest item when its queue was full."""
        return self.scheduler.put(self.robot, item)

    @property
    def dropped(self):
        """Return how many of this robot's frames were dropped from a full queue."""
        return self.scheduler.dropped[self.robot]

    def close(self):
        """Close the whole scheduler (wakes its waiting :meth:`FleetScheduler.get`)."""
        self.scheduler.close()

    def __len__(self):
        return self.scheduler.queue_length(self.robot)


class FleetScheduler:
    """
    Per-robot bounded queues, round-robin fairness and dynamic batching (see the module doc).

    ``robots``: the robot names; ``queue_size``: frames kept per robot; ``max_batch``: frames
    per batch; ``max_wait_ms``: how long the oldest frame of an incomplete batch may wait for
    more; ``key``: frame -> batch key (:func:`batch_key`); ``clock``: seconds, monotonic.
    """

    def __init__(self, robots, queue_size=2, max_batch=8, max_wait_ms=5.0, key=batch_key,
                 clock=time.monotonic):
        robots = list(robots)
        if not robots or len(set(robots)) != len(robots):
            raise ValueError(f'robots {robots!r}: a non-empty list of distinct names')
        if int(queue_size) < 1 or int(max_batch) < 1 or not max_wait_ms >= 0:
            raise ValueError('queue_size and max_batch must be >= 1, max_wait_ms >= 0')
        self.robots = robots
        self.queue_size = int(queue_size)
        self.max_batch = int(max_batch)
        self.max_wait_s = float(max_wait_ms) / 1e3
        self.key = key
        self.clock = clock
        self._queues = {r: deque() for r in robots}
        self._next = 0                        # round-robin pointer into robots
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = dict.fromkeys(robots, 0)
        self.served = dict.fromkeys(robots, 0)
        self.batches = 0

    def queue(self, robot):
        """Return the :class:`RobotQueue` of ``robot``."""
        if robot not in self._queues:
            raise KeyError(f'{UNKNOWN_ROBOT} {robot!r}')
        return RobotQueue(self, robot)

    def put(self, robot, item):
        """Queue ``item`` for ``robot``; return its dropped oldest item when full, else None."""
        with self._cond:
            q = self._queues[robot]
            dropped = None
            if len(q) >= self.queue_size:
                dropped = q.popleft()[1]
                self.dropped[robot] += 1
            q.append((self.clock(), item))
            self._cond.notify()
            return dropped

    def queue_length(self, robot):
        """Return how many frames of ``robot`` wait."""
        with self._cond:
            return len(self._queues[robot])

    def __len__(self):
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def poll(self, now=None):
        """
        Return ``(batch, wait_s)`` without blocking.

        ``batch`` is a list of ``(robot, item)`` taken off the queues when one is due (then
        ``wait_s`` is 0), else None with ``wait_s`` the time until the pending batch is due
        (None when nothing waits).
        """
        with self._cond:
            return self._poll(self.clock() if now is None else now)

    def _poll(self, now):
        n = len(self.robots)
        order = [self.robots[(self._next + i) % n] for i in range(n)]
        lead = next((r for r in order if self._queues[r]), None)
        if lead is None:
            return None, None
        start = order.index(lead)
        order = order[start:] + order[:start]
        key = self.key(self._queues[lead][0][1])
        picks, depth = [], 0            # (robot, index in its queue)
        while len(picks) < self.max_batch:
            added = False
            for r in order:
                q = self._queues[r]
                if depth < len(q) and len(picks) < self.max_batch and \
                        all(self.key(q[j][1]) == key for j in range(depth + 1)):
                    picks.append((r, depth))
                    added = True
            if not added:
                break
            depth += 1
        oldest = min(self._queues[r][i][0] for r, i in picks)
        waited = now - oldest
        everyone = len({r for r, _ in picks}) == n
        if len(picks) < self.max_batch and waited < self.max_wait_s and not everyone \
                and not self._closed:
            return None, self.max_wait_s - waited
        batch = []
        for r, _ in sorted(picks, key=lambda p: (p[1], order.index(p[0]))):
            batch.append((r, self._queues[r].popleft()[1]))
            self.served[r] += 1
        self._next = (self.robots.index(lead) + 1) % n
        self.batches += 1
        return batch, 0.0

    def get(self, timeout=None):
        """Block until a batch is due (see :meth:`poll`) or ``timeout`` s; [] on timeout/close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                batch, wait = self._poll(self.clock())
                if batch:
                    return batch
                if self._closed:
                    return []
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return []
                if wait is not None:
                    left = wait if left is None else min(left, wait)
                self._cond.wait(left)

    def close(self):
        """Wake every waiting :meth:`get` (later calls flush what is queued, then return [])."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclasses.dataclass
class BatchOutcome:
    """What happened to one frame of a batch: a result or a :class:`FrameError`."""

    robot: str
    frame: object
    result: object = None          # FrameResult
    error: Exception = None        # FrameError (counted in the robot's pipeline)
    batch_size: int = 1


class FleetPipeline:
    """
    Per-robot pipelines sharing one set of models; batched reconstruction and analytics.

    ``config`` is one :class:`PipelineConfig`, copied per robot so that a per-robot change
    (e.g. the tail hold) stays with its robot, or a ``{robot: PipelineConfig}`` mapping.
    ``clock`` is the cloud time of the tail controllers (as in CloudPipeline).
    """

    def __init__(self, reconstructor, analytics, robots, config=None, clock=time.monotonic):
        self.reconstructor = reconstructor
        self.analytics = analytics
        if not isinstance(config, dict):
            config = {r: dataclasses.replace(config or PipelineConfig()) for r in robots}
        self.pipelines = {r: CloudPipeline(reconstructor, analytics, config[r], clock)
                          for r in robots}

    def __getitem__(self, robot):
        return self.pipelines[robot]

    def admit(self, robot, frame):
        """Run ``robot``'s arrival checks on ``frame`` (raise FrameError, counted)."""
        return self.pipelines[robot].admit(frame)

    def warm_up(self, scales=(2,), width=128, height=64):
        """Warm the shared models (one robot's pipeline; counters untouched); return ms."""
        first = next(iter(self.pipelines.values()))
        return first.warm_up(scales, width, height)

    def process_batch(self, items):
        """
        Analyse ``items`` (a list of ``(robot, frame)``); return one :class:`BatchOutcome` each.

        Frames are grouped by :func:`batch_key`; each group is one reconstruction call and one
        analytics forward pass.  A frame that fails decoding is reported (and counted by its
        robot) without affecting the others.  Robots whose pipeline has a ``tensor_decode`` (the
        node's ``gpu_decode`` / ``pin_memory`` fast path) decode straight into a tensor on the
        models' device when the reconstructor takes one.  The same as
        ``infer_batch(decode_batch(items))``, the two stages a pipelined worker
        (:class:`runespoor.stages.StagePipeline`) overlaps across batches.
        """
        return self.infer_batch(self.decode_batch(items))

    def decode_batch(self, items):
        """Decode every frame of ``items`` (the CPU stage); return the state for infer_batch."""
        outcomes = [BatchOutcome(r, f, batch_size=len(items)) for r, f in items]
        decoded = {}
        for i, out in enumerate(outcomes):
            t0 = time.perf_counter()
            try:
                lr, notes = self.pipelines[out.robot].decode_input(out.frame)
            except FrameError as exc:
                self.pipelines[out.robot].count_error(exc.kind)
                out.error = exc
                continue
            decoded.setdefault(batch_key(out.frame), []).append((i, lr, notes, t0,
                                                                 time.perf_counter()))
        return outcomes, decoded

    def infer_batch(self, state):
        """
        Reconstruct, analyse and conclude a decoded batch (the models' stage).

        ``state`` is what :meth:`decode_batch` returned; returns the :class:`BatchOutcome` list,
        in the order of the items.  Each robot's tail state advances here, so batches must
        come in order (a :class:`runespoor.stages.StagePipeline` keeps it).
        """
        outcomes, decoded = state
        for key, group in decoded.items():
            try:
                self._run_group(outcomes, key, group)
            except FrameError as exc:  # e.g. a scale without a model: the whole group
                for i, *_ in group:
                    self.pipelines[outcomes[i].robot].count_error(exc.kind)
                    outcomes[i].error = exc
        return outcomes

    def _run_group(self, outcomes, key, group):
        scale, w, h = key
        t1 = time.perf_counter()
        recon = reconstruct_batch(self.reconstructor, [g[1] for g in group], scale, (h, w))
        t2 = time.perf_counter()
        fitted = {self.pipelines[outcomes[i].robot].config.tail_detector for i, *_ in group}
        analysed = analyse_batch(self.analytics, recon, fitted == {'fitted'},
                                 self.pipelines[outcomes[group[0][0]].robot].config)
        t3 = time.perf_counter()
        n = len(group)
        for (i, lr, notes, d0, d1), (hr, _), (output, feats) in zip(group, recon, analysed):
            out = outcomes[i]
            # per frame: its own decode time, and the batch's reconstruction and inference
            # time shared out (what one frame costs at this batch size)
            share = ((t2 - t1) / n, (t3 - t2) / n)
            out.result = self.pipelines[out.robot].conclude(
                out.frame, hr, output, feats, notes,
                (d0, d1, d1 + share[0], d1 + share[0] + share[1]))
            out.batch_size = n


def reconstruct_batch(reconstructor, lrs, scale, size):
    """
    Reconstruct same-sized frames ``lrs`` to ``size = (H, W)`` in one call.

    ``lrs`` are BGR uint8 arrays, or ``1 x 3 x h x w`` RGB [0, 1] tensors (decoded by the fast
    path) for a reconstructor with ``reconstruct_tensor``.  Returns ``[(hr_bgr, tensor
    1x3xHxW or None), ...]``, each what ``reconstructor.reconstruct`` (``reconstruct_tensor``)
    gives for that frame alone.
    """
    arrays = all(isinstance(lr, np.ndarray) for lr in lrs)
    if not isinstance(reconstructor, TorchReconstructor) or len(lrs) == 1:
        if arrays:
            return [reconstructor.reconstruct(lr, scale, size) for lr in lrs]
        return [reconstructor.reconstruct_tensor(lr, scale, size) for lr in lrs]
    import torch
    from .checkpoint import CheckpointError
    from .tensors import bgr_to_tensor, tensor_to_bgr
    impl = reconstructor.impl
    batch = torch.cat([bgr_to_tensor(lr, impl.device) if isinstance(lr, np.ndarray)
                       else lr.to(impl.device) for lr in lrs])
    try:
        out = impl(batch, scale, size)
    except CheckpointError as exc:
        raise FrameError('unknown_scale', f'no {reconstructor.method} model for x{scale}: '
                         f'{exc}') from exc
    return [(tensor_to_bgr(out[i:i + 1]), out[i:i + 1]) for i in range(len(lrs))]


def analyse_batch(analytics, recon, fitted, config):
    """
    Run ``analytics`` on reconstructed frames ``recon`` (from :func:`reconstruct_batch`).

    A :class:`Segmenter` with a model runs one forward pass over the stacked tensors; other
    plug-ins (test segmenters, detection) run frame by frame.  Returns ``[(output, feats)]``
    with ``feats`` the fitted detector's summary features (``fitted``) or None.
    """
    tensors = [t for _, t in recon]
    batched = isinstance(analytics, Segmenter) and analytics.model is not None and \
        len(recon) > 1 and all(t is not None for t in tensors)
    if not batched:
        if fitted:
            return [tuple(analytics.analyse_with_features(hr, t, config))
                    for hr, t in recon]
        return [(analytics(hr, t), None) for hr, t in recon]
    import torch
    from .tail_features import seg_features_torch
    with torch.no_grad():
        logits = analytics.model(torch.cat(tensors).to(analytics.device))
        if fitted:
            return [tuple(seg_features_torch(logits[i:i + 1],
                                             small_region_fraction=config.small_region_fraction))
                    for i in range(len(recon))]
        labels = logits.argmax(1).to(torch.uint8).cpu().numpy()
    return [(labels[i], None) for i in range(len(recon))]


def make_fleet(robots, reconstructor, analytics, config=None, queue_size=2, max_batch=8,
               max_wait_ms=5.0, clock=time.monotonic):
    """Return ``(FleetScheduler, FleetPipeline)`` for ``robots`` sharing the given models."""
    return (FleetScheduler(robots, queue_size, max_batch, max_wait_ms, clock=clock),
            FleetPipeline(reconstructor, analytics, robots, config, clock))
