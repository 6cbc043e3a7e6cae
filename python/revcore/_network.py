"""Networks of layers that run forwards and, when every layer allows it, backwards."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _spline_layers  # noqa: F401  (registers the spline layer kinds)
from ._backend import Backend
from ._errors import NotInvertibleError
from ._io import _where, read_network, write_network
from ._layers import (
    Factors,
    LayerKind,
    NetworkData,
    layers_from_data,
    layers_to_data,
)
from ._layers import restore_layer as _restore_layer  # noqa: F401  (pickles of 0.1 name it)
from ._refine import Precision
from ._report import InvertibilityReport, LayerReport, target_error
from ._torch import module_to_data, network_to_module
from ._validation import as_float_array, check_finite_array, check_memory, contiguous_ready

if TYPE_CHECKING:  # Self is in typing from Python 3.11
    from typing_extensions import Self

__all__ = ["Network"]


class Network:
    """A feed-forward stack of layers: dense layers ``x -> activation(weight @ x + bias)``,
    LU-parametrised mixing layers and affine coupling blocks (:mod:`revcore._layers`).

    Runs forwards for any layer shapes; runs backwards (:meth:`inverse`) when every layer
    can be inverted. A dense layer can when its weight is square and well-conditioned and
    its activation a bijection (identity, leaky_relu, tanh, sigmoid): it is inverted with LU
    factors cached until its weights change. An ``lu_dense`` layer (``W = P L U``) is
    invertible by construction (two triangular solves with its own factors, no
    factorisation) unless ill-conditioned, and a ``coupling`` block always is (its
    conditioner is never inverted). A network of dense layers only runs each way in one
    native call; a mixed one layer by layer.

    Build one with :meth:`from_weights`, :meth:`random` or from a list of layers.

    Parameters
    ----------
    layers : sequence of layers (Layer, LUDense, Coupling: any registered kind)
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

    _backend: Backend = Backend()

    def __init__(self, layers: Sequence[LayerKind], *,
                 condition_threshold: float | None = None) -> None:
        layers = tuple(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        for i in range(1, len(layers)):
            if layers[i].shape[1] != layers[i - 1].shape[0]:
                raise ValueError(
                    f"layer {i} takes {layers[i].shape[1]} inputs but layer {i - 1} gives "
                    f"{layers[i - 1].shape[0]} outputs"
                )
        if len({layer.dtype for layer in layers}) != 1:
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
    ) -> Network:
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
        data = NetworkData(
            ["dense"] * depth,
            [{"weight": w, "bias": b} for w, b in zip(weights, biases)],
            [{"activation": a, "negative_slope": s} for a, s in zip(activations, slopes)],
            condition_threshold,
        )
        return cls._from_data(data)

    @classmethod
    def _from_data(cls, data: NetworkData) -> Self:
        return cls(layers_from_data(data), condition_threshold=data.condition_threshold)

    def _data(self) -> NetworkData:
        return layers_to_data(self._layers, self.condition_threshold)

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
    ) -> Network:
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
    def from_torch(cls, module: Any, *,
                   condition_threshold: float | None = None) -> Self:
        """Build a network from a PyTorch ``nn.Sequential`` of square ``nn.Linear`` layers,
        each optionally followed by LeakyReLU, Tanh, Sigmoid or Identity (same dtype).

        Raises NotInvertibleError naming the module that cannot be inverted and why.
        """
        return cls._from_data(module_to_data(module)._replace(
            condition_threshold=condition_threshold))

    def to_torch(self) -> Any:
        """The network as a PyTorch ``nn.Sequential`` (Linear and activation modules); dense
        layers only."""
        if any(layer.kind != "dense" for layer in self._layers):
            raise ValueError("to_torch converts networks of dense layers only")
        return network_to_module(self._data(), self.dtype)

    def save(self, path: Any) -> None:
        """Write the network to an .npz file (layout in ``revcore._io``; numpy alone reads
        it). Load it with :meth:`load` or :func:`revcore.load`."""
        write_network(path, self._data())

    @classmethod
    def load(cls, path: Any) -> Self:
        """Read a network saved with :meth:`save` (an .npz file; nothing is unpickled).

        Raises
        ------
        ValueError
            For a file that is not a revcore network (an ``InvertibleClassifier``'s file
            among them: read it with :func:`revcore.load`), is truncated or corrupt, comes
            from a newer format version, or holds inconsistent shapes.
        """
        return cls._from_file_data(read_network(path), _where(path))

    @classmethod
    def _from_file_data(cls, data: NetworkData, where: str) -> Self:
        """The network of a file's plain data; ValueError naming the file when the arrays
        do not make one."""
        try:
            return cls._from_data(data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where} holds an inconsistent network: {error}") from None

    # -- properties ---------------------------------------------------------------------

    @property
    def layers(self) -> tuple[Any, ...]:
        """The layers, an immutable snapshot (use :meth:`set_layer` to change one)."""
        return self._layers

    @property
    def depth(self) -> int:
        return len(self._layers)

    @property
    def dtype(self) -> np.dtype:
        return self._layers[0].dtype

    @property
    def n_inputs(self) -> int:
        return self._layers[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self._layers[-1].shape[0]

    def __repr__(self) -> str:
        parts = ", ".join(f"{layer.shape[1]}->{layer.shape[0]} {layer.label}"
                          for layer in self._layers)
        return f"{type(self).__name__}([{parts}], dtype={self.dtype})"

    def set_layer(self, index: int, weight: Any = None, bias: Any = None,
                  **arrays: Any) -> None:
        """Replace layer ``index``'s weight and/or bias (same shapes), or for other kinds
        the named arrays (``lower``, ``log_scale``, ``weight0``...); its cached factors are
        dropped, the other layers' kept. Concurrent :meth:`inverse` calls see either the old
        or the new layer, never a mix."""
        with self._lock:
            layers = list(self._layers)
            layers[index] = layers[index].replace(index, self.dtype, weight=weight, bias=bias,
                                                  **arrays)
            self._layers = tuple(layers)

    def set_weights(self, weights: Sequence[Any], biases: Sequence[Any] | None = None) -> None:
        """Replace every layer's weights (and biases) at once, atomically."""
        with self._lock:
            old = self._layers
            if len(weights) != len(old) or (biases is not None and len(biases) != len(old)):
                raise ValueError(f"expected {len(old)} weights and biases")
            self._layers = tuple(
                layer.replace(i, self.dtype, weight=weights[i],
                              bias=None if biases is None else biases[i])
                for i, layer in enumerate(old)
            )

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

    @property
    def context_width(self) -> int:
        """Width of the context the network's layers take (0: none); coupling blocks whose
        conditioner takes the class's one-hot, say, need ``context`` in every pass."""
        return max(layer.context_width for layer in self._layers)

    def _context(self, context: Any, rows: int, single: bool, dtype: np.dtype
                 ) -> np.ndarray | None:
        """``context`` checked against the network's context width, as a (rows, width)
        array of ``dtype`` (None for a network that takes none)."""
        width = self.context_width
        if width == 0:
            if context is not None:
                raise ValueError("this network takes no context (its layers' conditioners "
                                 "take only their inputs); got one")
            return None
        if context is None:
            raise ValueError(f"this network's coupling blocks take a context of width "
                             f"{width}: pass context= with shape ({width},) or "
                             f"(batch, {width})")
        c = as_float_array(context, "context")
        if single and c.ndim == 1:
            c = c[None, :]
        if c.shape != (rows, width):
            raise ValueError(f"context must have shape ({rows}, {width}) (a row per input "
                             f"row), got {np.shape(context)}")
        check_finite_array(c, "context")
        return np.ascontiguousarray(c, dtype=dtype)

    def forward(self, x: Any, context: Any = None) -> np.ndarray:
        """Run the network: x of shape (n_inputs,) or (batch, n_inputs); ``context``, one
        row per input row, for networks whose blocks take one (see ``context_width``)."""
        layers = self._layers
        x2, single = self._input(x, layers[0].shape[1], "x")
        c = self._context(context, len(x2), single, x2.dtype)
        y = self._backend.forward(layers, x2, c)
        return y[0] if single else y

    __call__ = forward

    def threshold(self, dtype: Any) -> float:
        """The condition threshold in force for computations in ``dtype``."""
        if self.condition_threshold is not None:
            return float(self.condition_threshold)
        return 0.01 / float(np.finfo(dtype).eps)

    def _checked_factors(self, layers: Sequence[Any], dtype: Any) -> list[Factors]:
        """Every layer's factors in ``dtype``; NotInvertibleError for the first layer (by
        index) that cannot be inverted."""
        threshold = self.threshold(dtype)
        factors = []
        for index, layer in enumerate(layers):
            f, reason = layer.diagnose(self._backend, dtype, threshold)
            if reason:
                raise NotInvertibleError(
                    f"layer {index} ({layer.label}, {layer.shape[0]}x{layer.shape[1]}) "
                    f"cannot be inverted: {reason}",
                    layer=index,
                    reason=reason,
                )
            factors.append(f)
        return factors

    def inverse(self, y: Any, refine: int = 0, return_info: bool = False,
                context: Any = None) -> Any:
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
        context : array_like, optional
            One row per target row, for networks whose blocks take one (see
            ``context_width``).
        return_info : bool, optional
            Also return a dict with, per sample, ``residual``: the measured
            ``||f(x) - y||_inf / ||y||_inf`` (forward pass in float64), and ``bound``: the
            a-priori bound of ``||x - x_exact||_inf / ||x_exact||_inf`` (its model is in
            :mod:`revcore._refine`, and for coupling blocks in
            :meth:`revcore._layers.Coupling.inverse_step`); plus ``condition_estimates``
            per layer (None for coupling blocks, which have no matrix to condition).

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
        c = self._context(context, len(y2), single, y2.dtype)
        if refine == 0 and not return_info:
            prepared = self._prepared(layers, y2.dtype)
            x, failure = self._backend.inverse(layers, prepared, y2, c)
            if failure is not None:
                raise target_error(layers, failure, x, single)
            return x[0] if single else x
        x, bound, conditions = self._inverse_refined(layers, y2, int(refine), single, c)
        if not return_info:
            return x[0] if single else x
        y64 = y2.astype(np.float64)
        x64 = np.ascontiguousarray(x, dtype=np.float64)
        fx = self._backend.forward(layers, x64, None if c is None else c.astype(np.float64))
        scale = np.abs(y64).max(axis=1)
        residual = np.abs(fx - y64).max(axis=1) / np.where(scale > 0, scale, 1.0)
        info = {"residual": residual[0] if single else residual,
                "bound": bound[0] if single else bound,
                "condition_estimates": conditions}
        return (x[0] if single else x), info


    def _inverse_refined(self, layers: tuple[Any, ...], y: np.ndarray, refine: int,
                         single: bool, context: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray, list[float]]:
        """The layer-by-layer reverse pass with refinement, and the per-sample bound."""
        precision = Precision.choose(y.dtype, self.dtype, refine)
        factors = self._checked_factors(layers, precision.factor)
        x = y
        error = np.zeros(y.shape[0])
        for index in reversed(range(len(layers))):
            layer = layers[index]
            if layer.out_of_range(x).any():
                raise target_error(layers, ("out_of_range", index), x, single)
            x, error = layer.inverse_step(x, error, factors[index], precision, self._backend,
                                          context)
            if not np.isfinite(x).all():
                raise target_error(layers, ("not_finite", index), x, single)
        conditions = [None if f is None else f.condition_estimate for f in factors]
        return x, error, conditions

    def _prepared(self, layers: tuple[Any, ...], dtype: np.dtype) -> Any:
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

    def log_abs_det_jacobian(self, x: Any, context: Any = None) -> np.ndarray:
        """``log |det J(x)|`` of the network at each input, J the Jacobian dy/dx.

        The sum over layers of their log-determinants: for a dense layer ``log |det W|``
        (from the cached LU factors: the log of the absolute diagonal of U) and
        ``log |f'(z)|`` at the pre-activations z; for an lu_dense layer ``sum(log_scale)``;
        for a coupling block ``sum(s)``.

        Parameters
        ----------
        x : array_like, shape (n_inputs,) or (batch, n_inputs)

        Returns
        -------
        ndarray, shape () or (batch,)
        """
        layers = self._layers
        self._check_log_det(layers)
        x2, single = self._input(x, layers[0].shape[1], "x")
        c = self._context(context, len(x2), single, x2.dtype)
        head, constant = self._log_det_head(layers, x2.dtype)
        if head is layers:
            total = self._backend.forward_log_det(layers, x2, c)[1]
        elif head:
            total = self._backend.forward_log_det(head, x2, c)[1] + constant
        else:
            total = np.full(len(x2), constant, dtype=x2.dtype)
        return total[0] if single else total

    def _log_det_head(self, layers: tuple[Any, ...], dtype: np.dtype
                      ) -> tuple[tuple[Any, ...], Any]:
        """The layers up to the last one whose log-determinant depends on its input, and
        the constant the others add (linear layers, as lu_dense: their outputs are not
        needed); cached per snapshot of layers and dtype, as ``_prepared``."""
        cached = getattr(self, "_log_det_head_cache", None)
        if cached is not None and cached[0] is layers and cached[1] == dtype:
            return cached[2]
        head, constant = len(layers), 0.0
        while head and (term := layers[head - 1].constant_log_det(self._backend,
                                                                   dtype)) is not None:
            head, constant = head - 1, constant + term
        found = (layers if head == len(layers) else layers[:head], constant)
        self._log_det_head_cache = (layers, dtype, found)
        return found

    def _check_log_det(self, layers: Sequence[Any]) -> None:
        for index, layer in enumerate(layers):
            if not layer.is_square or not layer.is_bijective:
                raise NotInvertibleError(
                    f"layer {index}: the Jacobian determinant needs square layers with "
                    "bijective activations", layer=index,
                )

    def forward_log_det(self, x: Any, context: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The outputs and ``log |det J(x)|`` in one pass (see
        :meth:`log_abs_det_jacobian`).

        Examples
        --------
        >>> import numpy as np, revcore
        >>> net = revcore.Network.random(width=2, depth=1, activation="identity", seed=0)
        >>> y, log_det = net.forward_log_det(np.zeros((3, 2)))
        >>> y.shape, log_det.shape
        ((3, 2), (3,))
        """
        layers = self._layers
        self._check_log_det(layers)
        x2, single = self._input(x, layers[0].shape[1], "x")
        c = self._context(context, len(x2), single, x2.dtype)
        y, total = self._backend.forward_log_det(layers, x2, c)
        return (y[0], total[0]) if single else (y, total)

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
        threshold = self.threshold(dtype)
        reports: list[LayerReport] = []
        diagnoses = [layer.diagnose(self._backend, dtype, threshold) for layer in layers]
        current = y2
        for index in reversed(range(len(layers))):
            layer = layers[index]
            factors, reason = diagnoses[index]
            out_of_range = None
            rows: tuple[int, ...] = ()
            columns: tuple[int, ...] = ()
            if current is not None and layer.is_bijective:
                mask = layer.out_of_range(current)
                out_of_range = int(mask.sum())
                bad_rows, bad_columns = np.nonzero(mask)
                rows = tuple(int(i) for i in np.unique(bad_rows))
                columns = tuple(int(i) for i in np.unique(bad_columns))
                if out_of_range:
                    reason = reason or (f"{out_of_range} target values lie outside the range "
                                        f"of {layer.label}")
                    current = None
                elif not diagnoses[index][1]:
                    current = layer.inverse(current, factors, self._backend)  # type: ignore[arg-type]
                else:
                    current = None
            reports.append(LayerReport(
                index=index,
                shape=layer.shape,
                activation=layer.label,
                condition_estimate=None if factors is None else factors.condition_estimate,
                smallest_pivot=None if factors is None else factors.smallest_pivot,
                invertible=not reason,
                reason=reason,
                out_of_range=out_of_range,
                error_bound=None if factors is None else float(
                    3 * factors.condition_estimate * 2 * layer.shape[0] * np.finfo(dtype).eps),
                rows=rows,
                columns=columns,
                note=layer.note(),
            ))
        return InvertibilityReport(reports[::-1], threshold)
