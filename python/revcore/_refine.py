"""The reverse pass of a linear solve with iterative refinement, and its error model.

A layer's inverse solves ``W x = z`` from LU factors. :func:`refined_solve_step` does it for
a batch, optionally refining the solution with residuals in higher precision, and carries an
a-priori bound of the relative error of every row from the layer above down to this one.
The model: the incoming relative error is amplified by the inverse activation's slope, the
solve adds a backward-stable error of about ``kappa * 2 n u`` (Higham, Accuracy and
Stability of Numerical Algorithms, Thm 9.4), and each refinement step multiplies it by
``kappa * 2 n u_factors`` down to the precision of the residual and of x.

Examples
--------
>>> import numpy as np
>>> from revcore._refine import Precision
>>> p = Precision.choose(np.dtype(np.float32), np.dtype(np.float32), refine=1)
>>> p.factor, np.dtype(p.residual)
(dtype('float32'), dtype('float64'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Precision", "refined_solve_step", "solve_refined"]


@dataclass(frozen=True)
class Precision:
    """The dtypes of a refined reverse pass and their unit roundoffs.

    ``working`` is the dtype of x and of the targets; ``factor`` that of the LU factors (the
    network's own dtype when refining, else the working dtype); ``residual`` the dtype the
    residual ``z - W x`` is computed in (float64, or long double for float64 factors).
    """

    refine: int
    working: np.dtype
    factor: np.dtype
    residual: Any
    u_work: float
    u_factor: float
    u_residual: float

    @classmethod
    def choose(cls, working: np.dtype, network: np.dtype, refine: int) -> Precision:
        factor = network if refine else working
        if np.dtype(working) == np.float64 and np.dtype(factor) == np.float64 and refine:
            residual: Any = np.longdouble
        else:
            residual = np.float64
        return cls(refine, working, factor, residual, float(np.finfo(working).eps) / 2,
                   float(np.finfo(factor).eps) / 2, float(np.finfo(residual).eps) / 2)


def refined_solve_step(weight: np.ndarray, bias: np.ndarray, factors: Any, t: np.ndarray,
                       inverse_t: np.ndarray, slope: np.ndarray, error: np.ndarray,
                       precision: Precision, backend: Any) -> tuple[np.ndarray, np.ndarray]:
    """One layer of the reverse pass: x with ``W x = f^-1(t) - b`` row by row, and each row's
    relative error bound given the incoming one (``error``).

    ``inverse_t`` is ``f^-1(t)`` and ``slope`` the per-row largest ``|(f^-1)'(t)|``.
    """
    z = inverse_t - bias
    n = weight.shape[0]
    kappa = 3.0 * factors.condition_estimate  # Hager's estimate is rarely 3x low
    # Relative error of z: the incoming error times the activation's relative
    # amplification, plus the rounding of f^-1 and of the bias subtraction.
    z_norm = np.abs(z).max(axis=1)
    z_norm = np.where(z_norm > 0, z_norm, np.finfo(float).tiny)
    amplification = slope * np.abs(t).max(axis=1) / z_norm
    rounding = 2 * precision.u_work * (np.abs(inverse_t).max(axis=1) + np.abs(bias).max()) \
        / z_norm
    error_z = amplification * error + rounding
    # Solve: forward error kappa * 2 n u (growth of random-like matrices is small); each
    # refinement step multiplies it by kappa * 2 n u_factor down to the residual's and x's
    # precision.
    solve = kappa * 2 * n * precision.u_factor
    if precision.refine:
        solve = (solve * min(1.0, solve) ** precision.refine
                 + kappa * 2 * n * precision.u_residual + 2 * precision.u_work)
    x = solve_refined(weight, factors, z, precision, backend)
    return x, kappa * error_z + solve


def solve_refined(weight: np.ndarray, factors: Any, z: np.ndarray, precision: Precision,
                  backend: Any) -> np.ndarray:
    """x with ``W x_s = z_s`` for every row s: a solve, then ``precision.refine``
    corrections from residuals in ``precision.residual``."""
    lu_piv = (factors.lu, factors.piv)
    x = backend.lu_solve(lu_piv, z.astype(precision.factor).T, check_finite=False).T
    x = np.ascontiguousarray(x, dtype=precision.working)
    if not precision.refine:
        return x
    residual_dtype = precision.residual
    weight = weight.astype(residual_dtype)
    high = z.astype(residual_dtype)
    for _ in range(precision.refine):
        if residual_dtype == np.float64:
            r = high - backend.matmul(x.astype(np.float64), weight.T)
        else:  # long double: numpy's own loops (no BLAS), exact enough for the residual
            r = high - x.astype(residual_dtype) @ weight.T
        d = backend.lu_solve(lu_piv, r.astype(precision.factor).T, check_finite=False).T
        x = (x.astype(residual_dtype) + d).astype(precision.working)
    return np.ascontiguousarray(x)
