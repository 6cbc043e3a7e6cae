"""The Yeo-Johnson power transform, extended so that it stays a bijection of the real line;
and the quantile function of Tukey's lambda distribution, a power map of (0, 1) close to the
normal's.

Yeo and Johnson (2000) map ``u >= 0`` to ``G(u, lam)`` and ``u < 0`` to ``-G(-u, 2 - lam)``
with ``G(a, p) = ((1 + a)^p - 1) / p`` (``log(1 + a)`` at ``p = 0``). ``lam = 1`` is the
identity; ``lam < 1`` pulls in a long right tail and stretches the left one (``lam > 1`` the
mirror image), which is what makes skewed features look Gaussian to the flow after it.

For ``p < 0`` their ``G`` is bounded (by ``-1 / p``), so values beyond the bound would have
no inverse. Here ``p`` in [-1, 0) instead takes ``G(a, p) = G(log(1 + a), 1 + p)``: between
``log(1 + a)`` (``p = 0``, where the two definitions meet) and ``log(1 + log(1 + a))``
(``p = -1``), unbounded, smooth, with slope 1 at 0. So ``lam`` in [-1, 3] gives a bijection
of the real line whose tails can be pulled in harder than by a logarithm, as heavy-tailed
features (sizes, counts, errors) need.

Examples
--------
>>> import numpy as np
>>> from revcore._power import yeo_johnson, yeo_johnson_inverse
>>> u = np.array([[-3.0, 0.0, 5.0]])
>>> lam = np.array([0.5, -0.5, -1.0])
>>> v, log_slope = yeo_johnson(u, lam)
>>> bool(np.allclose(yeo_johnson_inverse(v, lam), u))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAMBDA_RANGE", "fit_yeo_johnson", "tukey_quantile", "tukey_quantile_inverse",
           "yeo_johnson", "yeo_johnson_inverse"]

# Beyond this range one branch's power would be below -1, past the nested logarithm.
LAMBDA_RANGE = (-1.0, 3.0)


def _power(a: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G(a, p), log dG/da)`` for a >= 0 and p in [-1, inf) (see the module)."""
    log = np.log1p(a)
    nested = p < 0
    # p < 0: G(a, p) = G(log1p(a), p + 1), and the chain rule adds -log1p(a) to the slope.
    power = np.where(nested, p + 1.0, p)
    log_base = np.where(nested, np.log1p(log), log)
    out = log_base.copy()
    positive = power > 0
    out[positive] = np.expm1(power[positive] * log_base[positive]) / power[positive]
    log_slope = (power - 1.0) * log_base - np.where(nested, log, 0.0)
    return out, log_slope


def _power_inverse(b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The a >= 0 with ``G(a, p) = b`` for b >= 0."""
    nested = p < 0
    power = np.where(nested, p + 1.0, p)
    out = b.copy()
    positive = power > 0
    out[positive] = np.log1p(power[positive] * b[positive]) / power[positive]
    out = np.expm1(out)                      # the inverse of G(., power) on [0, inf)
    out[nested] = np.expm1(out[nested])      # undo the inner log1p
    return out


def yeo_johnson(u: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(psi(u, lam), log psi'(u, lam))`` elementwise, ``lam`` per column (in [-1, 3])."""
    u, lam = np.broadcast_arrays(np.asarray(u, dtype=np.float64), lam)
    positive = u >= 0
    magnitude, log_slope = _power(np.abs(u), np.where(positive, lam, 2.0 - lam))
    return np.where(positive, magnitude, -magnitude), log_slope


def yeo_johnson_inverse(v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The u with ``psi(u, lam) = v``, elementwise, ``lam`` per column (in [-1, 3])."""
    v, lam = np.broadcast_arrays(np.asarray(v, dtype=np.float64), lam)
    positive = v >= 0
    magnitude = _power_inverse(np.abs(v), np.where(positive, lam, 2.0 - lam))
    return np.where(positive, magnitude, -magnitude)


def _profile_log_likelihood(u: np.ndarray, lam: float) -> float:
    """The Gaussian log-likelihood of ``psi(u, lam)`` at its maximum over mean and variance,
    counted in u's units (the transform's log-Jacobian included), up to a constant."""
    v, log_slope = yeo_johnson(u, np.full(u.shape, lam))
    variance = v.var()
    if not variance > 0:
        return -np.inf
    return float(-0.5 * len(u) * np.log(variance) + log_slope.sum())


def fit_yeo_johnson(u: np.ndarray, grid: int = 41, refine: int = 30) -> tuple[float, float]:
    """The ``lam`` in [-1, 3] maximising the profile likelihood of column u, and its gain in
    nats over the identity (``lam = 1``).

    A grid over [-1, 3] brackets the maximum, then golden-section search refines it (the
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


# With this shape, Tukey's lambda distribution's quantiles from 0.001 to 0.999 are 1.43 to
# 1.46 times the normal distribution's.
TUKEY_LAMBDA = 0.14


def tukey_quantile(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q(p) = (p^l - (1 - p)^l) / l`` (Tukey's lambda distribution's quantile function,
    ``l = TUKEY_LAMBDA``: a closed-form stand-in for the normal's, numpy having no inverse
    error function) for p in (0, 1), and ``log Q'(p)``."""
    lam = TUKEY_LAMBDA
    w = (p ** lam - (1 - p) ** lam) / lam
    return w, np.log(p ** (lam - 1) + (1 - p) ** (lam - 1))


def tukey_quantile_inverse(w: np.ndarray) -> np.ndarray:
    """The p of ``Q(p) = w`` (see :func:`tukey_quantile`), by Newton's method kept inside a
    bisection bracket, to the last bits of p; w beyond Q's range (+-1 / l) gives 0 or 1."""
    lam = TUKEY_LAMBDA
    ends = np.abs(w) >= 1 / lam
    beyond = np.where(w > 0, 1.0, 0.0)
    w = np.where(ends, 0.0, w)
    low, high = np.zeros_like(w), np.ones_like(w)
    p = 1 / (1 + np.exp(-1.15 * w))  # the logistic distribution, scaled to match
    for _ in range(200):  # each step at least halves the bracket
        r = (p ** lam - (1 - p) ** lam) / lam - w
        low, high = np.where(r < 0, p, low), np.where(r > 0, p, high)
        step = p - r / (p ** (lam - 1) + (1 - p) ** (lam - 1))
        following = np.where((step > low) & (step < high), step, 0.5 * (low + high))
        following = np.where(r == 0, p, following)
        if np.array_equal(following, p):
            break
        p = following
    return np.where(ends, beyond, p)
