"""Layer kinds: what one layer computes forwards and backwards, and what it stores.

Every kind is a subclass of :class:`LayerKind` registered under a short name with
:func:`register_layer_kind`; the network, its checks, file I/O and the numpy reference only
call the methods below, so a new kind is one class in this module:

``shape``, ``dtype``, ``label``, ``is_bijective``
    ``(n_out, n_in)``, the dtype, the word that names the layer in reports and reprs, and
    whether its nonlinearity is a bijection.
``forward(x, backend)``, ``forward_log_det(x, total, backend)``
    The layer's output; the second also adds ``log |det J|`` per sample to ``total``.
``gradients(x, grad_output, backend)``
    ``dL/dx`` and ``dL/d(array)`` for each stored array, given ``dL/dy``.
``factors(backend, dtype)``, ``diagnose(backend, dtype, threshold)``
    What the inverse needs (cached per backend and dtype), and why the layer cannot be
    inverted ("" when it can): the line of :meth:`Network.check`.
``out_of_range(t)``, ``inverse(t, factors, backend)``, ``inverse_step(...)``
    Which targets the inverse cannot accept, the inverse itself, and the inverse with its
    error model (:mod:`revcore._refine`).
``ARRAYS``, ``SETTINGS``, ``to_arrays()``, ``from_arrays(arrays, settings, index, dtype)``
    The layer as named arrays and scalar settings (what a file stores) and back.
``replace(index, dtype, **arrays)``
    The same layer with new arrays (what ``Network.set_layer`` installs).

Examples
--------
>>> import numpy as np
>>> from revcore._layers import LAYER_KINDS, layer_from_arrays
>>> sorted(LAYER_KINDS)
['dense']
>>> layer = layer_from_arrays("dense", {"weight": np.eye(2), "bias": None},
...                           {"activation": "tanh", "negative_slope": 0.01})
>>> layer.shape, layer.label
((2, 2), 'tanh')
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

import numpy as np

from ._activations import ACTIVATIONS, Activation, get_activation, out_of_range_mask
from ._refine import Precision, refined_solve_step
from ._validation import as_float_array

__all__ = [
    "LAYER_KINDS",
    "Factors",
    "Layer",
    "LayerBackend",
    "LayerKind",
    "NetworkData",
    "layer_from_arrays",
    "layers_from_data",
    "layers_to_data",
    "register_layer_kind",
    "restore_layer",
]

_versions = itertools.count(1)  # next() on a count is atomic in CPython


class LayerBackend(Protocol):
    """The operations a layer asks of a backend (native kernels or numpy)."""

    def lu_factor(self, a: Any, overwrite_a: bool = False,
                  check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]: ...
    def lu_solve(self, lu_and_piv: Any, b: Any, trans: int = 0, overwrite_b: bool = False,
                 check_finite: bool = True) -> np.ndarray: ...
    def lu_condition_estimate(self, lu_and_piv: Any, norm1: float) -> float: ...
    def dense(self, x: Any, weight: Any, bias: Any = None, activation: str = "identity",
              negative_slope: float = 0.01) -> np.ndarray: ...
    def dense_backward(self, x: Any, weight: Any, preactivation: Any, grad_output: Any,
                       activation: str = "identity", negative_slope: float = 0.01) -> Any: ...
    def matmul(self, a: Any, b: Any) -> Any: ...
    def activate(self, x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray: ...
    def activate_inverse(self, y: Any, name: str, negative_slope: float = 0.01) -> np.ndarray: ...


class Factors(NamedTuple):
    """LU factors of one layer's weight in one dtype, with what check() reports of them."""

    lu: np.ndarray
    piv: np.ndarray
    condition_estimate: float
    smallest_pivot: float


class LayerKind:
    """The interface every layer kind implements (see the module's documentation)."""

    kind: ClassVar[str]
    #: The arrays a file stores per layer, and the scalar settings with their numpy kind
    #: ("U" string, "f" real).
    ARRAYS: ClassVar[tuple[str, ...]]
    SETTINGS: ClassVar[dict[str, str]]

    @property
    def shape(self) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def dtype(self) -> np.dtype:
        raise NotImplementedError

    @property
    def label(self) -> str:
        raise NotImplementedError

    @property
    def is_square(self) -> bool:
        return self.shape[0] == self.shape[1]

    @property
    def is_bijective(self) -> bool:
        """Whether the layer's nonlinearity is a bijection (then, if square and regular,
        the layer can be inverted)."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, backend: LayerBackend) -> np.ndarray:
        raise NotImplementedError

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend) -> np.ndarray:
        raise NotImplementedError

    def gradients(self, x: np.ndarray, grad_output: np.ndarray,
                  backend: LayerBackend) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def factors(self, backend: LayerBackend, dtype: np.dtype) -> Factors:
        raise NotImplementedError

    def diagnose(self, backend: LayerBackend, dtype: np.dtype,
                 threshold: float) -> tuple[Factors | None, str]:
        raise NotImplementedError

    def out_of_range(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def range(self) -> tuple[float, float]:
        raise NotImplementedError

    def inverse(self, t: np.ndarray, factors: Factors, backend: LayerBackend) -> np.ndarray:
        raise NotImplementedError

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Factors,
                     precision: Precision, backend: LayerBackend
                     ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raise NotImplementedError

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> LayerKind:
        raise NotImplementedError

    def replace(self, index: int, dtype: np.dtype, **arrays: Any) -> LayerKind:
        raise NotImplementedError


#: Every layer kind by its name (the name files store).
LAYER_KINDS: dict[str, type[LayerKind]] = {}

_Kind = TypeVar("_Kind", bound=type[LayerKind])


def register_layer_kind(cls: _Kind) -> _Kind:
    """Class decorator: make a LayerKind subclass known under ``cls.kind``."""
    if cls.kind in LAYER_KINDS:
        raise ValueError(f"a layer kind named {cls.kind!r} is already registered")
    LAYER_KINDS[cls.kind] = cls
    return cls


def layer_from_arrays(kind: str, arrays: dict[str, Any], settings: dict[str, Any],
                      index: int = 0, dtype: np.dtype | None = None) -> LayerKind:
    """Build layer ``index`` of the given kind from its arrays and settings."""
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; known: {', '.join(LAYER_KINDS)}")
    return LAYER_KINDS[kind].from_arrays(arrays, settings, index, dtype)


def _frozen_copy(array: np.ndarray, dtype: Any) -> np.ndarray:
    array = np.array(array, dtype=dtype, order="C")  # always a private copy
    array.flags.writeable = False
    return array


@register_layer_kind
@dataclass(frozen=True, eq=False)
class Layer(LayerKind):
    """One dense layer ``y = activation(weight @ x + bias)``, immutable.

    A network replaces a layer object to change its weights, so a layer's cached LU factors
    always belong to its own weights; ``version`` tells successive layers apart.
    """

    kind: ClassVar[str] = "dense"
    ARRAYS: ClassVar[tuple[str, ...]] = ("weight", "bias")
    SETTINGS: ClassVar[dict[str, str]] = {"activation": "U", "negative_slope": "f"}

    weight: np.ndarray
    bias: np.ndarray
    activation: str
    negative_slope: float
    version: int = field(default_factory=lambda: next(_versions))
    _factors: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self.weight.dtype

    @property
    def label(self) -> str:
        return self.activation

    @property
    def is_bijective(self) -> bool:
        return self._activation.bijective

    @property
    def _activation(self) -> Activation:
        return ACTIVATIONS[self.activation]

    def __reduce__(self) -> tuple:
        # Locks and cached factors are not pickled; factors are recomputed on demand.
        return (restore_layer, (self.weight, self.bias, self.activation, self.negative_slope))

    # -- forwards ---------------------------------------------------------------------

    def forward(self, x: np.ndarray, backend: LayerBackend) -> np.ndarray:
        return backend.dense(x, self.weight.astype(x.dtype), self.bias.astype(x.dtype),
                             self.activation, self.negative_slope)

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend) -> np.ndarray:
        """The output; adds to ``total`` ``log |det W|`` (from the cached LU factors: the log
        of U's absolute diagonal) and ``log |f'(z)|`` at the pre-activations z."""
        factors = self.factors(backend, x.dtype)
        total += np.log(np.abs(np.diag(factors.lu))).sum()
        z = backend.dense(x, self.weight, self.bias)
        log_derivative = self._activation.log_abs_derivative
        assert log_derivative is not None  # callers check bijectivity first
        total += log_derivative(z, self.negative_slope).sum(axis=1)
        return backend.activate(z, self.activation, self.negative_slope)

    def gradients(self, x: np.ndarray, grad_output: np.ndarray,
                  backend: LayerBackend) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        z = backend.dense(x, self.weight, self.bias)
        grad_x, grad_weight, grad_bias = backend.dense_backward(
            x, self.weight, z, grad_output, self.activation, self.negative_slope)
        return grad_x, {"weight": grad_weight, "bias": grad_bias}

    # -- backwards --------------------------------------------------------------------

    def factors(self, backend: LayerBackend, dtype: np.dtype) -> Factors:
        key = (type(backend), dtype)
        cached = self._factors.get(key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._factors.get(key)
            if cached is None:
                weight = self.weight.astype(dtype, copy=False)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an exact zero pivot is reported below
                    lu, piv = backend.lu_factor(weight, check_finite=False)
                diagonal = np.abs(np.diag(lu))
                smallest = float(diagonal.min()) if diagonal.size else 0.0
                if not np.isfinite(weight).all():
                    cond = float("nan")
                else:
                    norm1 = float(np.abs(weight).sum(axis=0).max())
                    cond = backend.lu_condition_estimate((lu, piv), norm1)
                cached = Factors(lu, piv, cond, smallest)
                self._factors[key] = cached
        return cached

    def diagnose(self, backend: LayerBackend, dtype: np.dtype,
                 threshold: float) -> tuple[Factors | None, str]:
        if not self._activation.bijective:
            return None, (f"{self.activation} is not a bijection (every negative input maps "
                          "to 0); use leaky_relu")
        if not self.is_square:
            return None, f"the weight is {self.shape[0]}x{self.shape[1]}, not square"
        factors = self.factors(backend, dtype)
        if not np.isfinite(self.weight).all():
            return factors, "the weight holds inf or NaN"
        if factors.smallest_pivot == 0:
            return factors, "the weight is singular (an exact zero pivot in its LU factors)"
        if factors.condition_estimate > threshold:
            return factors, (
                f"the weight is ill-conditioned: condition estimate "
                f"{factors.condition_estimate:.3g} exceeds the threshold {threshold:.3g}"
            )
        return factors, ""

    def range(self) -> tuple[float, float]:
        return self._activation.range

    def out_of_range(self, t: np.ndarray) -> np.ndarray:
        return out_of_range_mask(t, self.activation)

    def inverse(self, t: np.ndarray, factors: Factors, backend: LayerBackend) -> np.ndarray:
        """x with ``forward(x) = t`` row by row, for targets inside the activation's range."""
        z = backend.activate_inverse(t, self.activation, self.negative_slope)
        z = z - self.bias.astype(z.dtype)
        return backend.lu_solve(factors[:2], z.T, check_finite=False).T

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Factors,
                     precision: Precision, backend: LayerBackend
                     ) -> tuple[np.ndarray, np.ndarray]:
        inverse_slope = self._activation.inverse_slope
        assert inverse_slope is not None  # callers diagnose the layer first
        bias = self.bias.astype(precision.working)
        inverse_t = backend.activate_inverse(t, self.activation, self.negative_slope)
        slope = inverse_slope(t, self.negative_slope)
        return refined_solve_step(self.weight, bias, factors, t, inverse_t, slope, error,
                                  precision, backend)

    # -- storage ----------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({"weight": self.weight, "bias": self.bias},
                {"activation": self.activation, "negative_slope": self.negative_slope})

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> Layer:
        """A dense layer from ``weight`` (n_out, n_in) and ``bias`` (n_out,) or None, with
        settings ``activation`` and ``negative_slope``; the arrays are copied."""
        activation, negative_slope = settings["activation"], settings["negative_slope"]
        get_activation(activation, negative_slope)
        weight = as_float_array(arrays["weight"], f"weights[{index}]")
        if weight.ndim != 2:
            raise ValueError(
                f"weights[{index}] must be 2-D (n_out, n_in), got shape {weight.shape}")
        bias = arrays.get("bias")
        if bias is None:
            bias = np.zeros(weight.shape[0], dtype=weight.dtype)
        bias = as_float_array(bias, f"biases[{index}]")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"biases[{index}] must have shape ({weight.shape[0]},) to match "
                f"weights[{index}] {weight.shape}, got {bias.shape}"
            )
        dtype = dtype or np.result_type(weight, bias)
        return cls(_frozen_copy(weight, dtype), _frozen_copy(bias, dtype), str(activation),
                   float(negative_slope))

    def replace(self, index: int, dtype: np.dtype, **arrays: Any) -> Layer:
        """The same layer with some arrays replaced (same shapes), in ``dtype``."""
        current, settings = self.to_arrays()
        current.update({k: v for k, v in arrays.items() if v is not None})
        new = self.from_arrays(current, settings, index, dtype)
        if new.shape != self.shape:
            raise ValueError(f"layer {index} has shape {self.shape}; got weight {new.shape}")
        return new


def restore_layer(weight: np.ndarray, bias: np.ndarray, activation: str,
                  negative_slope: float) -> Layer:
    """Unpickle a dense layer (its factors are recomputed on demand)."""
    return Layer(_frozen_copy(weight, None), _frozen_copy(bias, None), activation,
                 negative_slope)


class NetworkData(NamedTuple):
    """A network as plain data, what files and PyTorch modules convert to and from.

    Layer i is ``LAYER_KINDS[kinds[i]]`` built from ``arrays[i]`` (None for an absent
    optional array, such as a missing bias) and ``settings[i]`` (scalars).
    """

    kinds: list[str]
    arrays: list[dict[str, Any]]
    settings: list[dict[str, Any]]
    condition_threshold: float | None = None


def layers_from_data(data: NetworkData) -> list[LayerKind]:
    """The layers described by ``data``, all in the promoted dtype of every array."""
    depth = len(data.kinds)
    for name, values in (("arrays", data.arrays), ("settings", data.settings)):
        if len(values) != depth:
            raise ValueError(f"got {depth} layer kinds but {len(values)} {name}")
    keys = dict.fromkeys(key for arrays in data.arrays for key in arrays)
    promoted = [as_float_array(arrays[key], f"{key}s[{i}]")
                for key in keys for i, arrays in enumerate(data.arrays)
                if arrays.get(key) is not None]
    dtype = np.result_type(*promoted) if promoted else np.dtype(np.float64)
    return [layer_from_arrays(kind, arrays, settings, i, dtype)
            for i, (kind, arrays, settings)
            in enumerate(zip(data.kinds, data.arrays, data.settings))]


def layers_to_data(layers: Sequence[LayerKind],
                   condition_threshold: float | None) -> NetworkData:
    """The plain data of ``layers`` (arrays shared, not copied: they are read-only)."""
    pairs = [layer.to_arrays() for layer in layers]
    return NetworkData([layer.kind for layer in layers], [a for a, _ in pairs],
                       [s for _, s in pairs], condition_threshold)
