"""The activation registry: every fact about an activation, written once.

Each :class:`Activation` holds its name, the code the native kernels know it by (the C++
enum ``revcore::Activation``), the open range of values it produces, whether it is a
bijection, the PyTorch module that computes it, and its numpy forward, derivative, inverse,
log-derivative and inverse slope. The native API, the numpy reference, the network, the
classifier, the PyTorch conversion and the tests all read :data:`ACTIVATIONS`.

Examples
--------
>>> from revcore._activations import ACTIVATIONS, BIJECTIVE
>>> tanh = ACTIVATIONS["tanh"]
>>> tanh.code, tanh.range, tanh.bijective
(3, (-1.0, 1.0), True)
>>> BIJECTIVE
('identity', 'leaky_relu', 'tanh', 'sigmoid')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import NotInvertibleError

__all__ = [
    "ACTIVATIONS",
    "BIJECTIVE",
    "Activation",
    "activation_code",
    "activation_range",
    "get_activation",
    "out_of_range_mask",
    "out_of_range_message",
]

_Elementwise = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """One activation function and everything revcore needs to know of it.

    ``forward``, ``derivative``, ``inverse`` and ``log_abs_derivative`` take an array and
    the leaky_relu slope and work in the array's dtype. ``inverse_slope(t, slope)`` gives per
    row of targets ``t`` the largest ``|(f^-1)'(t)|``, the factor by which the inverse can
    amplify a relative error. The last three are None for an activation that is not a
    bijection.
    """

    name: str
    code: int
    range: tuple[float, float]
    bijective: bool
    torch_module: str
    forward: _Elementwise
    derivative: _Elementwise
    inverse: _Elementwise | None = None
    log_abs_derivative: _Elementwise | None = None
    inverse_slope: _Elementwise | None = None


def _slope(z: np.ndarray, negative_slope: float) -> Any:
    return z.dtype.type(negative_slope)


def _identity(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return z.copy()


def _relu(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.maximum(z, 0)


def _leaky_relu(z: np.ndarray, negative_slope: float) -> np.ndarray:
    slope = _slope(z, negative_slope)
    # max(z, a z) is numpy's fastest form and equals the definition for a <= 1.
    return np.maximum(z, slope * z) if slope <= 1 else np.where(z > 0, z, slope * z)


def _tanh(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.tanh(z)


def _sigmoid(z: np.ndarray, negative_slope: float) -> np.ndarray:
    # sigmoid(z) = exp(-log(1 + exp(-z))): no overflow and full relative accuracy.
    return np.exp(-np.logaddexp(0, -z))


def _ones(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.ones_like(z)


def _relu_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    one = np.ones_like(z)
    return np.where(z > 0, one, 0 * one)


def _leaky_relu_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    one = np.ones_like(z)
    return np.where(z > 0, one, _slope(z, negative_slope) * one)


def _tanh_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return 1 - np.tanh(z) ** 2


def _sigmoid_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    s = _sigmoid(z, negative_slope)
    return s * (1 - s)


def _leaky_relu_inverse(y: np.ndarray, negative_slope: float) -> np.ndarray:
    slope = _slope(y, negative_slope)
    return np.minimum(y, y / slope) if slope <= 1 else np.where(y > 0, y, y / slope)


def _tanh_inverse(y: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.arctanh(y)


def _sigmoid_inverse(y: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.log(y) - np.log1p(-y)


# log |f'(z)| without overflow or log(0) for large |z|.
def _zeros(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.zeros_like(z)


def _leaky_relu_log_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.where(z > 0, 0.0, np.log(negative_slope)).astype(z.dtype)


def _tanh_log_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    # log(1 - tanh(z)^2) = 2 (log 2 - |z| - log1p(exp(-2|z|)))
    a = np.abs(z)
    return 2 * (np.log(2.0) - a - np.log1p(np.exp(-2 * a))).astype(z.dtype)


def _sigmoid_log_derivative(z: np.ndarray, negative_slope: float) -> np.ndarray:
    # log s(z) + log s(-z) = -|z| - 2 log1p(exp(-|z|))
    a = np.abs(z)
    return (-a - 2 * np.log1p(np.exp(-a))).astype(z.dtype)


# Per row, the largest |(f^-1)'(t)| over the row's targets t (all inside the range).
def _identity_inverse_slope(t: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.ones(t.shape[0])


def _leaky_relu_inverse_slope(t: np.ndarray, negative_slope: float) -> np.ndarray:
    t = t.astype(np.float64)
    return np.where((t <= 0).any(axis=1), max(1.0, 1.0 / negative_slope),
                    min(1.0, 1.0 / negative_slope) if negative_slope > 1 else 1.0)


def _tanh_inverse_slope(t: np.ndarray, negative_slope: float) -> np.ndarray:
    t = t.astype(np.float64)
    return (1.0 / (1.0 - t * t)).max(axis=1)


def _sigmoid_inverse_slope(t: np.ndarray, negative_slope: float) -> np.ndarray:
    t = t.astype(np.float64)
    return (1.0 / (t * (1.0 - t))).max(axis=1)


_INF = math.inf

#: Every activation by name, in the order of their native codes.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", 0, (-_INF, _INF), True, "Identity", _identity, _ones,
                   _identity, _zeros, _identity_inverse_slope),
        Activation("relu", 1, (0.0, _INF), False, "ReLU", _relu, _relu_derivative),
        Activation("leaky_relu", 2, (-_INF, _INF), True, "LeakyReLU", _leaky_relu,
                   _leaky_relu_derivative, _leaky_relu_inverse, _leaky_relu_log_derivative,
                   _leaky_relu_inverse_slope),
        Activation("tanh", 3, (-1.0, 1.0), True, "Tanh", _tanh, _tanh_derivative,
                   _tanh_inverse, _tanh_log_derivative, _tanh_inverse_slope),
        Activation("sigmoid", 4, (0.0, 1.0), True, "Sigmoid", _sigmoid, _sigmoid_derivative,
                   _sigmoid_inverse, _sigmoid_log_derivative, _sigmoid_inverse_slope),
    )
}

#: The names of the activations that are bijections (and so can be inverted).
BIJECTIVE: tuple[str, ...] = tuple(name for name, a in ACTIVATIONS.items() if a.bijective)


def get_activation(name: Any, negative_slope: Any) -> Activation:
    """Validate an activation name and leaky_relu slope; return the activation."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string, got {type(name).__name__}")
    activation = ACTIVATIONS.get(name)
    if activation is None:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(map(repr, ACTIVATIONS))}"
        )
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    if not (math.isfinite(negative_slope) and float(negative_slope) > 0):
        raise ValueError(
            f"negative_slope must be a finite positive number (leaky_relu is a bijection only "
            f"then), got {negative_slope!r}"
        )
    return activation


def activation_code(name: Any, negative_slope: Any) -> int:
    """Validate an activation name and slope; return the kernels' code for it."""
    return get_activation(name, negative_slope).code


def _not_a_bijection(name: str) -> NotInvertibleError:
    return NotInvertibleError(
        f"{name} is not a bijection (it maps every negative number to 0), so it has no "
        "inverse; use leaky_relu",
        reason=f"{name} is not a bijection",
    )


def activation_range(name: str) -> tuple[float, float]:
    """The open interval of values an activation can produce (its inverse's domain).

    Raises NotInvertibleError for an activation that is not a bijection.
    """
    activation = ACTIVATIONS[name]
    if not activation.bijective:
        raise _not_a_bijection(name)
    return activation.range


def out_of_range_mask(values: np.ndarray, name: str) -> np.ndarray:
    """True where a value lies outside the open range of activation `name` (NaN included)."""
    lo, hi = activation_range(name)
    with np.errstate(invalid="ignore"):
        return ~((values > lo) & (values < hi))


def out_of_range_message(values: np.ndarray, name: str, what: str = "y") -> str:
    """Describe the values of `values` that activation `name`'s inverse cannot accept."""
    lo, hi = activation_range(name)
    mask = out_of_range_mask(values, name)
    count = int(mask.sum())
    first = np.unravel_index(int(np.argmax(mask.ravel())), values.shape)
    where = f"{what}[{', '.join(map(str, first))}]" if values.ndim else what
    return (
        f"{count} of {values.size} values lie outside the open range ({lo:g}, {hi:g}) of "
        f"{name}; the first is {where} = {float(values[first])!r}"
    )
