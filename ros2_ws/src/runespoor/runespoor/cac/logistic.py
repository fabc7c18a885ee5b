# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
A small L2-regularised logistic regression on standardised features (NumPy + SciPy).

scikit-learn is not in the project's lock files; this is the few lines of it the fitted tail
detector needs (:mod:`runespoor.cac.detector`).  The model is

    p(tail | x) = sigmoid(w . z + b),   z = (x - mean) / scale

fitted by minimising the mean (optionally class-balanced) log loss plus
``l2 / 2 * |w|^2 / n`` with L-BFGS and the exact gradient (the intercept is not penalised).
Features with zero spread get ``scale = 1`` (they stay constant and cannot move the score).
A fitted :class:`LogisticModel` round-trips through a plain JSON dict (never pickle).
"""

from dataclasses import dataclass
import math

import numpy as np


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # stable for large |t|


@dataclass(frozen=True)
class LogisticModel:
    """A fitted model: feature names, standardisation, weights and intercept."""

    feature_names: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    l2: float = 1.0

    def decision(self, x):
        """Return the linear score ``w . z + b`` for rows of ``x`` (N x F, or one F vector)."""
        x = np.asarray(x, dtype=np.float64)
        z = (x - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def predict_proba(self, x):
        """Return ``p(tail)`` for rows of ``x``."""
        return _sigmoid(self.decision(x))

    def to_dict(self):
        """Return a JSON-ready dict."""
        return {'feature_names': list(self.feature_names), 'mean': self.mean.tolist(),
                'scale': self.scale.tolist(), 'coef': self.coef.tolist(),
                'intercept': float(self.intercept), 'l2': float(self.l2)}

    @classmethod
    def from_dict(cls, data):
        """Rebuild from :meth:`to_dict`; raise ``ValueError`` on inconsistent content."""
        names = tuple(str(n) for n in data['feature_names'])
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ('mean', 'scale', 'coef')]
        if any(a.shape != (len(names),) for a in arrays):
            raise ValueError(f'logistic model: {len(names)} feature names but mean/scale/coef '
                             f'of shapes {[a.shape for a in arrays]}')
        if not all(np.isfinite(a).all() for a in arrays) or np.any(arrays[1] <= 0):
            raise ValueError('logistic model: non-finite weights or a scale <= 0')
        intercept = float(data['intercept'])
        if not math.isfinite(intercept):
            raise ValueError('logistic model: non-finite intercept')
        return cls(names, arrays[0], arrays[1], arrays[2], intercept,
                   float(data.get('l2', 1.0)))


def standardise(x):
    """Return ``(mean, scale)`` of the columns of ``x`` (scale 1 where the spread is 0)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    scale = x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return mean, scale


def fit_logistic(x, y, l2=1.0, balanced=True, feature_names=None, max_iter=500):
    """
    Fit :class:`LogisticModel` on rows ``x`` (N x F) and 0/1 labels ``y``.

    ``l2`` is the ridge strength (in units of one sample's loss, so it does not change with
    N); ``balanced`` weights each class's samples so both classes count equally (tail frames
    are only ~10 %).  Needs both classes in ``y``; raises ``ValueError`` otherwise.
    """
    from scipy.optimize import minimize
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f'expected N x F features and N labels, got {x.shape} and {y.size}')
    if not np.isfinite(x).all():
        raise ValueError('features contain NaN or inf')
    pos = float(y.sum())
    if pos == 0 or pos == y.size:
        raise ValueError('logistic regression needs both classes in the labels')
    n, f = x.shape
    names = tuple(feature_names) if feature_names is not None else tuple(
        f'x{i}' for i in range(f))
    if len(names) != f:
        raise ValueError(f'{len(names)} feature names for {f} features')
    mean, scale = standardise(x)
    z = (x - mean) / scale
    if balanced:
        sw = np.where(y > 0, n / (2.0 * pos), n / (2.0 * (n - pos)))
    else:
        sw = np.ones(n)
    sw = sw / sw.sum()
    lam = float(l2) / n

    def loss(theta):
        w, b = theta[:f], theta[f]
        t = z @ w + b
        # log(1 + e^t) - y t, stably
        val = np.logaddexp(0.0, t) - y * t
        g = (_sigmoid(t) - y) * sw
        grad = np.concatenate([z.T @ g + lam * w, [g.sum()]])
        return float(sw @ val + 0.5 * lam * (w @ w)), grad

    res = minimize(loss, np.zeros(f + 1), jac=True, method='L-BFGS-B',
                   options={'maxiter': int(max_iter)})
    return LogisticModel(names, mean, scale, res.x[:f].copy(), float(res.x[f]), float(l2))
