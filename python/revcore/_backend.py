"""How a network computes: the native kernels (here) or numpy (:mod:`revcore.reference`).

A backend supplies the array functions a layer needs (dense, activations, LU factor, solve
and condition estimate, matmul) and the whole-network passes. The native backend runs a
network of dense layers only in one kernel call each way, and a network holding other
kinds layer by layer (each layer calling the kernels); the reference backend subclasses it
with numpy functions and layer-by-layer passes, so nothing it computes touches the kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from . import _functions as native
from ._layers import Factors

__all__ = ["Backend", "Failure"]

# A failed reverse pass: ("out_of_range" or "not_finite", index of the layer).
Failure = tuple[str, int]


class Backend:
    """The native kernels. Each network holds its own instance (it caches call arguments)."""

    lu_factor = staticmethod(native.lu_factor)
    lu_solve = staticmethod(native.lu_solve)
    lu_condition_estimate = staticmethod(native.lu_condition_estimate)
    dense = staticmethod(native.dense)
    dense_backward = staticmethod(native.dense_backward)
    matmul = staticmethod(native.matmul)
    activate = staticmethod(native.activate)
    activate_inverse = staticmethod(native.activate_inverse)
    rq_spline = staticmethod(native.rq_spline)
    rq_spline_backward = staticmethod(native.rq_spline_backward)

    _forward_cache: tuple | None = None
    _log_det_cache: tuple | None = None
    _log_dets: dict = {}  # noqa: RUF012  (replaced, never mutated)

    def _lists(self, layers: Sequence[Any], dtype: np.dtype) -> tuple[list, ...]:
        """The fused kernels' per-layer arguments: weights, biases, activation codes and
        negative slopes (see ``LayerKind.fused``)."""
        return tuple(list(column) for column in zip(*(layer.fused(self, dtype)
                                                      for layer in layers)))

    @staticmethod
    def _dense_only(layers: Sequence[Any]) -> bool:
        """Whether the fused kernels can run the layers (dense and lu_dense ones)."""
        return all(layer.FUSED for layer in layers)

    def forward(self, layers: Sequence[Any], x: np.ndarray,
                context: np.ndarray | None = None) -> np.ndarray:
        lists = self._forward_lists(layers, x.dtype)
        if lists is None or context is not None:
            return self.forward_layers(layers, x, context)
        weights, biases, codes, slopes = lists
        return _core.network_forward(weights, biases, codes, slopes, x)

    def forward_log_det(self, layers: Sequence[Any], x: np.ndarray,
                        context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The outputs and ``log |det J|`` per row, for square layers with bijective
        activations: one native call when every layer is dense, else layer by layer."""
        prepared = self._log_det_lists(layers, x.dtype)
        if prepared is None or context is not None:
            return self.forward_log_det_layers(layers, x, context)
        weights, biases, codes, slopes, log_dets = prepared
        return _core.network_forward_log_det(weights, biases, codes, slopes, log_dets, x)

    def forward_log_det_layers(self, layers: Sequence[Any], x: np.ndarray,
                               context: np.ndarray | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
        """The outputs and ``log |det J|`` layer by layer."""
        total = np.zeros(x.shape[0], dtype=x.dtype)
        for layer in layers:
            x = layer.forward_log_det(x, total, self, context)
        return x, total

    def _log_det_lists(self, layers: Sequence[Any], dtype: np.dtype) -> tuple | None:
        # The fused call's arguments per snapshot of layers and dtype, as _forward_lists,
        # plus each layer's log|det W| in float64 (LayerKind.fused_log_det: from a dense
        # layer's cached LU factors, or an lu_dense layer's log_scale). Those sums are kept
        # by layer version, so a snapshot
        # that replaced one layer recomputes only that layer's.
        cached = self._log_det_cache
        if cached is not None and cached[0] is layers and cached[1] == dtype:
            return cached[2]
        if not self._dense_only(layers):
            self._log_det_cache = (layers, dtype, None)
            return None
        known = self._log_dets
        log_dets: dict[tuple[int, np.dtype], float] = {}
        for layer in layers:
            key = (layer.version, dtype)
            value = known.get(key)
            if value is None:
                value = layer.fused_log_det(self, dtype)
            log_dets[key] = value
        self._log_dets = log_dets
        prepared = (*self._lists(layers, dtype), [log_dets[(layer.version, dtype)]
                                                  for layer in layers])
        self._log_det_cache = (layers, dtype, prepared)
        return prepared

    def forward_layers(self, layers: Sequence[Any], x: np.ndarray,
                       context: np.ndarray | None = None) -> np.ndarray:
        """The forward pass layer by layer."""
        for layer in layers:
            x = layer.forward(x, self, context)
        return x

    def inverse_layers(self, layers: Sequence[Any], factors: Sequence[Any],
                       y: np.ndarray, context: np.ndarray | None = None
                       ) -> tuple[np.ndarray, Failure | None]:
        """The reverse pass layer by layer, stopping at the first failing layer."""
        x = y
        for index in reversed(range(len(layers))):
            layer = layers[index]
            if layer.out_of_range(x).any():
                return x, ("out_of_range", index)
            x = layer.inverse(x, factors[index], self, context)
            if not np.isfinite(x).all():
                return x, ("not_finite", index)
        return x, None

    def _forward_lists(self, layers: Sequence[Any], dtype: np.dtype) -> tuple | None:
        # The last snapshot's arguments, reused while the layers (an immutable tuple, held
        # here so its identity stays unique) and the dtype are the same: small batches would
        # otherwise spend most of their time rebuilding them.
        cached = self._forward_cache
        if cached is not None and cached[0] is layers and cached[1] == dtype:
            return cached[2]
        lists = self._lists(layers, dtype) if self._dense_only(layers) else None
        self._forward_cache = (layers, dtype, lists)
        return lists

    def prepare_inverse(self, layers: Sequence[Any], factors: Sequence[Factors],
                        dtype: np.dtype) -> Any:
        """What inverse() needs of the layers, built once per (layers, dtype) snapshot: the
        fused kernel's arguments for dense layers only, else the factors per layer."""
        if not self._dense_only(layers):
            return ("layers", list(factors))
        return (*self._lists(layers, dtype), [f.lu for f in factors], [f.piv for f in factors])

    def inverse(self, layers: Sequence[Any], prepared: Any, y: np.ndarray,
                context: np.ndarray | None = None) -> tuple[np.ndarray, Failure | None]:
        """x with forward(x) = y, or the failing target and (kind, layer index); a context
        only reaches layers that take one, which dense-only networks have none of."""
        if prepared[0] == "layers":
            return self.inverse_layers(layers, prepared[1], y, context)
        x, failure, layer, _, _ = _core.network_inverse(*prepared, y)  # type: ignore[call-arg]
        if failure == 0:
            return x, None
        return x, ("out_of_range" if failure == 1 else "not_finite", layer)
