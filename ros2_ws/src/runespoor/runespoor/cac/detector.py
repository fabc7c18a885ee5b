# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Tail-frame detectors fitted on profiling data, and how to judge them on a held-out clip.

Two detectors read the same analytics output (no extra DNN work):

* :class:`RatioDetector` — the paper's rule (§3.2): tail when the small-region ratio of the
  predicted map is below (or, when the data say so, above) a threshold fitted by
  :func:`runespoor.cac.tail.fit_threshold`.  One threshold per scale (paper Fig. 8).
* :class:`FittedDetector` — beyond the paper: per scale, an L2 logistic regression
  (:mod:`runespoor.cac.logistic`) on the summary features of the forward pass
  (:mod:`runespoor.tail_features`: small-region ratio and count, mean top probability,
  low-confidence share, margin, entropy, boundary share, class histogram), with a probability
  threshold.

Fitting (:func:`fit_fitted_detector`) chooses, per scale, the feature set and the L2 strength
by K-fold cross-validation over *frames* (all configs of one frame stay in one fold): the
candidate whose out-of-fold scores reach ``target_recall`` with the best precision wins, and the
threshold is the one chosen on those out-of-fold scores.  The held-out clip is never used for
any choice; :func:`evaluate` reports recall and precision on it.

A rule that flags (almost) every frame reaches any recall; it is reported as *degenerate*
(:func:`degenerate_reason`), never passed off as a detector: the fit says so in
``degenerate``/``warning`` and a fitted candidate that is degenerate loses to one that is not.

Both tasks: segmentation reads :func:`runespoor.tail_features.seg_features` (signal: the
small-region ratio), detection :func:`runespoor.tail_features.det_features` (signal: the
small-box share; box counts by size and class, score statistics).  The measurements'
``settings['task']`` says which (default segmentation); the fitted model records it, and the
cloud pipeline refuses to run a model of another task.

Tail frames (:func:`tail_labels`): the worst ``tail_fraction`` (10 %) of the frames *at each
configuration* ``(scale, quality)``: at a given bandwidth the edge sends one configuration, and
the tail is the worst frames of that stream.
"""

from dataclasses import dataclass, field
import json
import math

import numpy as np

from runespoor.cac import tail as tailmod
from runespoor.cac.logistic import fit_logistic, LogisticModel
from runespoor.tail_features import derived_names, with_derived

#: Detector kinds (the cloud's ``tail_detector`` parameter).
DETECTORS = ('ratio', 'fitted')
#: A rule is degenerate when it flags at least this share of the frames ...
DEGENERATE_FLAGGED_SHARE = 0.95
#: ... or its precision is at most this multiple of the tail base rate (no better than chance).
DEGENERATE_LIFT = 1.1
#: Largest tail-model JSON file the cloud reads [bytes].
MAX_MODEL_BYTES = 1 << 20
FORMAT = 'runespoor-tail-detector'
FORMAT_VERSION = 1


def tail_task(name, what='measurements'):
    """
    Return the registered task ``name`` whose analytics give tail features.

    Only registered names (``runespoor.tasks.TASKS``): a name read from a file never imports
    a plug-in.  Raises ``ValueError`` naming the tasks that have tail features.
    """
    from runespoor.tasks import TASKS
    task = TASKS.get(str(name))
    if task is None or not task.fitted_tail:
        known = [n for n, t in TASKS.items() if t.fitted_tail]
        raise ValueError(f'{what}: task {name!r} has no tail detector; the tail detectors '
                         f'know {", ".join(known)}')
    return task


def task_of(meas):
    """Return the task of measurements ``meas`` (``settings['task']``, default segmentation)."""
    return tail_task((meas.settings or {}).get('task', 'segmentation')).name


def degenerate_reason(flagged_share, precision, base_rate):
    """Return why a rule is degenerate (flags ~everything / no better than chance) or None."""
    if flagged_share is None or (isinstance(flagged_share, float) and math.isnan(flagged_share)):
        return 'flags no frame with a defined signal'
    if flagged_share >= DEGENERATE_FLAGGED_SHARE:
        return f'flags {100 * flagged_share:.0f} % of the frames'
    if precision is None or (isinstance(precision, float) and math.isnan(precision)):
        return 'flags no frame'
    if base_rate > 0 and precision <= DEGENERATE_LIFT * base_rate:
        return (f'precision {100 * precision:.1f} % is no better than the tail base rate '
                f'{100 * base_rate:.1f} %')
    return None


def choose_threshold(scores, tail, target_recall=tailmod.DEFAULT_TARGET_RECALL):
    """
    Return ``{'threshold', 'recall', 'precision', 'flagged_share', ...}`` for "tail if score > t".

    Of the thresholds (half-way between observed scores) whose recall reaches
    ``target_recall``, the one with the best precision (ties: the fewest frames flagged).
    ``degenerate`` holds :func:`degenerate_reason` of the choice.
    """
    scores = np.asarray(scores, dtype=np.float64)
    tail = np.asarray(tail, dtype=bool)
    ok = np.isfinite(scores)
    s, t = scores[ok], tail[ok]
    if s.size == 0 or not t.any():
        raise ValueError('need scores and at least one tail frame to choose a threshold')
    fit = tailmod.fit_threshold(s, np.where(t, 0.0, 1.0), target_recall, direction='above',
                                tail=t)
    base = float(t.mean())
    out = {'threshold': fit.threshold, 'recall': fit.recall, 'precision': fit.precision,
           'flagged_share': fit.flagged_share, 'reached': fit.reached, 'n': fit.n,
           'n_tail': fit.n_tail, 'base_rate': base}
    out['degenerate'] = degenerate_reason(fit.flagged_share, fit.precision, base)
    return out


def tail_labels(accuracy, configs, fraction=tailmod.DEFAULT_TAIL_FRACTION):
    """Return the ``configs x frames`` tail mask: the worst ``fraction`` at each config."""
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.shape[0] != len(configs):
        raise ValueError(f'{acc.shape[0]} accuracy rows for {len(configs)} configs')
    return np.stack([tailmod.tail_mask(row, fraction) for row in acc])


def _rows(meas, scale, values):
    """Return the rows of ``values`` (configs x frames [x F]) at ``scale``, flattened."""
    idx = [i for i, (s, _) in enumerate(meas.configs) if s == scale]
    v = np.asarray(values)[idx]
    return v.reshape((-1,) + v.shape[2:])


def _frame_ids(meas, scale):
    n_q = sum(1 for s, _ in meas.configs if s == scale)
    return np.tile(np.arange(len(meas.frames)), n_q)


def _feature(meas, name):
    return meas.features[:, :, list(meas.feature_names).index(name)]


def _scales(meas):
    return sorted({s for s, _ in meas.configs})


# --------------------------------------------------------------------------- detectors


@dataclass
class RatioDetector:
    """The paper's rule: tail when the small-region ratio is below/above a per-scale threshold."""

    thresholds: dict                 # scale -> threshold (0..1)
    direction: dict                  # scale -> 'below' | 'above'
    pooled_threshold: float = 0.01
    pooled_direction: str = 'below'
    small_region_fraction: float = 0.001
    kind: str = 'ratio'
    signal_name: str = 'small_region_ratio'

    def signal(self, features, names, scale):
        """Return the tail signal, feature :attr:`signal_name` of a vector (or a float)."""
        if np.ndim(features) == 0:
            return float(features)
        return float(np.asarray(features)[list(names).index(self.signal_name)])

    def is_tail(self, ratio, scale=None):
        """Return True if a frame of ``ratio`` at ``scale`` is flagged."""
        thr = self.thresholds.get(int(scale), self.pooled_threshold) if scale else \
            self.pooled_threshold
        direction = self.direction.get(int(scale), self.pooled_direction) if scale else \
            self.pooled_direction
        return bool(tailmod.classify([ratio], thr, direction)[0])


@dataclass
class FittedDetector:
    """Per-scale logistic models on the summary features, each with a probability threshold."""

    models: dict                     # scale -> LogisticModel
    thresholds: dict                 # scale -> probability threshold (tail if p > t)
    feature_names: tuple             # the analyser's full feature order
    small_region_fraction: float = 0.001
    meta: dict = field(default_factory=dict)
    kind: str = 'fitted'
    task: str = 'segmentation'

    @property
    def signal_name(self):
        """Return the name of the feature the task's paper-style rule reads (the signal)."""
        from runespoor.tasks import TASKS
        task = TASKS.get(self.task)
        return task.signal_name if task is not None else 'small_region_ratio'

    def _model(self, scale):
        scale = int(scale)
        if scale in self.models:
            return scale, self.models[scale]
        # an unprofiled scale: the nearest profiled one
        near = min(self.models, key=lambda s: (abs(s - scale), s))
        return near, self.models[near]

    def _inputs(self, features, model):
        x = np.asarray(features, dtype=np.float64)
        names = list(self.feature_names)
        if any(n not in names for n in model.feature_names) and \
                any(n.startswith('class_share_') for n in names):
            x, names = with_derived(x, self.feature_names)
            names = list(names)
        return x[..., [names.index(n) for n in model.feature_names]]

    def probability(self, features, scale):
        """Return ``p(tail)`` of one frame's feature vector (the analyser's order) at ``scale``."""
        _, model = self._model(scale)
        return float(model.predict_proba(self._inputs(features, model)))

    def scores(self, features, scale):
        """Return ``p(tail)`` for rows of features (N x F) at ``scale``."""
        _, model = self._model(scale)
        return model.predict_proba(self._inputs(features, model))

    def threshold_for(self, scale):
        """Return the probability threshold used at ``scale`` (nearest profiled scale)."""
        return self.thresholds[self._model(scale)[0]]

    def is_tail(self, features, scale):
        """Return True if the frame is flagged: ``p(tail) > threshold`` of its scale."""
        key, _ = self._model(scale)
        return self.probability(features, scale) > self.thresholds[key]

    def to_dict(self):
        """Return the JSON document (format ``runespoor-tail-detector`` v1)."""
        return {'format': FORMAT, 'version': FORMAT_VERSION, 'kind': 'fitted',
                'task': self.task, 'feature_names': list(self.feature_names),
                'small_region_fraction': float(self.small_region_fraction),
                'scales': {str(s): {'model': self.models[s].to_dict(),
                                    'threshold': float(self.thresholds[s])}
                           for s in sorted(self.models)},
                'meta': self.meta}

    @classmethod
    def from_dict(cls, data):
        """Rebuild from :meth:`to_dict`; raise ``ValueError`` on anything else."""
        if not isinstance(data, dict) or data.get('format') != FORMAT:
            raise ValueError(f'not a {FORMAT} document')
        if int(data.get('version', -1)) != FORMAT_VERSION:
            raise ValueError(f'{FORMAT} version {data.get("version")!r}, expected '
                             f'{FORMAT_VERSION}')
        names = tuple(str(n) for n in data['feature_names'])
        task = tail_task(data.get('task', 'segmentation'), 'tail model').name
        models, thresholds = {}, {}
        for key, entry in data['scales'].items():
            model = LogisticModel.from_dict(entry['model'])
            known = names + (derived_names(names) if any(
                n.startswith('class_share_') for n in names) else ())
            missing = [n for n in model.feature_names if n not in known]
            if missing:
                raise ValueError(f'scale x{key}: model features {missing} not in the feature '
                                 f'list')
            thr = float(entry['threshold'])
            if not math.isfinite(thr):
                raise ValueError(f'scale x{key}: non-finite threshold')
            models[int(key)] = model
            thresholds[int(key)] = thr
        if not models:
            raise ValueError('tail detector without any scale')
        return cls(models, thresholds, names, float(data.get('small_region_fraction', 0.001)),
                   dict(data.get('meta') or {}), task=task)

    def save(self, path):
        """Write the JSON document to ``path``."""
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls, path):
        """Read a tail-model JSON file through :mod:`runespoor.safe_files` (bounded, regular)."""
        from runespoor.safe_files import read_text_file
        text = read_text_file(path, MAX_MODEL_BYTES, what='tail model file', empty_ok=False)
        try:
            return cls.from_dict(json.loads(text))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f'tail model file {path}: {exc}') from exc


# --------------------------------------------------------------------------- fitting

L2_GRID = (0.1, 1.0, 10.0, 100.0)


#: Frames of one clip closer than this share a cross-validation fold (hard stretches last
#: 12-50 frames: neighbours in other folds would leak).
BLOCK_FRAMES = 40


def frame_groups(names, block=BLOCK_FRAMES):
    """
    Return one group id per frame name for cross-validation.

    Cityscapes-style names ``<city>/<city>_<seq>_<frame>``: frames of one sequence within
    ``block`` frames of each other share a group; independent snapshots get their own.
    """
    keys, out = {}, []
    for name in names:
        stem = str(name).rsplit('/', 1)[-1]
        parts = stem.split('_')
        try:
            key = ('_'.join(parts[:-1]), int(parts[-1]) // block)
        except (ValueError, IndexError):
            key = (stem, 0)
        out.append(keys.setdefault(key, len(keys)))
    return np.array(out, dtype=np.int64)


def _folds(frame_ids, k, seed=0):
    frames = np.unique(frame_ids)
    rng = np.random.default_rng(seed)
    order = rng.permutation(frames)
    return [np.isin(frame_ids, order[i::k]) for i in range(k)]


def _out_of_fold(x, y, frame_ids, l2, k):
    scores = np.full(y.shape, np.nan)
    for test in _folds(frame_ids, k):
        train = ~test
        if y[train].all() or not y[train].any():
            continue
        model = fit_logistic(x[train], y[train], l2)
        scores[test] = model.predict_proba(x[test])
    return scores


def _rank(candidate):
    """Sort key: non-degenerate first, then reached recall, then precision, fewer flagged."""
    op = candidate['cv']
    return (op['degenerate'] is None, bool(op['reached']), op['precision'],
            -op['flagged_share'], -len(candidate['features']))


def fit_fitted_detector(meas, tail, target_recall=tailmod.DEFAULT_TARGET_RECALL,
                        feature_sets=None, l2_grid=L2_GRID, folds=5, groups=None):
    """
    Fit a :class:`FittedDetector` on profiling measurements with features.

    Its arguments:
        meas: :class:`runespoor.cac.profiling.Measurements` with ``features``.
        tail: ``configs x frames`` tail mask (:func:`tail_labels`).
        target_recall: recall the chosen threshold must reach on out-of-fold scores.
        feature_sets: ``{name: feature names or None (all)}`` to try (default: the task's,
            ``Task.tail_feature_sets``).
        l2_grid: L2 strengths to try.
        folds: K of the K-fold cross-validation over frames.
        groups: one group id per frame (default :func:`frame_groups` of the names): frames of
            a group stay in one fold.

    Returns ``(detector, report)``; ``report[scale]`` lists every candidate's out-of-fold
    operating point and names the chosen one (a degenerate choice carries a ``warning``).
    """
    if meas.features is None:
        raise ValueError('measurements have no features (profile with --features)')
    base = tuple(meas.feature_names)
    feats, names = meas.features, base
    if any(n.startswith('class_share_') for n in base):
        feats, names = with_derived(meas.features, base)
    task = tail_task(task_of(meas))
    sets = task.feature_sets() if feature_sets is None else feature_sets
    groups = frame_groups(meas.frames) if groups is None else np.asarray(groups)
    models, thresholds, report = {}, {}, {}
    for scale in _scales(meas):
        x_all = _rows(meas, scale, feats)
        y = _rows(meas, scale, tail).astype(bool)
        fid = groups[_frame_ids(meas, scale)]
        cands = []
        for set_name, cols in sets.items():
            cols = names if cols is None else tuple(c for c in cols if c in names)
            if not cols or (set_name != 'all' and len(cols) < len(sets[set_name])
                            and set_name != 'ratio'):
                continue  # the analyser did not record this set's features
            x = x_all[:, [names.index(c) for c in cols]]
            for l2 in l2_grid:
                oof = _out_of_fold(x, y, fid, l2, folds)
                ok = np.isfinite(oof)
                cands.append({'set': set_name, 'features': cols, 'l2': float(l2),
                              'cv': choose_threshold(oof[ok], y[ok], target_recall)})
        best = max(cands, key=_rank)
        cols = best['features']
        x = x_all[:, [names.index(c) for c in cols]]
        model = fit_logistic(x, y, best['l2'], feature_names=cols)
        models[scale] = model
        thresholds[scale] = float(best['cv']['threshold'])
        entry = {'chosen': {'set': best['set'], 'l2': best['l2'], 'cv': best['cv']},
                 'candidates': [{'set': c['set'], 'l2': c['l2'], 'cv': c['cv']}
                                for c in cands],
                 'coef': dict(zip(cols, model.coef.round(4).tolist()))}
        if best['cv']['degenerate']:
            entry['warning'] = f'x{scale}: every candidate is degenerate ' \
                               f'({best["cv"]["degenerate"]})'
        report[scale] = entry
    meta = {'target_recall': target_recall, 'folds': folds, 'frames': len(meas.frames)}
    meta.update({k: meas.settings[k] for k in task.tail_settings if k in meas.settings})
    det = FittedDetector(models, thresholds, base,
                         float(meas.settings.get('small_region_fraction', 0.001)), meta,
                         task=task.name)
    return det, report


def fit_ratio_detector(meas, tail, target_recall=tailmod.DEFAULT_TARGET_RECALL):
    """
    Fit the paper's rule per scale and pooled; return ``(RatioDetector, report)``.

    ``report[scale]`` / ``report['pooled']`` is :meth:`ThresholdFit.as_dict` plus
    ``degenerate`` (:func:`degenerate_reason`).
    """
    thresholds, direction, report = {}, {}, {}
    all_r, all_a, all_t = [], [], []
    for scale in _scales(meas):
        r = _rows(meas, scale, meas.ratio)
        a = _rows(meas, scale, meas.accuracy)
        t = _rows(meas, scale, tail).astype(bool)
        fit = tailmod.fit_threshold(r, a, target_recall, tail=t)
        thresholds[scale], direction[scale] = fit.threshold, fit.direction
        report[scale] = _with_degenerate(fit)
        all_r.append(r)
        all_a.append(a)
        all_t.append(t)
    fit = tailmod.fit_threshold(np.concatenate(all_r), np.concatenate(all_a), target_recall,
                                tail=np.concatenate(all_t))
    report['pooled'] = _with_degenerate(fit)
    det = RatioDetector(thresholds, direction, fit.threshold, fit.direction,
                        float(meas.settings.get('small_region_fraction', 0.001)),
                        signal_name=tail_task(task_of(meas)).signal_name)
    return det, report


def _with_degenerate(fit):
    out = fit.as_dict()
    base = fit.n_tail / fit.n if fit.n else float('nan')
    out['base_rate'] = base
    out['degenerate'] = degenerate_reason(fit.flagged_share, fit.precision, base)
    if out['degenerate']:
        out['warning'] = f'degenerate rule: {out["degenerate"]}'
    return out


# --------------------------------------------------------------------------- evaluation


def detector_scores(detector, meas, scale):
    """Return the per-row signal of ``detector`` at ``scale`` (ratio or ``p(tail)``)."""
    if detector.kind == 'ratio':
        return _rows(meas, scale, meas.ratio)
    return detector.scores(_rows(meas, scale, meas.features), scale)


def detector_flags(detector, meas, scale):
    """Return the per-row flags of ``detector`` at ``scale``."""
    s = detector_scores(detector, meas, scale)
    if detector.kind == 'ratio':
        return tailmod.classify(s, detector.thresholds[scale], detector.direction[scale])
    return s > detector.thresholds[detector._model(scale)[0]]


def _point(flags, tail):
    rec, prec = tailmod.recall_precision(flags, tail)
    base = float(np.mean(tail)) if tail.size else float('nan')
    share = float(np.mean(flags)) if flags.size else float('nan')
    return {'recall': _nan_none(rec), 'precision': _nan_none(prec), 'flagged_share': share,
            'base_rate': base, 'n': int(tail.size), 'n_tail': int(tail.sum()),
            'n_flagged': int(flags.sum()),
            'degenerate': degenerate_reason(share, prec, base)}


def _nan_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def evaluate(detector, meas, tail):
    """Return ``{'scales': {scale: point}, 'pooled': point}`` of ``detector`` on ``meas``."""
    out, flags_all, tail_all = {'scales': {}}, [], []
    for scale in _scales(meas):
        f = detector_flags(detector, meas, scale)
        t = _rows(meas, scale, tail).astype(bool)
        out['scales'][int(scale)] = _point(f, t)
        flags_all.append(f)
        tail_all.append(t)
    out['pooled'] = _point(np.concatenate(flags_all), np.concatenate(tail_all))
    return out
