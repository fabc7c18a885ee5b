# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The AWStream-style baseline controller (paper Fig. 7 steps 1-3), without ROS.

AWStream picks knobs from a bandwidth -> configuration profile learnt offline and, to follow
"model drift", *periodically* re-profiles online: it measures the accuracy of candidate
configurations on a current frame against the result on the raw frame (which costs extra
upload and DL computation), updates its profile and re-decides.  It has no notion of content:
a tail frame is only noticed when a re-profiling happens to fall on it, so it reacts in about
one period (~10 s in the paper) against CAC's ~500 ms.

:class:`AWStreamController` has the same shape as :class:`runespoor.edge_control.
EdgeController` -- :meth:`~AWStreamController.on_frame` returns a
:class:`~runespoor.edge_control.FrameDecision`, :meth:`~AWStreamController.on_bandwidth` /
:meth:`~AWStreamController.on_feedback` feed the bandwidth -- so the experiment can swap it in.
The re-profiling callable ``measure(frame_bgr, [Knobs, ...]) -> [accuracy, ...]`` is supplied
by the caller; :func:`make_measure` builds one from an ``analyse`` callable (as used by
:mod:`runespoor.cac.profiling`) that scores each candidate against the HR prediction.

Times are seconds; bandwidths kbit/s at ``source_pixels`` (scaled for other camera sizes).
"""

from dataclasses import dataclass, replace
import math
import threading

from runespoor.edge_control import (FrameDecision, FrameRateGate, Knobs, MODE_STANDARD,
                                    UplinkBandwidth)

#: AWStream's re-profiling period used by default [s] (paper: ~10 s to react).
DEFAULT_PERIOD_S = 10.0


@dataclass(frozen=True)
class Candidate:
    """One configuration the controller may choose, with its data rate and accuracy estimate."""

    knobs: Knobs
    kbps: float          # data rate it needs at the table's source size [kbit/s]
    accuracy: float      # current accuracy estimate (0..1; relative or absolute)


class AWStreamController(UplinkBandwidth):
    """
    Bandwidth-driven knob choice with periodic online re-profiling (no content awareness).

    Constructor arguments:
        candidates: list of :class:`Candidate` (the offline profile).
        source_pixels: frame size (pixels) the candidates' rates refer to.
        period_s: re-profile when this long has passed since the last one (first one
            ``period_s`` after the first frame; ``0`` disables re-profiling).
        measure: ``measure(frame_bgr, [Knobs]) -> [accuracy]`` or None (no re-profiling).
        smoothing: weight of a new measurement (1 = replace the estimate, AWStream's update).
        bandwidth_source: ``'fixed'`` (:meth:`on_bandwidth`) or ``'estimate'`` (from
            :meth:`on_feedback`, falling back to the fixed value while unknown).
        bandwidth_kbps: initial bandwidth (0 = unknown: the cheapest candidate is used).

    Choice: the candidate with the best accuracy estimate among those whose rate fits the
    bandwidth (ties: lower rate); the cheapest when none fits.
    """

    def __init__(self, candidates, source_pixels, period_s=DEFAULT_PERIOD_S, measure=None,
                 smoothing=1.0, bandwidth_source='fixed', bandwidth_kbps=0.0, estimator=None):
        if not candidates:
            raise ValueError('AWStream controller needs at least one candidate config')
        if source_pixels <= 0:
            raise ValueError(f'source_pixels {source_pixels!r} must be > 0')
        if not (math.isfinite(period_s) and period_s >= 0):
            raise ValueError(f'period_s {period_s!r} must be >= 0')
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f'smoothing {smoothing!r} outside (0, 1]')
        self._lock = threading.Lock()
        self._init_bandwidth(bandwidth_source, bandwidth_kbps, estimator)
        self.candidates = [replace(c, knobs=replace(c.knobs, tail_specific=False).validated())
                           for c in candidates]
        self.source_pixels = int(source_pixels)
        self.period_s = float(period_s)
        self.measure = measure
        self.smoothing = float(smoothing)
        self.gate = FrameRateGate(0.0)
        self._first_t = None
        self.last_profile_s = None
        self.profiles = 0          # online re-profilings done
        self.profile_log = []      # (time, [accuracies]) of the last re-profilings
        self.max_log = 64
        self.current = self._choose(self.bandwidth_kbps, None)

    # -- construction helpers ----------------------------------------------------------
    @classmethod
    def from_stats(cls, stats, fps, source_width, source_height, group='all', **kwargs):
        """Build from :class:`runespoor.cac.selection.ConfigStats` (offline profile)."""
        from runespoor.cac.selection import kbps
        cands = [Candidate(Knobs(s.scale, s.quality, 0.0), kbps(s.bytes_of(group), fps),
                           s.acc_of(group)) for s in stats
                 if not (math.isnan(s.bytes_of(group)) or math.isnan(s.acc_of(group)))]
        return cls(cands, int(source_width) * int(source_height), **kwargs)

    @classmethod
    def from_profile(cls, table, **kwargs):
        """
        Build from a :class:`runespoor.edge_control.ProfileTable`: its standard configs only.

        A profile has no accuracies; the richer row is assumed better (accuracy = row rank),
        so before any re-profiling the choice equals the table's lookup.
        """
        n = len(table.entries)
        cands = [Candidate(e.standard, e.bandwidth_kbps, (i + 1) / float(n))
                 for i, e in enumerate(table.entries)]
        return cls(cands, table.source_pixels, **kwargs)

    # -- inputs ----------------------------------------------------------------------------
    def on_bandwidth(self, bandwidth_kbps):
        """Set the available bandwidth [kbit/s] (the experiment's schedule or an estimate)."""
        bw = float(bandwidth_kbps)
        if not (math.isfinite(bw) and bw >= 0):
            raise ValueError(f'bandwidth_kbps {bandwidth_kbps!r} must be >= 0')
        with self._lock:
            self.bandwidth_kbps = bw

    # -- per frame -------------------------------------------------------------------------
    def profiling_due(self, t):
        """Return True if a re-profiling is due at time ``t`` [s]."""
        if self.period_s <= 0 or self.measure is None:
            return False
        ref = self.last_profile_s if self.last_profile_s is not None else self._first_t
        return ref is not None and t - ref >= self.period_s

    def reprofile(self, t, frame):
        """Measure every candidate on ``frame`` now and update the estimates (steps 1-2)."""
        accs = list(self.measure(frame, [c.knobs for c in self.candidates]))
        if len(accs) != len(self.candidates):
            raise ValueError(f'measure returned {len(accs)} accuracies for '
                             f'{len(self.candidates)} candidates')
        w = self.smoothing
        updated = []
        for c, a in zip(self.candidates, accs):
            a = float(a)
            if math.isnan(a):
                updated.append(c)
            else:
                updated.append(replace(c, accuracy=w * a + (1.0 - w) * c.accuracy))
        self.candidates = updated
        self.last_profile_s = float(t)
        self.profiles += 1
        self.profile_log.append((float(t), accs))
        del self.profile_log[:-self.max_log]

    def on_frame(self, t, frame=None, source_pixels=None):
        """
        Decide for the camera frame stamped ``t`` [s] (step 3: adjust the knobs).

        ``frame`` (BGR) is needed only for re-profiling; without it a due re-profiling waits
        for the next frame that carries one.
        """
        with self._lock:
            if self._first_t is None or t < self._first_t:
                self._first_t = float(t)
            if frame is not None and self.profiling_due(t):
                self.reprofile(t, frame)
            bw = self.current_bandwidth_kbps()
            self.current = self._choose(bw, source_pixels)
            knobs = self.current.knobs
            self.gate.set_rate(knobs.frame_rate)
            return FrameDecision(self.gate.admit(t), knobs, 0, bw, MODE_STANDARD)

    def _choose(self, bandwidth_kbps, source_pixels):
        bw = float(bandwidth_kbps)
        if source_pixels:
            bw *= self.source_pixels / float(source_pixels)
        fitting = [c for c in self.candidates if bw > 0 and c.kbps <= bw]
        if not fitting:
            return min(self.candidates, key=lambda c: (c.kbps, -c.accuracy))
        return min(fitting, key=lambda c: (-_finite(c.accuracy), c.kbps))


def _finite(value):
    return value if math.isfinite(value) else -math.inf


def make_measure(analyse, num_classes=19):
    """
    Return a ``measure(frame_bgr, [Knobs]) -> [accuracy]`` for :class:`AWStreamController`.

    Each candidate is applied to the raw frame with :func:`runespoor.codec.encode_frame`,
    analysed with ``analyse(lr_bgr, scale)`` and scored (mIoU) against ``analyse(frame, 1)``:
    the accuracy relative to the HR result, as AWStream's online profiling does with raw data.
    """
    from runespoor import codec
    from runespoor.cac.profiling import analyser, frame_accuracy
    run = analyser(analyse)

    def measure(frame, knobs_list):
        size = frame.shape[:2]
        ref = run(frame, 1, size)
        out = []
        for k in knobs_list:
            lr = codec.degrade(frame, k.scale, k.jpeg_quality)
            pred = run(lr, k.scale, size)
            out.append(frame_accuracy(pred, ref, num_classes))
        return out
    return measure
