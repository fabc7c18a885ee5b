# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Tail-aware offline profiling (paper §3.2): knobs x frames -> bytes, accuracy, small regions.

:func:`measure` applies every configuration ``(scale, jpeg_quality)`` to every profiled frame
exactly as the edge does (:func:`runespoor.codec.encode_frame`), decodes it, hands the
low-resolution frame to an ``analyse(lr_bgr, scale) -> train-id map`` callable (the cloud's
reconstruction + analytics model; tests pass a tiny fake) and records per frame

* the JPEG size in bytes,
* the accuracy: mIoU of the prediction against the label (``reference='label'``) or against
  the prediction on the original frame (``reference='hr'``, the paper's §5.3 baseline; label
  ignore pixels are masked when a label exists),
* the small-region ratio of the prediction (:func:`runespoor.regions.small_region_ratio`), the
  statistic the cloud thresholds online.

:func:`analyse_measurements` then splits the frames into tail frames (the worst
``tail_fraction`` by accuracy averaged over all configurations, one fixed set so every
configuration is compared on the same frames) and the rest, picks per bandwidth target the
standard config (best accuracy on ordinary frames within the budget) and the tail-specific
config (best accuracy on tail frames within the same budget) with
:mod:`runespoor.cac.selection`, and fits the tail-frame threshold per scale and pooled with
:mod:`runespoor.cac.tail`.  :func:`write_outputs` writes the edge's profile YAML, the raw
measurements and the summary as JSON, and the plots.

Bandwidth targets are given as Mbit/s for a *reference* frame size (2048x1024, as the paper
states them) and scaled by the pixel ratio to the profiled frames (JPEG bytes grow about
linearly with pixels; SPEC §3): 10 Mbit/s at 2048x1024 is 625 kbit/s at 512x256.  That
under-counts the fixed JPEG overhead of tiny frames (x8 of 512x256 is 64x32 pixels, ~1 KB at
q40 where the pixel ratio predicts ~0.2 KB), so ``reference_size=None`` takes the targets as
rates of the profiled frames themselves.  The YAML
holds the measured rates of the profiled size with that size as ``source_width/height``, so
:meth:`runespoor.edge_control.ProfileTable.lookup` scales them to any camera.
"""

from dataclasses import asdict, dataclass, field
import inspect
import json
import math
import os
import time

import numpy as np

from runespoor import codec
from runespoor.cac import selection, tail as tailmod
from runespoor.regions import DEFAULT_MAX_AREA_FRACTION, small_region_ratio
from runespoor.tail_features import AnalysisOutput

DEFAULT_SCALES = (2, 4, 6, 8)
DEFAULT_QUALITIES = (40, 50, 60, 70, 80, 90)
#: Nominal bandwidth targets [Mbit/s] at the reference size (paper §5.3 spans 2-10).
DEFAULT_BANDWIDTHS_MBIT = (1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
DEFAULT_FPS = 17.0
REFERENCE_SIZE = (2048, 1024)
REFERENCES = ('label', 'hr')


class ProfilingError(RuntimeError):
    """Profiling that cannot run or produced nothing usable; the message says why."""


@dataclass
class ProfileSettings:
    """What to profile and how to choose (the ``runespoor profile`` options)."""

    scales: tuple = DEFAULT_SCALES
    qualities: tuple = DEFAULT_QUALITIES
    bandwidths_mbit: tuple = DEFAULT_BANDWIDTHS_MBIT
    fps: float = DEFAULT_FPS
    reference_size: tuple = REFERENCE_SIZE      # (w, h) the bandwidths refer to; None: own
    reference: str = 'label'                    # accuracy against 'label' or 'hr'
    tail_fraction: float = tailmod.DEFAULT_TAIL_FRACTION
    target_recall: float = tailmod.DEFAULT_TARGET_RECALL
    small_region_fraction: float = DEFAULT_MAX_AREA_FRACTION
    num_classes: int = 19
    name: str = 'profiled'
    #: tail config at most this much dearer than the standard one on the same frames (None:
    #: the older rule, best on tail frames within the budget)
    tail_bytes_tolerance: float = selection.DEFAULT_BYTES_TOLERANCE
    notes: dict = field(default_factory=dict)   # free-form provenance (models, data)

    def check(self):
        """Raise :class:`ProfilingError` on unusable settings; return self."""
        try:
            for s in self.scales:
                codec.check_scale(s)
            for q in self.qualities:
                codec.check_quality(q)
        except codec.CodecError as exc:
            raise ProfilingError(str(exc)) from exc
        if not self.scales or not self.qualities:
            raise ProfilingError('need at least one scale and one quality')
        if self.reference not in REFERENCES:
            raise ProfilingError(f'reference {self.reference!r}: use label or hr')
        if not self.fps > 0:
            raise ProfilingError(f'fps {self.fps!r} must be > 0')
        if not self.bandwidths_mbit or min(self.bandwidths_mbit) <= 0:
            raise ProfilingError('bandwidth targets must be a non-empty list of values > 0')
        if self.reference_size is not None and min(self.reference_size) <= 0:
            raise ProfilingError(f'reference size {self.reference_size} must be positive')
        return self

    @property
    def configs(self):
        """Return the ``(scale, quality)`` pairs in profiling order."""
        return [(int(s), int(q)) for s in self.scales for q in self.qualities]


def frame_accuracy(pred, reference, num_classes=19):
    """Return the mIoU (0..1) of one predicted map against a reference map (NaN: undefined)."""
    from runespoor.metrics.segmentation import confusion_matrix, mean_iou
    return float(mean_iou(confusion_matrix(reference, pred, num_classes)))


def fit_shape(pred, shape):
    """Return ``pred`` resized (nearest) to ``shape[:2]`` if its size differs."""
    pred = np.asarray(pred)
    if pred.shape[:2] == tuple(shape[:2]):
        return pred
    import cv2
    return cv2.resize(pred.astype(np.uint8), (shape[1], shape[0]),
                      interpolation=cv2.INTER_NEAREST)


def _size_aware(analyse):
    """Return True if ``analyse`` takes a ``size`` argument (the source size ``(H, W)``)."""
    try:
        params = inspect.signature(analyse).parameters
    except (TypeError, ValueError):
        return False
    return 'size' in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def analyser(analyse):
    """
    Wrap ``analyse`` as ``f(image, scale, size) -> map of size (H, W)``.

    ``size`` is passed on only if ``analyse`` accepts it; a map of another size is resized.
    """
    with_size = _size_aware(analyse)

    def call(image, scale, size):
        pred = analyse(image, scale, size=size) if with_size else analyse(image, scale)
        if isinstance(pred, AnalysisOutput):
            return AnalysisOutput(fit_shape(pred.labels, size), pred.features)
        return fit_shape(pred, size)
    return call


def _split(out):
    """Return ``(labels, features or None)`` of an analyser's output."""
    if isinstance(out, AnalysisOutput):
        return out.labels, np.asarray(out.features, dtype=np.float64)
    return out, None


@dataclass
class Measurements:
    """Per-frame, per-config profiling results (arrays are ``configs x frames``)."""

    frames: list
    configs: list                 # [(scale, quality), ...]
    nbytes: np.ndarray            # JPEG bytes
    accuracy: np.ndarray          # mIoU 0..1 (NaN: undefined)
    ratio: np.ndarray             # small-region ratio 0..1 of the prediction
    source_size: tuple            # (width, height) of the profiled frames
    hr_ratio: np.ndarray = None   # small-region ratio of the prediction on the original
    hr_accuracy: np.ndarray = None  # mIoU of the prediction on the original vs label
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    #: configs x frames x F summary features of each analysis (None: the analyser gave none)
    features: np.ndarray = None
    feature_names: tuple = ()
    #: mIoU against the label when ``accuracy`` is against the HR prediction (else None)
    accuracy_label: np.ndarray = None

    def table(self):
        """Return ``{(scale, quality): {'bytes', 'accuracy'}}`` for :mod:`selection`."""
        return {c: {'bytes': self.nbytes[i], 'accuracy': self.accuracy[i]}
                for i, c in enumerate(self.configs)}

    def to_json(self):
        """Return a JSON-ready dict of everything measured."""
        def arr(values):
            return None if values is None else [
                None if isinstance(v, float) and math.isnan(v) else v
                for v in np.asarray(values, dtype=np.float64).tolist()]
        return {'frames': list(self.frames), 'source_size': list(self.source_size),
                'settings': self.settings, 'seconds': self.seconds,
                'configs': [{'scale': s, 'quality': q, 'bytes': arr(self.nbytes[i]),
                             'accuracy': arr(self.accuracy[i]), 'ratio': arr(self.ratio[i])}
                            for i, (s, q) in enumerate(self.configs)],
                'hr': {'accuracy': arr(self.hr_accuracy), 'ratio': arr(self.hr_ratio)},
                'feature_names': list(self.feature_names),
                'features': (None if self.features is None else
                             np.round(self.features, 7).tolist()),
                'accuracy_label': (None if self.accuracy_label is None else
                                   [arr(row) for row in self.accuracy_label])}

    @classmethod
    def from_json(cls, data):
        """Rebuild from :meth:`to_json` output."""
        def arr(values):
            return None if values is None else np.array(
                [np.nan if v is None else v for v in values], dtype=np.float64)
        rows = data['configs']
        return cls(list(data['frames']), [(int(r['scale']), int(r['quality'])) for r in rows],
                   np.stack([arr(r['bytes']) for r in rows]),
                   np.stack([arr(r['accuracy']) for r in rows]),
                   np.stack([arr(r['ratio']) for r in rows]),
                   tuple(data['source_size']), arr(data['hr']['ratio']),
                   arr(data['hr']['accuracy']), data.get('settings', {}),
                   float(data.get('seconds', 0.0)),
                   None if data.get('features') is None else
                   np.array(data['features'], dtype=np.float64),
                   tuple(data.get('feature_names') or ()),
                   None if data.get('accuracy_label') is None else
                   np.stack([arr(row) for row in data['accuracy_label']]))

    @classmethod
    def concat(cls, parts):
        """Return the frames of several measurements of the same configs as one."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        for m in parts[1:]:
            if list(m.configs) != list(first.configs) or \
                    tuple(m.feature_names) != tuple(first.feature_names) or \
                    tuple(m.source_size) != tuple(first.source_size):
                raise ValueError('measurements of different configs, features or frame sizes')

        def cat(name, axis=1):
            values = [getattr(m, name) for m in parts]
            return None if any(v is None for v in values) else np.concatenate(values, axis)
        return cls([f for m in parts for f in m.frames], list(first.configs), cat('nbytes'),
                   cat('accuracy'), cat('ratio'), first.source_size, cat('hr_ratio', 0),
                   cat('hr_accuracy', 0), dict(first.settings),
                   float(sum(m.seconds for m in parts)), cat('features'),
                   first.feature_names, cat('accuracy_label'))

    def subset(self, keep):
        """Return the measurements of the frames where ``keep`` (N booleans) is True."""
        keep = np.asarray(keep, dtype=bool)

        def cut(a, axis=1):
            return None if a is None else np.compress(keep, a, axis=axis)
        return Measurements([f for f, k in zip(self.frames, keep) if k], list(self.configs),
                            cut(self.nbytes), cut(self.accuracy), cut(self.ratio),
                            self.source_size, cut(self.hr_ratio, 0), cut(self.hr_accuracy, 0),
                            dict(self.settings), self.seconds, cut(self.features),
                            self.feature_names, cut(self.accuracy_label))


def measure(frames, analyse, settings=None, progress=None, cache_dir=None, feature_names=()):
    """
    Profile every configuration of ``settings`` on ``frames``.

    Its arguments:
        frames: iterable of ``(name, image_bgr uint8 HxWx3, label train-id HxW or None)``,
            all of one size.
        analyse: callable ``analyse(lr_bgr, scale) -> H x W train-id map`` (optionally with a
            ``size=(H, W)`` keyword for the source size), or returning an
            :class:`runespoor.tail_features.AnalysisOutput` (map + summary features of the same
            forward pass, kept in :attr:`Measurements.features`).  ``scale == 1`` gets the
            original frame.  A map of another size is resized (nearest) to the frame size.
        settings: :class:`ProfileSettings`.
        progress: optional callable ``progress(done_frames, name)``.
        cache_dir: optional folder; each frame's results are stored there as JSON and reused
            by a later run with the same settings (long profiling runs resume).
        feature_names: names of the analyser's features (stored with them).

    Returns :class:`Measurements`.
    """
    settings = (settings or ProfileSettings()).check()
    run = analyser(analyse)
    configs = settings.configs
    cache = FrameCache(cache_dir, settings) if cache_dir else None
    names, cols = [], []
    source = None
    t0 = time.perf_counter()
    for name, image, label in frames:
        codec.check_image(image)
        h, w = image.shape[:2]
        if source is None:
            source = (w, h)
        elif source != (w, h):
            raise ProfilingError(f'frame {name} is {w}x{h}, earlier frames {source[0]}x'
                                 f'{source[1]}: profile one frame size at a time')
        item = cache.get(name) if cache else None
        if item is None:
            item = _measure_frame(name, image, label, run, settings)
            if cache:
                cache.put(name, item)
        names.append(str(name))
        cols.append(item)
        if progress is not None:
            progress(len(names), name)
    if not names:
        raise ProfilingError('no frames to profile')
    data = np.array([c['col'] for c in cols], dtype=np.float64)  # N x C x 3
    hr = np.array([c['hr'] for c in cols], dtype=np.float64)
    feats = None
    if all(c.get('features') is not None for c in cols):
        feats = np.array([c['features'] for c in cols], dtype=np.float64).transpose(1, 0, 2)
    acc_label = None
    if all(c.get('acc_label') is not None for c in cols):
        acc_label = np.array([c['acc_label'] for c in cols], dtype=np.float64).T.copy()
    return Measurements(names, configs, data[:, :, 0].T.copy(), data[:, :, 1].T.copy(),
                        data[:, :, 2].T.copy(), source, hr[:, 0], hr[:, 1],
                        _settings_dict(settings), time.perf_counter() - t0, feats,
                        tuple(feature_names) if feats is not None else (), acc_label)


def _measure_frame(name, image, label, run, settings):
    """Return ``{'col', 'hr', 'features', 'acc_label'}`` of one frame over all configs."""
    h, w = image.shape[:2]
    hr_pred = None
    if settings.reference == 'hr' or label is not None:
        hr_pred = _split(run(image, 1, (h, w)))[0]
    if settings.reference == 'hr':
        ref = np.array(hr_pred, copy=True)
        if label is not None:
            ref[np.asarray(label) == 255] = 255  # keep the label's void areas out
    else:
        if label is None:
            raise ProfilingError(f'frame {name} has no label; use reference "hr"')
        ref = np.asarray(label)
    col, feats, acc_label = [], [], []
    for scale, quality in settings.configs:
        enc = codec.encode_frame(image, scale, quality)
        lr = codec.decode_jpeg(enc.data)
        pred, feat = _split(run(lr, scale, (h, w)))
        feats.append(feat)
        col.append((len(enc.data), frame_accuracy(pred, ref, settings.num_classes),
                    small_region_ratio(pred, settings.small_region_fraction)))
        if settings.reference == 'hr' and label is not None:
            acc_label.append(frame_accuracy(pred, label, settings.num_classes))
    hr = (small_region_ratio(hr_pred, settings.small_region_fraction)
          if hr_pred is not None else float('nan'),
          frame_accuracy(hr_pred, label, settings.num_classes)
          if hr_pred is not None and label is not None else float('nan'))
    return {'col': col, 'hr': hr,
            'features': None if any(f is None for f in feats) else [list(f) for f in feats],
            'acc_label': acc_label if len(acc_label) == len(col) else None}


class FrameCache:
    """Per-frame profiling results as JSON files under a folder, keyed by the settings."""

    def __init__(self, folder, settings):
        import hashlib
        self.folder = folder
        key = {k: v for k, v in _settings_dict(settings).items()
               if k in ('scales', 'qualities', 'reference', 'small_region_fraction',
                        'num_classes', 'notes')}
        self.key = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()
                                ).hexdigest()[:16]
        os.makedirs(folder, exist_ok=True)

    def _path(self, name):
        import hashlib
        return os.path.join(self.folder, hashlib.sha1(str(name).encode()).hexdigest()[:20]
                            + '.json')

    def get(self, name):
        """Return the stored item of frame ``name`` for these settings, or None."""
        try:
            with open(self._path(name), encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        if data.get('key') != self.key or data.get('name') != str(name):
            return None
        return data['item']

    def put(self, name, item):
        """Store ``item`` of frame ``name`` (written to a temporary file, then renamed)."""
        path = self._path(name)
        tmp = path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump({'key': self.key, 'name': str(name), 'item': item}, f,
                      default=_json_float)
        os.replace(tmp, path)


def _json_float(value):
    return float(value)


def _settings_dict(settings):
    out = asdict(settings)
    for k, v in out.items():
        if isinstance(v, tuple):
            out[k] = list(v)
    return out


def tail_frames(meas, fraction=tailmod.DEFAULT_TAIL_FRACTION):
    """
    Return the tail-frame mask: the worst ``fraction`` of frames by mean accuracy over configs.

    One set for all configurations, so tail and standard configs are chosen on fixed frames.
    """
    acc = np.asarray(meas.accuracy, dtype=np.float64)
    valid = ~np.isnan(acc)
    mean = np.where(valid.any(0), np.where(valid, acc, 0).sum(0) / np.maximum(valid.sum(0), 1),
                    np.nan)
    return tailmod.tail_mask(mean, fraction)


def target_kbps(settings, source_size):
    """Return ``[(nominal Mbit/s, kbit/s at source_size)]`` for the settings' targets."""
    if settings.reference_size is None:  # targets are already rates of the profiled size
        return [(float(b), float(b) * 1000.0) for b in settings.bandwidths_mbit]
    ref_px = float(settings.reference_size[0] * settings.reference_size[1])
    px = float(source_size[0] * source_size[1])
    return [(float(b), float(b) * 1000.0 * px / ref_px) for b in settings.bandwidths_mbit]


def threshold_samples(meas):
    """Return ``{scale: (ratios, accuracies)}`` pooled over the qualities of each scale."""
    out = {}
    for i, (scale, _) in enumerate(meas.configs):
        r, a = out.setdefault(scale, ([], []))
        r.append(meas.ratio[i])
        a.append(meas.accuracy[i])
    return {s: (np.concatenate(r), np.concatenate(a)) for s, (r, a) in out.items()}


def analyse_measurements(meas, settings=None):
    """
    Choose configs and fit the tail threshold; return the summary dict.

    Keys: ``tail_frames`` (names), ``config_stats``, ``selections`` (per target, with the
    nominal Mbit/s), ``rows`` (profile YAML rows), ``threshold`` (per-scale and pooled fits,
    the data of paper Fig. 8), ``tail_config_shape`` (how many rows have a tail config of a
    higher resolution and a lower quality than the standard one, the paper's finding).
    """
    settings = (settings or ProfileSettings()).check()
    tail = tail_frames(meas, settings.tail_fraction)
    stats = selection.config_stats(meas.table(), tail)
    targets = target_kbps(settings, meas.source_size)
    sels = selection.select_profile(stats, [k for _, k in targets], settings.fps,
                                    settings.tail_bytes_tolerance)
    nominal = {round(k, 9): m for m, k in targets}
    sel_dicts = []
    for sel in sels:
        d = sel.as_dict()
        d['nominal_mbit'] = nominal.get(round(sel.target_kbps, 9))
        sel_dicts.append(d)
    rows = selection.profile_rows(sels)
    finer = sum(1 for r in rows if r['tail']['scale'] < r['standard']['scale'])
    same = sum(1 for r in rows if r['tail'] == r['standard'])
    threshold = tailmod.per_scale_summary(threshold_samples(meas), settings.target_recall,
                                          settings.tail_fraction)
    hr_tail = None
    if meas.hr_ratio is not None and not np.all(np.isnan(meas.hr_ratio)):
        hr_tail = tailmod.evaluate_threshold(meas.hr_ratio, tail,
                                             threshold['pooled']['threshold'],
                                             threshold['pooled']['direction'])
    return {'source_size': list(meas.source_size), 'frames': len(meas.frames),
            'tail_frames': [n for n, t in zip(meas.frames, tail) if t],
            'tail_mask': [bool(t) for t in tail],
            'config_stats': [s.as_dict() for s in stats],
            'selections': sel_dicts, 'rows': rows,
            'tail_config_shape': {'rows': len(rows), 'tail_finer_scale': finer,
                                  'tail_same_as_standard': same,
                                  'bytes_tolerance': settings.tail_bytes_tolerance,
                                  'winners_per_target': {
                                      shape: sum(1 for x in sels if x.shape == shape)
                                      for shape in selection.SHAPES}},
            'threshold': threshold, 'threshold_on_hr_prediction': hr_tail,
            'settings': _settings_dict(settings)}


def _degenerate(fit):
    """Return why the fitted rule is degenerate (``runespoor.cac.detector``) or None."""
    from runespoor.cac.detector import degenerate_reason
    base = fit['n_tail'] / fit['n'] if fit.get('n') else float('nan')
    return degenerate_reason(fit.get('flagged_share'), fit.get('precision'), base)


def profile_yaml_text(summary, settings):
    """Return the edge's profile YAML for a summary of :func:`analyse_measurements`."""
    import yaml
    w, h = summary['source_size']
    pooled = summary['threshold']['pooled']
    doc = {'profile': {
        'name': settings.name, 'source_width': int(w), 'source_height': int(h),
        'fps': float(settings.fps),
        'tail_detection': {'threshold': float(pooled['threshold']),
                           'direction': pooled['direction'],
                           'small_region_fraction': float(settings.small_region_fraction),
                           'recall': pooled['recall'], 'precision': pooled['precision'],
                           'degenerate': _degenerate(pooled)},
        'entries': summary['rows']}}
    ref = ('the profiled size itself' if settings.reference_size is None
           else '{}x{}, scaled by the pixel ratio'.format(*settings.reference_size))
    header = (
        '# Tail-aware profile written by `runespoor profile` (runespoor.cac.profiling).\n'
        f'# Measured on {summary["frames"]} frames of {w}x{h} at {settings.fps:g} fps, '
        f'accuracy vs {settings.reference}.\n'
        "# bandwidth_kbps: rate the row's standard (ordinary frames) and tail-specific (tail\n"
        f"# frames) configs need at {w}x{h}; the edge scales it by its camera's pixel count.\n"
        f'# Targets were nominal Mbit/s at {ref}.\n'
        "# tail_detection: fitted small-region-ratio threshold (direction below = the paper's\n"
        '# rule, tail when ratio < threshold); give it to the cloud as tail_threshold.\n')
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def plot_pareto(stats, fps, path, title=''):
    """Plot accuracy vs kbit/s of every config on tail and ordinary frames, with Pareto fronts."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for group, colour, marker in (('standard', 'tab:blue', 'o'), ('tail', 'red', 'x')):
        rate = np.array([selection.kbps(s.bytes_of(group), fps) for s in stats])
        acc = np.array([s.acc_of(group) for s in stats]) * 100
        label = 'ordinary frames' if group == 'standard' else 'tail frames'
        ax.scatter(rate, acc, c=colour, marker=marker, s=22, label=label)
        front = selection.pareto_front(rate, acc)
        ax.plot(rate[front], acc[front], color=colour, lw=1)
        for s, x, y in zip(stats, rate, acc):
            if np.isfinite(x) and np.isfinite(y):
                ax.annotate(f'x{s.scale}q{s.quality}', (x, y), fontsize=5, alpha=0.7)
    ax.set_xscale('log')
    ax.set_xlabel(f'data rate at {fps:g} fps (kbit/s)')
    ax.set_ylabel('mean frame mIoU (%)')
    ax.set_title(title or 'tail-aware profiling: accuracy vs data rate', fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(meas, summary, settings, out_dir, plots=True):
    """
    Write ``profile.yaml``, ``measurements.json``, ``profile_summary.json`` and the plots.

    Returns ``{kind: path}``.  The YAML is checked by loading it with
    :meth:`runespoor.edge_control.ProfileTable.load`.
    """
    from runespoor.edge_control import ProfileTable
    os.makedirs(out_dir, exist_ok=True)
    paths = {'profile': os.path.join(out_dir, 'profile.yaml'),
             'measurements': os.path.join(out_dir, 'measurements.json'),
             'summary': os.path.join(out_dir, 'profile_summary.json')}
    with open(paths['profile'], 'w', encoding='utf-8') as f:
        f.write(profile_yaml_text(summary, settings))
    ProfileTable.load(paths['profile'])
    with open(paths['measurements'], 'w', encoding='utf-8') as f:
        json.dump(meas.to_json(), f)
    with open(paths['summary'], 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    if plots:
        stats = [selection.ConfigStats(**{k: (np.nan if v is None else v) for k, v in d.items()})
                 for d in summary['config_stats']]
        paths['pareto'] = plot_pareto(stats, settings.fps, os.path.join(out_dir, 'pareto.png'))
        paths['threshold_plot'] = tailmod.plot_per_scale(
            threshold_samples(meas), summary['threshold'],
            os.path.join(out_dir, 'tail_threshold.png'), settings.tail_fraction)
    return paths


def profile(frames, analyse, settings=None, out_dir=None, progress=None, plots=True,
            cache_dir=None, feature_names=()):
    """Measure, analyse and (with ``out_dir``) write; return ``(measurements, summary, paths)``."""
    settings = (settings or ProfileSettings()).check()
    meas = measure(frames, analyse, settings, progress, cache_dir, feature_names)
    summary = analyse_measurements(meas, settings)
    paths = write_outputs(meas, summary, settings, out_dir, plots) if out_dir else {}
    return meas, summary, paths
