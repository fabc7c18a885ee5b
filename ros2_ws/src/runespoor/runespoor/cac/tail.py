# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Tail frames and the fitted tail-frame threshold on the small-region ratio (paper §3.2, Fig. 8).

*Tail frames* are the worst ``tail_fraction`` (10 %) of frames by per-frame accuracy, i.e. the
paper's "90 % to 100 % tail".  Online, the cloud cannot know a frame's accuracy, so it flags a
frame by its *small-region ratio* (:func:`runespoor.regions.small_region_ratio` of the
predicted map): the paper observes that a frame with **fewer** small regions is more likely to
be a tail frame, and flags a frame when its ratio is **below** a threshold (1 % on Cityscapes).

:func:`fit_threshold` fits that threshold on profiling data:

1. a least-squares line ``accuracy = slope * ratio + intercept`` (reported with Pearson's r);
   its sign gives the rule's direction: ``slope >= 0`` -> the paper's rule, tail when
   ``ratio < threshold`` (``'below'``); ``slope < 0`` -> tail when ``ratio > threshold``
   (``'above'``; the cloud pipeline only implements ``'below'``, so such data is reported);
2. among the thresholds that catch at least ``target_recall`` (90 %) of the tail frames, the
   one with the best precision (ties: the fewest flagged frames).  Thresholds sit half-way
   between consecutive observed ratios.  The point where the fitted line crosses the tail
   accuracy cut-off is also reported (``regression_threshold``) with its recall and precision:
   it is the "threshold from the regression" read literally, but it does not guarantee the
   recall, so it is not the one used.

Precision is reported but not optimised for first: flagging an easy frame as tail costs little
(the tail config has the same bandwidth), missing a tail frame costs accuracy.
"""

from dataclasses import asdict, dataclass
import math

import numpy as np

#: Share of frames that are tail frames (the worst 10 % by accuracy).
DEFAULT_TAIL_FRACTION = 0.1
#: Share of tail frames the threshold must catch.
DEFAULT_TARGET_RECALL = 0.9
#: Rule directions: tail when ratio < threshold (paper), or ratio > threshold.
DIRECTIONS = ('below', 'above')


def _none_if_nan(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def tail_mask(accuracies, fraction=DEFAULT_TAIL_FRACTION, groups=None):
    """
    Return a boolean mask of the tail frames: the worst ``fraction`` by accuracy.

    ``ceil(fraction * n)`` frames (at least one) of the ``n`` with a defined (non-NaN)
    accuracy are tail frames; ties at the cut are broken by frame order.  With ``groups``
    (one key per frame, e.g. the scale) the worst ``fraction`` of every group is taken.
    """
    acc = np.asarray(accuracies, dtype=np.float64)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f'tail fraction {fraction!r} outside (0, 1]')
    mask = np.zeros(acc.shape, dtype=bool)
    if groups is None:
        groups = np.zeros(acc.shape, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != acc.shape:
        raise ValueError(f'{groups.size} group keys for {acc.size} accuracies')
    for key in np.unique(groups):
        idx = np.flatnonzero((groups == key) & ~np.isnan(acc))
        if idx.size == 0:
            continue
        count = max(1, int(math.ceil(fraction * idx.size - 1e-9)))
        worst = idx[np.argsort(acc[idx], kind='stable')[:count]]
        mask[worst] = True
    return mask


@dataclass(frozen=True)
class LinearFit:
    """Least-squares line ``y = slope * x + intercept`` with Pearson's ``r`` over ``n`` points."""

    slope: float
    intercept: float
    r: float
    n: int

    def predict(self, x):
        """Return the fitted ``y`` at ``x``."""
        return self.slope * np.asarray(x, dtype=np.float64) + self.intercept

    def as_dict(self):
        """Return a JSON-ready dict."""
        return {k: _none_if_nan(v) for k, v in asdict(self).items()}


def linear_fit(x, y):
    """Fit ``y`` on ``x`` by least squares; NaN pairs are dropped (``r`` NaN if undefined)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if x.size == 0:
        return LinearFit(float('nan'), float('nan'), float('nan'), 0)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    slope = sxy / sxx if sxx > 0 else 0.0
    r = sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float('nan')
    return LinearFit(slope, float(y.mean() - slope * x.mean()), r, int(x.size))


def classify(ratios, threshold, direction='below'):
    """Flag tail frames: ``ratio < threshold`` (``'below'``) or ``ratio > threshold``."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if direction == 'below':
        return ratios < threshold
    if direction == 'above':
        return ratios > threshold
    raise ValueError(f'direction {direction!r}: use below or above')


def recall_precision(flagged, tail):
    """Return ``(recall, precision)`` of ``flagged`` against the true ``tail`` mask (NaN: 0/0)."""
    flagged = np.asarray(flagged, dtype=bool)
    tail = np.asarray(tail, dtype=bool)
    hits = int((flagged & tail).sum())
    recall = hits / tail.sum() if tail.any() else float('nan')
    precision = hits / flagged.sum() if flagged.any() else float('nan')
    return float(recall), float(precision)


@dataclass(frozen=True)
class ThresholdFit:
    """A fitted tail-frame threshold and how well it separates tail frames."""

    threshold: float            # small-region ratio (0..1)
    direction: str              # 'below': tail when ratio < threshold (paper); or 'above'
    recall: float               # share of tail frames flagged
    precision: float            # share of flagged frames that are tail frames
    flagged_share: float        # share of all frames flagged
    reached: bool               # recall >= target_recall
    target_recall: float
    tail_fraction: float
    n: int                      # frames with defined ratio and accuracy
    n_tail: int
    n_flagged: int
    tail_accuracy_cutoff: float  # highest accuracy among the tail frames
    regression: LinearFit       # accuracy on ratio
    regression_threshold: float  # where the line reaches the cut-off (NaN: flat line)
    regression_recall: float
    regression_precision: float

    def is_tail(self, ratio):
        """Return True if a frame with small-region ``ratio`` is flagged."""
        return bool(classify([ratio], self.threshold, self.direction)[0])

    @property
    def paper_direction(self):
        """Return True when the data agree with the paper (few small regions -> tail)."""
        return self.direction == 'below'

    def as_dict(self):
        """Return a JSON-ready dict."""
        out = {k: _none_if_nan(v) for k, v in asdict(self).items() if k != 'regression'}
        out['regression'] = self.regression.as_dict()
        out['paper_direction'] = self.paper_direction
        return out


def _candidate_thresholds(ratios):
    values = np.unique(ratios)
    mids = (values[:-1] + values[1:]) / 2.0
    below_all = values[0] - max(1e-6, abs(values[0]) * 1e-6)
    above_all = values[-1] + max(1e-6, abs(values[-1]) * 1e-6)
    return np.concatenate([[below_all], mids, [above_all]])


def _counts(ratios, tail, thresholds, direction):
    """Return ``(tail frames flagged, frames flagged)`` per threshold, by binary search."""
    every = np.sort(ratios)
    tails = np.sort(ratios[tail])
    if direction == 'below':
        return (np.searchsorted(tails, thresholds, 'left'),
                np.searchsorted(every, thresholds, 'left'))
    return (tails.size - np.searchsorted(tails, thresholds, 'right'),
            every.size - np.searchsorted(every, thresholds, 'right'))


def fit_threshold(ratios, accuracies, target_recall=DEFAULT_TARGET_RECALL,
                  tail_fraction=DEFAULT_TAIL_FRACTION, direction='auto', tail=None, groups=None):
    """
    Fit the tail-frame threshold on per-frame ``ratios`` and ``accuracies``.

    Its arguments:
        ratios: small-region ratio (0..1) of each frame's prediction.
        accuracies: per-frame accuracy (e.g. mIoU, 0..1); NaN frames are left out.
        target_recall: share of tail frames the threshold must catch.
        tail_fraction: share of frames that are tail frames (see :func:`tail_mask`).
        direction: ``'auto'`` (from the sign of the fitted slope), ``'below'`` or ``'above'``.
        tail: precomputed tail mask (overrides ``tail_fraction`` and ``groups``).
        groups: per-frame keys; tail frames are the worst of each group (e.g. pooled scales).

    Returns a :class:`ThresholdFit`.  When no threshold reaches ``target_recall`` (only
    possible with NaN ratios), the best-recall one is returned with ``reached = False``.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    acc = np.asarray(accuracies, dtype=np.float64)
    if ratios.shape != acc.shape or ratios.ndim != 1:
        raise ValueError(f'expected two 1-D arrays of equal length, got {ratios.shape} and '
                         f'{acc.shape}')
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f'target recall {target_recall!r} outside (0, 1]')
    ok = ~(np.isnan(ratios) | np.isnan(acc))
    if not ok.any():
        raise ValueError('no frame has both a small-region ratio and an accuracy')
    if tail is None:
        tail = tail_mask(np.where(ok, acc, np.nan), tail_fraction, groups)
    tail = np.asarray(tail, dtype=bool) & ok
    r, t, a = ratios[ok], tail[ok], acc[ok]
    reg = linear_fit(r, a)
    if direction == 'auto':
        direction = 'above' if reg.slope < 0 else 'below'
    elif direction not in DIRECTIONS:
        raise ValueError(f'direction {direction!r}: use auto, below or above')
    cands = _candidate_thresholds(r)
    if direction == 'above':
        cands = cands[::-1]  # fewest flagged first, as for 'below'
    hits, n_flag = _counts(r, t, cands, direction)
    n_tail = int(t.sum())
    recall = hits / max(n_tail, 1)
    precision = np.where(n_flag > 0, hits / np.maximum(n_flag, 1), 0.0)
    good = np.flatnonzero(recall >= target_recall - 1e-12)
    if good.size:
        best = good[np.argmax(precision[good])]  # first max: fewest flagged
        reached = True
    else:  # pragma: no cover - the "flag everything" candidate always reaches the recall
        best = int(np.argmax(recall))
        reached = False
    thr = float(cands[best])
    cutoff = float(a[t].max()) if n_tail else float('nan')
    if reg.slope and not math.isnan(reg.slope) and not math.isnan(cutoff):
        reg_thr = (cutoff - reg.intercept) / reg.slope
        reg_recall, reg_prec = recall_precision(classify(r, reg_thr, direction), t)
    else:
        reg_thr = reg_recall = reg_prec = float('nan')
    rec, prec = recall_precision(classify(r, thr, direction), t)
    return ThresholdFit(thr, direction, rec, prec, float(n_flag[best]) / r.size, reached,
                        float(target_recall), float(tail_fraction), int(r.size), n_tail,
                        int(n_flag[best]), cutoff, reg, float(reg_thr), reg_recall, reg_prec)


def evaluate_threshold(ratios, tail, threshold, direction='below'):
    """Return ``{'threshold', 'direction', 'recall', 'precision', 'flagged_share'}``."""
    ratios = np.asarray(ratios, dtype=np.float64)
    tail = np.asarray(tail, dtype=bool)
    ok = ~np.isnan(ratios)
    flagged = classify(ratios[ok], threshold, direction)
    rec, prec = recall_precision(flagged, tail[ok])
    return {'threshold': float(threshold), 'direction': direction,
            'recall': _none_if_nan(rec), 'precision': _none_if_nan(prec),
            'flagged_share': float(flagged.mean()) if flagged.size else None}


def per_scale_summary(samples, target_recall=DEFAULT_TARGET_RECALL,
                      tail_fraction=DEFAULT_TAIL_FRACTION, direction='auto',
                      reference_threshold=0.01):
    """
    Fit the threshold per scale and over all scales pooled (the data of paper Fig. 8).

    ``samples`` maps ``scale -> (ratios, accuracies)`` (1-D arrays, one entry per profiled
    frame and quality at that scale).  Tail frames are the worst ``tail_fraction`` within each
    scale, also in the pooled fit, whose threshold is the one to give the cloud.  Each entry
    also reports recall and precision of ``reference_threshold`` (the paper's 1 %) with the
    fitted direction.  Returns ``{'scales': {scale: fit dict}, 'pooled': fit dict}``.
    """
    out = {'scales': {}}
    all_r, all_a, all_g = [], [], []
    for scale in sorted(samples):
        ratios, accs = (np.asarray(v, dtype=np.float64) for v in samples[scale])
        fit = fit_threshold(ratios, accs, target_recall, tail_fraction, direction)
        entry = fit.as_dict()
        tail = tail_mask(np.where(np.isnan(ratios), np.nan, accs), tail_fraction)
        entry['reference'] = evaluate_threshold(ratios, tail, reference_threshold,
                                                fit.direction)
        out['scales'][int(scale)] = entry
        all_r.append(ratios)
        all_a.append(accs)
        all_g.append(np.full(ratios.shape, int(scale)))
    if all_r:
        r, a, g = np.concatenate(all_r), np.concatenate(all_a), np.concatenate(all_g)
        fit = fit_threshold(r, a, target_recall, tail_fraction, direction, groups=g)
        entry = fit.as_dict()
        tail = tail_mask(np.where(np.isnan(r), np.nan, a), tail_fraction, g)
        entry['reference'] = evaluate_threshold(r, tail, reference_threshold, fit.direction)
        out['pooled'] = entry
    return out


def plot_per_scale(samples, summary, path, tail_fraction=DEFAULT_TAIL_FRACTION,
                   xlabel='small-region ratio (%)', ylabel='frame mIoU (%)'):
    """
    Draw the Fig. 8-shaped plot and write it as a PNG to ``path``.

    Per scale: frame accuracy vs small-region ratio, tail frames as red crosses, the fitted
    threshold and the regression line.  ``xlabel`` and ``ylabel`` name the axes (both in %),
    e.g. the small-box share and AP50 of detection.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    scales = sorted(samples)
    fig, axes = plt.subplots(1, max(1, len(scales)), figsize=(4 * max(1, len(scales)), 3.4),
                             squeeze=False)
    for ax, scale in zip(axes[0], scales):
        r, a = (np.asarray(v, dtype=np.float64) for v in samples[scale])
        tail = tail_mask(np.where(np.isnan(r), np.nan, a), tail_fraction)
        fit = summary['scales'][int(scale)]
        ax.scatter(100 * r[~tail], 100 * a[~tail], s=8, c='tab:blue', alpha=0.6,
                   label='other frames')
        ax.scatter(100 * r[tail], 100 * a[tail], s=24, c='red', marker='x',
                   label='tail frames')
        ax.axvline(100 * fit['threshold'], color='k', ls='--',
                   label=f'threshold {100 * fit["threshold"]:.2f}%')
        reg = fit['regression']
        if reg['slope'] is not None and np.isfinite(r).any():
            xs = np.linspace(np.nanmin(r), np.nanmax(r), 2)
            ax.plot(100 * xs, 100 * (reg['slope'] * xs + reg['intercept']), color='gray',
                    lw=1, label=f'fit r={reg["r"] if reg["r"] is not None else float("nan"):.2f}')
        rec = fit['recall'] if fit['recall'] is not None else float('nan')
        prec = fit['precision'] if fit['precision'] is not None else float('nan')
        ax.set_title(f'x{scale}: recall {100 * rec:.0f}%, precision {100 * prec:.0f}%',
                     fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
