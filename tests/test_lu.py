"""lu_factor / lu_solve / lu_condition_estimate against the reference and scipy.linalg."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import revcore
from revcore import reference
from support import DTYPES, LAYOUTS, SIZES, layout, tol

scipy_linalg = pytest.importorskip("scipy.linalg")

RECTANGULAR = [(0, 4), (4, 0), (1, 7), (7, 1), (3, 2), (2, 3), (13, 8), (8, 13), (31, 97),
               (97, 31), (257, 16), (16, 257), (64, 128)]


def split(lu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m, n = lu.shape
    k = min(m, n)
    lower = np.tril(lu[:, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    upper = np.triu(lu[:k, :])
    return lower, upper


def permute(a: np.ndarray, piv: np.ndarray) -> np.ndarray:
    """P a: apply the row interchanges i <-> piv[i] in order, as LAPACK's laswp."""
    out = np.array(a, dtype=np.float64)
    for i, p in enumerate(piv):
        out[[i, p]] = out[[p, i]]
    return out


def assert_reconstructs(a: np.ndarray, lu: np.ndarray, piv: np.ndarray) -> None:
    lower, upper = split(lu.astype(np.float64))
    product = lower @ upper
    # Gaussian elimination is backward stable: |P A - L U| <= k eps |L| |U| entrywise
    # (Higham, Thm 9.3), k = min(m, n); tol() adds the usual safety factor.
    bound = tol(lu.dtype, min(a.shape)) * (np.abs(lower) @ np.abs(upper)) + np.finfo(float).tiny
    assert np.all(np.abs(permute(a, piv) - product) <= bound)
    assert np.all(np.abs(np.tril(lu[:, : min(a.shape)], -1)) <= 1)  # partial pivoting


def well_conditioned(rng, n, dtype):
    return (rng.standard_normal((n, n)) + 2 * np.sqrt(n) * np.eye(n) * (rng.random(n) < 0.1)
            ).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_factor_against_scipy_and_reference(rng, n, dtype):
    a = rng.standard_normal((n, n)).astype(dtype)
    lu, piv = revcore.lu_factor(a)
    assert lu.dtype == dtype and lu.shape == (n, n)
    assert piv.dtype == np.int32 and piv.shape == (n,)
    lu_scipy, piv_scipy = scipy_linalg.lu_factor(a)
    lu_ref, piv_ref = reference.lu_factor(a)
    # Random normal entries: a pivot tie within rounding has negligible probability, so
    # the row choices of all three implementations coincide.
    np.testing.assert_array_equal(piv, piv_scipy)
    np.testing.assert_array_equal(piv, piv_ref)
    assert_reconstructs(a, lu, piv)
    # Same pivots, so the same L and U up to the elimination's rounding.
    lower, upper = split(lu_scipy.astype(np.float64))
    scale = np.tril(np.abs(lower) @ np.abs(upper), -1) / np.maximum(np.abs(np.diag(upper)), 1e-300)
    scale = np.triu(np.abs(lower) @ np.abs(upper)) + scale
    # Entry errors of two backward-stable eliminations may differ by cond-like growth of
    # the trailing Schur complements; sqrt(n) * tol(n) absorbs that for random matrices.
    rtol = tol(dtype, n) * max(np.sqrt(n), 1) * 4
    assert np.all(np.abs(lu.astype(np.float64) - lu_scipy) <= rtol * scale + 1e-300)
    assert np.all(np.abs(lu.astype(np.float64) - lu_ref) <= rtol * scale + 1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", RECTANGULAR, ids=str)
def test_rectangular_factor_like_scipy(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    lu, piv = revcore.lu_factor(a)
    lu_scipy, piv_scipy = scipy_linalg.lu_factor(a)
    assert lu.shape == lu_scipy.shape == shape
    assert piv.shape == piv_scipy.shape == (min(shape),)
    np.testing.assert_array_equal(piv, piv_scipy)
    assert_reconstructs(a, lu, piv)
    m = shape[0]
    scale = np.abs(a).max(initial=0) * max(m, 1)
    np.testing.assert_allclose(lu, lu_scipy, atol=tol(dtype, min(shape)) * scale * np.sqrt(m + 1))


# Orders around the recursion's leaf (8 columns), its packed panels (128) and the halving
# points of larger orders, square, tall and wide.
BLOCK_SIZES = [1, 2, 3, 9, 15, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 513]
BLOCK_SHAPES = [(513, 129), (129, 513), (300, 65), (65, 300), (1000, 8), (8, 1000),
                (1000, 9), (9, 1000), (257, 256), (256, 257)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(n, n) for n in BLOCK_SIZES] + BLOCK_SHAPES, ids=str)
def test_factor_block_boundaries(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    lu, piv = revcore.lu_factor(a)
    assert_reconstructs(a, lu, piv)
    assert np.all((piv >= np.arange(min(shape))) & (piv < shape[0]))
    if dtype == np.float64:
        # float32 rounding of a different (blocked) summation order may flip a near-tie of
        # two candidate pivots at these orders; float64 leaves no near-tie within rounding.
        np.testing.assert_array_equal(piv, scipy_linalg.lu_factor(a)[1])


# Orders for the threaded factorization: tiny and odd ones, either side of the order where it
# takes over (512) and of its panel widths (64 up to 767, 128 up to 1535, then 192), tall and
# wide, with panels that do not divide the order.
THREADED_SHAPES = [(1, 1), (2, 2), (7, 7), (255, 255), (511, 511), (512, 512), (513, 513),
                   (767, 767), (768, 768), (1000, 1000), (1536, 1536), (900, 520), (520, 900),
                   (2000, 515), (515, 700)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", THREADED_SHAPES, ids=str)
def test_threads_give_the_same_factors(rng, shape, dtype):
    # The threaded factorization does the same arithmetic for any number of threads (each
    # column sees the same updates in the same order), so 2 and 3 threads must agree bit for
    # bit, also from call to call (a race would show as a difference now and then); the one
    # thread path sums in a different order, so it is compared through the pivots and the
    # reconstruction.
    a = rng.standard_normal(shape).astype(dtype)
    with revcore.num_threads(1):
        lu_single, piv_single = revcore.lu_factor(a)
    assert_reconstructs(a, lu_single, piv_single)
    first = None
    for threads in (2, 3, 2):
        with revcore.num_threads(threads):
            lu, piv = revcore.lu_factor(a)
        assert_reconstructs(a, lu, piv)
        if dtype == np.float64:
            # float32 rounding may flip a near-tie of two candidate pivots (as against scipy
            # in test_factor_block_boundaries); float64 leaves none at these orders.
            np.testing.assert_array_equal(piv, piv_single)
        if first is None:
            first = lu, piv
        else:
            assert lu.tobytes() == first[0].tobytes() and np.array_equal(piv, first[1]), threads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("zero_columns", [[0], [64], [130, 600], [700], [767]], ids=str)
def test_threads_report_the_first_zero_pivot(rng, zero_columns, dtype):
    a = rng.standard_normal((768, 768)).astype(dtype)
    a[:, zero_columns] = 0
    for threads in (1, 2, 3):
        with revcore.num_threads(threads), pytest.warns(revcore.LinAlgWarning) as record:
            lu, piv = revcore.lu_factor(a)
        assert f"Diagonal number {zero_columns[0] + 1} " in str(record[0].message), threads
        assert np.all(np.diag(lu)[zero_columns] == 0)
        assert_reconstructs(a, lu, piv)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("zero_columns", [[0], [5, 8], [63, 64], [128, 200], [299]], ids=str)
def test_zero_columns_report_first_zero_pivot(rng, zero_columns, dtype):
    a = rng.standard_normal((300, 300)).astype(dtype)
    a[:, zero_columns] = 0
    with pytest.warns(scipy_linalg.LinAlgWarning) as scipy_record:
        _, piv_scipy = scipy_linalg.lu_factor(a)
    with pytest.warns(revcore.LinAlgWarning) as record:
        lu, piv = revcore.lu_factor(a)
    assert str(record[0].message) == str(scipy_record[0].message)
    assert f"Diagonal number {zero_columns[0] + 1} " in str(record[0].message)
    np.testing.assert_array_equal(piv, piv_scipy)
    assert np.all(np.diag(lu)[zero_columns] == 0)
    assert_reconstructs(a, lu, piv)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [16, 64, 128, 256])
def test_ties_take_the_first_row(n, dtype):
    # A Sylvester-Hadamard matrix with shuffled rows: every pivot search meets ties, and the
    # elimination stays exact (small dyadic values), so LAPACK's first-index rule decides.
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    a = h[np.random.default_rng(n).permutation(n)].astype(dtype)
    lu, piv = revcore.lu_factor(a)
    np.testing.assert_array_equal(piv, scipy_linalg.lu_factor(a)[1])
    np.testing.assert_array_equal(piv, reference.lu_factor(a)[1])
    assert_reconstructs(a, lu, piv)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_kind", LAYOUTS)
def test_factor_layouts(rng, layout_kind, dtype):
    a0 = rng.standard_normal((31, 31)).astype(dtype)
    a = layout(a0, layout_kind)
    lu, piv = revcore.lu_factor(a)
    lu0, piv0 = revcore.lu_factor(a0)
    np.testing.assert_array_equal(piv, piv0)
    np.testing.assert_array_equal(lu, lu0)  # same values, same deterministic algorithm
    np.testing.assert_array_equal(a, a0)
    x = revcore.lu_solve((layout(lu0, layout_kind), layout(piv0, layout_kind)),
                         layout(a0[:, :3], layout_kind))
    np.testing.assert_allclose(x, revcore.lu_solve((lu0, piv0), a0[:, :3]), rtol=0,
                               atol=tol(dtype, 31) * 31 * 100)


def columns(b: np.ndarray, n: int) -> np.ndarray:
    """b as the (n, k) matrix of right-hand sides that lu_solve sees."""
    return np.asarray(b, dtype=np.float64).reshape(n, int(np.prod(b.shape[1:])))


def residual_bound(a, lu, piv, x, b, dtype, transposed=False):
    """Entrywise bound of |A x - b| for an LU-based solve: n eps |P^T| |L| |U| |x| (Higham,
    Thm 9.4), with tol()'s safety factor."""
    lower, upper = split(np.asarray(lu, dtype=np.float64))
    n = a.shape[0]
    magnitude = np.abs(lower) @ np.abs(upper)
    unpermuted = np.empty_like(magnitude)
    # rows of P^T |L||U|: undo the interchanges in reverse
    unpermuted[:] = magnitude
    for i, p in reversed(list(enumerate(piv))):
        unpermuted[[i, p]] = unpermuted[[p, i]]
    if transposed:
        unpermuted = unpermuted.T
    x2 = np.abs(columns(x, n))
    return 3 * tol(dtype, n) * (unpermuted @ x2 + np.abs(columns(b, n))) + 1e-300


def check_solution(a, factors, b, x, trans, dtype):
    a64 = a.astype(np.float64)
    op = a64 if trans == 0 else a64.T
    n = a.shape[0]
    residual = np.abs(op @ columns(x, n) - columns(b, n))
    assert np.all(residual <= residual_bound(a, factors[0], factors[1], x, b, dtype, trans != 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("n", SIZES)
def test_solve_both_directions_with_scipy(rng, n, trans, dtype):
    a = well_conditioned(rng, n, dtype)
    b = rng.standard_normal((n, 3)).astype(dtype)
    ours = revcore.lu_factor(a)
    if n == 0:  # scipy refuses empty systems; revcore solves them like the reference
        x = revcore.lu_solve(ours, b, trans=trans)
        assert x.shape == (0, 3) and x.dtype == dtype
        np.testing.assert_array_equal(x, reference.lu_solve(ours, b, trans=trans))
        return
    theirs = scipy_linalg.lu_factor(a)
    x_ours = revcore.lu_solve(ours, b, trans=trans)
    x_mixed_1 = scipy_linalg.lu_solve(ours, b, trans=trans)
    x_mixed_2 = revcore.lu_solve(theirs, b, trans=trans)
    x_theirs = scipy_linalg.lu_solve(theirs, b, trans=trans)
    x_ref = reference.lu_solve(ours, b, trans=trans)
    for x, factors in ((x_ours, ours), (x_mixed_1, ours), (x_mixed_2, theirs), (x_ref, ours)):
        assert x.shape == b.shape and x.dtype == dtype
        check_solution(a, factors, b, x, trans, dtype)
    # Forward error of a backward-stable solve: cond_1(A) * the backward error.
    condition = np.linalg.cond(a.astype(np.float64), 1) if n else 1.0
    scale = np.abs(x_theirs).max(initial=0) * condition * 3 * tol(dtype, n) * n
    for x in (x_ours, x_mixed_1, x_mixed_2, x_ref):
        assert np.all(np.abs(x.astype(np.float64) - x_theirs) <= scale + 1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("b_shape", [(), (1,), (4,), (4, 2), (1, 4)], ids=str)
@pytest.mark.parametrize("n", [0, 1, 8, 31])
def test_right_hand_side_shapes(rng, n, b_shape, trans, dtype):
    a = well_conditioned(rng, n, dtype)
    b = rng.standard_normal((n,) + b_shape).astype(dtype)
    factors = revcore.lu_factor(a)
    x = revcore.lu_solve(factors, b, trans=trans)
    assert x.shape == b.shape and x.dtype == dtype
    check_solution(a, factors, b, x, trans, dtype)
    expected = reference.lu_solve(factors, b, trans)
    assert expected.shape == b.shape
    check_solution(a, factors, b, expected, trans, dtype)
    if b.ndim <= 2 and b.size:
        # scipy (>= 1.15) reads b of ndim > 2 as a batch of systems; (n,) and (n, k) agree.
        x_scipy = scipy_linalg.lu_solve(scipy_linalg.lu_factor(a), b, trans=trans)
        assert x_scipy.shape == b.shape
        # Same factors (same pivots), so equal solutions up to the solves' rounding.
        np.testing.assert_allclose(x, x_scipy, rtol=0,
                                   atol=tol(dtype, n) * 10 * max(np.abs(x_scipy).max(), 1))


@pytest.mark.parametrize("layout_kind", LAYOUTS)
def test_solve_inputs_unchanged(rng, layout_kind):
    a = well_conditioned(rng, 13, np.float64)
    lu, piv = revcore.lu_factor(a)
    b = rng.standard_normal((13, 4))
    views = [layout(v, layout_kind) for v in (lu, piv, b)]
    copies = [v.copy() for v in views]
    for trans in (0, 1):
        x = revcore.lu_solve((views[0], views[1]), views[2], trans=trans)
        assert not np.shares_memory(x, views[2])
    for view, copy in zip(views, copies):
        np.testing.assert_array_equal(view, copy)
    a_copy = a.copy()
    revcore.lu_factor(a)
    np.testing.assert_array_equal(a, a_copy)


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32),
                                    (np.float32, np.int64)])
def test_solve_promotes(rng, dtypes):
    a = well_conditioned(rng, 7, dtypes[0])
    b = rng.integers(-3, 4, (7, 2)).astype(dtypes[1])
    x = revcore.lu_solve(revcore.lu_factor(a), b)
    assert x.dtype == np.result_type(dtypes[0], np.float64 if dtypes[1] == np.int64
                                     else dtypes[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_singular_warns_like_scipy(dtype):
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], dtype=dtype)
    with pytest.warns(scipy_linalg.LinAlgWarning) as scipy_record:
        scipy_linalg.lu_factor(a)
    for function in (revcore.lu_factor, reference.lu_factor):
        with pytest.warns(revcore.LinAlgWarning) as record:
            lu, piv = function(a)
        assert len(record) == 1
        assert str(record[0].message) == str(scipy_record[0].message)
        assert re.fullmatch(r"Diagonal number \d+ is exactly zero\. Singular matrix\.",
                            str(record[0].message))
        assert record[0].filename == __file__  # stacklevel points at the caller
        assert np.isinf(revcore.lu_condition_estimate((lu, piv), np.abs(a).sum(0).max()))
    assert issubclass(revcore.LinAlgWarning, RuntimeWarning)
    with pytest.warns(revcore.LinAlgWarning, match="Diagonal number 1 is exactly zero"):
        revcore.lu_factor(np.zeros((2, 2), dtype))


@pytest.mark.parametrize("function", [revcore.lu_factor, reference.lu_factor])
def test_check_finite(function):
    for bad in (np.nan, np.inf, -np.inf):
        a = np.eye(3)
        a[1, 2] = bad
        with pytest.raises(ValueError, match="a must not contain infs or NaNs"):
            function(a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lu, piv = function(a, check_finite=False)  # garbage allowed, no crash
        assert lu.shape == (3, 3) and piv.shape == (3,)


@pytest.mark.parametrize("function", [revcore.lu_solve, reference.lu_solve])
def test_solve_check_finite(function):
    factors = revcore.lu_factor(np.eye(3) * 2)
    with pytest.raises(ValueError, match="b must not contain infs or NaNs"):
        function(factors, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="lu must not contain infs or NaNs"):
        function((np.where(np.eye(3) > 0, np.inf, 0.0), factors[1]), np.ones(3))
    x = function(factors, np.array([1.0, np.nan, 0.0]), check_finite=False)
    assert x.shape == (3,)


@pytest.mark.parametrize("function", [revcore.lu_solve, reference.lu_solve])
def test_solve_argument_errors(function):
    lu, piv = revcore.lu_factor(np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]]))
    b = np.ones(3)
    with pytest.raises(ValueError, match=r"piv holds row indices outside \[0, 3\)"):
        function((lu, np.array([0, 3, 2])), b)
    with pytest.raises(ValueError, match=r"piv holds row indices outside \[0, 3\)"):
        function((lu, np.array([-1, 1, 2])), b)
    with pytest.raises(ValueError, match=r"piv must have shape \(3,\) to match lu \(3, 3\), "
                                         r"got \(2,\)"):
        function((lu, piv[:2]), b)
    with pytest.raises(TypeError, match=r"piv must hold integers \(or whole numbers of a float "
                                        r"dtype\), got dtype bool"):
        function((lu, piv.astype(bool)), b)
    with pytest.raises(ValueError, match=r"piv must hold whole numbers \(row indices\), got "
                                         r"0.5 at position 1"):
        function((lu, np.array([0.0, 0.5, 2.0])), b)
    with pytest.raises(ValueError, match=r"factors of a square matrix, got lu of shape \(3, 2\)"):
        function((lu[:, :2], piv), b)
    with pytest.raises(ValueError, match=r"lu must be a 2-D array, got shape \(3,\)"):
        function((lu[0], piv), b)
    with pytest.raises(ValueError, match=r"shapes of lu \(3, 3\) and b \(4,\) are incompatible"):
        function((lu, piv), np.ones(4))
    with pytest.raises(ValueError, match=r"shapes of lu \(3, 3\) and b \(\) are incompatible"):
        function((lu, piv), np.float64(1.0))
    for trans in (3, -1, True, "T"):
        with pytest.raises(ValueError, match="trans must be 0"):
            function((lu, piv), b, trans=trans)
    with pytest.raises(TypeError, match="must be the pair"):
        function(lu, b)
    with pytest.raises(TypeError, match="b must hold real numbers"):
        function((lu, piv), b.astype(complex))


def condition_bounds(a, estimate, dtype):
    exact = np.linalg.cond(a.astype(np.float64), 1)
    # The factors are those of A + E with |E| <= n eps |L||U|, so the inverse they imply (and
    # any norm of it) is off by up to cond * n eps relative; tol(n) * cond covers it.
    upper = exact * (1 + tol(dtype, a.shape[0]) * exact)
    assert estimate <= upper, (estimate, exact)
    assert estimate >= exact / 3 / (1 + tol(dtype, a.shape[0]) * exact), (estimate, exact)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [n for n in SIZES if n])
def test_condition_estimate_random(rng, n, dtype):
    a = rng.standard_normal((n, n)).astype(dtype)
    factors = revcore.lu_factor(a)
    norm1 = float(np.abs(a).sum(axis=0).max())
    estimate = revcore.lu_condition_estimate(factors, norm1)
    assert isinstance(estimate, float)
    condition_bounds(a, estimate, dtype)
    exact_from_factors = reference.lu_condition_estimate(factors, norm1)
    assert estimate <= exact_from_factors * (1 + tol(dtype, n))
    assert estimate >= exact_from_factors / 3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3, 8, 31, 64, 128])
@pytest.mark.parametrize("condition", [1e2, 1e4, 1e6])
def test_condition_estimate_ill_conditioned(rng, n, condition, dtype):
    if dtype == np.float32 and condition > 1e4:
        condition = 1e4  # beyond ~1/(n eps) float32 factors no longer determine the inverse
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = ((u * np.geomspace(1, 1 / condition, n)) @ v.T).astype(dtype)
    estimate = revcore.lu_condition_estimate(revcore.lu_factor(a), np.abs(a).sum(0).max())
    condition_bounds(a, estimate, dtype)


def test_condition_estimate_exact_cases():
    a = np.diag([1.0, 1e-3, 2.0])
    assert revcore.lu_condition_estimate(revcore.lu_factor(a), 2.0) == pytest.approx(2000.0)
    assert revcore.lu_condition_estimate(revcore.lu_factor(np.eye(5)), 1.0) == 1.0
    empty = revcore.lu_factor(np.zeros((0, 0)))
    assert revcore.lu_condition_estimate(empty, 0.0) == reference.lu_condition_estimate(empty, 0.0)
    singular = np.array([[1.0, 2.0], [1.0, 2.0]])
    with pytest.warns(revcore.LinAlgWarning):
        factors = revcore.lu_factor(singular)
    assert revcore.lu_condition_estimate(factors, 4.0) == np.inf
    assert reference.lu_condition_estimate(factors, 4.0) == np.inf
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="norm1 must be a finite non-negative number"):
            revcore.lu_condition_estimate(revcore.lu_factor(np.eye(2)), bad)
    with pytest.raises(TypeError, match="norm1 must be a real number"):
        revcore.lu_condition_estimate(revcore.lu_factor(np.eye(2)), "1")


def test_factor_refuses():
    with pytest.raises(ValueError, match=r"a must be a 2-D array, got shape \(3,\)"):
        revcore.lu_factor(np.ones(3))
    with pytest.raises(ValueError, match=r"a must be a 2-D array, got shape \(2, 2, 2\)"):
        revcore.lu_factor(np.ones((2, 2, 2)))
    for dtype in (bool, complex, object):
        with pytest.raises(TypeError, match="a must hold real numbers"):
            revcore.lu_factor(np.eye(2, dtype=dtype))
    lu, _ = revcore.lu_factor(np.eye(2, dtype=np.int64))
    assert lu.dtype == np.float64
