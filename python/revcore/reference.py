"""Pure-numpy reference implementation of revcore's public operations: the test oracle.

Every function here has the signature and semantics of its namesake in :mod:`revcore` and
is written for clarity, not speed. The argument checks are shared with the native API.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._checks import (
    LinAlgWarning,
    activation_code,
    activation_range,
    as_float_array,
    finish_matmul,
    out_of_range_mask,
    out_of_range_message,
    prepare_condition,
    prepare_dense,
    prepare_dense_backward,
    prepare_lu_factor,
    prepare_lu_solve,
    prepare_matmul,
)
from ._network import Network as _NativeNetwork
from ._network import _Backend

__all__ = [
    "matmul",
    "dense",
    "dense_backward",
    "activate",
    "activate_inverse",
    "activate_derivative",
    "lu_factor",
    "lu_solve",
    "lu_condition_estimate",
    "Network",
    "load",
]


def matmul(a: Any, b: Any) -> Any:
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    a2, b2, dtype = prepare_matmul(a, b)
    return finish_matmul(a2.astype(dtype) @ b2.astype(dtype), a_ndim, b_ndim)


def _activate(z: np.ndarray, name: str, negative_slope: float) -> np.ndarray:
    slope = z.dtype.type(negative_slope)
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        # max(z, a z) is numpy's fastest form and equals the definition for a <= 1.
        return np.maximum(z, slope * z) if slope <= 1 else np.where(z > 0, z, slope * z)
    if name == "tanh":
        return np.tanh(z)
    # sigmoid(z) = exp(-log(1 + exp(-z))): no overflow and full relative accuracy.
    return np.exp(-np.logaddexp(0, -z))


def dense(
    x: Any,
    weight: Any,
    bias: Any = None,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> np.ndarray:
    x_ndim = np.ndim(x)
    x2, weight, bias, dtype, _ = prepare_dense(x, weight, bias, activation, negative_slope)
    z = x2.astype(dtype) @ weight.astype(dtype).T
    if bias is not None:
        z += bias.astype(dtype)
    y = _activate(z, activation, negative_slope)
    return y[0] if x_ndim == 1 else y


def dense_backward(
    x: Any,
    weight: Any,
    preactivation: Any,
    grad_output: Any,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    x_ndim = np.ndim(x)
    x, weight, z, g, dtype, _ = prepare_dense_backward(
        x, weight, preactivation, grad_output, activation, negative_slope
    )
    x, weight, z, g = (a.astype(dtype) for a in (x, weight, z, g))
    grad_z = g * activate_derivative(z, activation, negative_slope)
    grad_x = grad_z @ weight
    return (grad_x[0] if x_ndim == 1 else grad_x), grad_z.T @ x, grad_z.sum(axis=0)


def activate(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation_code(name, negative_slope)
    return _activate(as_float_array(x, "x"), name, negative_slope)


def activate_derivative(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation_code(name, negative_slope)
    z = as_float_array(x, "x")
    one = np.ones_like(z)
    if name == "identity":
        return one
    if name == "relu":
        return np.where(z > 0, one, 0 * one)
    if name == "leaky_relu":
        return np.where(z > 0, one, z.dtype.type(negative_slope) * one)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    s = _activate(z, "sigmoid", negative_slope)
    return s * (1 - s)


def activate_inverse(y: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation_code(name, negative_slope)
    activation_range(name)
    y = as_float_array(y, "y")
    if out_of_range_mask(y, name).any():
        raise ValueError(f"activate_inverse({name!r}): " + out_of_range_message(y, name))
    slope = y.dtype.type(negative_slope)
    if name == "identity":
        return y.copy()
    if name == "leaky_relu":
        return np.minimum(y, y / slope) if slope <= 1 else np.where(y > 0, y, y / slope)
    if name == "tanh":
        return np.arctanh(y)
    return np.log(y) - np.log1p(-y)


def lu_factor(
    a: Any, overwrite_a: bool = False, check_finite: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Right-looking Gaussian elimination with partial pivoting (LAPACK getf2's order).

    overwrite_a is accepted for scipy compatibility and ignored: a is never modified."""
    lu = prepare_lu_factor(a, check_finite).copy()
    m, n = lu.shape
    piv = np.zeros(min(m, n), dtype=np.int32)
    singular = 0
    for j in range(min(m, n)):
        p = j + int(np.argmax(np.abs(lu[j:, j])))
        piv[j] = p
        lu[[j, p]] = lu[[p, j]]
        if lu[j, j] == 0:
            singular = singular or j + 1
            continue
        lu[j + 1 :, j] /= lu[j, j]
        lu[j + 1 :, j + 1 :] -= np.outer(lu[j + 1 :, j], lu[j, j + 1 :])
    if singular:
        warnings.warn(
            f"Diagonal number {singular} is exactly zero. Singular matrix.", LinAlgWarning,
            stacklevel=2,
        )
    return lu, piv


def _forward_substitution(t: np.ndarray, b: np.ndarray, unit: bool) -> np.ndarray:
    x = b.copy()
    for i in range(len(x)):
        x[i] -= t[i, :i] @ x[:i]
        if not unit:
            x[i] /= t[i, i]
    return x


def _back_substitution(t: np.ndarray, b: np.ndarray, unit: bool) -> np.ndarray:
    x = b.copy()
    for i in reversed(range(len(x))):
        x[i] -= t[i, i + 1 :] @ x[i + 1 :]
        if not unit:
            x[i] /= t[i, i]
    return x


def lu_solve(
    lu_and_piv: tuple[Any, Any],
    b: Any,
    trans: int = 0,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> np.ndarray:
    """Permuted forward and back substitution.

    overwrite_b is accepted for scipy compatibility and ignored: b is never modified."""
    lu, piv, b2, dtype, transposed = prepare_lu_solve(lu_and_piv, b, trans, check_finite)
    lu, x = lu.astype(dtype), b2.astype(dtype)
    lower, upper = np.tril(lu, -1), np.triu(lu)
    if not transposed:
        for i, p in enumerate(piv):
            x[[i, p]] = x[[p, i]]
        x = _back_substitution(upper, _forward_substitution(lower, x, unit=True), unit=False)
    else:
        x = _forward_substitution(upper.T, x, unit=False)
        x = _back_substitution(lower.T, x, unit=True)
        for i, p in reversed(list(enumerate(piv))):
            x[[i, p]] = x[[p, i]]
    return x.reshape(np.shape(b))


def lu_condition_estimate(lu_and_piv: tuple[Any, Any], norm1: float) -> float:
    """The exact ``||A||_1 ||A^-1||_1`` that the native function estimates."""
    lu, piv, norm1 = prepare_condition(lu_and_piv, norm1)
    n = lu.shape[0]
    if n == 0:
        return 0.0
    if not np.all(np.diag(lu)):
        return float("inf")
    inverse = lu_solve((lu, piv), np.eye(n, dtype=lu.dtype), check_finite=False)
    return float(norm1 * np.abs(inverse).sum(axis=0).max())


class _ReferenceBackend(_Backend):
    """The network's passes written layer by layer with the functions above."""

    lu_factor = staticmethod(lu_factor)
    lu_solve = staticmethod(lu_solve)
    lu_condition_estimate = staticmethod(lu_condition_estimate)
    dense = staticmethod(dense)
    matmul = staticmethod(matmul)
    activate = staticmethod(activate)
    activate_inverse = staticmethod(activate_inverse)

    @staticmethod
    def forward(layers: Any, x: np.ndarray) -> np.ndarray:
        for layer in layers:
            x = dense(x, layer.weight.astype(x.dtype), layer.bias.astype(x.dtype),
                      layer.activation, layer.negative_slope)
        return x

    @staticmethod
    def prepare_inverse(layers: Any, factors: Any, dtype: Any) -> Any:
        return factors

    @staticmethod
    def inverse(layers: Any, factors: Any, y: np.ndarray) -> tuple[np.ndarray, Any]:
        x = y
        for index in reversed(range(len(layers))):
            layer = layers[index]
            if out_of_range_mask(x, layer.activation).any():
                return x, ("out_of_range", index)
            z = activate_inverse(x, layer.activation, layer.negative_slope)
            z = z - layer.bias.astype(z.dtype)
            x = lu_solve(factors[index][:2], z.T, check_finite=False).T
            if not np.isfinite(x).all():
                return x, ("not_finite", index)
        return x, None


class Network(_NativeNetwork):
    __doc__ = _NativeNetwork.__doc__
    _backend = _ReferenceBackend()


def load(path: Any) -> Network:
    """Read a network saved with Network.save, as a reference Network."""
    from ._interop import load as _load

    return _load(path, Network)
