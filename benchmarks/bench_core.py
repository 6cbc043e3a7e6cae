"""revcore's kernels against numpy and scipy, at one thread."""

import numpy as np
import pytest

import revcore

scipy_linalg = pytest.importorskip("scipy.linalg")

DTYPES = [np.float32, np.float64]


def random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [64, 256, 512])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_matmul(benchmark, library, n, dtype):
    benchmark.group = f"matmul n={n} {np.dtype(dtype).name}"
    a, b = random((n, n), dtype), random((n, n), dtype, 1)
    f = revcore.matmul if library == "revcore" else np.matmul
    c = benchmark(f, a, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-3, atol=1e-3 * n)


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
@pytest.mark.parametrize("batch, width", [(1, 64), (256, 256)])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_dense(benchmark, library, batch, width, activation):
    benchmark.group = f"dense {activation} {batch}x{width} f64"
    x, w, b = random((batch, width), np.float64), random((width, width), np.float64, 1), \
        random(width, np.float64, 2)
    if library == "revcore":
        y = benchmark(revcore.dense, x, w, b, activation, 0.1)
    elif activation == "tanh":
        y = benchmark(lambda: np.tanh(x @ w.T + b))
    else:
        y = benchmark(lambda: (lambda z: np.maximum(z, 0.1 * z))(x @ w.T + b))
    np.testing.assert_allclose(y, revcore.reference.dense(x, w, b, activation, 0.1), atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [256, 1024])
@pytest.mark.parametrize("library", ["revcore", "scipy"])
def test_lu_factor(benchmark, library, n, dtype):
    benchmark.group = f"lu_factor n={n} {np.dtype(dtype).name}"
    a = random((n, n), dtype)
    f = revcore.lu_factor if library == "revcore" else scipy_linalg.lu_factor
    lu, piv = benchmark(f, a)
    np.testing.assert_array_equal(piv, scipy_linalg.lu_factor(a)[1])


@pytest.mark.parametrize("nrhs", [1, 32, 1024])
@pytest.mark.parametrize("n", [64, 256])
@pytest.mark.parametrize("library", ["revcore", "scipy"])
def test_lu_solve(benchmark, library, n, nrhs):
    benchmark.group = f"lu_solve n={n} nrhs={nrhs} f64"
    a, b = random((n, n), np.float64), random((n, nrhs), np.float64, 1)
    factors = scipy_linalg.lu_factor(a)
    f = revcore.lu_solve if library == "revcore" else scipy_linalg.lu_solve
    x = benchmark(f, factors, b)
    np.testing.assert_allclose(a @ x, b, atol=1e-8 * n)


@pytest.mark.parametrize("batch", [1, 256])
@pytest.mark.parametrize("width", [64, 256])
@pytest.mark.parametrize("library", ["revcore", "scipy", "numpy"])
def test_network_inverse(benchmark, library, width, batch):
    benchmark.group = f"network inverse depth 8 {width}x{batch} f64"
    net = revcore.Network.random(width, 8, "leaky_relu", seed=0)
    y = net.forward(random((batch, width), np.float64))
    layers = net.layers
    if library == "revcore":
        net.inverse(y)  # factors cached before timing
        x = benchmark(net.inverse, y)
    elif library == "scipy":
        factors = [scipy_linalg.lu_factor(layer.weight) for layer in layers]

        def loop():
            x = y
            for layer, f in zip(reversed(layers), reversed(factors)):
                z = np.minimum(x, x / layer.negative_slope) - layer.bias
                x = scipy_linalg.lu_solve(f, z.T).T
            return x

        x = benchmark(loop)
    else:

        def loop():
            x = y
            for layer in reversed(layers):
                z = np.minimum(x, x / layer.negative_slope) - layer.bias
                x = np.linalg.solve(layer.weight, z.T).T
            return x

        x = benchmark(loop)
    np.testing.assert_allclose(net.forward(x), y, atol=1e-8)


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
