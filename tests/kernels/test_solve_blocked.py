"""The blocked triangular solves and lu_solve's packed paths against numpy float64 solves.

triangular_solve always runs the blocked solves (recursive halving into multiples of 64 rows,
64-row diagonal blocks on the lane kernels, GEMM updates), so small sizes straddling 64 and
128 cover its boundaries, in both memory orders of B. lu_solve picks the lane kernels that
read the triangle along its contiguous direction (row- or column-oriented), which depends on
the factor's memory order and trans, so both orders of lu are checked. lu_solve takes the
blocked solves from rows of 16 KiB (n >= 2048 float64, 4096 float32) with >= 256 right-hand
sides, and for one or two right-hand sides from n = 512 when the triangles' columns are
contiguous (column-major lu with trans=0, row-major with trans=1) or rows are 16 KiB long:
the crossover tests straddle each of these.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import revcore
from revcore import _core

FLOATS = [np.float32, np.float64]


def well_conditioned(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) + 3.0 * np.eye(n)


def tolerance(n: int, dtype) -> float:
    # The matrices here (3 I + N(0, 1/n), or its triangles) have condition <= ~2 and no
    # pivot growth, so a backward-stable solve in precision eps has a forward error of
    # ~ cond * (a few sqrt(n)) * eps relative to max |x|; 10 n eps leaves a wide margin while
    # a wrong block or interchange (an O(1) error) fails by orders of magnitude.
    return 10 * n * np.finfo(dtype).eps


@pytest.mark.parametrize("n", [1, 63, 64, 65, 127, 128, 129, 200, 333])
@pytest.mark.parametrize("nrhs", [1, 2, 15, 17, 33, 100, 1100])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("b_order", ["C", "F"])
@pytest.mark.parametrize("a_order", ["C", "F"])
def test_triangular_solve_blocked(n, nrhs, dtype, lower, unit, b_order, a_order):
    if nrhs == 1100 and n > 200:
        pytest.skip("covered at smaller n")
    a = well_conditioned(n, n)
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        np.fill_diagonal(t, 1.0)
    # Garbage in the other triangle (and on a unit diagonal) must never be read.
    stored = t + (np.triu(a, 1) if lower else np.tril(a, -1)) * 7
    if unit:
        np.fill_diagonal(stored, np.nan)
    b = np.random.default_rng(nrhs).standard_normal((n, nrhs))
    x = _core.triangular_solve(np.asarray(stored.astype(dtype), order=a_order),
                               np.asarray(b.astype(dtype), order=b_order), lower, unit)
    assert x.dtype == dtype and x.shape == (n, nrhs)
    assert x.flags.f_contiguous if b_order == "F" and nrhs > 1 and n > 1 else x.flags.c_contiguous
    expected = np.linalg.solve(t, b)
    np.testing.assert_allclose(x, expected, rtol=0,
                               atol=tolerance(n, dtype) * np.abs(expected).max())


@pytest.mark.parametrize("n", [512, 513, 703])
@pytest.mark.parametrize("nrhs", [1, 3, 17, 100, 1100])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("lu_order", ["C", "F"])
def test_lu_solve_both_factor_orders(n, nrhs, dtype, trans, lu_order):
    a = well_conditioned(n, n)
    b = np.random.default_rng(nrhs).standard_normal((n, nrhs))
    lu, piv = revcore.lu_factor(a.astype(dtype))
    lu = np.asarray(lu, order=lu_order)
    x = revcore.lu_solve((lu, piv), b.astype(dtype), trans=trans)
    assert x.dtype == dtype and x.shape == (n, nrhs)
    expected = np.linalg.solve(a.T if trans else a, b)
    np.testing.assert_allclose(x, expected, rtol=0,
                               atol=tolerance(n, dtype) * np.abs(expected).max())


@pytest.mark.parametrize("trans", [0, 1])
def test_lu_solve_interchanges_every_row(trans):
    # Row interchanges everywhere: applied before (trans=0) or after (trans=1) the triangles.
    n = 600
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, 7))
    for order in "CF":
        lu, piv = revcore.lu_factor(a)
        x = revcore.lu_solve((np.asarray(lu, order=order), piv), b, trans=trans)
        op = a.T if trans else a
        assert np.abs(op @ x - b).max() <= 1e-9 * np.abs(b).max() * np.linalg.cond(op)


@functools.lru_cache(maxsize=2)
def made_up_factors(n: int, dtype) -> tuple[np.ndarray, ...]:
    """Factors of order n with no factorization (too slow at n = 4096 for this suite):
    lu holds L unit lower and U = 3 I + small, piv valid interchanges; with L and U in
    float64 and the permutation perm such that row perm[i] of A = P^T L U is row i of L U."""
    rng = np.random.default_rng(n)
    lu = (0.5 * rng.standard_normal((n, n)) / np.sqrt(n) + 3.0 * np.eye(n)).astype(dtype)
    piv = np.minimum(np.arange(n) + rng.integers(0, 8, n), n - 1).astype(np.int32)
    perm = np.arange(n)
    for i, p in enumerate(piv):
        perm[[i, p]] = perm[[p, i]]
    low = np.tril(lu.astype(np.float64), -1) + np.eye(n)
    return lu, piv, perm, low, np.triu(lu.astype(np.float64))


def solve_and_residual(n: int, nrhs: int, dtype, trans: int, lu_order: str) -> None:
    """lu_solve on made-up factors, checked by the residual of a spread of its columns."""
    lu, piv, perm, low, up = made_up_factors(n, dtype)
    b = np.random.default_rng(nrhs).standard_normal((n, nrhs)).astype(dtype)
    x = revcore.lu_solve((np.asarray(lu, order=lu_order), piv), b, trans=trans)
    assert x.dtype == dtype and x.shape == (n, nrhs)
    # Every 16th column and the last: a path or block boundary error spoils whole panels.
    columns = sorted({*range(0, nrhs, 16), nrhs - 1})
    x64 = x[:, columns].astype(np.float64)
    if trans:
        residual = up.T @ (low.T @ x64[perm]) - b[:, columns]
        scale = np.abs(up.T) @ (np.abs(low.T) @ np.abs(x64[perm]))
    else:
        residual = np.empty_like(x64)
        residual[perm] = low @ (up @ x64)
        residual -= b[:, columns]
        scale = np.abs(low) @ (np.abs(up) @ np.abs(x64))
    # A backward-stable solve leaves |r| <= ~2 n eps |L| |U| |x| (componentwise); 10 n eps
    # relative to the largest entry of that bound leaves a wide margin, while a wrong block,
    # interchange or path mixes O(1) errors in.
    tol = 10 * n * np.finfo(dtype).eps * scale.max()
    assert np.abs(residual).max() <= tol


@pytest.mark.parametrize("n", [2047, 2048, 2053])
@pytest.mark.parametrize("nrhs", [1, 255, 256, 257])
@pytest.mark.parametrize("trans", [0, 1])
def test_lu_solve_crossover_float64(n, nrhs, trans):
    # 16 KiB rows from n = 2048; 2053 leaves partial GEMM and leaf blocks.
    solve_and_residual(n, nrhs, np.float64, trans, "C" if n % 2 else "F")


@pytest.mark.parametrize(("n", "nrhs"), [(4095, 256), (4096, 255), (4096, 256), (4096, 2)])
def test_lu_solve_crossover_float32(n, nrhs):
    solve_and_residual(n, nrhs, np.float32, nrhs % 2, "C" if n % 2 else "F")


@pytest.mark.parametrize("n", [511, 512, 513, 1031])
@pytest.mark.parametrize("nrhs", [1, 2])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("lu_order", ["C", "F"])
def test_lu_solve_crossover_one_column(n, nrhs, dtype, trans, lu_order):
    # Contiguous columns as the kernels see them (F with trans=0, C with trans=1): GEMV-based
    # blocked solves from n = 512; the other two combinations stay on the vector kernels.
    solve_and_residual(n, nrhs, dtype, trans, lu_order)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("batch", [511, 1100, 2100])
def test_network_inverse_across_panel_chunks(dtype, batch):
    # Width 64: panels go through all layers in chunks of 256 KiB (512 float64 or 1024
    # float32 samples), so these batches end inside a later chunk.
    from revcore import reference

    net = revcore.Network.random(64, 4, "leaky_relu", seed=1, dtype=dtype)
    x0 = np.random.default_rng(2).standard_normal((batch, 64)).astype(dtype)
    y = net.forward(x0)
    x = net.inverse(y)
    scale = np.abs(y).max()
    atol = (1e-3 if dtype == np.float32 else 1e-10) * scale
    np.testing.assert_allclose(net.forward(x), y, rtol=0, atol=atol)
    bad = y.copy()
    bad[batch - 3, 5] = np.inf
    with pytest.raises(revcore.NotInvertibleError) as native_error:
        net.inverse(bad)
    with pytest.raises(revcore.NotInvertibleError) as reference_error:
        reference.Network(net.layers).inverse(bad)
    assert native_error.value.layer == reference_error.value.layer
    assert native_error.value.rows == reference_error.value.rows
    assert native_error.value.columns == reference_error.value.columns
