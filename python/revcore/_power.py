"""The Yeo-Johnson power transform restricted to a bijection of the real line.

``psi(u, lam)`` (Yeo and Johnson, 2000) is, for ``u >= 0``, ``((1 + u)^lam - 1) / lam``
(``log(1 + u)`` at ``lam = 0``) and, for ``u < 0``, ``-((1 - u)^(2 - lam) - 1) / (2 - lam)``
(``-log(1 - u)`` at ``lam = 2``). With ``lam`` in [0, 2] both branches are unbounded, so
``psi`` maps the real line onto itself and every value has an inverse; ``lam = 1`` is the
identity. ``lam < 1`` pulls in a long right tail and stretches the left one (``lam > 1`` the
mirror image), which is what makes skewed features look Gaussian to the flow after it.

Examples
--------
>>> import numpy as np
>>> from revcore._power import yeo_johnson, yeo_johnson_inverse
>>> u = np.array([[-3.0, 0.0, 5.0]])
>>> v, log_slope = yeo_johnson(u, np.array([0.5, 0.5, 0.5]))
>>> bool(np.allclose(yeo_johnson_inverse(v, np.array([0.5, 0.5, 0.5])), u))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAMBDA_RANGE", "fit_yeo_johnson", "yeo_johnson", "yeo_johnson_inverse"]

# lam outside [0, 2] bounds one branch's image, and samples beyond it would have no inverse.
LAMBDA_RANGE = (0.0, 2.0)


def _power_expm1(a: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``((1 + a)^p - 1) / p`` for a >= 0, p >= 0 (``log1p(a)`` where p == 0), accurate for
    small a and p."""
    out = np.log1p(a)
    power = p > 0
    out[power] = np.expm1(p[power] * out[power]) / p[power]
    return out


def _root_expm1(b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_power_expm1` in a: ``(1 + p b)^(1/p) - 1`` (``expm1(b)`` where
    p == 0)."""
    out = np.empty_like(b)
    power = p > 0
    out[power] = np.expm1(np.log1p(p[power] * b[power]) / p[power])
    out[~power] = np.expm1(b[~power])
    return out


def yeo_johnson(u: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(psi(u, lam), log psi'(u, lam))`` elementwise, ``lam`` per column (in [0, 2])."""
    u, lam = np.broadcast_arrays(np.asarray(u, dtype=np.float64), lam)
    positive = u >= 0
    a = np.abs(u)
    p = np.where(positive, lam, 2.0 - lam)
    magnitude = _power_expm1(a, p)
    v = np.where(positive, magnitude, -magnitude)
    # psi'(u) = (1 + |u|)^(p - 1) on either branch.
    log_slope = (p - 1.0) * np.log1p(a)
    return v, log_slope


def yeo_johnson_inverse(v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The u with ``psi(u, lam) = v``, elementwise, ``lam`` per column (in [0, 2])."""
    v, lam = np.broadcast_arrays(np.asarray(v, dtype=np.float64), lam)
    positive = v >= 0
    p = np.where(positive, lam, 2.0 - lam)
    magnitude = _root_expm1(np.abs(v), p)
    return np.where(positive, magnitude, -magnitude)


def _profile_log_likelihood(u: np.ndarray, lam: float) -> float:
    """The Gaussian log-likelihood of ``psi(u, lam)`` at its maximum over mean and variance,
    counted in u's units (the transform's log-Jacobian included), up to a constant."""
    v, log_slope = yeo_johnson(u, np.full(u.shape, lam))
    variance = v.var()
    if not variance > 0:
        return -np.inf
    return float(-0.5 * len(u) * np.log(variance) + log_slope.sum())


def fit_yeo_johnson(u: np.ndarray, grid: int = 21, refine: int = 30) -> tuple[float, float]:
    """The ``lam`` in [0, 2] maximising the profile likelihood of column u, and its gain in
    nats over the identity (``lam = 1``).

    A grid over [0, 2] brackets the maximum, then golden-section search refines it (the
    profile likelihood is smooth and, in practice, unimodal in lam).
    """
    u = np.asarray(u, dtype=np.float64)
    low, high = LAMBDA_RANGE
    lams = np.linspace(low, high, grid)
    values = [_profile_log_likelihood(u, lam) for lam in lams]
    best = int(np.argmax(values))
    a, b = lams[max(best - 1, 0)], lams[min(best + 1, grid - 1)]
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _profile_log_likelihood(u, c), _profile_log_likelihood(u, d)
    for _ in range(refine):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _profile_log_likelihood(u, c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _profile_log_likelihood(u, d)
    candidates = [(values[best], float(lams[best])), (fc, float(c)), (fd, float(d))]
    value, lam = max(candidates)
    return lam, value - _profile_log_likelihood(u, 1.0)
