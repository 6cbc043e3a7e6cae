"""lu_solve's blocked (GEMM-rich) path and its boundaries against numpy float64 solves.

The blocked triangular solves run for n >= 512 and >= 3 right-hand sides when the lane
kernels would read a triangle across its rows (a column-major factor for trans=0, a
row-major one for trans=1); diagonal blocks are 64 rows, so sizes straddle multiples of 64.
The other orientation (lane kernels) is checked on the same cases for comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

import revcore

SIZES = [512, 513, 575, 703]
NRHS = [1, 3, 17, 100, 1100]


def well_conditioned(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) + 3.0 * np.eye(n)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nrhs", NRHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("lu_order", ["C", "F"])
@pytest.mark.parametrize("b_order", ["C", "F"])
def test_blocked_solve_matches_numpy(n, nrhs, dtype, trans, lu_order, b_order):
    a = well_conditioned(n, n)
    b = np.random.default_rng(nrhs).standard_normal((n, nrhs))
    lu, piv = revcore.lu_factor(a.astype(dtype))
    lu = np.asarray(lu, order=lu_order)
    x = revcore.lu_solve((lu, piv), np.asarray(b.astype(dtype), order=b_order), trans=trans)
    assert x.dtype == dtype and x.shape == (n, nrhs)
    expected = np.linalg.solve(a.T if trans else a, b)
    # A = I*3 + N(0, 1/n) has condition <= ~2 and pivot growth ~1, so a backward-stable
    # factor-and-solve in precision eps has forward error ~ cond * (a few sqrt(n)) * eps,
    # and the float32 factors (of a rounded A) the same in float32's eps; 10 n eps leaves a
    # wide margin while a wrong block (an O(1) error) fails by many orders of magnitude.
    tol = 10 * n * np.finfo(dtype).eps
    np.testing.assert_allclose(x, expected, rtol=0, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("trans", [0, 1])
def test_blocked_solve_is_permuted_like_scipy(trans):
    # A matrix that needs row interchanges everywhere: the pivots must be applied before
    # (trans=0) or after (trans=1) the blocked triangles, in the right order.
    n = 600
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, 7))
    lu, piv = revcore.lu_factor(a)
    lu = np.asfortranarray(lu) if trans == 0 else np.ascontiguousarray(lu)
    x = revcore.lu_solve((lu, piv), b, trans=trans)
    op = a.T if trans else a
    assert np.abs(op @ x - b).max() <= 1e-9 * np.abs(b).max() * np.linalg.cond(op)
