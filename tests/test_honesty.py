"""Numerical honesty: singular and ill-conditioned layers are refused, never inverted silently;
the condition estimate tracks the true condition number closely enough for the threshold.

Not here yet: the error bound of inverse(return_info=True) (merged from the LU branch) must
bound the error observed on random targets for the matrices below; to be added with the LU
engineer, who defines what the bound covers.
"""

from __future__ import annotations

import numpy as np
import pytest

import revcore
from support import DTYPES


def true_condition(a: np.ndarray) -> float:
    """||A||_1 ||A^-1||_1 of the matrix as stored, in float64 (accurate below ~1e15)."""
    a = a.astype(np.float64)
    return float(np.linalg.norm(a, 1) * np.linalg.norm(np.linalg.inv(a), 1))


def with_condition(n: int, condition: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((n, n)))[0]
    v = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (u * np.geomspace(1, 1 / condition, n)) @ v.T


def hilbert(n: int) -> np.ndarray:
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1)


def candidates():
    for dtype in DTYPES:
        for n in (3, 5, 8, 10):
            yield pytest.param(dtype, ("hilbert", n), id=f"hilbert{n}-{np.dtype(dtype).name}")
        for exponent in range(2, 15, 2):
            yield pytest.param(dtype, ("random", exponent),
                               id=f"cond1e{exponent}-{np.dtype(dtype).name}")


def matrix(kind) -> np.ndarray:
    name, value = kind
    if name == "hilbert":
        return 7.0 * hilbert(value)  # scaled: the scale must not matter
    return 3.0 * with_condition(24, 10.0 ** value, seed=value)


@pytest.mark.parametrize("dtype,kind", list(candidates()))
def test_threshold_refuses_what_it_should(dtype, kind):
    weight = matrix(kind).astype(dtype)
    n = weight.shape[0]
    net = revcore.Network.from_weights([weight], None, "identity")
    threshold = net.threshold(dtype)
    truth = true_condition(weight)
    report = net.check()[0]
    estimate = report.condition_estimate
    y = np.random.default_rng(0).standard_normal((3, n)).astype(dtype)
    # Far above the threshold: refused by check() and inverse(), whatever the estimate's error.
    if truth > 10 * threshold:
        assert not report.invertible
        with pytest.raises(revcore.NotInvertibleError, match="ill-conditioned|singular"):
            net.inverse(y)
        return
    # Estimate: a lower bound of the truth (to rounding of the factors), rarely far below.
    assert estimate <= truth * (1 + 1e3 * n * float(np.finfo(dtype).eps) * truth)
    assert estimate >= truth / 10
    if truth < threshold / 10:
        assert report.invertible, report
        x = net.inverse(y)
        residual = np.abs(x.astype(np.float64) @ weight.T.astype(np.float64) - y).max()
        assert residual <= 1e3 * n * float(np.finfo(dtype).eps) * truth * np.abs(y).max()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("how", ["zero-row", "duplicate-row", "rank-one", "zero"])
def test_singular_layers_are_refused(dtype, how):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((6, 6))
    if how == "zero-row":
        weight[2] = 0
    elif how == "duplicate-row":
        weight[4] = weight[1]
    elif how == "rank-one":
        weight = np.outer(rng.standard_normal(6), rng.standard_normal(6))
    else:
        weight[:] = 0
    weight = weight.astype(dtype)
    net = revcore.Network.from_weights([np.eye(6, dtype=dtype), weight], None, "tanh")
    assert not net.check()[1].invertible and net.check()[0].invertible
    with pytest.raises(revcore.NotInvertibleError) as error:
        net.inverse(np.zeros(6, dtype))
    assert error.value.layer == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_near_singular_layer_is_refused_not_inverted_to_garbage(dtype):
    # A duplicate row nudged by one ulp: LU meets a pivot of rounding size, not an exact zero.
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((8, 8)).astype(dtype)
    weight[5] = np.nextafter(weight[3], dtype(np.inf))
    net = revcore.Network.from_weights([weight], None, "leaky_relu")
    with pytest.raises(revcore.NotInvertibleError, match="ill-conditioned|singular"):
        net.inverse(rng.standard_normal(8).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_layer_that_overflows_is_reported_not_returned(dtype):
    # Well-conditioned but tiny weights: the solution overflows; no inf/NaN reaches the user.
    weight = (np.eye(4) * float(np.finfo(dtype).tiny) * 4).astype(dtype)
    net = revcore.Network.from_weights([weight], None, "identity")
    with pytest.raises(revcore.NotInvertibleError, match="overflowed|not finite"):
        net.inverse(np.full(4, float(np.finfo(dtype).max) / 2, dtype))
