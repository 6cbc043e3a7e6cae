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
    What the inverse needs (cached per backend and dtype; None for a kind that needs
    nothing, such as coupling), and why the layer cannot be inverted ("" when it can): the
    line of :meth:`Network.check`.
``out_of_range(t)``, ``inverse(t, factors, backend)``, ``inverse_step(...)``
    Which targets the inverse cannot accept, the inverse itself, and the inverse with its
    error model (:mod:`revcore._refine`).
``ARRAYS``, ``SETTINGS``, ``to_arrays()``, ``from_arrays(arrays, settings, index, dtype)``
    The layer as named arrays and scalar settings (what a file stores) and back.
``replace(index, dtype, **arrays)``
    The same layer with new arrays (what ``Network.set_layer`` installs).
``note()``
    How the layer is inverted, in a few words (the end of its ``check()`` line).

Three kinds are registered here: ``"dense"`` (:class:`Layer`: a weight and a bijective
activation, invertible when square and well-conditioned), ``"lu_dense"`` (:class:`LUDense`:
``W = P L U``, invertible by construction) and ``"coupling"`` (:class:`Coupling`: an affine
coupling block whose conditioner MLP is never inverted); :mod:`revcore._spline_layers` adds
``"spline"`` and ``"spline_coupling"``. The kinds invertible by construction also expose
``train_forward(params, x, backend)`` returning ``(y, log|det J|, cache)`` and
``train_backward(params, cache, dL/dy, dL/dlog|det J|, backend)`` returning ``dL/dx`` and
the gradients of the arrays: the network's passes and the training loop share them.

Examples
--------
>>> import numpy as np
>>> from revcore._layers import LAYER_KINDS, layer_from_arrays
>>> {"coupling", "dense", "lu_dense"} <= set(LAYER_KINDS)
True
>>> layer = layer_from_arrays("dense", {"weight": np.eye(2), "bias": None},
...                           {"activation": "tanh", "negative_slope": 0.01})
>>> layer.shape, layer.label
((2, 2), 'tanh')
"""

from __future__ import annotations

import functools
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
    "Coupling",
    "Factors",
    "LUDense",
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
    def rq_spline(self, x: Any, x_knots: Any, y_knots: Any, derivatives: Any,
                  inverse: bool = False) -> tuple[np.ndarray, np.ndarray]: ...
    def rq_spline_backward(self, x: Any, x_knots: Any, y_knots: Any, derivatives: Any,
                           grad_out: Any, grad_log_derivative: Any
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


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

    @property
    def context_width(self) -> int:
        """Width of the context the layer takes (a class's one-hot, say); 0: none."""
        return 0

    def forward(self, x: np.ndarray, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend, context: np.ndarray | None = None
                        ) -> np.ndarray:
        raise NotImplementedError

    def constant_log_det(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        """The layer's ``log |det J|`` when it does not depend on the input (a linear
        layer), as ``forward_log_det`` adds it; None when it does."""
        return None

    #: Whether the fused network kernels can run the layer (see ``fused``).
    FUSED: ClassVar[bool] = False

    def fused(self, backend: LayerBackend, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray,
                                                                     int, float]:
        """The layer as the fused network kernels take it, a dense layer: weight and bias
        in ``dtype``, activation code and negative slope (kinds with ``FUSED`` only)."""
        raise NotImplementedError

    def fused_log_det(self, backend: LayerBackend, dtype: np.dtype) -> float:
        """``log |det W|`` of the layer's weight, summed in float64, for the fused kernels'
        log-determinant (kinds with ``FUSED`` only)."""
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

    def inverse(self, t: np.ndarray, factors: Factors, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Factors,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raise NotImplementedError

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> LayerKind:
        raise NotImplementedError

    def replace(self, index: int, dtype: np.dtype, **arrays: Any) -> LayerKind:
        raise NotImplementedError

    #: Arrays holding integers (indices), kept out of the network's dtype promotion.
    INTEGER_ARRAYS: ClassVar[tuple[str, ...]] = ()

    def note(self) -> str:
        """A short description of how the layer is inverted, for :meth:`Network.check`."""
        return ""


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
    FUSED: ClassVar[bool] = True

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

    def forward(self, x: np.ndarray, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return backend.dense(x, self.weight.astype(x.dtype), self.bias.astype(x.dtype),
                             self.activation, self.negative_slope)

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend, context: np.ndarray | None = None
                        ) -> np.ndarray:
        """The output; adds to ``total`` ``log |det W|`` (from the cached LU factors: the log
        of U's absolute diagonal) and ``log |f'(z)|`` at the pre-activations z."""
        total += self._log_det_weight(backend, x.dtype)
        z = backend.dense(x, self.weight, self.bias)
        log_derivative = self._activation.log_abs_derivative
        assert log_derivative is not None  # callers check bijectivity first
        total += log_derivative(z, self.negative_slope).sum(axis=1)
        return backend.activate(z, self.activation, self.negative_slope)

    def _log_det_weight(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        return np.log(np.abs(np.diag(self.factors(backend, dtype).lu))).sum()

    def constant_log_det(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        if self.activation != "identity":
            return None
        return self._log_det_weight(backend, dtype)

    def fused(self, backend: LayerBackend, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray,
                                                                     int, float]:
        return (self.weight.astype(dtype, copy=False), self.bias.astype(dtype, copy=False),
                self._activation.code, self.negative_slope)

    def fused_log_det(self, backend: LayerBackend, dtype: np.dtype) -> float:
        diagonal = np.abs(np.diag(self.factors(backend, dtype).lu)).astype(np.float64)
        return float(np.log(diagonal).sum())

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

    def inverse(self, t: np.ndarray, factors: Factors, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        """x with ``forward(x) = t`` row by row, for targets inside the activation's range."""
        z = backend.activate_inverse(t, self.activation, self.negative_slope)
        z = z - self.bias.astype(z.dtype)
        return backend.lu_solve(factors[:2], z.T, check_finite=False).T

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Factors,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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


# -- invertible-by-construction kinds ---------------------------------------------------------


def _float_array(arrays: dict[str, Any], name: str, index: int, shape: tuple[int, ...] | None,
                 kind: str) -> np.ndarray:
    """``arrays[name]`` as a real array of the given shape (None: any 2-D shape)."""
    if arrays.get(name) is None:
        raise ValueError(f"layer {index} ({kind}) needs an array {name!r}")
    array = as_float_array(arrays[name], f"{name}[{index}]")
    if shape is None and array.ndim != 2:
        raise ValueError(f"{name}[{index}] must be 2-D, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name}[{index}] must have shape {shape}, got {array.shape}")
    return array


@functools.lru_cache(maxsize=64)
def _triangle_masks(d: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """0/1 masks of the strictly lower and strictly upper triangles of a d x d matrix."""
    below = np.tril(np.ones((d, d), dtype=dtype), -1)
    below.flags.writeable = False
    above = np.ascontiguousarray(below.T)
    above.flags.writeable = False
    return below, above


# Columns per block of the triangular products below: each block is one GEMM call, which
# keeps its speed from about this width on, and a width-n product in n / 128 blocks skips
# nearly half its flops (the zero blocks of a triangle).
_TRIANGLE_BLOCK = 128


def _column_blocks(n: int) -> list[tuple[int, int]]:
    blocks = max(1, n // _TRIANGLE_BLOCK)
    return [(n * i // blocks, n * (i + 1) // blocks) for i in range(blocks)]


def times_triangle(matmul: Any, a: np.ndarray, t: np.ndarray, t_lower: bool) -> np.ndarray:
    """``a @ t`` for a square t that is zero above its diagonal (``t_lower``) or below it,
    without the products of its zero blocks."""
    out = np.empty((a.shape[0], t.shape[1]), dtype=np.result_type(a, t))
    for j0, j1 in _column_blocks(t.shape[1]):
        k = slice(j0, None) if t_lower else slice(0, j1)  # the rows of t's nonzero entries
        out[:, j0:j1] = matmul(a[:, k], t[k, j0:j1])
    return out


def product_triangle(matmul: Any, a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """The lower (``lower``) or upper triangle of the square ``a @ b``, diagonal included,
    computed by blocks of columns; the entries beyond the diagonal blocks are zero, those in
    them are the product's (the caller masks them)."""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for j0, j1 in _column_blocks(b.shape[1]):
        i = slice(j0, None) if lower else slice(0, j1)
        out[i, j0:j1] = matmul(a[i], b[:, j0:j1])
    return out


def permutation_pivots(permutation: np.ndarray) -> np.ndarray:
    """The row interchanges (scipy's ``piv``) that take r to ``r[argsort(permutation)]``.

    ``W = P M`` with ``W[i] = M[permutation[i]]``; solving ``W x = r`` is solving
    ``M x = P^T r``, and ``lu_solve`` applies P^T as the interchanges ``r[i] <-> r[piv[i]]``
    in order, which this builds.

    Examples
    --------
    >>> import numpy as np
    >>> perm = np.array([2, 0, 1])
    >>> piv = permutation_pivots(perm)
    >>> r = np.array([10.0, 20.0, 30.0])
    >>> for i, p in enumerate(piv):
    ...     r[[i, p]] = r[[p, i]]
    >>> r.tolist() == np.array([10.0, 20.0, 30.0])[np.argsort(perm)].tolist()
    True
    """
    target = np.argsort(permutation)
    where = np.arange(len(permutation))   # where[j]: the position holding original row j
    at = np.arange(len(permutation))      # at[i]: the original row at position i
    piv = np.empty(len(permutation), dtype=np.int32)
    for i, want in enumerate(target):
        p = int(where[want])
        piv[i] = p
        at[i], at[p] = at[p], at[i]
        where[at[i]], where[at[p]] = i, p
    return piv


class _TrainableKind(LayerKind):
    """What the kinds invertible by construction share: a bijection whatever the parameters,
    named by its kind, with its arrays as the training functions take them."""

    @property
    def label(self) -> str:
        return self.kind

    @property
    def is_bijective(self) -> bool:
        return True

    def range(self) -> tuple[float, float]:
        """A bijection of the whole real space: every finite target can be inverted."""
        return (-np.inf, np.inf)

    def out_of_range(self, t: np.ndarray) -> np.ndarray:
        return np.zeros(t.shape, dtype=bool)

    def params(self, dtype: Any = None) -> dict[str, np.ndarray]:
        """The arrays as a dict (cast to ``dtype``), what the training functions take."""
        arrays, _ = self.to_arrays()
        if dtype is None or np.dtype(dtype) == self.dtype:
            return arrays
        return {k: v if k in self.INTEGER_ARRAYS else v.astype(dtype)
                for k, v in arrays.items()}

    def __reduce__(self) -> tuple:
        return (_restore_kind, (self.kind, self.to_arrays()[0], {}))

    def gradients(self, x: np.ndarray, grad_output: np.ndarray,
                  backend: LayerBackend) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params(x.dtype)
        _, _, cache = self.train_forward(p, x, backend)  # type: ignore[attr-defined]
        return self.train_backward(  # type: ignore[attr-defined]
            p, cache, grad_output, np.zeros(len(x), x.dtype), backend)

    def replace(self, index: int, dtype: np.dtype, **arrays: Any) -> LayerKind:
        """The same layer with some arrays replaced (same shapes), in ``dtype``."""
        takes_bias = "bias" in self.ARRAYS
        if arrays.get("weight") is not None or (arrays.get("bias") is not None
                                                and not takes_bias):
            names = ", ".join(self.to_arrays()[0])
            refused = "weight" if takes_bias else "weight or bias"
            raise ValueError(f"layer {index} is a {self.kind} layer: set {names}, "
                             f"not {refused}")
        current, settings = self.to_arrays()
        for k, v in arrays.items():
            if v is not None:
                if k not in current:
                    raise ValueError(f"layer {index} ({self.kind}) has no array {k!r}")
                if np.shape(v) != current[k].shape:
                    raise ValueError(f"layer {index}: {k} must have shape {current[k].shape}")
                current[k] = v
        return self.from_arrays(current, settings, index, dtype)


@register_layer_kind
@dataclass(frozen=True, eq=False)
class LUDense(_TrainableKind):
    """An LU-parametrised dense mixing layer ``y = W x + b``, ``W = P L U``, immutable.

    P is a fixed permutation (``W[i] = (L U)[permutation[i]]``), L unit lower triangular
    (its strictly lower part is ``lower``), U upper triangular with strictly upper part
    ``upper`` and diagonal ``sign * exp(log_scale)``. ``log |det W| = sum(log_scale)``, the
    inverse is two triangular solves with the packed factors (built once per layer object),
    and no factorisation is ever needed. Entries of ``lower`` and ``upper`` outside their
    triangles are ignored (stored as zeros).

    Examples
    --------
    >>> import numpy as np
    >>> from revcore._layers import LUDense
    >>> from revcore.reference import _ReferenceBackend
    >>> layer = LUDense.identity(3, permutation=[2, 0, 1])
    >>> layer.forward(np.array([[1.0, 2.0, 3.0]]), _ReferenceBackend())
    array([[3., 1., 2.]])
    """

    kind: ClassVar[str] = "lu_dense"
    FUSED: ClassVar[bool] = True
    ARRAYS: ClassVar[tuple[str, ...]] = ("lower", "upper", "log_scale", "sign", "permutation",
                                         "bias")
    SETTINGS: ClassVar[dict[str, str]] = {}
    INTEGER_ARRAYS: ClassVar[tuple[str, ...]] = ("permutation",)

    lower: np.ndarray
    upper: np.ndarray
    log_scale: np.ndarray
    sign: np.ndarray
    permutation: np.ndarray
    bias: np.ndarray
    version: int = field(default_factory=lambda: next(_versions))
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def identity(cls, width: int, permutation: Any = None, dtype: Any = np.float64) -> LUDense:
        """The layer ``y = P x`` (L = U = I, no bias); P the identity unless given."""
        perm = np.arange(width) if permutation is None else np.asarray(permutation)
        zeros = np.zeros((width, width))
        return cls.from_arrays({"lower": zeros, "upper": zeros, "log_scale": np.zeros(width),
                                "sign": np.ones(width), "permutation": perm,
                                "bias": np.zeros(width)}, {}, dtype=np.dtype(dtype))

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.bias), len(self.bias))

    @property
    def dtype(self) -> np.dtype:
        return self.bias.dtype


    # -- maths shared by the network and the training loop --------------------------------

    @staticmethod
    def triangles(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """L (unit lower) and U (upper, diagonal sign * exp(log_scale)) of parameters p."""
        d = len(p["log_scale"])
        below, above = _triangle_masks(d, p["lower"].dtype)
        lower = p["lower"] * below
        diagonal = np.arange(d)
        lower[diagonal, diagonal] = 1.0
        upper = p["upper"] * above
        upper[diagonal, diagonal] = p["sign"] * np.exp(p["log_scale"])
        return lower, upper

    @classmethod
    def weight_of(cls, p: dict[str, np.ndarray], backend: LayerBackend) -> np.ndarray:
        """W = P L U of parameters p."""
        return cls._weight(p, *cls.triangles(p), backend)

    @staticmethod
    def _weight(p: dict[str, np.ndarray], lower: np.ndarray, upper: np.ndarray,
                backend: LayerBackend) -> np.ndarray:
        """W = P L U from p's triangles L and U."""
        return times_triangle(backend.matmul, lower, upper, False)[p["permutation"]]

    @classmethod
    def train_forward(cls, p: dict[str, np.ndarray], x: np.ndarray, backend: LayerBackend,
                      weight: np.ndarray | None = None, context: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(y, log|det J| per sample, cache)`` for parameters p; the cache feeds
        :meth:`train_backward`.

        With fewer rows than columns and no ``weight`` given, x goes through the factors,
        ``y = (x U^T L^T)[:, P] + b``: two products of 2 b n^2 flops each (b rows, width n)
        and 8 b n^2 more in the backward pass, against 2 n^3 to form W and 4 n^3 for the
        factors' gradients from W's. The two ways round differently."""
        lower, upper = cls.triangles(p)
        if weight is None and len(x) < len(lower):
            u = times_triangle(backend.matmul, x, upper.T, True)
            y = times_triangle(backend.matmul, u, lower.T, False)[:, p["permutation"]]
            y += p["bias"]
            saved = u
        else:
            if weight is None:
                weight = cls._weight(p, lower, upper, backend)
            y = backend.dense(x, weight, p["bias"])
            saved = y
        log_det = np.full(len(x), p["log_scale"].sum(), dtype=y.dtype)
        return y, log_det, (x, saved, weight, lower, upper)

    @classmethod
    def train_backward(cls, p: dict[str, np.ndarray], cache: Any, grad_y: np.ndarray,
                       grad_log_det: np.ndarray, backend: LayerBackend
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``dL/dx`` and ``dL/d(array)`` given ``dL/dy`` and ``dL/d(log|det J|)``."""
        x, saved, weight, lower, upper = cache
        matmul = backend.matmul
        if weight is None:  # through the factors: saved is u = x U^T, and v = u L^T
            grad_v = np.empty_like(grad_y)
            grad_v[:, p["permutation"]] = grad_y
            grad_u = times_triangle(matmul, grad_v, lower, True)
            grad_x = times_triangle(matmul, grad_u, upper, False)
            grad_lower = product_triangle(matmul, grad_v.T, saved, True)
            grad_upper = product_triangle(matmul, grad_u.T, x, False)
            grad_bias = grad_y.sum(axis=0)
        else:  # through W = M[permutation], M = L U; saved is y
            grad_x, grad_weight, grad_bias = backend.dense_backward(x, weight, saved, grad_y)
            grad_m = np.empty_like(grad_weight)
            grad_m[p["permutation"]] = grad_weight
            grad_lower = times_triangle(matmul, grad_m, upper.T, True)
            grad_upper = product_triangle(matmul, lower.T, grad_m, False)
        diagonal = np.diag(grad_upper) * p["sign"] * np.exp(p["log_scale"])
        below, above = _triangle_masks(len(diagonal), grad_lower.dtype)
        grad_lower *= below  # both fresh arrays of this call
        grad_upper *= above
        return grad_x, {
            "lower": grad_lower,
            "upper": grad_upper,
            "log_scale": diagonal + grad_log_det.sum(),
            "bias": grad_bias,
        }

    # -- the layer interface ----------------------------------------------------------------

    def _get(self, key: Any, make: Any) -> Any:
        cached = self._cache.get(key)
        if cached is None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is None:
                    cached = make()
                    self._cache[key] = cached
        return cached

    def weight(self, backend: LayerBackend, dtype: Any) -> np.ndarray:
        """W = P L U in ``dtype``, computed once per backend and dtype."""
        dtype = np.dtype(dtype)
        return self._get(("weight", type(backend), dtype),
                         lambda: self.weight_of(self.params(dtype), backend))

    def forward(self, x: np.ndarray, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return backend.dense(x, self.weight(backend, x.dtype), self.bias.astype(x.dtype))

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend, context: np.ndarray | None = None
                        ) -> np.ndarray:
        total += self.log_scale.sum()
        return self.forward(x, backend)

    def constant_log_det(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        return self.log_scale.sum()

    def fused(self, backend: LayerBackend, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray,
                                                                     int, float]:
        # the dense layer of its cached W = P L U, no activation
        return (self.weight(backend, dtype), self.bias.astype(dtype, copy=False),
                ACTIVATIONS["identity"].code, 0.0)

    def fused_log_det(self, backend: LayerBackend, dtype: np.dtype) -> float:
        return float(self.log_scale.astype(np.float64).sum())

    def gradients(self, x: np.ndarray, grad_output: np.ndarray,
                  backend: LayerBackend) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params(x.dtype)
        _, _, cache = self.train_forward(p, x, backend, self.weight(backend, x.dtype))
        return self.train_backward(p, cache, grad_output, np.zeros(len(x), x.dtype), backend)

    def factors(self, backend: LayerBackend, dtype: np.dtype) -> Factors:
        """The packed factors ``(L - I + U, piv)`` that ``lu_solve`` takes, with the
        condition estimate of W; built once per backend and dtype, never by factorising."""
        def make() -> Factors:
            lower, upper = self.triangles(self.params(dtype))
            packed = np.ascontiguousarray(np.tril(lower, -1) + upper)
            piv = permutation_pivots(self.permutation)
            weight = self.weight(backend, dtype)
            smallest = float(np.abs(np.diag(upper)).min()) if len(upper) else 0.0
            if not (np.isfinite(weight).all() and np.isfinite(packed).all()):
                cond = float("nan")
            else:
                norm1 = float(np.abs(weight).sum(axis=0).max())
                cond = backend.lu_condition_estimate((packed, piv), norm1)
            return Factors(packed, piv, cond, smallest)
        return self._get(("factors", type(backend), np.dtype(dtype)), make)

    def diagnose(self, backend: LayerBackend, dtype: np.dtype,
                 threshold: float) -> tuple[Factors | None, str]:
        factors = self.factors(backend, dtype)
        if not np.isfinite(factors.condition_estimate):
            return factors, "the factors hold inf or NaN, or U's diagonal underflows"
        if factors.smallest_pivot == 0:
            return factors, "U's diagonal underflows to 0 (log_scale too small)"
        if factors.condition_estimate > threshold:
            return factors, (f"W = P L U is ill-conditioned: condition estimate "
                             f"{factors.condition_estimate:.3g} exceeds the threshold "
                             f"{threshold:.3g}")
        return factors, ""

    def note(self) -> str:
        return f"W = P L U, log|det| = {float(self.log_scale.sum()):.4g}"

    def inverse(self, t: np.ndarray, factors: Factors, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        z = t - self.bias.astype(t.dtype)
        return np.ascontiguousarray(
            backend.lu_solve(factors[:2], z.T, check_finite=False).T)

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Factors,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The solve and its error model: a dense identity layer's (:mod:`revcore._refine`),
        the residual of refinement computed with W formed in the residual's precision."""
        residual = np.dtype(precision.residual)
        lower, upper = self.triangles(self.params(np.float64))
        weight = (lower.astype(residual) @ upper.astype(residual))[self.permutation]
        bias = self.bias.astype(precision.working)
        return refined_solve_step(weight, bias, factors, t, t, np.ones(len(t)), error,
                                  precision, backend)

    # -- storage ------------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({name: getattr(self, name) for name in self.ARRAYS}, {})

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> LUDense:
        """From ``lower``, ``upper`` (d, d), ``log_scale``, ``sign`` (d,) of +-1,
        ``permutation`` (d,) of the integers 0..d-1 and ``bias`` (d,) or None; copied."""
        if arrays.get("log_scale") is None:
            raise ValueError(f"layer {index} (lu_dense) needs an array 'log_scale'")
        log_scale = as_float_array(arrays["log_scale"], f"log_scale[{index}]")
        if log_scale.ndim != 1:
            raise ValueError(f"log_scale[{index}] must be 1-D, got shape {log_scale.shape}")
        d = len(log_scale)
        lower = _float_array(arrays, "lower", index, (d, d), cls.kind)
        upper = _float_array(arrays, "upper", index, (d, d), cls.kind)
        sign = _float_array(arrays, "sign", index, (d,), cls.kind)
        if not np.all(np.abs(sign) == 1):
            raise ValueError(f"sign[{index}] must hold only +1 and -1")
        bias = arrays.get("bias")
        bias = np.zeros(d, log_scale.dtype) if bias is None else as_float_array(
            bias, f"bias[{index}]")
        if bias.shape != (d,):
            raise ValueError(f"bias[{index}] must have shape ({d},), got {bias.shape}")
        if arrays.get("permutation") is None:
            raise ValueError(f"layer {index} (lu_dense) needs an array 'permutation'")
        permutation = np.asarray(arrays["permutation"])
        if permutation.dtype.kind not in "iu" or permutation.shape != (d,) or not np.array_equal(
                np.sort(permutation), np.arange(d)):
            raise ValueError(f"permutation[{index}] must hold each integer 0..{d - 1} once")
        dtype = dtype or np.result_type(lower, upper, log_scale, sign, bias)
        return cls(_frozen_copy(np.tril(lower, -1), dtype), _frozen_copy(np.triu(upper, 1), dtype),
                   _frozen_copy(log_scale, dtype), _frozen_copy(sign, dtype),
                   _frozen_copy(permutation, np.int64), _frozen_copy(bias, dtype))



_S_BOUND = 2.0  # s = 2 tanh(s_raw / 2): each log-scale lies in (-2, 2)


@register_layer_kind
@dataclass(frozen=True, eq=False)
class Coupling(_TrainableKind):
    """An affine coupling block on a half/half split, immutable.

    With ``x = [x1, x2]`` (``x1`` the first ``d // 2`` features):
    ``[s_raw, t] = MLP(x1)``, ``s = 2 tanh(s_raw / 2)``, ``y = [x1, x2 * exp(s) + t]``;
    ``log |det J| = sum(s)`` and the inverse is ``x2 = (y2 - t) * exp(-s)`` with the same
    ``s, t`` computed from ``y1 = x1``. The conditioner MLP (``weights[i]`` of shape
    (n_out, n_in), ReLU after every layer but the last) is never inverted: any width, any
    number of layers, non-square. It is not fed a class label (a network has no context
    input).

    Examples
    --------
    >>> import numpy as np
    >>> from revcore._layers import Coupling
    >>> from revcore.reference import _ReferenceBackend
    >>> rng = np.random.default_rng(0)
    >>> layer = Coupling.random(3, hidden=(5,), rng=rng, scale=0.5)
    >>> x = rng.standard_normal((2, 3))
    >>> y = layer.forward(x, _ReferenceBackend())
    >>> bool(np.allclose(layer.inverse(y, None, _ReferenceBackend()), x))
    True
    """

    kind: ClassVar[str] = "coupling"
    ARRAYS: ClassVar[tuple[str, ...]] = ()  # weight0, bias0, weight1, ... (any number)
    SETTINGS: ClassVar[dict[str, str]] = {}
    # The conditioner's outputs per transformed feature (here s_raw and t).
    PER_FEATURE: ClassVar[int] = 2

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    version: int = field(default_factory=lambda: next(_versions))
    #: Width of the context (a class's one-hot, say) the conditioner takes after x1.
    context: int = 0

    INTEGER_ARRAYS: ClassVar[tuple[str, ...]] = ("context_width",)

    @classmethod
    def random(cls, width: int, hidden: Sequence[int] = (64, 64),
               rng: np.random.Generator | None = None, scale: float = 0.0,
               dtype: Any = np.float64, context: int = 0) -> Coupling:
        """He-initialised hidden layers; the last layer's weights are ``scale`` times
        standard normals (0, the default, makes the block the identity); the conditioner
        takes ``context`` more inputs."""
        rng = np.random.default_rng(rng)
        d1, d2 = width // 2, width - width // 2
        sizes = [d1 + context, *hidden, cls.PER_FEATURE * d2]
        arrays: dict[str, Any] = {"context_width": np.array(context)} if context else {}
        for i in range(len(sizes) - 1):
            last = i == len(sizes) - 2
            std = scale if last else np.sqrt(2.0 / max(sizes[i], 1))
            arrays[f"weight{i}"] = rng.standard_normal((sizes[i + 1], sizes[i])) * std
            arrays[f"bias{i}"] = (rng.standard_normal(sizes[i + 1]) * scale if last
                                  else np.zeros(sizes[i + 1]))
        return cls.from_arrays(arrays, {}, dtype=np.dtype(dtype))

    @property
    def split(self) -> tuple[int, int]:
        """``(d1, d2)``: the features passed through and the features transformed."""
        return (self.weights[0].shape[1] - self.context,
                self.weights[-1].shape[0] // self.PER_FEATURE)

    @property
    def context_width(self) -> int:
        return self.context

    @staticmethod
    def _d1(p: dict[str, np.ndarray]) -> int:
        """The features passed through, from parameters p."""
        return int(p["weight0"].shape[1]) - int(p.get("context_width", 0))

    @property
    def shape(self) -> tuple[int, int]:
        d = sum(self.split)
        return (d, d)

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype


    # -- maths shared by the network and the training loop --------------------------------

    @staticmethod
    def _depth(p: dict[str, np.ndarray]) -> int:
        return sum(1 for key in p if key.startswith("weight"))

    @classmethod
    def conditioner(cls, p: dict[str, np.ndarray], x1: np.ndarray, backend: LayerBackend,
                    keep: bool = False, context: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list, list]:
        """``(s, tanh(s_raw / 2), t)`` inputs: returns ``(s_raw, t, inputs, preactivations)``
        (the last two only with ``keep``)."""
        a, inputs, pre = cls.mlp(p, x1, backend, keep, context)
        d2 = a.shape[1] // 2
        return a[:, :d2], a[:, d2:], inputs, pre

    @classmethod
    def mlp(cls, p: dict[str, np.ndarray], x1: np.ndarray, backend: LayerBackend,
            keep: bool = False, context: np.ndarray | None = None
            ) -> tuple[np.ndarray, list, list]:
        """The conditioner's outputs at x1 (and the context after it, for a block that
        takes one), with each layer's inputs and pre-activations (only with ``keep``:
        what :meth:`mlp_backward` needs)."""
        depth = cls._depth(p)
        width = int(p.get("context_width", 0))
        if width:
            if context is None or context.shape != (len(x1), width):
                raise ValueError(f"this coupling block's conditioner takes a context of "
                                 f"shape ({len(x1)}, {width}); got "
                                 f"{None if context is None else context.shape}")
            a = np.ascontiguousarray(np.concatenate([x1, context.astype(x1.dtype)], axis=1))
        else:
            a = x1
        inputs, pre = [], []
        for i in range(depth):
            w, b = p[f"weight{i}"], p[f"bias{i}"]
            hidden = i < depth - 1
            if a.shape[1] == 0:  # a one-feature block: nothing to condition on
                z = np.broadcast_to(b, (len(a), len(b))).copy()
                nxt = np.maximum(z, 0) if hidden else z
            elif keep:
                z = backend.dense(a, w, b)
                nxt = backend.activate(z, "relu") if hidden else z
            else:
                z = None
                nxt = backend.dense(a, w, b, "relu" if hidden else "identity")
            if keep:
                inputs.append(a)
                pre.append(z)
            a = nxt
        return a, inputs, pre

    @classmethod
    def mlp_backward(cls, p: dict[str, np.ndarray], inputs: list, pre: list, g: np.ndarray,
                     backend: LayerBackend) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``dL/dx1`` and the conditioner's array gradients given ``g = dL/d(outputs)``."""
        grads: dict[str, np.ndarray] = {}
        depth = cls._depth(p)
        for i in reversed(range(depth)):
            w = p[f"weight{i}"]
            if inputs[i].shape[1] == 0:
                grad_z = g * (pre[i] > 0) if i < depth - 1 else g
                grads[f"weight{i}"] = np.zeros_like(w)
                grads[f"bias{i}"] = grad_z.sum(axis=0)
                g = np.zeros((len(g), 0), dtype=g.dtype)
                continue
            activation = "relu" if i < depth - 1 else "identity"
            g, grads[f"weight{i}"], grads[f"bias{i}"] = backend.dense_backward(
                inputs[i], w, pre[i], g, activation)
        return g, grads

    @classmethod
    def train_forward(cls, p: dict[str, np.ndarray], x: np.ndarray, backend: LayerBackend,
                      keep: bool = True, context: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(y, log|det J| per sample, cache)`` for parameters p."""
        d1 = cls._d1(p)
        x1, x2 = x[:, :d1], x[:, d1:]
        s_raw, t, inputs, pre = cls.conditioner(p, x1, backend, keep, context)
        half = np.tanh(0.5 * s_raw)
        s = _S_BOUND * half
        e = np.exp(s)
        y = np.concatenate([x1, x2 * e + t], axis=1)
        return y, s.sum(axis=1), (inputs, pre, x2, e, half)

    @classmethod
    def train_backward(cls, p: dict[str, np.ndarray], cache: Any, grad_y: np.ndarray,
                       grad_log_det: np.ndarray, backend: LayerBackend
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``dL/dx`` and ``dL/d(array)`` given ``dL/dy`` and ``dL/d(log|det J|)``."""
        inputs, pre, x2, e, half = cache
        d1 = cls._d1(p)
        gy1, gy2 = grad_y[:, :d1], grad_y[:, d1:]
        grad_s = gy2 * x2 * e + grad_log_det[:, None]
        g = np.ascontiguousarray(np.concatenate(
            [grad_s * (0.5 * _S_BOUND) * (1.0 - half * half), gy2], axis=1))
        g, grads = cls.mlp_backward(p, inputs, pre, g, backend)
        return np.concatenate([gy1 + g[:, :d1], gy2 * e], axis=1), grads

    # -- the layer interface ----------------------------------------------------------------

    def forward(self, x: np.ndarray, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return self.train_forward(self.params(x.dtype), x, backend, False, context)[0]

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend, context: np.ndarray | None = None
                        ) -> np.ndarray:
        y, log_det, _ = self.train_forward(self.params(x.dtype), x, backend, False, context)
        total += log_det
        return y

    def factors(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        return None  # nothing to factorise: the inverse is elementwise

    def diagnose(self, backend: LayerBackend, dtype: np.dtype,
                 threshold: float) -> tuple[Factors | None, str]:
        if not all(np.isfinite(a).all() for a in (*self.weights, *self.biases)):
            return None, "the conditioner holds inf or NaN"
        return None, ""

    def note(self) -> str:
        sizes = "->".join(str(n) for n in
                          [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights])
        return f"conditioner {sizes} (relu), never inverted; |s| < {_S_BOUND:g}"

    def inverse(self, t: np.ndarray, factors: Any, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        p = self.params(t.dtype)
        d1 = self.split[0]
        t1, t2 = t[:, :d1], t[:, d1:]
        s_raw, shift, _, _ = self.conditioner(p, np.ascontiguousarray(t1), backend,
                                              context=context)
        s = _S_BOUND * np.tanh(0.5 * s_raw)
        return np.concatenate([t1, (t2 - shift) * np.exp(-s)], axis=1)

    def _local_slopes(self, p: dict[str, np.ndarray], x1: np.ndarray,
                      context: np.ndarray | None = None,
                      rows: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the inf-norms of the conditioner's Jacobians ``d s_raw / d x1`` and
        ``d t / d x1`` at x1 (ReLU's pattern frozen: a first-order model), and the rounding
        of its outputs (each layer ``(n_in + 2) u`` times the magnitudes it sums, carried
        through the later layers' local Jacobians), in units of u. Blocks of ``rows``
        rows bound the memory."""
        depth = self._depth(p)
        d2 = p[f"weight{depth - 1}"].shape[0] // 2
        slope_s, slope_t, rounding = (np.empty(len(x1)) for _ in range(3))
        d1 = x1.shape[1]
        if self.context:  # the context is exact: derivatives with respect to x1 only
            x1 = np.concatenate([x1, np.asarray(context, dtype=np.float64)], axis=1)
        seed = np.eye(x1.shape[1], d1)
        for begin in range(0, len(x1), rows):
            a = x1[begin:begin + rows]
            jacobian = np.broadcast_to(seed, (len(a), *seed.shape))
            error = np.zeros((len(a), 1))
            for i in range(depth):
                w, b = p[f"weight{i}"], p[f"bias{i}"]
                z = a @ w.T + b
                magnitude = np.abs(a) @ np.abs(w).T + np.abs(b)
                error = error * np.abs(w).sum(axis=1).max(initial=0.0) + (
                    (w.shape[1] + 2) * magnitude.max(axis=1, keepdims=True, initial=0.0))
                jacobian = np.einsum("oi,nij->noj", w, jacobian)
                if i < depth - 1:
                    active = z > 0
                    jacobian = jacobian * active[:, :, None]
                    a = np.where(active, z, 0.0)
            norms = np.abs(jacobian).sum(axis=2)
            slope_s[begin:begin + rows] = norms[:, :d2].max(axis=1, initial=0.0)
            slope_t[begin:begin + rows] = norms[:, d2:].max(axis=1, initial=0.0)
            rounding[begin:begin + rows] = error[:, 0]
        return slope_s, slope_t, rounding

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Any,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The inverse and a first-order a-priori bound of each row's relative error.

        With incoming absolute error ``delta = error * ||t||_inf`` per row: ``x1 = t1``
        inherits delta; ``s`` and the shift move by at most their local slopes (the
        inf-norms of the conditioner's Jacobians at ``t1``, ReLU's pattern frozen; tanh
        only shrinks) times delta, plus their rounding; then
        ``|dx2| <= exp(-s) (delta + dt) + |x2| ds + 3 u |x2|`` elementwise (bounded with
        the row's largest ``exp(-s)`` and ``|x2|``). Refinement is not needed (the
        inverse is explicit) and not taken.
        """
        x = self.inverse(t, factors, backend, context)
        u = precision.u_work
        p = self.params(np.float64)
        d1 = self.split[0]
        t64, x64 = t.astype(np.float64), x.astype(np.float64)
        delta = error * np.abs(t64).max(axis=1, initial=0.0)
        if d1:
            slope_s, slope_t, rounding = self._local_slopes(p, t64[:, :d1], context)
        else:
            slope_s = slope_t = np.zeros(len(t))
            rounding = np.full(len(t), 2.0 * len(p))
        s_raw, _, _, _ = self.conditioner(p, np.ascontiguousarray(t64[:, :d1]), backend,
                                          context=context)
        growth = np.exp(-_S_BOUND * np.tanh(0.5 * s_raw)).max(axis=1, initial=1.0)
        x2 = np.abs(x64[:, d1:]).max(axis=1, initial=0.0)
        moved_s = slope_s * delta + rounding * u
        moved_t = slope_t * delta + rounding * u
        absolute = np.maximum(delta, growth * (delta + moved_t) + x2 * moved_s + 3 * u * x2)
        norm_x = np.abs(x64).max(axis=1, initial=0.0)
        return x, absolute / np.where(norm_x > 0, norm_x, np.finfo(float).tiny)

    # -- storage ------------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {}
        if self.context:
            arrays["context_width"] = np.array(self.context, dtype=np.int64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"weight{i}"] = w
            arrays[f"bias{i}"] = b
        return arrays, {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> Coupling:
        """From the conditioner's ``weight0, bias0, weight1, bias1, ...`` (at least one
        layer; ``weight{i}`` (n_out, n_in), the last one's n_out even); copied."""
        weights, biases = cls._mlp_arrays(arrays, index, extra=("context_width",))
        context = _context_width(arrays, index, cls.kind, weights[0].shape[1])
        d1, n_out = weights[0].shape[1] - context, weights[-1].shape[0]
        if n_out % 2 or n_out == 0 or n_out // 2 < d1 or n_out // 2 > d1 + 1:
            raise ValueError(
                f"layer {index} (coupling): the conditioner maps {d1} features to {n_out} "
                f"outputs; a half/half split of d features needs d // 2 inputs and "
                f"2 * (d - d // 2) outputs")
        dtype = dtype or np.result_type(*weights, *biases)
        return cls(tuple(_frozen_copy(w, dtype) for w in weights),
                   tuple(_frozen_copy(b, dtype) for b in biases), context=context)

    @classmethod
    def _mlp_arrays(cls, arrays: dict[str, Any], index: int, extra: tuple[str, ...] = ()
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The conditioner's weights and biases from ``weight0, bias0, ...`` (checked to
        chain); ``extra`` names the kind's other arrays."""
        depth = 0
        while f"weight{depth}" in arrays:
            depth += 1
        expected = {f"{name}{i}" for i in range(depth) for name in ("weight", "bias")}
        unknown = set(arrays) - expected - set(extra)
        if depth == 0 or unknown:
            names = "weight0, bias0, weight1, ..." + (
                f" (and {', '.join(extra)})" if extra else "")
            raise ValueError(
                f"layer {index} ({cls.kind}) needs arrays {names}; got "
                f"{', '.join(sorted(arrays)) or 'none'}")
        weights: list[np.ndarray] = []
        biases: list[np.ndarray] = []
        for i in range(depth):
            w = _float_array(arrays, f"weight{i}", index, None, cls.kind)
            if i and w.shape[1] != weights[-1].shape[0]:
                raise ValueError(f"weight{i}[{index}] takes {w.shape[1]} inputs but "
                                 f"weight{i - 1} gives {weights[-1].shape[0]}")
            b = arrays.get(f"bias{i}")
            b = np.zeros(w.shape[0], w.dtype) if b is None else _float_array(
                arrays, f"bias{i}", index, (w.shape[0],), cls.kind)
            weights.append(w)
            biases.append(b)
        return weights, biases


def _context_width(arrays: dict[str, Any], index: int, kind: str, inputs: int) -> int:
    """The optional ``context_width`` of a coupling block: an integer in [0, inputs]."""
    value = arrays.get("context_width")
    if value is None:
        return 0
    width = np.asarray(value)
    if width.shape != () or width.dtype.kind not in "iu" or not 0 <= int(width) <= inputs:
        raise ValueError(f"context_width[{index}] ({kind}) must be an integer scalar in "
                         f"[0, {inputs}], got {value!r}")
    return int(width)


def _restore_kind(kind: str, arrays: dict[str, Any], settings: dict[str, Any]) -> LayerKind:
    """Unpickle a layer of any kind from its arrays (caches are rebuilt on demand)."""
    return LAYER_KINDS[kind].from_arrays(arrays, settings)


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
    integer = [getattr(LAYER_KINDS.get(kind), "INTEGER_ARRAYS", ()) for kind in data.kinds]
    promoted = [as_float_array(arrays[key], f"{key}s[{i}]")
                for key in keys for i, arrays in enumerate(data.arrays)
                if arrays.get(key) is not None and key not in integer[i]]
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
