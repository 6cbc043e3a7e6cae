"""Reverse pass and LU kernels against scipy/numpy and revcore's own forward, one run.

Groups hold revcore's inverse (factors cached), revcore's forward on the same network and
batch (same flop count), a scipy loop with cached factors and a numpy loop calling
np.linalg.solve per layer. ``ratio`` > 1 in the summary means revcore's inverse is faster.
"""

import numpy as np
import pytest
import revcore

scipy_linalg = pytest.importorskip("scipy.linalg")

DTYPES = [np.float32, np.float64]


def random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("batch", [1, 256, 4096])
@pytest.mark.parametrize("width", [64, 256, 1024])
@pytest.mark.parametrize("library", ["revcore", "forward", "scipy", "numpy"])
def test_inverse_depth8(benchmark, library, width, batch):
    if width * width * batch > 256 * 256 * 4096 and library != "revcore":
        pytest.skip("the largest case is timed for revcore and its forward only")
    benchmark.group = f"inverse depth 8 {width}x{batch} f64"
    net = revcore.Network.random(width, 8, "leaky_relu", seed=0)
    x0 = random((batch, width), np.float64)
    y = net.forward(x0)
    layers = net.layers
    net.inverse(y)  # factors cached before timing
    if library == "revcore":
        x = benchmark(net.inverse, y)
    elif library == "forward":
        benchmark(net.forward, x0)
        return
    elif library == "scipy":
        factors = [scipy_linalg.lu_factor(layer.weight) for layer in layers]

        def loop():
            x = y
            for layer, f in zip(reversed(layers), reversed(factors)):
                z = np.minimum(x, x / layer.negative_slope) - layer.bias
                x = scipy_linalg.lu_solve(f, z.T, check_finite=False).T
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
    # Eight layers of condition 10 and leaky_relu slopes amplify rounding in x itself (about
    # 1e-4 here, for every library); the residual f(x) - y is what a correct solve keeps small.
    np.testing.assert_allclose(net.forward(x), y, atol=1e-9 * np.abs(y).max())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [256, 1024, 2048])
@pytest.mark.parametrize("library", ["revcore", "scipy"])
def test_lu_factor(benchmark, library, n, dtype):
    benchmark.group = f"lu_factor n={n} {np.dtype(dtype).name}"
    a = random((n, n), dtype)
    f = revcore.lu_factor if library == "revcore" else scipy_linalg.lu_factor
    lu, piv = benchmark.pedantic(f, (a,), rounds=5 if n < 2048 else 3, warmup_rounds=1)
    if dtype == np.float64:
        np.testing.assert_array_equal(piv, scipy_linalg.lu_factor(a)[1])
    else:
        # float32 at n = 2048: two candidate pivots can agree to within the rounding of a
        # different summation order (seen: |l| = 1 - 7e-6), so check P A = L U instead.
        lower = np.tril(lu, -1).astype(np.float64) + np.eye(n)
        perm = np.arange(n)
        for i, p in enumerate(piv):
            perm[[i, p]] = perm[[p, i]]
        residual = np.abs(a[perm] - lower @ np.triu(lu).astype(np.float64)).max()
        assert residual <= 1e-4 * np.abs(a).max() * np.sqrt(n)


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("nrhs", [1, 32, 1024])
@pytest.mark.parametrize("n", [64, 256, 1024])
@pytest.mark.parametrize("library", ["revcore", "scipy"])
def test_lu_solve(benchmark, library, n, nrhs, layout):
    benchmark.group = f"lu_solve n={n} nrhs={nrhs} b={layout} f64"
    a = random((n, n), np.float64)
    b = np.asarray(random((n, nrhs), np.float64, 1), order=layout)
    factors = scipy_linalg.lu_factor(a)
    f = revcore.lu_solve if library == "revcore" else scipy_linalg.lu_solve
    x = benchmark(f, factors, b)
    np.testing.assert_allclose(a @ x, b, atol=1e-8 * n)
