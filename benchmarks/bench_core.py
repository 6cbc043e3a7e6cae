"""Activations and the dense backward pass against numpy, at one thread."""

import numpy as np
import pytest

import revcore


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_activate_inverse(benchmark, library, name):
    benchmark.group = f"activate_inverse {name} 1e6 f64"
    y = np.random.default_rng(0).uniform(0.01, 0.99, 10**6)
    if library == "revcore":
        x = benchmark(revcore.activate_inverse, y, name, 0.1)
    elif name == "tanh":
        x = benchmark(np.arctanh, y)
    elif name == "sigmoid":
        x = benchmark(lambda: np.log(y) - np.log1p(-y))
    else:
        x = benchmark(lambda: np.minimum(y, y / 0.1))
    np.testing.assert_allclose(x, revcore.reference.activate_inverse(y, name, 0.1), rtol=1e-12)


@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_dense_backward(benchmark, library):
    benchmark.group = "dense_backward tanh 256x256 f64"
    rng = np.random.default_rng(0)
    x, w, z, g = (rng.standard_normal(s) for s in ((256, 256), (256, 256), (256, 256),
                                                  (256, 256)))
    if library == "revcore":
        grads = benchmark(revcore.dense_backward, x, w, z, g, "tanh")
    else:
        def numpy_backward():
            gz = g * (1 - np.tanh(z) ** 2)
            return gz @ w, gz.T @ x, gz.sum(axis=0)

        grads = benchmark(numpy_backward)
    for a, b in zip(grads, revcore.reference.dense_backward(x, w, z, g, "tanh")):
        np.testing.assert_allclose(a, b, atol=1e-9)
