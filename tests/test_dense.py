"""revcore.dense against the numpy reference for every activation, with and without bias."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import revcore
from revcore import reference
from support import ACTIVATIONS, DTYPES, LAYOUTS, assert_close_scaled, eps, layout, tol

SLOPES = [0.01, 0.5, 2.0]
# (batch, n_features, n_out); batch None means a 1-D x.
SHAPES = [
    (None, 1, 1), (None, 7, 13), (None, 257, 3), (0, 3, 5), (1, 1, 1), (2, 3, 2), (3, 8, 7),
    (13, 16, 31), (64, 97, 8), (8, 0, 3), (5, 4, 0), (128, 31, 64), (257, 13, 2),
]


def bound(x, weight, bias, activation, negative_slope, dtype):
    """Entrywise error bound of dense(): the pre-activation's dot-product bound times the
    activation's Lipschitz constant, plus the activation's own rounding."""
    x2 = np.atleast_2d(x).astype(np.float64)
    scale = np.abs(x2) @ np.abs(weight.astype(np.float64)).T
    if bias is not None:
        scale = scale + np.abs(bias.astype(np.float64))
    lipschitz = {"leaky_relu": max(1.0, negative_slope), "sigmoid": 0.25}.get(activation, 1.0)
    k = weight.shape[1] + 1
    # tol(dtype, k) covers the k-term sum (bias included); the activation itself adds a few
    # ulps of its result, bounded by 4 eps * (1 + |y|) and here by 8 eps on [-1, 1]-ish outputs.
    out = lipschitz * tol(dtype, k) * scale + 8 * eps(dtype) * (1 + np.abs(scale))
    return out[0] if np.ndim(x) == 1 else out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch,n_in,n_out", SHAPES)
def test_against_reference(rng, batch, n_in, n_out, activation, with_bias, dtype):
    x_shape = (n_in,) if batch is None else (batch, n_in)
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = (rng.standard_normal((n_out, n_in)) / math.sqrt(max(n_in, 1))).astype(dtype)
    bias = rng.standard_normal(n_out).astype(dtype) if with_bias else None
    y = revcore.dense(x, weight, bias, activation)
    expected = reference.dense(x, weight, bias, activation)
    assert y.shape == expected.shape == x_shape[:-1] + (n_out,)
    assert y.dtype == dtype
    assert_close_scaled(y, expected, bound(x, weight, bias, activation, 0.01, dtype), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("negative_slope", SLOPES)
@pytest.mark.parametrize("x_ndim", [1, 2])
def test_leaky_relu_slopes(rng, negative_slope, x_ndim, dtype):
    x = rng.standard_normal((31, 16)[2 - x_ndim:]).astype(dtype)
    weight = rng.standard_normal((13, 16)).astype(dtype)
    bias = rng.standard_normal(13).astype(dtype)
    y = revcore.dense(x, weight, bias, "leaky_relu", negative_slope)
    expected = reference.dense(x, weight, bias, "leaky_relu", negative_slope)
    assert_close_scaled(y, expected, bound(x, weight, bias, "leaky_relu", negative_slope, dtype),
                        1.0)
    z = reference.dense(x, weight, bias)
    negative = z < -1e-3  # away from the kink, where rounding could flip the branch
    np.testing.assert_array_equal(np.sign(y[negative]), -1)
    # On the negative side the slope is applied exactly as given (not min/max of z, a z).
    ratio = y[negative].astype(np.float64) / z[negative].astype(np.float64)
    np.testing.assert_allclose(ratio, negative_slope, rtol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_kind", LAYOUTS)
def test_layouts(rng, layout_kind, dtype):
    x0 = rng.standard_normal((13, 7)).astype(dtype)
    w0 = rng.standard_normal((5, 7)).astype(dtype)
    b0 = rng.standard_normal(5).astype(dtype)
    x, weight, bias = (layout(a, layout_kind) for a in (x0, w0, b0))
    y = revcore.dense(x, weight, bias, "tanh")
    expected = reference.dense(x0, w0, b0, "tanh")
    assert_close_scaled(y, expected, bound(x0, w0, b0, "tanh", 0.01, dtype), 1.0)
    for view, original in ((x, x0), (weight, w0), (bias, b0)):
        np.testing.assert_array_equal(view, original)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_values(dtype):
    x = np.array([[1000.0], [-1000.0], [0.0], [40.0], [-40.0]], dtype=dtype)
    weight = np.ones((1, 1), dtype=dtype)
    sigmoid = revcore.dense(x, weight, activation="sigmoid")[:, 0]
    assert np.all(np.isfinite(sigmoid))
    assert sigmoid[0] == 1 and sigmoid[1] == 0 and sigmoid[2] == 0.5
    # sigmoid(-40) = 4.25e-18 is a normal number in both dtypes: no underflow to 0, and
    # full relative accuracy up to exp's condition number |z| = 40.
    np.testing.assert_allclose(sigmoid[4], 1 / (1 + math.exp(40)), rtol=40 * 4 * eps(dtype))
    tanh = revcore.dense(x, weight, activation="tanh")[:, 0]
    np.testing.assert_array_equal(tanh[:3], [1, -1, 0])
    np.testing.assert_array_equal(tanh[3:], [1, -1])  # tanh(40) rounds to 1 in both dtypes
    for activation in ("identity", "relu", "leaky_relu"):
        y = revcore.dense(x, weight, activation=activation)
        np.testing.assert_array_equal(y, reference.dense(x, weight, activation=activation))


def test_promotion():
    x = np.ones((2, 3), dtype=np.float32)
    weight = np.ones((4, 3), dtype=np.float32)
    assert revcore.dense(x, weight).dtype == np.float32
    assert revcore.dense(x, weight, np.zeros(4)).dtype == np.float64
    assert revcore.dense(x.astype(np.int64), weight).dtype == np.float64
    assert revcore.dense(x, weight.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("function", [revcore.dense, reference.dense])
def test_bad_bias_shape(function):
    x, weight = np.ones((2, 3)), np.ones((4, 3))
    for bias in (np.ones(3), np.ones((4, 1)), np.ones(()), np.ones(5)):
        expected = r"bias must have shape \(4,\) to match weight \(4, 3\), got "
        with pytest.raises(ValueError, match=expected + re.escape(str(bias.shape))):
            function(x, weight, bias)


@pytest.mark.parametrize("function", [revcore.dense, reference.dense])
def test_bad_shapes(function):
    with pytest.raises(ValueError, match=r"x has 2 features but weight \(4, 3\)"):
        function(np.ones((5, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"weight must be a 2-D array, got shape \(3,\)"):
        function(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"x must have shape .* got \(2, 2, 3\)"):
        function(np.ones((2, 2, 3)), np.ones((4, 3)))


@pytest.mark.parametrize("function", [revcore.dense, reference.dense])
@pytest.mark.parametrize("name", ["softmax", "Tanh", ""])
def test_unknown_activation(function, name):
    with pytest.raises(ValueError, match=f"unknown activation {name!r}; expected one of"):
        function(np.ones(3), np.ones((2, 3)), activation=name)


@pytest.mark.parametrize("function", [revcore.dense, reference.dense])
@pytest.mark.parametrize("slope", [0.0, -0.5, -1e-300, math.nan, math.inf])
def test_bad_slope(function, slope):
    with pytest.raises(ValueError, match="negative_slope must be a finite positive number"):
        function(np.ones(3), np.ones((2, 3)), activation="leaky_relu", negative_slope=slope)


def test_bad_types():
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        revcore.dense(np.ones(3), np.ones((2, 3)), activation="leaky_relu", negative_slope="1")
    with pytest.raises(TypeError, match="activation must be a string"):
        revcore.dense(np.ones(3), np.ones((2, 3)), activation=None)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        revcore.dense(np.ones(3, dtype=complex), np.ones((2, 3)))
    with pytest.raises(TypeError, match="weight must hold real numbers"):
        revcore.dense(np.ones(3), np.ones((2, 3), dtype=bool))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_unchanged(rng, dtype):
    x = rng.standard_normal((8, 5)).astype(dtype)
    weight = rng.standard_normal((3, 5)).astype(dtype)
    bias = rng.standard_normal(3).astype(dtype)
    copies = [a.copy() for a in (x, weight, bias)]
    for activation in ACTIVATIONS:
        y = revcore.dense(x, weight, bias, activation)
        assert not any(np.shares_memory(y, a) for a in (x, weight, bias))
    for array, copy in zip((x, weight, bias), copies):
        np.testing.assert_array_equal(array, copy)
