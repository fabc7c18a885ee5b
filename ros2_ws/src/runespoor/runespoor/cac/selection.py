# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Choosing knob configurations from a profiling measurement table (paper §3.2), pure functions.

A *measurement table* holds, for every configuration ``(scale, jpeg_quality)`` and every
profiled frame, the JPEG size in bytes and the analytics accuracy after reconstruction.  The
frames are split once into *tail frames* (the worst 10 % by accuracy, see
:mod:`runespoor.cac.tail`) and the rest.  :func:`config_stats` reduces the table to one
:class:`ConfigStats` per configuration: mean bytes and mean accuracy over the ordinary frames
(the *standard* group) and over the tail frames (the *tail* group).

For a bandwidth target, :func:`best_within` picks the configuration with the best mean accuracy
of a group among those whose mean bytes **on the same group of frames** fit the per-frame byte
budget; :func:`select_profile` does that for the standard and the tail group at each target,
and :func:`profile_rows` turns the choices into the rows of the edge's profile YAML
(:class:`runespoor.edge_control.ProfileTable`).

Units: bytes per frame; kbit/s (1 kbit = 1000 bit); frame rates in frames per second.
"""

from dataclasses import asdict, dataclass
import math

import numpy as np

#: The two frame groups of tail-aware profiling.
GROUPS = ('standard', 'tail')


def kbps(bytes_per_frame, fps):
    """Return the data rate [kbit/s] of ``bytes_per_frame`` sent at ``fps`` frames per second."""
    return float(bytes_per_frame) * 8.0 * float(fps) / 1000.0


def budget_bytes(bandwidth_kbps, fps):
    """Return the per-frame byte budget of ``bandwidth_kbps`` at ``fps`` frames per second."""
    if fps <= 0:
        raise ValueError(f'fps {fps!r} must be > 0')
    return float(bandwidth_kbps) * 1000.0 / 8.0 / float(fps)


@dataclass(frozen=True)
class ConfigStats:
    """Aggregates of one knob configuration over the profiled frames (NaN: no such frames)."""

    scale: int
    quality: int
    bytes_standard: float   # mean JPEG bytes per frame over the non-tail frames
    bytes_tail: float       # mean JPEG bytes per frame over the tail frames
    bytes_all: float        # mean JPEG bytes per frame over all frames
    acc_standard: float     # mean accuracy (0..1) over the non-tail frames
    acc_tail: float         # mean accuracy (0..1) over the tail frames
    acc_all: float          # mean accuracy (0..1) over all frames
    n_standard: int
    n_tail: int

    @property
    def config(self):
        """Return ``(scale, quality)``."""
        return (self.scale, self.quality)

    def bytes_of(self, group):
        """Return the mean bytes of ``group`` (``standard``, ``tail`` or ``all``)."""
        return getattr(self, 'bytes_' + _check_group(group, allow_all=True))

    def acc_of(self, group):
        """Return the mean accuracy of ``group`` (``standard``, ``tail`` or ``all``)."""
        return getattr(self, 'acc_' + _check_group(group, allow_all=True))

    def as_dict(self):
        """Return a JSON-ready dict."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def _check_group(group, allow_all=False):
    if group in GROUPS or (allow_all and group == 'all'):
        return group
    raise ValueError(f'unknown frame group {group!r}; use standard, tail'
                     + (' or all' if allow_all else ''))


def _mean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float('nan')


def config_stats(table, tail):
    """
    Reduce a measurement table to one :class:`ConfigStats` per configuration.

    Its arguments:
        table: ``{(scale, quality): {'bytes': N values, 'accuracy': N values}}``, frames in
            the same order for every configuration (NaN accuracy = undefined, skipped).
        tail: ``N`` booleans, True for the tail frames.

    Returns the list sorted by ``(scale, quality)``.
    """
    tail = np.asarray(tail, dtype=bool)
    out = []
    for (scale, quality) in sorted(table):
        row = table[(scale, quality)]
        nbytes = np.asarray(row['bytes'], dtype=np.float64)
        acc = np.asarray(row['accuracy'], dtype=np.float64)
        if nbytes.shape != tail.shape or acc.shape != tail.shape:
            raise ValueError(f'config x{scale} q{quality}: {nbytes.size} byte and {acc.size} '
                             f'accuracy values for {tail.size} frames')
        out.append(ConfigStats(int(scale), int(quality),
                               _mean(nbytes[~tail]), _mean(nbytes[tail]), _mean(nbytes),
                               _mean(acc[~tail]), _mean(acc[tail]), _mean(acc),
                               int((~tail).sum()), int(tail.sum())))
    return out


def _rank_key(stats, group):
    # best accuracy first; ties: fewer bytes, then larger scale, then lower quality
    acc = stats.acc_of(group)
    acc = -math.inf if math.isnan(acc) else acc
    return (-acc, stats.bytes_of(group), -stats.scale, stats.quality)


def best_within(stats, budget, group='standard'):
    """
    Return ``(best ConfigStats, fits)`` for a per-frame byte ``budget`` and a frame ``group``.

    The best configuration has the highest mean accuracy on ``group`` among those whose mean
    bytes on ``group`` are at most ``budget`` (ties: fewer bytes, then the larger scale, then
    the lower quality).  When none fits, the cheapest configuration is returned with
    ``fits = False``.  Configurations without frames in ``group`` (NaN bytes) are skipped.
    """
    _check_group(group)
    usable = [s for s in stats if not math.isnan(s.bytes_of(group))]
    if not usable:
        raise ValueError(f'no configuration has measurements on {group} frames')
    fitting = [s for s in usable if s.bytes_of(group) <= budget]
    if fitting:
        return min(fitting, key=lambda s: _rank_key(s, group)), True
    return min(usable, key=lambda s: (s.bytes_of(group), -s.scale, s.quality)), False


#: Shapes of a tail-specific config relative to the standard one (:func:`tail_shape`).
SHAPES = ('same', 'same_scale', 'finer_lower_quality', 'finer', 'coarser')
#: Default "about the same bytes": the tail config may cost at most this much more, as a share
#: of the standard config's mean bytes on the same frames.
DEFAULT_BYTES_TOLERANCE = 0.1


def finer_level(scale, levels=(1, 2, 4, 6, 8)):
    """Return the next finer resolution level than ``scale`` (``None`` at the finest)."""
    finer = [v for v in levels if v < scale]
    return max(finer) if finer else None


def tail_shape(standard, tail, levels=(1, 2, 4, 6, 8)):
    """
    Name the shape of ``tail`` relative to ``standard`` (``(scale, quality)`` pairs).

    ``same``; ``same_scale`` (another quality); ``finer_lower_quality`` (one resolution level
    finer at a lower or equal quality: the paper's §3.2 finding); ``finer`` (any other finer
    config); ``coarser``.
    """
    (ss, sq), (ts, tq) = standard, tail
    if (ss, sq) == (ts, tq):
        return 'same'
    if ts == ss:
        return 'same_scale'
    if ts > ss:
        return 'coarser'
    if ts == finer_level(ss, levels) and tq <= sq:
        return 'finer_lower_quality'
    return 'finer'


def equal_bytes_tail(stats, standard, tolerance=DEFAULT_BYTES_TOLERANCE):
    """
    Choose the tail-specific config that costs about what ``standard`` costs.

    Candidates: configs whose mean bytes over **all** profiled frames (the same frames for
    both configs) are at most ``(1 + tolerance)`` times the standard config's; the best mean
    accuracy on tail frames wins (ties: fewer bytes, larger scale, lower quality; the standard
    config is always a candidate).  Returns ``(best ConfigStats, shapes)`` where ``shapes``
    maps each shape of :data:`SHAPES` present among the candidates to its best candidate
    ``{'scale', 'jpeg_quality', 'acc_tail', 'bytes_ratio'}``, and ``finer_level_cheapest`` to
    the cheapest config one resolution level finer (at most the standard quality), within the
    tolerance or not (``within_tolerance``): what the paper's shape would cost.
    """
    if tolerance < 0:
        raise ValueError(f'bytes tolerance {tolerance!r} must be >= 0')
    limit = standard.bytes_all * (1.0 + tolerance)
    cands = [s for s in stats if not math.isnan(s.bytes_all) and s.bytes_all <= limit
             and not math.isnan(s.acc_tail)]
    if standard not in cands:
        cands.append(standard)
    best = min(cands, key=lambda s: _rank_key(s, 'tail'))
    shapes = {}
    level = finer_level(standard.scale)
    finer = [s for s in stats if s.scale == level and s.quality <= standard.quality
             and not math.isnan(s.bytes_all)]
    if finer:  # the paper's shape, within the tolerance or not: what it would cost
        cheap = min(finer, key=lambda s: (s.bytes_all, s.quality))
        shapes['finer_level_cheapest'] = {
            'scale': cheap.scale, 'jpeg_quality': cheap.quality,
            'acc_tail': _nan_none(cheap.acc_tail),
            'bytes_ratio': cheap.bytes_all / standard.bytes_all if standard.bytes_all else None,
            'within_tolerance': cheap.bytes_all <= limit}
    for s in sorted(cands, key=lambda s: _rank_key(s, 'tail')):
        shape = tail_shape(standard.config, s.config)
        if shape not in shapes:
            shapes[shape] = {'scale': s.scale, 'jpeg_quality': s.quality,
                             'acc_tail': _nan_none(s.acc_tail),
                             'bytes_ratio': s.bytes_all / standard.bytes_all
                             if standard.bytes_all else None}
    return best, shapes


def _nan_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


@dataclass(frozen=True)
class Selection:
    """The configs chosen for one bandwidth target."""

    target_kbps: float        # the bandwidth target at the profiled frame size [kbit/s]
    budget_bytes: float       # per-frame byte budget of the target
    standard: ConfigStats
    tail: ConfigStats
    standard_fits: bool
    tail_fits: bool
    fps: float
    bytes_tolerance: float = None   # None: tail config within the budget on tail frames
    shapes: dict = None             # per shape, its best equal-bytes candidate

    @property
    def shape(self):
        """Return the tail config's shape relative to the standard one (:func:`tail_shape`)."""
        return tail_shape(self.standard.config, self.tail.config)

    @property
    def bytes_ratio(self):
        """Return the tail config's mean bytes over the standard's, on all frames."""
        return self.tail.bytes_all / self.standard.bytes_all if self.standard.bytes_all \
            else float('nan')

    def shape_report(self):
        """
        Return which shape won and by how much (tail-frame mIoU points, 0..1 scale).

        ``margin_over_standard``: the winner's tail accuracy minus the standard config's;
        ``margin_over_next_shape``: minus the best candidate of any other shape (None when
        no other shape had a candidate within the byte tolerance).
        """
        shapes = self.shapes or {}
        win = self.tail.acc_tail
        others = [v['acc_tail'] for k, v in shapes.items()
                  if k != self.shape and k != 'finer_level_cheapest'
                  and v['acc_tail'] is not None]
        std = self.standard.acc_tail
        return {'winner': self.shape, 'bytes_ratio': _nan_none(self.bytes_ratio),
                'margin_over_standard': _nan_none(win - std),
                'margin_over_next_shape': (win - max(others)) if others else None,
                'candidates': shapes}

    @property
    def standard_kbps(self):
        """Return the standard config's rate on ordinary frames [kbit/s]."""
        return kbps(self.standard.bytes_standard, self.fps)

    @property
    def tail_kbps(self):
        """Return the tail config's rate on tail frames [kbit/s]."""
        return kbps(self.tail.bytes_tail, self.fps)

    @property
    def need_kbps(self):
        """Return the bandwidth both configs need (the larger of the two rates) [kbit/s]."""
        return max(self.standard_kbps, self.tail_kbps)

    def as_dict(self):
        """Return a JSON-ready dict."""
        return {'target_kbps': self.target_kbps, 'budget_bytes': self.budget_bytes,
                'fps': self.fps, 'need_kbps': self.need_kbps,
                'standard': {'scale': self.standard.scale, 'jpeg_quality': self.standard.quality,
                             'kbps': self.standard_kbps, 'fits': self.standard_fits,
                             'acc_standard': self.standard.acc_standard,
                             'acc_tail': self.standard.acc_tail},
                'tail': {'scale': self.tail.scale, 'jpeg_quality': self.tail.quality,
                         'kbps': self.tail_kbps, 'fits': self.tail_fits,
                         'acc_standard': self.tail.acc_standard,
                         'acc_tail': self.tail.acc_tail},
                'bytes_tolerance': self.bytes_tolerance,
                'shape': self.shape_report()}


def select_profile(stats, targets_kbps, fps, bytes_tolerance=None):
    """
    Return one :class:`Selection` per bandwidth target (kbit/s, sorted ascending).

    With ``bytes_tolerance`` (e.g. :data:`DEFAULT_BYTES_TOLERANCE`) the tail-specific config
    must cost about what the standard one costs (:func:`equal_bytes_tail`); without it (the
    older rule) it is the best on tail frames within the budget measured on tail frames.
    """
    out = []
    for target in sorted(float(t) for t in targets_kbps):
        budget = budget_bytes(target, fps)
        std, std_fits = best_within(stats, budget, 'standard')
        if bytes_tolerance is None:
            tail, tail_fits = best_within(stats, budget, 'tail')
            shapes = None
        else:
            tail, shapes = equal_bytes_tail(stats, std, bytes_tolerance)
            tail_fits = std_fits and tail.bytes_tail <= budget * (1.0 + bytes_tolerance)
        out.append(Selection(target, budget, std, tail, std_fits, tail_fits, float(fps),
                             bytes_tolerance, shapes))
    return out


def profile_rows(selections):
    """
    Turn selections into profile rows for :class:`runespoor.edge_control.ProfileTable`.

    Each row is ``{'bandwidth_kbps', 'standard': {...}, 'tail': {...}}`` where
    ``bandwidth_kbps`` is the rate the row's two configs need (rounded up to whole kbit/s), so
    the edge picks the richest row that fits its bandwidth.  Consecutive targets that chose the
    same pair give one row; a row that needs no more than the previous one replaces it (it was
    chosen at a larger budget, so it is at least as accurate).  ``frame_rate`` is 0 (every
    frame): the frame-rate knob is not profiled.
    """
    rows = []
    for sel in sorted(selections, key=lambda s: s.target_kbps):
        row = {'bandwidth_kbps': int(math.ceil(sel.need_kbps - 1e-9)),
               'standard': {'scale': sel.standard.scale,
                            'jpeg_quality': sel.standard.quality, 'frame_rate': 0},
               'tail': {'scale': sel.tail.scale, 'jpeg_quality': sel.tail.quality,
                        'frame_rate': 0}}
        if rows and (rows[-1]['standard'], rows[-1]['tail']) == (row['standard'], row['tail']):
            continue
        while rows and rows[-1]['bandwidth_kbps'] >= row['bandwidth_kbps']:
            rows.pop()
        rows.append(row)
    return rows


def pareto_front(costs, values):
    """
    Return indices of the points on the cost-vs-value Pareto front, by increasing cost.

    A point is on the front when no other point has lower-or-equal cost and higher value
    (of equal points the first is kept).  NaN values are never on the front.
    """
    costs = np.asarray(costs, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    order = np.lexsort((-values, costs))  # by cost, then best value first
    front, best = [], -math.inf
    for i in order:
        if not math.isnan(values[i]) and values[i] > best:
            front.append(int(i))
            best = values[i]
    return front
