"""Layer kinds built on the monotone rational-quadratic spline: an elementwise layer with
learned knots per feature (``"spline"``) and a coupling block whose conditioner gives the
knots of the transformed half (``"spline_coupling"``).

Both keep their knots as unconstrained arrays: per feature (or per transformed feature and
row), ``widths`` and ``heights`` (K each) and ``derivatives`` (K - 1, the interior knots'
slopes). :func:`spline_knots` turns them into a valid spline on ``[-bound, bound]``: bin
widths ``2 bound (m + (1 - K m) softmax(widths))`` (m the smallest share of a bin), the same
for the heights, interior slopes ``m' + softplus(derivatives + c)`` (c such that 0 gives
slope 1) and slope 1 at both ends, where the spline meets its identity tails. All-zero
arrays give the identity.

Examples
--------
>>> import numpy as np
>>> from revcore._spline_layers import ElementwiseSpline
>>> from revcore.reference import _ReferenceBackend
>>> layer = ElementwiseSpline.identity(2, bins=4)
>>> x = np.array([[0.5, -7.0]])
>>> bool(np.allclose(layer.forward(x, _ReferenceBackend()), x))
True
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._layers import (
    Coupling,
    Factors,
    LayerBackend,
    _context_width,
    _float_array,
    _frozen_copy,
    _TrainableKind,
    register_layer_kind,
)
from ._refine import Precision
from ._validation import as_float_array

__all__ = ["ElementwiseSpline", "SplineCoupling", "spline_knots", "spline_knots_backward"]

_versions = itertools.count()

# The smallest share of [-bound, bound] a bin can take, and the smallest interior slope:
# they keep every bin's rational function well conditioned (slopes within about 1e-3..1e3).
MIN_BIN = 1e-3
MIN_SLOPE = 1e-3
_SLOPE_SHIFT = math.log(math.expm1(1.0 - MIN_SLOPE))  # softplus(0 + shift) = 1 - MIN_SLOPE
DEFAULT_BOUND = 4.0


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a).astype(a.dtype, copy=False)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _positions(raw: np.ndarray, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Knot positions on [-bound, bound] from unconstrained bin sizes, and the softmax."""
    bins = raw.shape[-1]
    share = _softmax(raw)
    sizes = MIN_BIN + (1.0 - bins * MIN_BIN) * share
    knots = np.empty((*raw.shape[:-1], bins + 1), dtype=raw.dtype)
    knots[..., 0] = -bound
    knots[..., 1:] = -bound + 2.0 * bound * np.cumsum(sizes, axis=-1)
    knots[..., -1] = bound
    return knots, share


def spline_knots(widths: np.ndarray, heights: np.ndarray, derivatives: np.ndarray,
                 bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """``(x_knots, y_knots, slopes, cache)`` (each ``(..., K + 1)``) from the unconstrained
    arrays ``widths, heights (..., K)`` and ``derivatives (..., K - 1)``; the cache feeds
    :func:`spline_knots_backward`."""
    x_knots, width_share = _positions(widths, bound)
    y_knots, height_share = _positions(heights, bound)
    slopes = np.ones((*derivatives.shape[:-1], derivatives.shape[-1] + 2),
                     dtype=derivatives.dtype)
    shifted = derivatives + _SLOPE_SHIFT
    slopes[..., 1:-1] = MIN_SLOPE + _softplus(shifted)
    return x_knots, y_knots, slopes, (width_share, height_share, shifted)


def _positions_backward(grad_knots: np.ndarray, share: np.ndarray,
                        bound: float) -> np.ndarray:
    """dL/d(raw sizes) given dL/d(knots) (the end knots are fixed)."""
    bins = share.shape[-1]
    # knot i (1 <= i < K) = -bound + 2 bound sum_{j < i} size_j
    inner = grad_knots[..., 1:-1]
    grad_sizes = np.zeros(share.shape, dtype=grad_knots.dtype)
    grad_sizes[..., :-1] = 2.0 * bound * np.cumsum(inner[..., ::-1], axis=-1)[..., ::-1]
    grad_share = (1.0 - bins * MIN_BIN) * grad_sizes
    return share * (grad_share - (share * grad_share).sum(axis=-1, keepdims=True))


def spline_knots_backward(grad_x_knots: np.ndarray, grad_y_knots: np.ndarray,
                          grad_slopes: np.ndarray, cache: tuple, bound: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/d(widths, heights, derivatives) given dL/d(x_knots, y_knots, slopes)."""
    width_share, height_share, shifted = cache
    return (_positions_backward(grad_x_knots, width_share, bound),
            _positions_backward(grad_y_knots, height_share, bound),
            grad_slopes[..., 1:-1] * _sigmoid(shifted))


def _bound_of(p: dict[str, np.ndarray]) -> float:
    return float(p["bound"])


def _inverse_error(x: np.ndarray, t: np.ndarray, log_slope: np.ndarray, error: np.ndarray,
                   bound: float, u: float) -> np.ndarray:
    """First-order bound of each row's relative error after inverting an elementwise
    spline: the incoming absolute error ``error * ||t||_inf`` and the rounding of the
    target arithmetic (``8 u max(|t|, bound)``) are divided by the smallest slope met; the
    root and the last multiply-add add ``8 u max(|x|, bound)``."""
    t64, x64 = t.astype(np.float64), x.astype(np.float64)
    norm_t = np.abs(t64).max(axis=1, initial=0.0)
    growth = np.exp(-log_slope.astype(np.float64)).max(axis=1, initial=1.0)
    growth = np.maximum(growth, 1.0)
    norm_x = np.abs(x64).max(axis=1, initial=0.0)
    absolute = (error * norm_t + 8 * u * np.maximum(norm_t, bound)) * growth \
        + 8 * u * np.maximum(norm_x, bound)
    return absolute / np.where(norm_x > 0, norm_x, np.finfo(float).tiny)


@register_layer_kind
@dataclass(frozen=True, eq=False)
class ElementwiseSpline(_TrainableKind):
    """A monotone rational-quadratic spline per feature on ``[-bound, bound]`` with
    identity tails, its knots learned (see the module); immutable.

    ``log |det J| = sum_j log f_j'(x_j)`` and the inverse is elementwise (the root of each
    bin's quadratic), so nothing is factorised.
    """

    kind: ClassVar[str] = "spline"
    ARRAYS: ClassVar[tuple[str, ...]] = ("widths", "heights", "derivatives", "bound")
    SETTINGS: ClassVar[dict[str, str]] = {}
    INTEGER_ARRAYS: ClassVar[tuple[str, ...]] = ()

    widths: np.ndarray
    heights: np.ndarray
    derivatives: np.ndarray
    bound: np.ndarray
    version: int = field(default_factory=lambda: next(_versions))

    @classmethod
    def identity(cls, width: int, bins: int = 8, bound: float = DEFAULT_BOUND,
                 dtype: Any = np.float64) -> ElementwiseSpline:
        """The identity map with ``bins`` bins per feature on [-bound, bound]."""
        return cls.from_arrays({"widths": np.zeros((width, bins)),
                                "heights": np.zeros((width, bins)),
                                "derivatives": np.zeros((width, bins - 1)),
                                "bound": np.array(bound)}, {}, dtype=np.dtype(dtype))

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.widths), len(self.widths))

    @property
    def dtype(self) -> np.dtype:
        return self.widths.dtype

    # -- maths shared by the network and the training loop --------------------------------

    @classmethod
    def train_forward(cls, p: dict[str, np.ndarray], x: np.ndarray, backend: LayerBackend,
                      keep: bool = True, context: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(y, log|det J| per sample, cache)`` for parameters p."""
        bound = _bound_of(p)
        x_knots, y_knots, slopes, knot_cache = spline_knots(
            p["widths"], p["heights"], p["derivatives"], bound)
        y, log_slope = backend.rq_spline(x, x_knots, y_knots, slopes)
        return y, log_slope.sum(axis=1), (x, x_knots, y_knots, slopes, knot_cache)

    @classmethod
    def train_backward(cls, p: dict[str, np.ndarray], cache: Any, grad_y: np.ndarray,
                       grad_log_det: np.ndarray, backend: LayerBackend
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``dL/dx`` and ``dL/d(array)`` given ``dL/dy`` and ``dL/d(log|det J|)``."""
        x, x_knots, y_knots, slopes, knot_cache = cache
        grad_log = np.broadcast_to(grad_log_det[:, None], x.shape)
        grad_x, gx, gy, gs = backend.rq_spline_backward(x, x_knots, y_knots, slopes, grad_y,
                                                        grad_log)
        gw, gh, gd = spline_knots_backward(gx, gy, gs, knot_cache, _bound_of(p))
        return grad_x, {"widths": gw, "heights": gh, "derivatives": gd}

    def _knots(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params(dtype)
        return spline_knots(p["widths"], p["heights"], p["derivatives"], _bound_of(p))[:3]

    # -- the layer interface ----------------------------------------------------------------

    def forward(self, x: np.ndarray, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return backend.rq_spline(x, *self._knots(x.dtype))[0]

    def forward_log_det(self, x: np.ndarray, total: np.ndarray,
                        backend: LayerBackend, context: np.ndarray | None = None
                        ) -> np.ndarray:
        y, log_slope = backend.rq_spline(x, *self._knots(x.dtype))
        total += log_slope.sum(axis=1)
        return y

    def factors(self, backend: LayerBackend, dtype: np.dtype) -> Any:
        return None  # nothing to factorise: the inverse is elementwise

    def diagnose(self, backend: LayerBackend, dtype: np.dtype,
                 threshold: float) -> tuple[Factors | None, str]:
        arrays = (self.widths, self.heights, self.derivatives)
        if not all(np.isfinite(a).all() for a in arrays):
            return None, "the knot arrays hold inf or NaN"
        return None, ""

    def note(self) -> str:
        slopes = self._knots(np.dtype(np.float64))[2]
        return (f"{self.widths.shape[1]} bins on [-{float(self.bound):g}, "
                f"{float(self.bound):g}], knot slopes {slopes.min():.3g}..{slopes.max():.3g}")

    def inverse(self, t: np.ndarray, factors: Any, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return backend.rq_spline(t, *self._knots(t.dtype), inverse=True)[0]

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Any,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The inverse and a first-order bound of each row's relative error (see
        :func:`_inverse_error`)."""
        x, log_slope = backend.rq_spline(t, *self._knots(t.dtype), inverse=True)
        return x, _inverse_error(x, t, log_slope, error, float(self.bound), precision.u_work)

    # -- storage ------------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({name: getattr(self, name) for name in self.ARRAYS}, {})

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> ElementwiseSpline:
        """From ``widths``, ``heights`` (d, K), ``derivatives`` (d, K - 1) and the scalar
        ``bound`` > 0; copied."""
        unknown = set(arrays) - set(cls.ARRAYS)
        if unknown:
            raise ValueError(f"layer {index} (spline) has no array "
                             f"{', '.join(sorted(unknown))}; it takes "
                             f"{', '.join(cls.ARRAYS)}")
        widths = _float_array(arrays, "widths", index, None, cls.kind)
        if widths.ndim != 2 or widths.shape[1] < 1:
            raise ValueError(f"widths[{index}] must have shape (d, bins) with bins >= 1, got "
                             f"{widths.shape}")
        d, bins = widths.shape
        heights = _float_array(arrays, "heights", index, (d, bins), cls.kind)
        derivatives = _float_array(arrays, "derivatives", index, (d, bins - 1), cls.kind)
        bound = _check_bound(arrays, index, cls.kind)
        dtype = dtype or np.result_type(widths, heights, derivatives)
        return cls(_frozen_copy(widths, dtype), _frozen_copy(heights, dtype),
                   _frozen_copy(derivatives, dtype), _frozen_copy(bound, dtype))


def _check_bound(arrays: dict[str, Any], index: int, kind: str) -> np.ndarray:
    if arrays.get("bound") is None:
        raise ValueError(f"layer {index} ({kind}) needs an array 'bound'")
    bound = as_float_array(arrays["bound"], f"bound[{index}]")
    if bound.shape != () or not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"bound[{index}] must be a finite scalar > 0, got {bound!r}")
    return bound


@register_layer_kind
@dataclass(frozen=True, eq=False)
class SplineCoupling(Coupling):
    """A coupling block on a half/half split whose transform is a monotone
    rational-quadratic spline per feature; immutable.

    With ``x = [x1, x2]``, the conditioner MLP (as :class:`Coupling`'s) maps x1 to the
    unconstrained knot arrays of each feature of x2 (``3 K - 1`` outputs per feature:
    widths, heights, derivatives; see the module), and ``y = [x1, spline(x2)]``;
    ``log |det J| = sum log spline'(x2)``. The inverse computes the same knots from
    ``y1 = x1`` and inverts each spline by the root of a quadratic.
    """

    kind: ClassVar[str] = "spline_coupling"
    PER_FEATURE: ClassVar[int] = 0  # 3 K - 1, per instance (see split)

    bound: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_BOUND))
    version: int = field(default_factory=lambda: next(_versions))

    @classmethod
    def random(cls, width: int, hidden: Any = (64, 64), rng: np.random.Generator | None = None,
               scale: float = 0.0, dtype: Any = np.float64, context: int = 0, bins: int = 8,
               bound: float = DEFAULT_BOUND) -> SplineCoupling:
        """He-initialised hidden layers; the last layer's weights are ``scale`` times
        standard normals (0, the default, makes the block the identity); the conditioner
        takes ``context`` more inputs."""
        rng = np.random.default_rng(rng)
        d1, d2 = width // 2, width - width // 2
        sizes = [d1 + context, *hidden, (3 * bins - 1) * d2]
        arrays: dict[str, Any] = {"bound": np.array(bound)}
        if context:
            arrays["context_width"] = np.array(context)
        for i in range(len(sizes) - 1):
            last = i == len(sizes) - 2
            std = scale if last else np.sqrt(2.0 / max(sizes[i], 1))
            arrays[f"weight{i}"] = rng.standard_normal((sizes[i + 1], sizes[i])) * std
            arrays[f"bias{i}"] = (rng.standard_normal(sizes[i + 1]) * scale if last
                                  else np.zeros(sizes[i + 1]))
        return cls.from_arrays(arrays, {}, dtype=np.dtype(dtype))

    @staticmethod
    def _bins(d1: int, n_out: int) -> tuple[int, int] | None:
        """``(d2, K)`` with ``n_out = d2 (3 K - 1)`` and d2 in {d1, d1 + 1} (at most one
        pair fits, as ``3 K - 1`` is never a multiple of 3), or None."""
        for d2 in (d1, d1 + 1):
            if d2 and n_out % d2 == 0 and (n_out // d2 + 1) % 3 == 0 and n_out // d2 >= 2:
                return d2, (n_out // d2 + 1) // 3
        return None

    @property
    def split(self) -> tuple[int, int]:
        d1 = self.weights[0].shape[1] - self.context
        found = self._bins(d1, self.weights[-1].shape[0])
        assert found is not None  # checked by from_arrays
        return d1, found[0]

    @property
    def bins(self) -> int:
        found = self._bins(self.split[0], self.weights[-1].shape[0])
        assert found is not None
        return found[1]

    @classmethod
    def knots(cls, p: dict[str, np.ndarray], x1: np.ndarray, d2: int, backend: LayerBackend,
              keep: bool = False, context: np.ndarray | None = None
              ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple, list, list]:
        """The per-row knots ``(x_knots, y_knots, slopes)`` (n, d2, K + 1) at x1, the knot
        cache, and the conditioner's inputs and pre-activations (with ``keep``)."""
        a, inputs, pre = cls.mlp(p, x1, backend, keep, context)
        raw = a.reshape(len(a), d2, -1)
        bins = (raw.shape[2] + 1) // 3
        x_knots, y_knots, slopes, cache = spline_knots(
            raw[..., :bins], raw[..., bins:2 * bins], raw[..., 2 * bins:], _bound_of(p))
        return (x_knots, y_knots, slopes), cache, inputs, pre

    @classmethod
    def _d2(cls, p: dict[str, np.ndarray]) -> tuple[int, int]:
        d1 = cls._d1(p)
        found = cls._bins(d1, p[f"weight{cls._depth(p) - 1}"].shape[0])
        assert found is not None
        return d1, found[0]

    @classmethod
    def train_forward(cls, p: dict[str, np.ndarray], x: np.ndarray, backend: LayerBackend,
                      keep: bool = True, context: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(y, log|det J| per sample, cache)`` for parameters p."""
        d1, d2 = cls._d2(p)
        x1, x2 = x[:, :d1], np.ascontiguousarray(x[:, d1:])
        knots, knot_cache, inputs, pre = cls.knots(p, np.ascontiguousarray(x1), d2, backend,
                                                   keep, context)
        y2, log_slope = backend.rq_spline(x2, *knots)
        y = np.concatenate([x1, y2], axis=1)
        return y, log_slope.sum(axis=1), (inputs, pre, x2, knots, knot_cache)

    @classmethod
    def train_backward(cls, p: dict[str, np.ndarray], cache: Any, grad_y: np.ndarray,
                       grad_log_det: np.ndarray, backend: LayerBackend
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``dL/dx`` and ``dL/d(array)`` given ``dL/dy`` and ``dL/d(log|det J|)``."""
        inputs, pre, x2, knots, knot_cache = cache
        d1 = cls._d1(p)
        gy1, gy2 = grad_y[:, :d1], np.ascontiguousarray(grad_y[:, d1:])
        grad_log = np.broadcast_to(grad_log_det[:, None], x2.shape)
        x_knots, y_knots, slopes = knots
        grad_x2, gx, gy, gs = backend.rq_spline_backward(x2, x_knots, y_knots, slopes, gy2,
                                                         grad_log)
        gw, gh, gd = spline_knots_backward(gx, gy, gs, knot_cache, _bound_of(p))
        g = np.ascontiguousarray(np.concatenate([gw, gh, gd], axis=2).reshape(len(x2), -1))
        g1, grads = cls.mlp_backward(p, inputs, pre, g, backend)
        return np.concatenate([gy1 + g1[:, :d1], grad_x2], axis=1), grads

    # -- the layer interface ----------------------------------------------------------------

    def note(self) -> str:
        sizes = "->".join(str(n) for n in
                          [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights])
        return (f"conditioner {sizes} (relu), never inverted; {self.bins} bins on "
                f"[-{float(self.bound):g}, {float(self.bound):g}]")

    def inverse(self, t: np.ndarray, factors: Any, backend: LayerBackend,
                context: np.ndarray | None = None) -> np.ndarray:
        return self._inverse(t, backend, context)[0]

    def _inverse(self, t: np.ndarray, backend: LayerBackend,
                 context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        p = self.params(t.dtype)
        d1, d2 = self.split
        t1 = np.ascontiguousarray(t[:, :d1])
        knots, _, _, _ = self.knots(p, t1, d2, backend, context=context)
        x2, log_slope = backend.rq_spline(np.ascontiguousarray(t[:, d1:]), *knots,
                                          inverse=True)
        return np.concatenate([t1, x2], axis=1), log_slope

    def inverse_step(self, t: np.ndarray, error: np.ndarray, factors: Any,
                     precision: Precision, backend: LayerBackend,
                     context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The inverse and each row's relative error bound: the elementwise spline's
        (see :func:`_inverse_error`) with the knots taken as exact when the incoming error
        is 0; with an incoming error, the knots move with x1 and no first-order bound is
        derived here (the bound is then infinite; the measured residual of
        ``inverse(..., return_info=True)`` still tells)."""
        x, log_slope = self._inverse(t, backend, context)
        d1 = self.split[0]
        own = _inverse_error(x[:, d1:], t[:, d1:], log_slope, np.zeros(len(t)),
                             float(self.bound), precision.u_work)
        norm_x = np.abs(x.astype(np.float64)).max(axis=1, initial=0.0)
        norm_2 = np.abs(x[:, d1:].astype(np.float64)).max(axis=1, initial=0.0)
        bound = own * norm_2 / np.where(norm_x > 0, norm_x, np.finfo(float).tiny)
        return x, np.where(error > 0, np.inf, bound)

    # -- storage ------------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, _ = super().to_arrays()
        arrays["bound"] = self.bound
        return arrays, {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], settings: dict[str, Any], index: int = 0,
                    dtype: np.dtype | None = None) -> SplineCoupling:
        """From the scalar ``bound`` > 0 and the conditioner's ``weight0, bias0, weight1,
        bias1, ...`` (``weight{i}`` (n_out, n_in); the last gives ``3 K - 1`` outputs per
        transformed feature); copied."""
        weights, biases = cls._mlp_arrays(arrays, index, extra=("bound", "context_width"))
        bound = _check_bound(arrays, index, cls.kind)
        context = _context_width(arrays, index, cls.kind, weights[0].shape[1])
        d1, n_out = weights[0].shape[1] - context, weights[-1].shape[0]
        if cls._bins(d1, n_out) is None:
            raise ValueError(
                f"layer {index} (spline_coupling): the conditioner maps {d1} features to "
                f"{n_out} outputs; a half/half split of d features with K bins needs "
                f"d // 2 inputs and (d - d // 2) (3 K - 1) outputs")
        dtype = dtype or np.result_type(*weights, *biases)
        return cls(weights=tuple(_frozen_copy(w, dtype) for w in weights),
                   biases=tuple(_frozen_copy(b, dtype) for b in biases),
                   bound=_frozen_copy(bound, dtype), context=context)
