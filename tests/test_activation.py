"""activate, activate_inverse and activate_derivative against the reference and calculus."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import revcore
from revcore import reference
from support import ACTIVATIONS, DTYPES, INVERTIBLE, LAYOUTS, SIZES, eps, layout

SHAPES = [(), (0,), (0, 3), (3, 0, 2)] + [(n,) for n in SIZES if n] + [(7, 13), (2, 3, 4),
                                                                        (16, 1, 31)]
SLOPES = [0.01, 0.5, 2.0]


def forward_rtol(name, x, dtype):
    """Relative tolerance of an activation's value at x.

    sigmoid goes through exp, whose condition number is |x|, so its value carries ~|x| eps of
    unavoidable relative error; the others are correctly rounded or within 2 ulps.
    """
    if name == "sigmoid":
        return 4 * eps(dtype) * (1 + np.abs(x.astype(np.float64)))
    return 4 * eps(dtype)


def inputs(rng, shape, dtype, scale=6.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def in_range(rng, name, shape, dtype):
    """Values strictly inside the open range of the inverse of `name`."""
    if name == "tanh":
        return rng.uniform(-0.999, 0.999, shape).astype(dtype)
    if name == "sigmoid":
        return rng.uniform(0.001, 0.999, shape).astype(dtype)
    return inputs(rng, shape, dtype)


def assert_close(actual, expected, rtol, atol=0.0):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    limit = rtol * np.abs(expected.astype(np.float64)) + atol
    assert np.all(error <= limit), f"max excess {np.max(error - limit, initial=0):.3g}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activate(rng, shape, name, dtype):
    x = inputs(rng, shape, dtype)
    y = revcore.activate(x, name)
    assert isinstance(y, np.ndarray) and y.shape == shape and y.dtype == dtype
    assert_close(y, reference.activate(x, name), forward_rtol(name, x, dtype),
                 atol=np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_derivative_against_reference(rng, shape, name, dtype):
    x = inputs(rng, shape, dtype)
    d = revcore.activate_derivative(x, name)
    assert d.shape == shape and d.dtype == dtype
    # The reference forms 1 - tanh^2 and s (1 - s): absolute error ~2 eps from rounding tanh
    # and s to dtype, on top of the value's own relative error.
    assert_close(d, reference.activate_derivative(x, name), forward_rtol(name, x, dtype),
                 atol=4 * eps(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INVERTIBLE)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_inverse_against_reference(rng, shape, name, dtype):
    y = in_range(rng, name, shape, dtype)
    x = revcore.activate_inverse(y, name)
    assert x.shape == shape and x.dtype == dtype
    # atanh and logit are evaluated from the same y: a few ulps relative, but logit near 1/2
    # is a difference log(y) - log1p(-y) of O(1) terms, hence an absolute eps-sized term.
    assert_close(x, reference.activate_inverse(y, name), 4 * eps(dtype), atol=4 * eps(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("negative_slope", SLOPES)
def test_leaky_relu_slopes(rng, negative_slope, dtype):
    x = inputs(rng, (257,), dtype)
    y = revcore.activate(x, "leaky_relu", negative_slope)
    # One multiplication, correctly rounded.
    assert_close(y, reference.activate(x, "leaky_relu", negative_slope), eps(dtype))
    np.testing.assert_array_equal(y[x > 0], x[x > 0])
    d = revcore.activate_derivative(x, "leaky_relu", negative_slope)
    np.testing.assert_array_equal(d, np.where(x > 0, 1, dtype(negative_slope)).astype(dtype))
    back = revcore.activate_inverse(y, "leaky_relu", negative_slope)
    # Multiply then divide by the slope: two roundings.
    assert_close(back, x, 2 * eps(dtype))
    assert_close(back, reference.activate_inverse(y, "leaky_relu", negative_slope), eps(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INVERTIBLE)
def test_round_trip(rng, name, dtype):
    limit = {"tanh": 3.0, "sigmoid": 12.0}.get(name, 1e3)
    x = rng.uniform(-limit, limit, 1000).astype(dtype)
    y = revcore.activate(x, name)
    back = revcore.activate_inverse(y, name)
    # y carries ~2 ulps; the inverse multiplies a relative error of y by |y / f'(x)| / |x|,
    # so the error in x is at most ~4 eps (|x| + |y| / f'(x)).
    x64 = x.astype(np.float64)
    y64 = reference.activate(x64, name)
    slope = reference.activate_derivative(x64, name)
    bound = 4 * eps(dtype) * (np.abs(x64) + np.abs(y64) / slope)
    assert np.all(np.abs(back.astype(np.float64) - x64) <= bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_against_finite_differences(rng, name, dtype):
    x = rng.uniform(-4, 4, 500)
    if name in ("relu", "leaky_relu"):
        x = x[np.abs(x) > 1e-3]  # away from the kink
    x = x.astype(dtype)
    x64 = x.astype(np.float64)
    # Central differences in float64 with h = cbrt(eps) * (1 + |x|): truncation h^2 |f'''| / 6
    # plus rounding eps / h, both ~ eps^(2/3) ~ 4e-11 for these bounded derivatives.
    h = np.cbrt(np.finfo(np.float64).eps) * (1 + np.abs(x64))
    fd = (revcore.activate(x64 + h, name) - revcore.activate(x64 - h, name)) / (2 * h)
    d = revcore.activate_derivative(x, name)
    # d is rounded to dtype (4 eps); the finite difference is good to ~1e-9 absolute.
    assert_close(d.astype(np.float64), fd, 4 * eps(dtype), atol=1e-9 + 4 * eps(dtype))


def test_derivative_at_kinks():
    zero = np.zeros(3)
    np.testing.assert_array_equal(revcore.activate_derivative(zero, "relu"), 0)
    np.testing.assert_array_equal(revcore.activate_derivative(zero, "leaky_relu", 0.5), 0.5)
    np.testing.assert_array_equal(revcore.activate_derivative(zero, "sigmoid"), 0.25)
    np.testing.assert_array_equal(revcore.activate_derivative(zero, "tanh"), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes(dtype):
    x = np.array([-1e4, -1000, 1000, 1e4, np.inf, -np.inf], dtype=dtype)
    sigmoid = revcore.activate(x, "sigmoid")
    np.testing.assert_array_equal(sigmoid, [0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(revcore.activate(x, "tanh"), [-1, -1, 1, 1, 1, -1])
    for name in ("sigmoid", "tanh"):
        np.testing.assert_array_equal(revcore.activate_derivative(x, name), 0)
    assert np.isnan(revcore.activate(np.array([np.nan], dtype), "tanh")).all()
    assert np.isnan(revcore.activate(np.array([np.nan], dtype), "sigmoid")).all()


@pytest.mark.parametrize("layout_kind", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_and_inputs_unchanged(rng, layout_kind, dtype):
    values = in_range(rng, "tanh", (13, 8), dtype)
    y = layout(values, layout_kind)
    for function in (revcore.activate, revcore.activate_derivative, revcore.activate_inverse):
        out = function(y, "tanh")
        expected = getattr(reference, function.__name__)(values, "tanh")
        assert_close(out, expected, 4 * eps(dtype), atol=4 * eps(dtype))
        assert not np.shares_memory(out, y)
        np.testing.assert_array_equal(y, values)


def test_lists_and_integers():
    out = revcore.activate([[1, -2]], "relu")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 0.0]])
    assert revcore.activate(np.ones(2, np.float16), "identity").dtype == np.float32
    with pytest.raises(TypeError, match="x must hold real numbers"):
        revcore.activate(np.ones(2, bool), "identity")
    with pytest.raises(TypeError, match="y must hold real numbers"):
        revcore.activate_inverse(np.ones(2, complex), "identity")


OUT_OF_RANGE = re.compile(
    r"(\d+) of (\d+) values lie outside the open range \(([^,]+), ([^)]+)\) of (\w+); "
    r"the first is y(\[[\d, ]*\])? = (.+)$"
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", [revcore.activate_inverse, reference.activate_inverse])
@pytest.mark.parametrize(
    "name,bad",
    [("tanh", [1.0, -1.0, 1.5, np.nan, np.inf]), ("sigmoid", [0.0, 1.0, -0.5, np.nan, -np.inf]),
     ("leaky_relu", [np.inf, -np.inf, np.nan]), ("identity", [np.nan, np.inf])],
)
def test_inverse_out_of_range(rng, function, name, bad, dtype):
    y = in_range(rng, name, (6, 7), dtype)
    positions = [(1, 4), (2, 0), (4, 6), (5, 5), (5, 6)][: len(bad)]
    for position, value in zip(positions, bad):
        y[position] = value
    with pytest.raises(ValueError) as info:
        function(y, name)
    assert not isinstance(info.value, revcore.NotInvertibleError)
    match = OUT_OF_RANGE.search(str(info.value))
    assert match, str(info.value)
    assert int(match[1]) == len(bad) and int(match[2]) == y.size
    assert match[5] == name
    assert match[6] == "[1, 4]"
    first = float(match[7])
    assert first == bad[0] or (math.isnan(first) and math.isnan(bad[0]))


@pytest.mark.parametrize("function", [revcore.activate_inverse, reference.activate_inverse])
def test_inverse_out_of_range_shapes(function):
    with pytest.raises(ValueError) as info:
        function(np.array(2.0), "tanh")
    match = OUT_OF_RANGE.search(str(info.value))
    assert match and match[1] == "1" and match[2] == "1" and match[6] is None
    with pytest.raises(ValueError) as info:
        function(np.array([0.5, 0.2, 0.0, 0.3, 1.0]), "sigmoid")
    match = OUT_OF_RANGE.search(str(info.value))
    assert match and match[1] == "2" and match[6] == "[2]" and float(match[7]) == 0.0


@pytest.mark.parametrize("function", [revcore.activate_inverse, reference.activate_inverse])
def test_relu_has_no_inverse(function):
    with pytest.raises(revcore.NotInvertibleError, match="relu is not a bijection"):
        function(np.array([0.5, 1.0]), "relu")
    assert issubclass(revcore.NotInvertibleError, ValueError)


@pytest.mark.parametrize("function", [revcore.activate, revcore.activate_inverse,
                                      revcore.activate_derivative, reference.activate,
                                      reference.activate_inverse, reference.activate_derivative])
def test_bad_arguments(function):
    with pytest.raises(ValueError, match="unknown activation 'softplus'; expected one of"):
        function(np.zeros(2), "softplus")
    for slope in (0.0, -1.0, math.nan, -math.inf):
        with pytest.raises(ValueError, match="negative_slope must be a finite positive number"):
            function(np.zeros(2), "leaky_relu", slope)
    with pytest.raises(TypeError, match="activation must be a string"):
        function(np.zeros(2), 3)
