"""Networks of dense layers that run forwards and, when every layer allows it, backwards."""

from __future__ import annotations

import itertools
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from . import _core
from . import _functions as native
from ._checks import (
    ACTIVATIONS,
    NotInvertibleError,
    activation_code,
    activation_range,
    as_float_array,
    check_memory,
    contiguous_ready,
    out_of_range_mask,
)

__all__ = ["Network", "Layer", "LayerReport", "InvertibilityReport"]

_versions = itertools.count(1)  # next() on a count is atomic in CPython


class Factors(NamedTuple):
    """LU factors of one layer's weight in one dtype, with what check() reports of them."""

    lu: np.ndarray
    piv: np.ndarray
    condition_estimate: float
    smallest_pivot: float


@dataclass(frozen=True, eq=False)
class Layer:
    """One dense layer ``y = activation(weight @ x + bias)``, immutable.

    A network replaces a layer object to change its weights, so a layer's cached LU factors
    always belong to its own weights; ``version`` tells successive layers apart.
    """

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

    def __reduce__(self) -> tuple:
        # Locks and cached factors are not pickled; factors are recomputed on demand.
        return (_restore_layer, (self.weight, self.bias, self.activation, self.negative_slope))

    @property
    def is_square(self) -> bool:
        return self.weight.shape[0] == self.weight.shape[1]


def _restore_layer(weight: np.ndarray, bias: np.ndarray, activation: str,
                   negative_slope: float) -> Layer:
    weight, bias = np.array(weight), np.array(bias)
    weight.flags.writeable = False
    bias.flags.writeable = False
    return Layer(weight, bias, activation, negative_slope)


def _make_layer(weight: Any, bias: Any, activation: Any, negative_slope: Any, index: int,
                dtype: np.dtype | None = None) -> Layer:
    activation_code(activation, negative_slope)
    weight = as_float_array(weight, f"weights[{index}]")
    if weight.ndim != 2:
        raise ValueError(f"weights[{index}] must be 2-D (n_out, n_in), got shape {weight.shape}")
    if bias is None:
        bias = np.zeros(weight.shape[0], dtype=weight.dtype)
    bias = as_float_array(bias, f"biases[{index}]")
    if bias.shape != (weight.shape[0],):
        raise ValueError(
            f"biases[{index}] must have shape ({weight.shape[0]},) to match weights[{index}] "
            f"{weight.shape}, got {bias.shape}"
        )
    dtype = dtype or np.result_type(weight, bias)
    weight = np.array(weight, dtype=dtype, order="C")  # always a private copy
    bias = np.array(bias, dtype=dtype, order="C")
    weight.flags.writeable = False
    bias.flags.writeable = False
    return Layer(weight, bias, activation, float(negative_slope))


class LayerReport(NamedTuple):
    """What check() found about one layer."""

    index: int
    shape: tuple[int, int]
    activation: str
    condition_estimate: float | None
    smallest_pivot: float | None
    invertible: bool
    reason: str
    out_of_range: int | None = None
    error_bound: float | None = None
    """A-priori relative error of this layer's solve alone: 3 cond * 2 n eps."""
    rows: tuple[int, ...] = ()
    """Samples (rows of the targets) with elements outside the activation's range."""
    columns: tuple[int, ...] = ()
    """Units (columns) with elements outside the activation's range."""

    @property
    def verdict(self) -> str:
        return "invertible" if self.invertible else "NOT INVERTIBLE"


class InvertibilityReport(Sequence[LayerReport]):
    """Per-layer invertibility verdicts of a network; print it for a table.

    ``report.ok`` is True when every layer is invertible (and, if targets were given, every
    target can be inverted); ``report[i]`` is the LayerReport of layer i.
    """

    def __init__(self, layers: list[LayerReport], condition_threshold: float) -> None:
        self.layers = layers
        self.condition_threshold = condition_threshold

    @property
    def ok(self) -> bool:
        return all(r.invertible for r in self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: Any) -> Any:
        return self.layers[index]

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers)

    def __str__(self) -> str:
        header = f"{'layer':>5}  {'shape':>11}  {'activation':<10}  {'cond (1-norm)':>13}  verdict"
        lines = [header]
        for r in self.layers:
            cond = "-" if r.condition_estimate is None else f"{r.condition_estimate:.3g}"
            shape = f"{r.shape[0]}x{r.shape[1]}"
            verdict = r.verdict + (f": {r.reason}" if r.reason else "")
            lines.append(f"{r.index:>5}  {shape:>11}  {r.activation:<10}  {cond:>13}  {verdict}")
        summary = "every layer is invertible" if self.ok else "the network is NOT invertible"
        lines.append(f"{summary} (condition threshold {self.condition_threshold:.3g})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<InvertibilityReport ok={self.ok} layers={len(self.layers)}>\n{self}"


class _Backend:
    """How a network computes: the native kernels, or numpy in revcore.reference."""

    lu_factor = staticmethod(native.lu_factor)
    lu_solve = staticmethod(native.lu_solve)
    lu_condition_estimate = staticmethod(native.lu_condition_estimate)
    dense = staticmethod(native.dense)
    matmul = staticmethod(native.matmul)
    activate = staticmethod(native.activate)
    activate_inverse = staticmethod(native.activate_inverse)

    @staticmethod
    def _lists(layers: Sequence[Layer], dtype: np.dtype) -> tuple[list, list, list, list]:
        return (
            [layer.weight.astype(dtype, copy=False) for layer in layers],
            [layer.bias.astype(dtype, copy=False) for layer in layers],
            [ACTIVATIONS[layer.activation] for layer in layers],
            [layer.negative_slope for layer in layers],
        )

    def forward(self, layers: Sequence[Layer], x: np.ndarray) -> np.ndarray:
        return _core.network_forward(*self._forward_lists(layers, x.dtype), x)

    def _forward_lists(self, layers: Sequence[Layer], dtype: np.dtype) -> tuple:
        # The last snapshot's arguments, reused while the layers (an immutable tuple, held
        # here so its identity stays unique) and the dtype are the same: small batches would
        # otherwise spend most of their time rebuilding them.
        cached = self._forward_cache
        if cached is not None and cached[0] is layers and cached[1] == dtype:
            return cached[2]
        lists = self._lists(layers, dtype)
        self._forward_cache = (layers, dtype, lists)
        return lists

    _forward_cache: tuple | None = None

    def prepare_inverse(self, layers: Sequence[Layer], factors: Sequence[Factors],
                        dtype: np.dtype) -> Any:
        """What inverse() needs of the layers, built once per (layers, dtype) snapshot."""
        return (*self._lists(layers, dtype), [f.lu for f in factors], [f.piv for f in factors])

    def inverse(
        self, layers: Sequence[Layer], prepared: Any, y: np.ndarray
    ) -> tuple[np.ndarray, tuple[str, int] | None]:
        """x with forward(x) = y, or the failing target and (kind, layer index)."""
        x, failure, layer, _, _ = _core.network_inverse(*prepared, y)
        if failure == 0:
            return x, None
        return x, ("out_of_range" if failure == 1 else "not_finite", layer)


class Network:
    """A feed-forward stack of dense layers ``x -> activation(weight @ x + bias)``.

    Runs forwards for any layer shapes; runs backwards (:meth:`inverse`) when every weight is
    square and well-conditioned and every activation a bijection (identity, leaky_relu,
    tanh, sigmoid), each layer being inverted with LU factors cached until its weights
    change.

    Build one with :meth:`from_weights` or :meth:`random`.

    Parameters
    ----------
    layers : sequence of Layer
    condition_threshold : float, optional
        Layers whose 1-norm condition estimate exceeds it are refused by :meth:`inverse`.
        The default, ``0.01 / eps`` of the computing dtype (about 8.4e4 for float32 and
        4.5e13 for float64), caps each layer's a-priori relative error ``cond * eps`` at 1%.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> net = revcore.Network.random(width=4, depth=3, activation="tanh", seed=0)
    >>> x = np.linspace(-1, 1, 4)
    >>> bool(np.allclose(net.inverse(net.forward(x)), x))
    True
    """

    _backend: _Backend = _Backend()

    def __init__(self, layers: Sequence[Layer], *, condition_threshold: float | None = None):
        layers = tuple(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        for i in range(1, len(layers)):
            if layers[i].shape[1] != layers[i - 1].shape[0]:
                raise ValueError(
                    f"layer {i} takes {layers[i].shape[1]} inputs but layer {i - 1} gives "
                    f"{layers[i - 1].shape[0]} outputs"
                )
        if len({layer.weight.dtype for layer in layers}) != 1:
            raise TypeError("all layers of a network must share one dtype")
        if condition_threshold is not None and not condition_threshold > 1:
            raise ValueError(f"condition_threshold must exceed 1, got {condition_threshold!r}")
        self._layers = layers
        self._widest = max(max(layer.shape) for layer in layers)  # set_layer keeps shapes
        self._lock = threading.Lock()
        self._backend = type(self)._backend.__class__()  # its caches belong to this network
        self.condition_threshold = condition_threshold

    def __getstate__(self) -> dict:
        return {"layers": self._layers, "condition_threshold": self.condition_threshold}

    def __setstate__(self, state: dict) -> None:
        self._layers = state["layers"]
        self._widest = max(max(layer.shape) for layer in self._layers)
        self.condition_threshold = state["condition_threshold"]
        self._lock = threading.Lock()
        self._backend = type(self)._backend.__class__()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[Any],
        biases: Sequence[Any] | None,
        activations: str | Sequence[str],
        negative_slope: float | Sequence[float] = 0.01,
        *,
        condition_threshold: float | None = None,
    ) -> "Network":
        """Build a network from per-layer weights (n_out, n_in), biases and activations.

        ``biases`` may be None (no biases) or hold None entries; ``activations`` and
        ``negative_slope`` are one per layer, or a single value for every layer. The arrays
        are copied: later changes to them do not reach the network. The network's dtype is
        the promoted dtype of all weights and biases.
        """
        weights = list(weights)
        depth = len(weights)
        biases = [None] * depth if biases is None else list(biases)
        activations = [activations] * depth if isinstance(activations, str) else list(activations)
        slopes = (
            list(negative_slope) if isinstance(negative_slope, (list, tuple, np.ndarray))
            else [negative_slope] * depth
        )
        for name, values in (("biases", biases), ("activations", activations),
                             ("negative_slope", slopes)):
            if len(values) != depth:
                raise ValueError(f"got {depth} weights but {len(values)} {name}")
        arrays = [as_float_array(w, f"weights[{i}]") for i, w in enumerate(weights)]
        arrays += [as_float_array(b, f"biases[{i}]") for i, b in enumerate(biases) if b is not None]
        dtype = np.result_type(*arrays) if arrays else np.float64
        layers = [
            _make_layer(w, b, a, s, i, dtype)
            for i, (w, b, a, s) in enumerate(zip(weights, biases, activations, slopes))
        ]
        return cls(layers, condition_threshold=condition_threshold)

    @classmethod
    def random(
        cls,
        width: int,
        depth: int,
        activation: str = "leaky_relu",
        dtype: Any = np.float64,
        seed: Any = None,
        *,
        condition: float = 10.0,
        negative_slope: float = 0.1,
        condition_threshold: float | None = None,
    ) -> "Network":
        """A random invertible network of ``depth`` square layers of size ``width``.

        Each weight is ``U diag(s) V^T`` with random orthogonal U, V and singular values
        spread geometrically from 1 down to ``1 / condition``, so its 2-norm condition
        number is exactly ``condition``. Biases are small (normal, scale 0.1).
        """
        if not (isinstance(width, (int, np.integer)) and width >= 1):
            raise ValueError(f"width must be a positive integer, got {width!r}")
        if not (isinstance(depth, (int, np.integer)) and depth >= 1):
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        if not condition >= 1:
            raise ValueError(f"condition must be >= 1, got {condition!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        rng = np.random.default_rng(seed)
        weights, biases = [], []
        for _ in range(depth):
            u, _r = np.linalg.qr(rng.standard_normal((width, width)))
            v, _r = np.linalg.qr(rng.standard_normal((width, width)))
            s = np.geomspace(1.0, 1.0 / condition, width) if width > 1 else np.ones(1)
            weights.append(((u * s) @ v.T).astype(dtype))
            biases.append((0.1 * rng.standard_normal(width)).astype(dtype))
        return cls.from_weights(weights, biases, activation, negative_slope,
                                condition_threshold=condition_threshold)

    @classmethod
    def from_torch(cls, module: Any, *, condition_threshold: float | None = None) -> "Network":
        """Build a network from a PyTorch ``nn.Sequential`` of square ``nn.Linear`` layers,
        each optionally followed by LeakyReLU, Tanh, Sigmoid or Identity (same dtype).

        Raises NotInvertibleError naming the module that cannot be inverted and why.
        """
        from ._interop import from_torch

        return from_torch(module, cls, condition_threshold=condition_threshold)

    def to_torch(self) -> Any:
        """The network as a PyTorch ``nn.Sequential`` (Linear and activation modules)."""
        from ._interop import to_torch

        return to_torch(self)

    def save(self, path: Any) -> None:
        """Write the network to an .npz file (layout in ``revcore._interop``; numpy alone
        reads it). Load it with :func:`revcore.load`."""
        from ._interop import save

        save(self, path)

    # -- properties ---------------------------------------------------------------------

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers, an immutable snapshot (use :meth:`set_layer` to change one)."""
        return self._layers

    @property
    def depth(self) -> int:
        return len(self._layers)

    @property
    def dtype(self) -> np.dtype:
        return self._layers[0].weight.dtype

    @property
    def n_inputs(self) -> int:
        return self._layers[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self._layers[-1].shape[0]

    def __repr__(self) -> str:
        parts = ", ".join(f"{l.shape[1]}->{l.shape[0]} {l.activation}" for l in self._layers)
        return f"{type(self).__name__}([{parts}], dtype={self.dtype})"

    def set_layer(self, index: int, weight: Any = None, bias: Any = None) -> None:
        """Replace layer ``index``'s weight and/or bias (same shapes); its cached factors are
        dropped, the other layers' kept. Concurrent :meth:`inverse` calls see either the old
        or the new layer, never a mix."""
        with self._lock:
            layers = list(self._layers)
            old = layers[index]
            weight = old.weight if weight is None else weight
            bias = old.bias if bias is None else bias
            new = _make_layer(weight, bias, old.activation, old.negative_slope, index, self.dtype)
            if new.shape != old.shape:
                raise ValueError(f"layer {index} has shape {old.shape}; got weight {new.shape}")
            layers[index] = new
            self._layers = tuple(layers)

    def set_weights(self, weights: Sequence[Any], biases: Sequence[Any] | None = None) -> None:
        """Replace every layer's weights (and biases) at once, atomically."""
        with self._lock:
            old = self._layers
            if len(weights) != len(old) or (biases is not None and len(biases) != len(old)):
                raise ValueError(f"expected {len(old)} weights and biases")
            layers = []
            for i, layer in enumerate(old):
                bias = layer.bias if biases is None else biases[i]
                new = _make_layer(weights[i], bias, layer.activation, layer.negative_slope, i,
                                  self.dtype)
                if new.shape != layer.shape:
                    raise ValueError(f"layer {i} has shape {layer.shape}; got {new.shape}")
                layers.append(new)
            self._layers = tuple(layers)

    # -- passes -------------------------------------------------------------------------

    def _input(self, x: Any, n: int, name: str) -> tuple[np.ndarray, bool]:
        x = as_float_array(x, name)
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise ValueError(f"{name} must have shape ({n},) or (batch, {n}), got {x.shape}")
        dtype = x.dtype if x.dtype == self.dtype else np.result_type(x, self.dtype)
        single = x.ndim == 1
        rows = 1 if single else x.shape[0]
        check_memory(3 * rows * self._widest, dtype, lambda: f"{name} of shape {x.shape}")
        return contiguous_ready(x.reshape(rows, n), dtype), single

    def forward(self, x: Any) -> np.ndarray:
        """Run the network: x of shape (n_inputs,) or (batch, n_inputs)."""
        layers = self._layers
        x2, single = self._input(x, layers[0].shape[1], "x")
        y = self._backend.forward(layers, x2)
        return y[0] if single else y

    __call__ = forward

    def threshold(self, dtype: Any) -> float:
        """The condition threshold in force for computations in ``dtype``."""
        if self.condition_threshold is not None:
            return float(self.condition_threshold)
        return 0.01 / float(np.finfo(dtype).eps)

    def _factors(self, layer: Layer, dtype: np.dtype) -> Factors:
        key = (type(self._backend), dtype)
        cached = layer._factors.get(key)
        if cached is not None:
            return cached
        with layer._lock:
            cached = layer._factors.get(key)
            if cached is None:
                weight = layer.weight.astype(dtype, copy=False)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an exact zero pivot is reported below
                    lu, piv = self._backend.lu_factor(weight, check_finite=False)
                diagonal = np.abs(np.diag(lu))
                smallest = float(diagonal.min()) if diagonal.size else 0.0
                if not np.isfinite(weight).all():
                    cond = float("nan")
                else:
                    norm1 = float(np.abs(weight).sum(axis=0).max())
                    cond = self._backend.lu_condition_estimate((lu, piv), norm1)
                cached = Factors(lu, piv, cond, smallest)
                layer._factors[key] = cached
        return cached

    def _diagnose(self, layer: Layer, dtype: np.dtype) -> tuple[Factors | None, str]:
        """The layer's factors, and why it cannot be inverted ("" if it can)."""
        if layer.activation == "relu":
            return None, "relu is not a bijection (every negative input maps to 0); use leaky_relu"
        if not layer.is_square:
            return None, f"the weight is {layer.shape[0]}x{layer.shape[1]}, not square"
        factors = self._factors(layer, dtype)
        if not np.isfinite(layer.weight).all():
            return factors, "the weight holds inf or NaN"
        if factors.smallest_pivot == 0:
            return factors, "the weight is singular (an exact zero pivot in its LU factors)"
        if factors.condition_estimate > self.threshold(dtype):
            return factors, (
                f"the weight is ill-conditioned: condition estimate "
                f"{factors.condition_estimate:.3g} exceeds the threshold "
                f"{self.threshold(dtype):.3g}"
            )
        return factors, ""

    def _checked_factors(self, layers: Sequence[Layer], dtype: Any) -> list[Factors]:
        """Every layer's factors in ``dtype``; NotInvertibleError for the first layer (by
        index) that cannot be inverted."""
        factors = []
        for index, layer in enumerate(layers):
            f, reason = self._diagnose(layer, dtype)
            if reason:
                raise NotInvertibleError(
                    f"layer {index} ({layer.activation}, {layer.shape[0]}x{layer.shape[1]}) "
                    f"cannot be inverted: {reason}",
                    layer=index,
                    reason=reason,
                )
            factors.append(f)
        return factors

    def inverse(self, y: Any, refine: int = 0, return_info: bool = False) -> Any:
        """Run the network backwards: the x with ``forward(x) == y`` (to rounding).

        Parameters
        ----------
        y : array_like, shape (n_outputs,) or (batch, n_outputs)
            The result has the promoted dtype of ``y`` and the network (the working dtype).
        refine : int, optional
            Steps of iterative refinement per layer. Layer by layer from the last, with
            ``z = f^-1(t) - b`` its target t made linear: solve ``W x = z`` from the cached
            factors, then ``refine`` times compute the residual ``r = z - W x`` in higher
            precision (float64 when the working dtype is float32 or the factors are float32,
            long double for float64) and add the correction ``W^-1 r``. The factors are
            those of the network's own dtype, so a float32 network asked for a float64
            ``y`` solves with float32 factors and refines to float64 quality when
            ``cond(W) * n * eps32`` is well below 1 (mixed-precision refinement); each step
            gains about ``-log10(cond(W) * n * eps_factors)`` digits. ``refine=0`` (the
            default) is the single native call.
        return_info : bool, optional
            Also return a dict with, per sample, ``residual``: the measured
            ``||f(x) - y||_inf / ||y||_inf`` (forward pass in float64), and ``bound``: the
            a-priori bound of ``||x - x_exact||_inf / ||x_exact||_inf`` described in
            :meth:`error_bound`; plus ``condition_estimates`` per layer.

        Raises
        ------
        NotInvertibleError
            Naming the layer and the reason: a non-square or relu layer, a singular or
            ill-conditioned weight, or targets outside an activation's open range (with the
            rows and columns that are), including intermediate targets met on the way down.
        """
        if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or refine < 0:
            raise ValueError(f"refine must be a non-negative integer, got {refine!r}")
        layers = self._layers
        y2, single = self._input(y, layers[-1].shape[0], "y")
        if refine == 0 and not return_info:
            prepared = self._prepared(layers, y2.dtype)
            x, failure = self._backend.inverse(layers, prepared, y2)
            if failure is not None:
                raise self._target_error(layers, failure, x, single)
            return x[0] if single else x
        x, bound, conditions = self._inverse_refined(layers, y2, int(refine), single)
        if not return_info:
            return x[0] if single else x
        y64 = y2.astype(np.float64)
        fx = self._backend.forward(layers, np.ascontiguousarray(x, dtype=np.float64))
        scale = np.abs(y64).max(axis=1)
        residual = np.abs(fx - y64).max(axis=1) / np.where(scale > 0, scale, 1.0)
        info = {"residual": residual[0] if single else residual,
                "bound": bound[0] if single else bound,
                "condition_estimates": conditions}
        return (x[0] if single else x), info

    def _inverse_refined(self, layers: tuple[Layer, ...], y: np.ndarray, refine: int,
                         single: bool) -> tuple[np.ndarray, np.ndarray, list[float]]:
        """The layer-by-layer reverse pass with refinement, and the per-sample bound."""
        backend = self._backend
        working = y.dtype
        factor_dtype = self.dtype if refine else working
        if np.dtype(working) == np.float64 and np.dtype(factor_dtype) == np.float64 and refine:
            residual_dtype: Any = np.longdouble
        else:
            residual_dtype = np.float64
        factors = self._checked_factors(layers, factor_dtype)
        u_work = float(np.finfo(working).eps) / 2
        u_factor = float(np.finfo(factor_dtype).eps) / 2
        u_residual = float(np.finfo(residual_dtype).eps) / 2
        x = y
        error = np.zeros(y.shape[0])
        for index in reversed(range(len(layers))):
            layer, f = layers[index], factors[index]
            if out_of_range_mask(x, layer.activation).any():
                raise self._target_error(layers, ("out_of_range", index), x, single)
            bias = layer.bias.astype(working)
            inverse_t = backend.activate_inverse(x, layer.activation, layer.negative_slope)
            z = inverse_t - bias
            n = layer.shape[0]
            kappa = 3.0 * f.condition_estimate  # Hager's estimate is rarely 3x low
            # Relative error of z: the incoming error times the activation's relative
            # amplification, plus the rounding of f^-1 and of the bias subtraction.
            z_norm = np.abs(z).max(axis=1)
            z_norm = np.where(z_norm > 0, z_norm, np.finfo(float).tiny)
            slope = _inverse_slope(x, layer.activation, layer.negative_slope)
            amplification = slope * np.abs(x).max(axis=1) / z_norm
            rounding = 2 * u_work * (np.abs(inverse_t).max(axis=1) + np.abs(bias).max()) / z_norm
            error_z = amplification * error + rounding
            # Solve: backward stable with error ~ n u |L||U| (Higham Thm 9.4): forward error
            # kappa * 2 n u (growth of random-like matrices is small); each refinement step
            # multiplies it by kappa * 2 n u_factor down to the residual's and x's precision.
            solve = kappa * 2 * n * u_factor
            if refine:
                solve = (solve * min(1.0, solve) ** refine + kappa * 2 * n * u_residual
                         + 2 * u_work)
            error = kappa * error_z + solve
            x = self._solve_refined(backend, layer, f, z, refine, working, factor_dtype,
                                    residual_dtype)
            if not np.isfinite(x).all():
                raise self._target_error(layers, ("not_finite", index), x, single)
        conditions = [f.condition_estimate for f in factors]
        return x, error, conditions

    @staticmethod
    def _solve_refined(backend: Any, layer: Layer, factors: Factors, z: np.ndarray,
                       refine: int, working: Any, factor_dtype: Any,
                       residual_dtype: Any) -> np.ndarray:
        """x with W x_s = z_s for every row s: a solve, then ``refine`` corrections."""
        lu_piv = (factors.lu, factors.piv)
        x = backend.lu_solve(lu_piv, z.astype(factor_dtype).T, check_finite=False).T
        x = np.ascontiguousarray(x, dtype=working)
        if not refine:
            return x
        weight = layer.weight.astype(residual_dtype)
        high = z.astype(residual_dtype)
        for _ in range(refine):
            if residual_dtype == np.float64:
                r = high - backend.matmul(x.astype(np.float64), weight.T)
            else:  # long double: numpy's own loops (no BLAS), exact enough for the residual
                r = high - x.astype(residual_dtype) @ weight.T
            d = backend.lu_solve(lu_piv, r.astype(factor_dtype).T, check_finite=False).T
            x = (x.astype(residual_dtype) + d).astype(working)
        return np.ascontiguousarray(x)

    def _prepared(self, layers: tuple[Layer, ...], dtype: np.dtype) -> Any:
        """The backend's inverse arguments for this snapshot of layers, after checking that
        every layer can be inverted; cached on the network under the snapshot's identity
        (set_layer installs a new tuple, so a stale entry can never match)."""
        threshold = self.threshold(dtype)
        cached = getattr(self, "_inverse_cache", None)
        if cached is not None and cached[0] is layers and cached[1] == dtype \
                and cached[2] == threshold:
            return cached[3]
        factors = self._checked_factors(layers, dtype)
        prepared = self._backend.prepare_inverse(layers, factors, dtype)
        self._inverse_cache = (layers, dtype, threshold, prepared)
        return prepared

    @staticmethod
    def _target_error(layers: Sequence[Layer], failure: tuple[str, int], values: np.ndarray,
                      single: bool) -> NotInvertibleError:
        kind, index = failure
        layer = layers[index]
        if kind == "out_of_range":
            mask = out_of_range_mask(values, layer.activation)
            lo, hi = activation_range(layer.activation)
            what = "the targets" if index == len(layers) - 1 else (
                f"the targets that layer {index + 1}'s inverse hands down")
            reason = (f"{int(mask.sum())} of {values.size} of {what} lie outside the open range "
                      f"({lo:g}, {hi:g}) of {layer.activation}")
        else:
            mask = ~np.isfinite(values)
            reason = (f"solving its linear system overflowed ({int(mask.sum())} values are not "
                      "finite)")
        rows, columns = np.nonzero(mask)
        r, c = int(rows[0]), int(columns[0])
        place = f"column {c}" if single else f"row {r}, column {c}"
        reason += f"; the first at {place} is {float(values[r, c])!r}"
        unique_rows = tuple(int(i) for i in np.unique(rows))
        unique_columns = tuple(int(i) for i in np.unique(columns))
        if not single:
            reason += f"; rows {_abbreviate(unique_rows)}"
        reason += f"; columns {_abbreviate(unique_columns)}"
        return NotInvertibleError(
            f"layer {index} ({layer.activation}) cannot be inverted: {reason}",
            layer=index, reason=reason, rows=() if single else unique_rows,
            columns=unique_columns,
        )

    def log_abs_det_jacobian(self, x: Any) -> np.ndarray:
        """``log |det J(x)|`` of the network at each input, J the Jacobian dy/dx.

        The sum over layers of ``log |det W|`` (from the cached LU factors: the log of the
        absolute diagonal of U) and of ``log |f'(z)|`` at the layer's pre-activations z.

        Parameters
        ----------
        x : array_like, shape (n_inputs,) or (batch, n_inputs)

        Returns
        -------
        ndarray, shape () or (batch,)
        """
        layers = self._layers
        for index, layer in enumerate(layers):
            if not layer.is_square or layer.activation == "relu":
                raise NotInvertibleError(
                    f"layer {index}: the Jacobian determinant needs square layers with "
                    "bijective activations", layer=index,
                )
        x2, single = self._input(x, layers[0].shape[1], "x")
        total = np.zeros(x2.shape[0], dtype=x2.dtype)
        for layer in layers:
            factors = self._factors(layer, x2.dtype)
            total += np.log(np.abs(np.diag(factors.lu))).sum()
            z = self._backend.dense(x2, layer.weight, layer.bias)
            total += _log_abs_derivative(z, layer.activation, layer.negative_slope).sum(axis=1)
            x2 = self._backend.activate(z, layer.activation, layer.negative_slope)
        return total[0] if single else total

    def check(self, y: Any = None) -> InvertibilityReport:
        """Report, layer by layer, whether the network can be inverted and why not.

        With targets ``y``, also counts per layer the elements of the targets met on the way
        down that fall outside the activation's range (counting stops below the first layer
        where some do, since nothing below it is defined).
        """
        layers = self._layers
        dtype = self.dtype
        y2 = None
        if y is not None:
            y2, _ = self._input(y, layers[-1].shape[0], "y")
            dtype = y2.dtype
        reports: list[LayerReport | None] = [None] * len(layers)
        diagnoses = [self._diagnose(layer, dtype) for layer in layers]
        current = y2
        for index in reversed(range(len(layers))):
            layer = layers[index]
            factors, reason = diagnoses[index]
            out_of_range = None
            rows: tuple[int, ...] = ()
            columns: tuple[int, ...] = ()
            if current is not None and layer.activation != "relu":
                mask = out_of_range_mask(current, layer.activation)
                out_of_range = int(mask.sum())
                bad_rows, bad_columns = np.nonzero(mask)
                rows = tuple(int(i) for i in np.unique(bad_rows))
                columns = tuple(int(i) for i in np.unique(bad_columns))
                if out_of_range:
                    reason = reason or (f"{out_of_range} target values lie outside the range "
                                        f"of {layer.activation}")
                    current = None
                elif factors is not None and not diagnoses[index][1]:
                    z = native.activate_inverse(current, layer.activation, layer.negative_slope)
                    current = native.lu_solve(factors[:2], (z - layer.bias).T,
                                              check_finite=False).T
                else:
                    current = None
            reports[index] = LayerReport(
                index=index,
                shape=layer.shape,
                activation=layer.activation,
                condition_estimate=None if factors is None else factors.condition_estimate,
                smallest_pivot=None if factors is None else factors.smallest_pivot,
                invertible=not reason,
                reason=reason,
                out_of_range=out_of_range,
                error_bound=None if factors is None else float(
                    3 * factors.condition_estimate * 2 * layer.shape[0] * np.finfo(dtype).eps),
                rows=rows,
                columns=columns,
            )
        return InvertibilityReport(reports, self.threshold(dtype))  # type: ignore[arg-type]


def _inverse_slope(t: np.ndarray, name: str, negative_slope: float) -> np.ndarray:
    """Per sample, the largest |(f^-1)'(t)| over the sample's targets t (all in range)."""
    t = t.astype(np.float64)
    if name == "identity":
        return np.ones(t.shape[0])
    if name == "leaky_relu":
        return np.where((t <= 0).any(axis=1), max(1.0, 1.0 / negative_slope),
                        min(1.0, 1.0 / negative_slope) if negative_slope > 1 else 1.0)
    if name == "tanh":
        return (1.0 / (1.0 - t * t)).max(axis=1)
    return (1.0 / (t * (1.0 - t))).max(axis=1)


def _log_abs_derivative(z: np.ndarray, name: str, negative_slope: float) -> np.ndarray:
    """log |f'(z)| without overflow or log(0) for large |z|."""
    if name == "identity":
        return np.zeros_like(z)
    if name == "leaky_relu":
        return np.where(z > 0, 0.0, np.log(negative_slope)).astype(z.dtype)
    a = np.abs(z)
    if name == "tanh":  # log(1 - tanh(z)^2) = 2 (log 2 - |z| - log1p(exp(-2|z|)))
        return 2 * (np.log(2.0) - a - np.log1p(np.exp(-2 * a))).astype(z.dtype)
    # sigmoid: log s(z) + log s(-z) = -|z| - 2 log1p(exp(-|z|))
    return (-a - 2 * np.log1p(np.exp(-a))).astype(z.dtype)


def _abbreviate(items: tuple[int, ...], limit: int = 10) -> str:
    if len(items) <= limit:
        return "[" + ", ".join(map(str, items)) + "]"
    return "[" + ", ".join(map(str, items[:limit])) + f", ... ({len(items)} in all)]"
