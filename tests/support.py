"""Helpers shared by the test modules: dtypes, sizes, memory layouts, tolerances, seeds.

conftest.py holds the fixtures only; test modules import what they need from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import revcore
from revcore import _core
from revcore._activations import ACTIVATIONS as _REGISTRY
from revcore._activations import BIJECTIVE
from revcore._backend import Backend
from revcore.reference import _ReferenceBackend

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "INVERTIBLE",
    "LAYOUTS",
    "SIZES",
    "assert_close_scaled",
    "assert_same_network",
    "check_layer_gradients",
    "eps",
    "layout",
    "make_network",
    "numerical_jacobian",
    "seed_for",
    "tol",
]

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 2, 3, 7, 8, 13, 16, 31, 64, 97, 128, 257]
LAYOUTS = ["C", "F", "strided", "negative", "readonly", "misaligned"]
# Every activation, and those that are bijections, as the package's registry lists them.
ACTIVATIONS = list(_REGISTRY)
INVERTIBLE = list(BIJECTIVE)


def seed_for(text: str) -> int:
    """A seed derived from a string (a test id), so every parametrization draws its own data."""
    return sum(ord(c) * (i + 1) for i, c in enumerate(text)) % 2**32


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def tol(dtype, n: int = 1) -> float:
    """Relative tolerance for a result that sums n rounded products.

    Rounding error of a k-term dot product is bounded by k*eps*sum|a_i b_i| in the worst case;
    with random signs it grows like sqrt(k)*eps, and the 8*n*eps used here (4x the
    worst case) keeps even unlucky float32 sums of up to a few hundred terms inside.
    """
    return 8 * max(n, 1) * eps(dtype)


def assert_close_scaled(actual, expected, scale, rtol) -> None:
    """|actual - expected| <= rtol * scale elementwise, scale being a magnitude bound."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = rtol * np.asarray(scale, dtype=np.float64) + np.finfo(np.float64).tiny
    worst = np.max(error / bound, initial=0.0)
    assert worst <= 1, f"error {worst:.3g} times the tolerance"
def layout(values: np.ndarray, kind: str) -> np.ndarray:
    """A view of `values` (same numbers, same dtype) in the memory layout named `kind`."""
    values = np.asarray(values)
    if kind == "C":
        out = np.ascontiguousarray(values)
    elif kind == "F":
        out = np.asfortranarray(values)
    elif kind == "strided":
        big = np.zeros((2 * values.shape[0],) + values.shape[1:], dtype=values.dtype) \
            if values.ndim else values.copy()
        if values.ndim:
            big[::2] = values
            out = big[::2]
        else:
            out = big
    elif kind == "negative":
        out = values[::-1].copy()[::-1] if values.ndim else values.copy()
    elif kind == "readonly":
        out = values.copy()
        out.flags.writeable = False
    elif kind == "misaligned":
        buffer = bytearray(values.nbytes + 1)
        out = np.frombuffer(buffer, dtype=values.dtype, count=values.size, offset=1)
        out = out.reshape(values.shape)
        out[...] = values
    else:  # pragma: no cover
        raise ValueError(kind)
    np.testing.assert_array_equal(out, values)
    return out


def make_network(dtype=np.float64, seed=0):
    """A small 3-layer network with every kind of bias (given, absent) and mixed activations."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((5, 5)) for _ in range(3)]
    biases = [rng.standard_normal(5), None, rng.standard_normal(5)]
    return revcore.Network.from_weights(
        [w.astype(dtype) for w in weights],
        [None if b is None else b.astype(dtype) for b in biases],
        ["leaky_relu", "tanh", "identity"],
        [0.2, 0.01, 0.01],
    )


def assert_same_network(a, b):
    """Same dtype, depth, weights, biases, activations and slopes."""
    assert a.dtype == b.dtype and a.depth == b.depth
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert la.activation == lb.activation and la.negative_slope == lb.negative_slope


def numerical_jacobian(f, x, h=1e-6):
    return np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))], axis=1)


def check_layer_gradients(cls, params, x, rng, h=1e-6):
    """train_backward against central differences of S = sum(G * y) + sum(g * log|det J|)."""
    y, _, cache = cls.train_forward(params, x, Backend())
    G, g = rng.standard_normal(y.shape), rng.standard_normal(len(x))

    def S(p, xx):
        yy, ll, _ = cls.train_forward(p, xx, _ReferenceBackend())
        return float((G * yy).sum() + (g * ll).sum())

    grad_x, grads = cls.train_backward(params, cache, G, g, Backend())
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        numeric[idx] = (S(params, xp) - S(params, xm)) / (2 * h)
    np.testing.assert_allclose(grad_x, numeric, rtol=1e-6, atol=1e-7)
    for key, grad in grads.items():
        numeric = np.zeros_like(grad)
        for idx in np.ndindex(grad.shape):
            p = {k: v.copy() for k, v in params.items()}
            p[key][idx] += h
            up = S(p, x)
            p[key][idx] -= 2 * h
            numeric[idx] = (up - S(p, x)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7, err_msg=key)


def check_objective_gradients(model, x, y, beta, rtol=1e-5, atol=1e-8):
    """The training objective's gradients (native) against central differences of its value
    (numpy reference), for every trainable array of ``model``."""
    from revcore._training import objective

    _, grads = objective(model, x, y, beta, Backend(), gradients=True)
    h = 1e-6
    for array, grad in zip(model.trainable(), grads):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + h
            up = objective(model, x, y, beta, _ReferenceBackend())[0]
            array[idx] = old - h
            numeric[idx] = (up - objective(model, x, y, beta, _ReferenceBackend())[0]) / (2 * h)
            array[idx] = old
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)


#: The kernel paths, from the most portable to the fastest.
KERNEL_PATHS = ["generic", "avx2", "avx512"]


def run_on_kernel_path(script, path):
    """Run ``script`` (a test module that checks its kernels when run as a program with the
    path's name as argument) with ``REVCORE_ARCH=path`` in a fresh interpreter, and fail
    with its output if it fails; skip paths this CPU cannot run."""
    best = _core.build_info()["kernel"]
    if KERNEL_PATHS.index(path) > KERNEL_PATHS.index(best):
        pytest.skip(f"this CPU runs {best} at best")
    env = dict(os.environ, REVCORE_ARCH=path)
    # support.py sits beside the tests, which a script run does not put on sys.path.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                      env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, str(script), path], env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def assert_log_det_matches_jacobian(log_det, x, forward, atol):
    """``log_det[i]`` against ``log |det|`` of the central-difference Jacobian of
    ``forward(v, i)`` (row i's map) at ``x[i]``, for every row."""
    for i, row in enumerate(x):
        jacobian = numerical_jacobian(lambda v, i=i: forward(v, i), row)
        np.testing.assert_allclose(log_det[i], np.linalg.slogdet(jacobian)[1], rtol=0,
                                   atol=atol)
