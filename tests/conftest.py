"""Shared fixtures and helpers: seeded generators, per-dtype tolerances, memory layouts."""

from __future__ import annotations

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 2, 3, 7, 8, 13, 16, 31, 64, 97, 128, 257]
LAYOUTS = ["C", "F", "strided", "negative", "readonly", "misaligned"]


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id, so every parametrization draws its own data."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % 2**32
    return np.random.default_rng(seed)


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


def describe_layout(a: np.ndarray) -> str:
    return f"{a.shape} strides={a.strides} aligned={a.ctypes.data % a.itemsize == 0}"
