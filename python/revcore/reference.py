"""Pure-numpy reference implementation of revcore's public operations: the test oracle.

Every function here has the signature and semantics of its namesake in :mod:`revcore` and
is written for clarity, not speed. The argument checks are shared with the native API.

Nothing here runs native code: :class:`Network` computes with a backend made of the numpy
functions below (factorisation, condition number, solves included).

Examples
--------
>>> import numpy as np
>>> from revcore import reference
>>> net = reference.Network.random(width=3, depth=2, activation="tanh", seed=0)
>>> x = np.array([0.1, -0.2, 0.3])
>>> bool(np.allclose(net.inverse(net.forward(x)), x))
True
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._activations import (
    activation_range,
    get_activation,
    out_of_range_mask,
    out_of_range_message,
)
from ._backend import Backend, Failure
from ._classifier import InvertibleClassifier, load_file
from ._errors import LinAlgWarning
from ._network import Network as _NativeNetwork
from ._optimizers import Adam as _NativeAdam
from ._validation import (
    as_float_array,
    finish_matmul,
    prepare_condition,
    prepare_dense,
    prepare_dense_backward,
    prepare_lu_factor,
    prepare_lu_solve,
    prepare_matmul,
)

__all__ = [
    "Network",
    "activate",
    "activate_derivative",
    "activate_inverse",
    "dense",
    "dense_backward",
    "load",
    "lu_condition_estimate",
    "lu_factor",
    "lu_solve",
    "matmul",
]


def matmul(a: Any, b: Any) -> Any:
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    a2, b2, dtype = prepare_matmul(a, b)
    return finish_matmul(a2.astype(dtype) @ b2.astype(dtype), a_ndim, b_ndim)


def dense(
    x: Any,
    weight: Any,
    bias: Any = None,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> np.ndarray:
    x_ndim = np.ndim(x)
    x2, weight, bias, dtype, act = prepare_dense(x, weight, bias, activation, negative_slope)
    z = x2.astype(dtype) @ weight.astype(dtype).T
    if bias is not None:
        z += bias.astype(dtype)
    y = act.forward(z, negative_slope)
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
    return get_activation(name, negative_slope).forward(as_float_array(x, "x"), negative_slope)


def activate_derivative(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation = get_activation(name, negative_slope)
    return activation.derivative(as_float_array(x, "x"), negative_slope)


def activate_inverse(y: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation = get_activation(name, negative_slope)
    activation_range(name)
    y = as_float_array(y, "y")
    if out_of_range_mask(y, name).any():
        raise ValueError(f"activate_inverse({name!r}): " + out_of_range_message(y, name))
    assert activation.inverse is not None  # activation_range refused the others
    return activation.inverse(y, negative_slope)


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


class _ReferenceBackend(Backend):
    """The network's passes written layer by layer with the functions above."""

    lu_factor = staticmethod(lu_factor)
    lu_solve = staticmethod(lu_solve)
    lu_condition_estimate = staticmethod(lu_condition_estimate)
    dense = staticmethod(dense)
    dense_backward = staticmethod(dense_backward)
    matmul = staticmethod(matmul)
    activate = staticmethod(activate)
    activate_inverse = staticmethod(activate_inverse)

    def forward(self, layers: Any, x: np.ndarray) -> np.ndarray:
        return self.forward_layers(layers, x)

    def forward_log_det(self, layers: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.forward_log_det_layers(layers, x)

    def prepare_inverse(self, layers: Any, factors: Any, dtype: Any) -> Any:
        return factors

    def inverse(self, layers: Any, factors: Any,
                y: np.ndarray) -> tuple[np.ndarray, Failure | None]:
        return self.inverse_layers(layers, factors, y)


class Network(_NativeNetwork):
    __doc__ = _NativeNetwork.__doc__
    _backend = _ReferenceBackend()


class Adam(_NativeAdam):
    """Adam with every step in numpy (:func:`revcore._optimizers.adam_update`): the oracle
    of the native step."""

    native = False


def load(path: Any) -> Network | InvertibleClassifier:
    """Read what Network.save or InvertibleClassifier.save wrote: a reference Network, or
    a classifier whose ``network_`` is one."""
    return load_file(path, Network)
