"""The GEMM and the fused dense layer against numpy, at one thread.

Each group's summary line gives numpy's median over revcore's (> 1: revcore faster) and
revcore's share of this core's peak, measured at the end of the session (independent
vector FMA chains; see conftest.py). Run with
``python -m pytest benchmarks/bench_gemm.py``.
"""

import numpy as np
import pytest

import revcore

DTYPES = [np.float32, np.float64]
ACTIVATIONS = {
    # the fastest numpy form of each activation (compare another with python -m timeit)
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "leaky_relu": lambda z: np.maximum(z, 0.01 * z),
}


def random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def record_flops(benchmark, flops, dtype):
    benchmark.extra_info["flops"] = flops
    benchmark.extra_info["dtype"] = np.dtype(dtype).name


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [512, 1023, 1024, 2048])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_square(benchmark, library, n, dtype):
    benchmark.group = f"matmul {n}^3 {np.dtype(dtype).name}"
    record_flops(benchmark, 2.0 * n**3, dtype)
    a, b = random((n, n), dtype), random((n, n), dtype, 1)
    f = revcore.matmul if library == "revcore" else np.matmul
    c = benchmark.pedantic(f, (a, b), rounds=5 if n < 2048 else 3, warmup_rounds=1)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, atol=1e-3 * np.sqrt(n))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("width", [64, 256, 1024])
@pytest.mark.parametrize("batch", [32, 256, 4096])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_layer_shapes(benchmark, library, batch, width, dtype):
    benchmark.group = f"x @ W.T {batch}x{width} {np.dtype(dtype).name}"
    record_flops(benchmark, 2.0 * batch * width**2, dtype)
    x, w = random((batch, width), dtype), random((width, width), dtype, 1)
    f = revcore.matmul if library == "revcore" else np.matmul
    y = benchmark(f, x, w.T)
    np.testing.assert_allclose(y, x.astype(np.float64) @ w.T, atol=1e-3 * np.sqrt(width))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("width", [64, 256, 1024])
@pytest.mark.parametrize("batch", [256, 4096])
@pytest.mark.parametrize("library", ["revcore", "bare numpy x@W.T", "numpy"])
def test_fused_dense(benchmark, library, batch, width, activation, dtype):
    """revcore.dense with bias and activation against numpy's bare product: the target is
    that bias and activation cost nothing (ratio against the bare product >= 1/1.05)."""
    benchmark.group = f"dense {activation} {batch}x{width} {np.dtype(dtype).name}"
    record_flops(benchmark, 2.0 * batch * width**2, dtype)
    x = random((batch, width), dtype)
    w = (random((width, width), dtype, 1) / np.sqrt(width)).astype(dtype)  # no float64 promotion
    b = random(width, dtype, 2)
    slope = 0.01
    if library == "revcore":
        benchmark(revcore.dense, x, w, b, activation, slope)
    elif library == "bare numpy x@W.T":
        benchmark(np.matmul, x, w.T)
    else:
        act = ACTIVATIONS[activation]
        benchmark(lambda: act(x @ w.T + b))


@pytest.mark.parametrize("width", [64, 128, 256])
@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_batch_one_dense(benchmark, library, width):
    benchmark.group = f"dense tanh batch 1 width {width} f64"
    x, w, b = random(width, np.float64), random((width, width), np.float64, 1), \
        random(width, np.float64, 2)
    if library == "revcore":
        y = benchmark(revcore.dense, x, w, b, "tanh")
    else:
        y = benchmark(lambda: np.tanh(x @ w.T + b))
    np.testing.assert_allclose(y, np.tanh(x @ w.T + b), atol=1e-12)


@pytest.mark.parametrize("library", ["revcore", "numpy"])
def test_python_overhead(benchmark, library):
    """The Python-to-kernel path on a 1x1 product: revcore's floor against numpy's."""
    benchmark.group = "overhead: 1x1 matmul"
    a = np.ones((1, 1))
    f = revcore.matmul if library == "revcore" else np.matmul
    benchmark(f, a, a)
