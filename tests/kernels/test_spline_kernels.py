"""The rational-quadratic spline kernels (rq_spline, rq_spline_backward) against the numpy
reference: shapes around the vector widths, shared and per-row knots, both dtypes, round trips,
finite differences, edge values, refused arguments and memory layouts.

The checks that compare with the reference run in-process (the best path of this CPU) and in
one subprocess per kernel path (REVCORE_ARCH=generic|avx2|avx512, read once per process), as
test_dispatch.py does. Run as a script (``python test_spline_kernels.py``) they print one line
per failure.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import revcore
from revcore import _core, reference
from support import DTYPES, KERNEL_PATHS, LAYOUTS, layout, run_on_kernel_path

ROWS = [0, 1, 7, 16, 33, 257]
DIMS = [1, 3, 16, 17]
BINS = [1, 2, 5, 8, 16]

# Tolerances, in units of the dtype's eps, against the reference evaluated in float64 on the
# same (rounded) inputs, each scaled by the condition of the quantity: the kernels and the
# reference evaluate the same formulas (a dozen rounded operations and one log), so what
# differs is rounding, amplified by the conditioning alone. With S = 1 + |x| + the largest
# knot magnitudes (the size of x_k and of the cancellation in x - x_k):
# forward y: (S + |y|) (1 + dy/dx); forward log-derivative: 1 + |d log-derivative/dx| S;
# inverse x: B = (S + |y|) / (dy/dx) + S + |x| (the inverse's condition); its log-derivative:
# 1 + |d log-derivative/dx| B. Measured worst over the shape grid: 3.8 eps; so 16 eps.
VALUE_RTOL = 16
# Gradients, norm-wise per array (relative to its largest entry + 1): each entry is a sum of
# ~10 products of the partial derivatives, and shared-knot gradients add up to 257 rows;
# measured worst 22 eps (float64, shared knots), so 64 eps.
GRADIENT_RTOL = 64


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def make_knots(rng, lead, bins, dtype, widths=(0.1, 1.0), log_slopes=(-2.0, 2.0)):
    """Random valid knots of shape (*lead, bins + 1): bin widths and heights drawn from
    `widths`, derivatives exp(uniform(log_slopes)), each set shifted by up to 2."""
    w = rng.uniform(*widths, (*lead, bins))
    h = rng.uniform(*widths, (*lead, bins))
    x = np.concatenate([np.zeros((*lead, 1)), np.cumsum(w, -1)], -1) - rng.uniform(0, 2, (*lead, 1))
    y = np.concatenate([np.zeros((*lead, 1)), np.cumsum(h, -1)], -1) - rng.uniform(0, 2, (*lead, 1))
    d = np.exp(rng.uniform(*log_slopes, (*lead, bins + 1)))
    return [a.astype(dtype) for a in (x, y, d)]


def inputs(rng, n, d, knots, dtype):
    """x over the knots' range widened by 1 on each side: both tails and every bin."""
    lo = float(knots[0][..., 0].min(initial=np.inf)) - 1
    hi = float(knots[0][..., -1].max(initial=-np.inf)) + 1
    if not lo < hi:  # no knot sets (n = 0 rows of per-row knots)
        lo, hi = -1.0, 1.0
    return rng.uniform(lo, hi, (n, d)).astype(dtype)


def conditioned_errors(x, knots, dtype, native_forward):
    """Errors of the native forward (its outputs given) and inverse (applied to the rounded
    true y), each over the scale of its condition, in units of eps."""
    k64 = [a.astype(np.float64) for a in knots]
    x64 = x.astype(np.float64)
    e = eps(dtype)
    knot_scale = 1 + np.abs(k64[0]).max(initial=0) + np.abs(k64[1]).max(initial=0)
    y, log_d = reference.rq_spline(x64, *k64)
    zeros, ones = np.zeros_like(x64), np.ones_like(x64)
    slope_of_log = reference.rq_spline_backward(x64, *k64, zeros, ones)[0]
    s = knot_scale + np.abs(x64)
    got_y, got_l = native_forward
    errors = {
        "forward y": np.abs(got_y - y) / (e * (s + np.abs(y)) * (1 + np.exp(log_d))),
        "forward log-derivative": np.abs(got_l - log_d) / (e * (1 + np.abs(slope_of_log) * s)),
    }
    target = y.astype(dtype)
    back, back_l = reference.rq_spline(target.astype(np.float64), *k64, inverse=True)
    # A target on the last y knot may come back a rounding outside [x_0, x_K], where
    # the slope is the tail's 0: take the slope at the clamped point.
    lo, hi = (np.broadcast_to(k64[0][..., i], x.shape) for i in (0, -1))
    inside = (target >= k64[1][..., 0]) & (target <= k64[1][..., -1])
    at = np.where(inside, np.clip(back, lo, hi), back)
    slope_of_log = reference.rq_spline_backward(at, *k64, zeros, ones)[0]
    b = (knot_scale + np.abs(target)) / np.exp(back_l) + knot_scale + np.abs(back)
    got_x, got_l = revcore.rq_spline(target, *knots, inverse=True)
    errors["inverse x"] = np.abs(got_x - back) / (e * b)
    errors["inverse log-derivative"] = np.abs(got_l - back_l) / (e * (1 + np.abs(slope_of_log) * b))
    return {name: float(np.max(v, initial=0)) for name, v in errors.items()}


# ---- checks shared by pytest and the per-path subprocesses ----------------------------------

def check_against_reference(dtype, rows=ROWS, dims=DIMS, bins_list=BINS) -> list[str]:
    failures = []
    rng = np.random.default_rng(7)
    for n, d, bins, per_row in itertools.product(rows, dims, bins_list, (False, True)):
        where = f"{np.dtype(dtype).name} n={n} d={d} K={bins} per_row={per_row}"
        knots = make_knots(rng, (n, d) if per_row else (d,), bins, dtype)
        x = inputs(rng, n, d, knots, dtype)
        forward = revcore.rq_spline(x, *knots)
        for out in forward:
            if out.dtype != dtype or out.shape != (n, d) or not out.flags.c_contiguous:
                failures.append(f"{where}: output {out.dtype} {out.shape}")
        errors = conditioned_errors(x, knots, dtype, forward)
        failures += [f"{where}: {name} error {v:.3g} eps (conditioned)"
                     for name, v in errors.items() if not v <= VALUE_RTOL]
        g_out = rng.standard_normal((n, d)).astype(dtype)
        g_log = rng.standard_normal((n, d)).astype(dtype)
        got = revcore.rq_spline_backward(x, *knots, g_out, g_log)
        want = reference.rq_spline_backward(
            *(a.astype(np.float64) for a in (x, *knots, g_out, g_log)))
        for name, g, w in zip(("x", "x_knots", "y_knots", "derivatives"), got, want):
            if g.dtype != dtype or g.shape != w.shape:
                failures.append(f"{where}: grad_{name} {g.dtype} {g.shape}, expected {w.shape}")
                continue
            error = np.abs(g - w).max(initial=0) / (eps(dtype) * (np.abs(w).max(initial=0) + 1))
            if not error <= GRADIENT_RTOL:
                failures.append(f"{where}: grad_{name} error {error:.3g} eps (norm-wise)")
    return failures


def check_extreme_slopes(dtype) -> list[str]:
    """Derivatives 1e-3..1e3 and bins of very unequal widths (1e-3..1), against the
    reference with the same conditioned bounds, plus the round trip in float64."""
    failures = []
    rng = np.random.default_rng(11)
    for per_row, bins in itertools.product((False, True), (1, 4, 9)):
        n, d = 65, 17
        knots = make_knots(rng, (n, d) if per_row else (d,), bins, np.float64,
                           widths=(1e-3, 1.0), log_slopes=(np.log(1e-3), np.log(1e3)))
        knots = [a.astype(dtype) for a in knots]
        x = inputs(rng, n, d, knots, dtype)
        errors = conditioned_errors(x, knots, dtype, revcore.rq_spline(x, *knots))
        failures += [f"extreme slopes {np.dtype(dtype).name} K={bins} per_row={per_row}: "
                     f"{name} error {v:.3g} eps" for name, v in errors.items()
                     if not v <= VALUE_RTOL]
    return failures


CHECKS = [check_against_reference, check_extreme_slopes]


def run_all() -> list[str]:
    return [failure for dtype in DTYPES for check in CHECKS for failure in check(dtype)]


# ---- pytest: the checks above on this CPU's best path -----------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", ROWS)
def test_matches_reference(dtype, n):
    failures = check_against_reference(dtype, rows=[n])
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_slopes(dtype):
    failures = check_extreme_slopes(dtype)
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("path", KERNEL_PATHS)
def test_every_path(path):
    run_on_kernel_path(Path(__file__), path)


# ---- pytest: properties ---------------------------------------------------------------------

def interior(rng, knots, shape, margin=1e-3):
    """x strictly inside the knots' range of each element, away from every knot by margin
    (relative to the bin), so that finite differences stay within one bin."""
    xk = np.broadcast_to(knots, (*shape, knots.shape[-1]))
    bins = xk.shape[-1] - 1
    k = rng.integers(0, bins, shape)
    lo = np.take_along_axis(xk, k[..., None], -1)[..., 0]
    hi = np.take_along_axis(xk, k[..., None] + 1, -1)[..., 0]
    return lo + (hi - lo) * rng.uniform(margin, 1 - margin, shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("bins", [1, 2, 8])
def test_round_trip(dtype, per_row, bins, rng):
    n, d = 33, 17
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, dtype)
    x = interior(rng, knots[0].astype(np.float64), (n, d), margin=0).astype(dtype)
    y, log_d = revcore.rq_spline(x, *knots)
    back, back_log_d = revcore.rq_spline(y, *knots, inverse=True)
    # x -> y -> x loses at most the conditioning of the inverse times y's rounding: with
    # slopes >= e^-2 and |x|, |y| <= 20 that is below 1e3 eps absolute.
    np.testing.assert_allclose(back, x, rtol=0, atol=1e3 * eps(dtype))
    # The inverse's log-derivative is the forward's at the x found.
    np.testing.assert_allclose(back_log_d, log_d, rtol=0, atol=1e4 * eps(dtype))


@pytest.mark.parametrize("per_row", [False, True])
def test_log_derivative_is_slope_of_forward(per_row, rng):
    n, d, bins = 9, 5, 6
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, np.float64)
    x = interior(rng, knots[0], (n, d))
    step = 1e-6
    up = revcore.rq_spline(x + step, *knots)[0]
    down = revcore.rq_spline(x - step, *knots)[0]
    slope = (up - down) / (2 * step)
    # Central differences: truncation ~ step^2 |y'''| and rounding ~ eps |y| / step, both
    # ~1e-10 here relative to slopes of order 1.
    np.testing.assert_allclose(revcore.rq_spline(x, *knots)[1], np.log(slope), atol=1e-7)


@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("cotangents", ["both", "out", "log_derivative"])
def test_backward_matches_finite_differences(per_row, cotangents, rng):
    n, d, bins = 4, 3, 5
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, np.float64)
    x = interior(rng, knots[0], (n, d))
    x[0, 0] = knots[0][..., 0].min() - 0.5  # one element in the left tail
    g_out = rng.standard_normal((n, d)) * (cotangents != "log_derivative")
    g_log = rng.standard_normal((n, d)) * (cotangents != "out")

    def loss(args):
        y, log_d = revcore.rq_spline(*args)
        return float((g_out * y).sum() + (g_log * log_d).sum())

    args = [x, *knots]
    grads = revcore.rq_spline_backward(*args, g_out, g_log)
    step = 1e-6
    for i, (name, grad) in enumerate(zip(("x", "x_knots", "y_knots", "derivatives"), grads)):
        assert grad.shape == args[i].shape
        numeric = np.zeros_like(args[i])
        for index in np.ndindex(args[i].shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[i][index] += step
            minus[i][index] -= step
            numeric[index] = (loss(plus) - loss(minus)) / (2 * step)
        # Central differences of a smooth function: truncation and rounding ~1e-9 here.
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6, err_msg=name)
        assert np.abs(numeric).max() > 1e-3  # the loss does depend on these arguments


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_row", [False, True])
def test_values_on_the_knots(dtype, per_row, rng):
    n, d, bins = 3, 4, 5
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, dtype)
    xk, yk, dk = (np.broadcast_to(a, (n, d, bins + 1)) for a in knots)
    for k in range(bins + 1):
        x = np.ascontiguousarray(xk[..., k])
        y, log_d = revcore.rq_spline(x, *knots)
        # On a knot xi is exactly 0 (or 1 on the last): y is y_k up to the one rounding of
        # y_{K-1} + (y_K - y_{K-1}), and the slope is d_k up to a few operations.
        np.testing.assert_allclose(y, yk[..., k], rtol=2 * eps(dtype), atol=2 * eps(dtype))
        np.testing.assert_allclose(log_d, np.log(dk[..., k]), rtol=0, atol=16 * eps(dtype))
        back = revcore.rq_spline(np.ascontiguousarray(yk[..., k]), *knots, inverse=True)[0]
        np.testing.assert_allclose(back, x, rtol=4 * eps(dtype), atol=4 * eps(dtype))
        # The inverse's log-derivative at a knot: the root xi is 0 or 1 up to rounding, which
        # the slope of the log-derivative amplifies; the conditioned bound covers it.
        errors = conditioned_errors(x, knots, dtype, (y, log_d))
        assert max(errors.values()) <= VALUE_RTOL, errors


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("inverse", [False, True])
def test_tails_and_special_values(dtype, inverse, rng):
    knots = make_knots(rng, (3,), 4, dtype)
    lo = knots[1 if inverse else 0][:, 0]
    hi = knots[1 if inverse else 0][:, -1]
    x = np.array([lo - 1, hi + 0.5, [np.inf] * 3, [-np.inf] * 3, [np.nan] * 3,
                  np.nextafter(lo, -np.inf)], dtype=dtype)
    out, log_d = revcore.rq_spline(x, *knots, inverse=inverse)
    np.testing.assert_array_equal(out, x)  # identity tails, NaN stays NaN
    np.testing.assert_array_equal(log_d[[0, 1, 2, 3, 5]], 0)
    assert np.isnan(log_d[4]).all()
    if not inverse:
        g_out = rng.standard_normal(x.shape).astype(dtype)
        grads = revcore.rq_spline_backward(x, *knots, g_out, np.ones_like(x))
        np.testing.assert_array_equal(grads[0][[0, 1, 2, 3, 5]], g_out[[0, 1, 2, 3, 5]])
        assert np.isnan(grads[0][4]).all()
        for grad in grads[1:]:  # nothing in the tails moves a knot
            np.testing.assert_array_equal(grad, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_the_serial_result(dtype, rng):
    n, d, bins = 600, 16, 8  # above the threading threshold
    for per_row in (False, True):
        knots = make_knots(rng, (n, d) if per_row else (d,), bins, dtype)
        x = inputs(rng, n, d, knots, dtype)
        g = rng.standard_normal((2, n, d)).astype(dtype)
        with revcore.num_threads(1):
            serial = (*revcore.rq_spline(x, *knots), *revcore.rq_spline(x, *knots, inverse=True),
                      *revcore.rq_spline_backward(x, *knots, *g))
        with revcore.num_threads(2):
            threaded = (*revcore.rq_spline(x, *knots),
                        *revcore.rq_spline(x, *knots, inverse=True),
                        *revcore.rq_spline_backward(x, *knots, *g))
        for i, (a, b) in enumerate(zip(serial, threaded)):
            if i == 5 and not per_row or i > 5 and not per_row:
                # Shared-knot gradients add two partial sums instead of one running sum.
                np.testing.assert_allclose(a, b, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                           atol=1e-3 if dtype == np.float32 else 1e-10)
            else:
                np.testing.assert_array_equal(a, b)


# ---- refused arguments ------------------------------------------------------------------------

def _good(n=4, d=3, bins=3, per_row=False, seed=0):
    rng = np.random.default_rng(seed)
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, np.float64)
    return rng.standard_normal((n, d)), knots


def _bad_knots():
    """(description, knots edit, words the message must contain)."""
    def edit(array, index, value):
        def apply(knots):
            knots = [a.copy() for a in knots]
            knots[array][index] = value
            return knots
        return apply

    def equal(array, index):
        def apply(knots):
            knots = [a.copy() for a in knots]
            knots[array][index + (1,)] = knots[array][index + (0,)]
            return knots
        return apply

    return [
        ("equal x knots", equal(0, (1,)), "x_knots must be strictly increasing"),
        ("equal y knots", equal(1, (2,)), "y_knots must be strictly increasing"),
        ("decreasing x knots", edit(0, (0, 2), -50.0), "x_knots must be strictly increasing"),
        ("negative derivative", edit(2, (1, 0), -1.0), "derivatives must be positive"),
        ("zero derivative", edit(2, (2, 3), 0.0), "derivatives must be positive"),
        ("infinite derivative", edit(2, (0, 1), np.inf), "derivatives must be positive"),
        ("NaN x knot", edit(0, (1, 2), np.nan), "x_knots must be finite"),
        ("infinite y knot", edit(1, (2, 3), np.inf), "y_knots must be finite"),
    ]


@pytest.mark.parametrize("case", _bad_knots(), ids=lambda c: c[0])
@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("function", ["forward", "inverse", "backward"])
def test_invalid_knots_refused(case, per_row, function):
    _, apply, words = case
    x, knots = _good(per_row=per_row)
    if per_row:  # put the fault in row 2 (the edits address (dimension, knot))
        bad = [a.copy() for a in knots]
        row = apply([a[2] for a in knots])
        for a, r in zip(bad, row):
            a[2] = r
    else:
        bad = apply(knots)
    copies = [a.copy() for a in bad]
    messages = []
    for module in (revcore, reference):
        with pytest.raises(ValueError) as info:
            if function == "backward":
                module.rq_spline_backward(x, *bad, np.ones_like(x), np.ones_like(x))
            else:
                module.rq_spline(x, *bad, inverse=function == "inverse")
        messages.append(str(info.value))
    assert messages[0] == messages[1]  # native and reference say the same
    assert words in messages[0]
    assert ("row 2, dimension" if per_row else "(dimension") in messages[0]
    for a, b in zip(bad, copies):
        np.testing.assert_array_equal(a, b)


def test_equal_knots_message_names_the_knots():
    x, knots = _good()
    knots[0][1, 2] = knots[0][1, 1]
    with pytest.raises(ValueError, match=re.escape(
            f"x_knots[1, 2] = {knots[0][1, 2]} is not above x_knots[1, 1] = "
            f"{knots[0][1, 1]} (dimension 1)")):
        revcore.rq_spline(x, *knots)


@pytest.mark.parametrize("module", [revcore, reference], ids=["native", "reference"])
def test_wrong_shapes_refused(module):
    x, (xk, yk, dk) = _good(n=4, d=3, bins=3)
    cases = [
        ((x[0], xk, yk, dk), r"x must have shape \(n, d\)"),
        ((x[None], xk, yk, dk), r"x must have shape \(n, d\)"),
        ((x, xk[:2], yk[:2], dk[:2]), r"shape \(3, K\+1\) .* or \(4, 3, K\+1\)"),
        ((x, xk[:, :1], yk[:, :1], dk[:, :1]), "K >= 1"),
        ((x, xk, yk[:, :-1], dk), "must have one shape"),
        ((x, np.broadcast_to(xk, (5, 3, 4)), np.broadcast_to(yk, (5, 3, 4)),
          np.broadcast_to(dk, (5, 3, 4))), r"\(4, 3, K\+1\)"),
        ((x, xk[0], yk[0], dk[0]), r"\(3, K\+1\)"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            module.rq_spline(*args)
        with pytest.raises(ValueError, match=message):
            module.rq_spline_backward(*args, np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_out must have the shape of x \(4, 3\)"):
        module.rq_spline_backward(x, xk, yk, dk, np.ones((3, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_log_derivative must have the shape of x"):
        module.rq_spline_backward(x, xk, yk, dk, np.ones((4, 3)), np.ones(3))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        module.rq_spline(x.astype(complex), xk, yk, dk)
    with pytest.raises(TypeError, match="inverse must be True or False"):
        module.rq_spline(x, xk, yk, dk, inverse="yes")


def test_core_refuses_inconsistent_arrays():
    x, (xk, yk, dk) = _good()
    with pytest.raises(ValueError, match="knots"):
        _core.rq_spline(x, xk[:, :1], yk[:, :1], dk[:, :1], False)
    with pytest.raises(TypeError):
        _core.rq_spline(x, xk.astype(np.float32), yk, dk, False)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.rq_spline(np.asfortranarray(np.ones((3, 3))), xk, yk, dk, False)


# ---- dtypes and memory layouts ---------------------------------------------------------------

def test_dtype_promotion():
    x, knots = _good()
    out, log_d = revcore.rq_spline(x.astype(np.float32), *(a.astype(np.float32) for a in knots))
    assert out.dtype == log_d.dtype == np.float32
    out, _ = revcore.rq_spline(x.astype(np.float32), *knots)  # float64 knots promote
    assert out.dtype == np.float64
    out, _ = revcore.rq_spline(np.zeros((4, 3), dtype=np.int64), *knots)
    assert out.dtype == np.float64
    grads = revcore.rq_spline_backward(x.astype(np.float32), *(a.astype(np.float32) for a in knots),
                                       np.ones((4, 3), np.float32), np.ones((4, 3)))
    assert all(g.dtype == np.float64 for g in grads)  # a float64 cotangent promotes too


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("per_row", [False, True])
def test_layouts_and_inputs_unmodified(kind, per_row, rng):
    n, d, bins = 6, 5, 4
    knots = make_knots(rng, (n, d) if per_row else (d,), bins, np.float64)
    x = inputs(rng, n, d, knots, np.float64)
    g = rng.standard_normal((2, n, d))
    expected = (*revcore.rq_spline(x, *knots), *revcore.rq_spline(x, *knots, inverse=True),
                *revcore.rq_spline_backward(x, *knots, *g))
    views = [layout(a, kind) for a in (x, *knots, g[0], g[1])]
    before = [v.copy() for v in views]
    got = (*revcore.rq_spline(*views[:4]), *revcore.rq_spline(*views[:4], inverse=True),
           *revcore.rq_spline_backward(*views))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.flags.c_contiguous
    for v, b in zip(views, before):
        np.testing.assert_array_equal(v, b)




def test_benchmark_cases_compute_the_same():
    from revcore import bench

    cases = bench._spline_cases(np.random.default_rng(0), np.float64, True, None)
    assert [case[0] for case in cases] == [f"rq_spline {kind}" for kind in
                                          ("forward", "inverse", "backward")] * 2
    for _, shape, _, _, calls in cases:
        ours, numpy_result = calls["revcore"](), calls["numpy"]()
        for a, b in zip(ours, numpy_result):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=shape)


def main() -> int:
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    failures = []
    kernel = _core.build_info()["kernel"]
    if wanted and kernel != wanted:
        failures.append(f"asked for {wanted}, got {kernel}")
    failures += run_all()
    for failure in failures[:200]:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
