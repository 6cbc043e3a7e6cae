"""Activations and the dense backward pass against numpy, at one thread."""

import numpy as np
import pytest
import revcore

DTYPES = {"f64": np.float64, "f32": np.float32}


def _numpy_inverse(y, name):
    if name == "tanh":
        return lambda: np.arctanh(y)
    if name == "sigmoid":
        return lambda: np.log(y) - np.log1p(-y)
    return lambda: np.minimum(y, y / y.dtype.type(0.1))


def _numpy_forward(x, name):
    one = x.dtype.type(1)
    if name == "tanh":
        return lambda: np.tanh(x)
    if name == "sigmoid":
        return lambda: one / (one + np.exp(-x))
    return lambda: np.where(x > 0, x, x * x.dtype.type(0.1))


@pytest.mark.parametrize("dt", ["f64", "f32"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_activate_inverse(benchmark, library, name, dt):
    benchmark.group = f"activate_inverse {name} 1e6 {dt}"
    dtype = DTYPES[dt]
    y = np.random.default_rng(0).uniform(0.01, 0.99, 10**6).astype(dtype)
    if library == "revcore":
        x = benchmark(revcore.activate_inverse, y, name, 0.1)
    else:
        x = benchmark(_numpy_inverse(y, name))
    # float32: logit crosses 0 at y = 1/2, where float32 input rounding dominates (atol).
    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x, revcore.reference.activate_inverse(y.astype(np.float64), name,
                                                                     0.1), **tol)


@pytest.mark.parametrize("dt", ["f64", "f32"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_activate(benchmark, library, name, dt):
    benchmark.group = f"activate {name} 1e6 {dt}"
    dtype = DTYPES[dt]
    x = np.random.default_rng(0).uniform(-5, 5, 10**6).astype(dtype)
    if library == "revcore":
        y = benchmark(revcore.activate, x, name, 0.1)
    else:
        y = benchmark(_numpy_forward(x, name))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, revcore.reference.activate(x.astype(np.float64), name, 0.1),
                               rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("dt", ["f64", "f32"])
@pytest.mark.parametrize("batch", [256, 4096])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_dense_backward(benchmark, library, batch, dt):
    benchmark.group = f"dense_backward tanh {batch}x256 {dt}"
    dtype = DTYPES[dt]
    rng = np.random.default_rng(0)
    x, z, g = (rng.standard_normal((batch, 256)).astype(dtype) for _ in range(3))
    w = rng.standard_normal((256, 256)).astype(dtype)
    if library == "revcore":
        grads = benchmark(revcore.dense_backward, x, w, z, g, "tanh")
    else:
        one = dtype(1)

        def numpy_backward():
            gz = g * (one - np.tanh(z) ** 2)
            return gz @ w, gz.T @ x, gz.sum(axis=0)

        grads = benchmark(numpy_backward)
    want = revcore.reference.dense_backward(*(a.astype(np.float64) for a in (x, w, z, g)),
                                            "tanh")
    atol = 1e-9 if dtype == np.float64 else 1e-5
    for a, b in zip(grads, want):
        np.testing.assert_allclose(a, b, atol=atol * np.sqrt(batch), rtol=1e-4)
