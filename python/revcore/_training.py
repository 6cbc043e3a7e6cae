"""Training a flow by maximum likelihood: the class-conditional Gaussian base, the loss and
its gradients, and the minibatch loop with early stopping.

The model: ``z = f(x)`` through the layers of a network (kinds with ``train_forward`` and
``train_backward``: ``lu_dense`` and ``coupling``), ``p(x | k) = N(z; mu_k, Sigma_k)
|det J_f(x)|`` (``Sigma_k`` diagonal, or a full covariance: see ``FlowModel``) and ``p(k)``
the class frequencies. The loss of a batch, per sample, is

    -log p(x, y) / d  -  beta * log p(y | x)

(joint likelihood per dimension plus a weighted classification term; ``beta = 0`` is pure
maximum likelihood). Gradients are written by hand: the base's here, the layers' in their
``train_backward``, which the network's own passes share (no autograd).

The parameters are plain dicts of arrays updated in place (no network is rebuilt per step);
:func:`to_layers` turns them into immutable layers at the end.

Examples
--------
>>> import numpy as np
>>> from revcore._backend import Backend
>>> from revcore._training import FlowModel, objective
>>> rng = np.random.default_rng(0)
>>> model = FlowModel.build(3, 2, n_blocks=1, hidden=(4,), rng=rng)
>>> x, y = rng.standard_normal((5, 3)), np.array([0, 1, 0, 1, 1])
>>> loss, grads = objective(model, x, y, 1.0, Backend(), gradients=True)
>>> len(grads) == len(model.trainable())
True
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._layers import LAYER_KINDS, Coupling, LayerKind, LUDense, layer_from_arrays
from ._optimizers import Adam
from ._spline_layers import DEFAULT_BOUND, ElementwiseSpline, SplineCoupling

__all__ = ["FlowModel", "Start", "Stepper", "TrainingResult", "apply_start", "initialise",
           "objective", "stratified_split", "train"]

LOG_2PI = math.log(2 * math.pi)
# Arrays of a layer that training never changes.
_FIXED = ("sign", "permutation", "bound", "context_width")
_PRIOR_ROWS = 10.0
# The weights of each class's own covariance (against the pooled within-class one) that
# the start of training tries for a base with a covariance per class.
_COVARIANCE_WEIGHTS = (0.25, 0.5, 0.75)


@dataclass
class FlowModel:
    """A flow's layers as mutable parameter dicts, plus the Gaussian base.

    ``kinds[i]`` names layer i's kind and ``layers[i]`` its arrays; ``means`` (K, d) are the
    class means of the base, ``log_sigma`` (K, d) its log standard deviations per class
    (equal rows, moved together, with ``shared_scale``), and ``log_prior`` (K,) the log
    class frequencies. ``whitening`` (K, d, d), when not None, gives each class's base a
    full covariance: unit lower-triangular matrices ``A_k`` (fixed during training) with
    ``u = A_k (z - mu_k) / sigma_k`` standard normal, i.e. covariance ``A_k^-1 diag(sigma_k^2)
    A_k^-T`` (``|det A_k| = 1``, so the density has no extra term); None is the identity.
    """

    kinds: list[str]
    layers: list[dict[str, np.ndarray]]
    means: np.ndarray
    log_sigma: np.ndarray
    log_prior: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shared_scale: bool = False
    whitening: np.ndarray | None = None

    @classmethod
    def build(cls, width: int, n_classes: int, n_blocks: int, hidden: tuple[int, ...],
              rng: np.random.Generator, dtype: Any = np.float64, coupling: str = "affine",
              bins: int = 8, bound: float = DEFAULT_BOUND,
              elementwise_bins: int = 0, class_context: bool = False) -> FlowModel:
        """``n_blocks`` of [lu_dense, coupling] then a closing lu_dense: each mixing layer
        the identity on a random permutation, each coupling block (``coupling``: "affine"
        or "spline", with ``bins`` bins on [-bound, bound]) the identity (its conditioner's
        last layer zero); with ``elementwise_bins`` > 0, first a learned spline per feature
        with that many bins (the identity at the start); with ``class_context``, the
        conditioners also take the class's one-hot."""
        context = n_classes if class_context else 0
        kinds: list[str] = []
        layers: list[dict[str, np.ndarray]] = []
        if elementwise_bins:
            kinds.append("spline")
            layers.append(ElementwiseSpline.identity(width, elementwise_bins, bound,
                                                     dtype).params())
        for _ in range(n_blocks):
            kinds += ["lu_dense", "coupling" if coupling == "affine" else "spline_coupling"]
            layers.append(LUDense.identity(width, rng.permutation(width), dtype).params())
            if coupling == "affine":
                layers.append(Coupling.random(width, hidden, rng, 0.0, dtype,
                                              context).params())
            else:
                layers.append(SplineCoupling.random(width, hidden, rng, 0.0, dtype, context, bins,
                                                    bound).params())
        kinds.append("lu_dense")
        layers.append(LUDense.identity(width, rng.permutation(width), dtype).params())
        layers = [{k: np.array(v) for k, v in p.items()} for p in layers]  # writable
        return cls(kinds, layers, np.zeros((n_classes, width)), np.zeros((n_classes, width)),
                   np.full(n_classes, -math.log(n_classes)))

    def trainable(self) -> list[np.ndarray]:
        """Every array the optimiser moves, in a fixed order (the base's last)."""
        arrays = [v for p in self.layers for k, v in p.items() if k not in _FIXED]
        return arrays + [self.means, self.log_sigma]

    def share_buffers(self) -> list[tuple[np.ndarray, list[int]]]:
        """Make the trainable arrays views of one flat buffer per dtype, so that an
        optimiser step is a few operations on long vectors; returns each buffer with the
        positions (in :meth:`trainable`'s order) of the arrays it holds."""
        arrays = self.trainable()
        positions: dict[np.dtype, list[int]] = {}
        for i, array in enumerate(arrays):
            positions.setdefault(array.dtype, []).append(i)
        views: list[np.ndarray] = list(arrays)
        groups = []
        for where in positions.values():
            flat = np.concatenate([arrays[i].ravel() for i in where])
            offset = 0
            for i in where:
                size = arrays[i].size
                views[i] = flat[offset:offset + size].reshape(arrays[i].shape)
                offset += size
            groups.append((flat, where))
        k = 0
        for p in self.layers:
            for key in p:
                if key not in _FIXED:
                    p[key] = views[k]
                    k += 1
        self.means, self.log_sigma = views[k], views[k + 1]
        return groups

    @property
    def context(self) -> int:
        """Width of the context the conditioners take (the number of classes, or 0)."""
        return max((int(p.get("context_width", 0)) for p in self.layers), default=0)

    def copy(self) -> FlowModel:
        return FlowModel(list(self.kinds), [{k: v.copy() for k, v in p.items()}
                                            for p in self.layers],
                         self.means.copy(), self.log_sigma.copy(), self.log_prior.copy(),
                         self.shared_scale,
                         None if self.whitening is None else self.whitening.copy())

    def to_layers(self) -> list[LayerKind]:
        """The layers as immutable layer objects (what a Network holds)."""
        return [layer_from_arrays(kind, p, {}, i) for i, (kind, p)
                in enumerate(zip(self.kinds, self.layers))]


def flow_forward(model: FlowModel, x: np.ndarray, backend: Any, keep: bool = True,
                 context: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """``(z, log|det J| per sample, caches)`` of the model's layers (``context``: one row
    per input row, for conditioners that take one)."""
    log_det = np.zeros(len(x), dtype=x.dtype)
    caches = []
    for kind, p in zip(model.kinds, model.layers):
        x, layer_log_det, cache = LAYER_KINDS[kind].train_forward(  # type: ignore[attr-defined]
            p, x, backend, context=context)
        log_det += layer_log_det
        caches.append(cache if keep else None)
    return x, log_det, caches


def flow_backward(model: FlowModel, caches: list, grad_z: np.ndarray,
                  grad_log_det: np.ndarray, backend: Any) -> list[dict[str, np.ndarray]]:
    """Every layer's array gradients, given ``dL/dz`` and ``dL/d(log|det J|)``."""
    grads: list[dict[str, np.ndarray]] = [{} for _ in model.layers]
    g = grad_z
    for i in reversed(range(len(model.layers))):
        cls = LAYER_KINDS[model.kinds[i]]
        g, grads[i] = cls.train_backward(  # type: ignore[attr-defined]
            model.layers[i], caches[i], g, grad_log_det, backend)
    return grads


def joint_log_prob(model: FlowModel, z: np.ndarray, log_det: np.ndarray,
                   matmul: Any = np.matmul) -> np.ndarray:
    """(n, K): ``log p(x, k)`` for every class, from ``z = f(x)`` and ``log|det J|``
    (``matmul``: the backend's, so that training never waits on numpy's BLAS threads)."""
    z = z.astype(np.float64)
    if model.whitening is not None:
        return np.stack([base_log_prob(model, z, c, matmul)
                         for c in range(len(model.means))],
                        axis=1) + log_det.astype(np.float64)[:, None]
    inverse_var = np.exp(-2 * model.log_sigma)                  # (K, d)
    weighted_means = model.means * inverse_var
    squared = (matmul(z * z, inverse_var.T) - 2 * matmul(z, weighted_means.T)
               + (model.means * weighted_means).sum(1)[None, :])
    d = z.shape[1]
    return (-0.5 * squared - model.log_sigma.sum(1)[None, :] - 0.5 * d * LOG_2PI
            + log_det.astype(np.float64)[:, None] + model.log_prior[None, :])


def whitened_codes(model: FlowModel, z: np.ndarray, c: int,
                   matmul: Any = np.matmul) -> np.ndarray:
    """``A_c (z - mu_c) / sigma_c`` for codes z (n, d) in float64 (see ``FlowModel``)."""
    r = z - model.means[c]
    if model.whitening is not None:
        r = matmul(r, model.whitening[c].T)
    return r * np.exp(-model.log_sigma[c])


def base_log_prob(model: FlowModel, z: np.ndarray, c: int,
                  matmul: Any = np.matmul) -> np.ndarray:
    """(n,): ``log N(z; class c's base) + log p(c)`` for codes z in float64."""
    u = whitened_codes(model, z, c, matmul)
    return (-0.5 * (u * u).sum(axis=1) - model.log_sigma[c].sum()
            - 0.5 * z.shape[1] * LOG_2PI + model.log_prior[c])


def one_hot(classes: np.ndarray, k: int, dtype: Any) -> np.ndarray:
    """(n, k): row i is 1 in column ``classes[i]``."""
    out = np.zeros((len(classes), k), dtype=dtype)
    out[np.arange(len(classes)), classes] = 1
    return out


def class_passes(model: FlowModel, x: np.ndarray, backend: Any, keep: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list]:
    """``z`` (K, n, d), ``log|det J|`` (K, n) and the caches of every class's pass: one pass
    when the conditioners take no context (the same for every class)."""
    k = len(model.means)
    if not model.context:
        z, log_det, caches = flow_forward(model, x, backend, keep)
        return z[None], log_det[None], [caches]
    passes = [flow_forward(model, x, backend, keep,
                           one_hot(np.full(len(x), c), k, x.dtype)) for c in range(k)]
    return (np.stack([p[0] for p in passes]), np.stack([p[1] for p in passes]),
            [p[2] for p in passes])


def objective(model: FlowModel, x: np.ndarray, y: np.ndarray, beta: float, backend: Any,
              gradients: bool = False) -> tuple[float, list[np.ndarray]]:
    """The loss on a batch (see the module) and, with ``gradients``, its gradient for every
    array of ``model.trainable()`` (same order). With a class context, each class's
    ``p(x, k)`` comes from its own pass of the flow."""
    n, d = x.shape
    zs, log_dets, caches = class_passes(model, x, backend, keep=gradients)
    if len(zs) == 1:
        a = joint_log_prob(model, zs[0], log_dets[0], backend.matmul)
    else:
        a = np.stack([joint_log_prob(model, zs[c], log_dets[c], backend.matmul)[:, c]
                      for c in range(len(zs))], axis=1)
    rows = np.arange(n)
    top = a.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(a - top).sum(axis=1))
    joint = a[rows, y]
    loss = float(-joint.mean() / d - beta * (joint - lse).mean())
    if not gradients:
        return loss, []
    # dLoss/da: the classification term's softmax minus the one-hot, and the joint's -1/(nd)
    G = (beta / n) * np.exp(a - lse[:, None])
    G[rows, y] -= beta / n + 1.0 / (n * d)
    inverse_var = np.exp(-2 * model.log_sigma)                  # (K, d)
    column_sum = G.sum(axis=0)
    # a_k = -|z_k - mu_k|^2_{1/sigma_k^2} / 2 - sum log sigma_k + log|det J_k| + const,
    # z_k the code of the class's pass (the same z for every class without a context)
    if model.whitening is not None:
        grad_zs, grad_log_dets, grad_means, grad_log_sigma = _whitened_base_gradients(
            model, zs, G, backend.matmul)
    elif len(zs) == 1:
        z64 = zs[0].astype(np.float64)
        Gz = backend.matmul(G.T, z64)                           # (K, d)
        second = backend.matmul(G.T, z64 * z64)
        grad_zs = [-(z64 * backend.matmul(G, inverse_var)
                     - backend.matmul(G, model.means * inverse_var))]
        grad_log_dets = [G.sum(axis=1)]
    else:
        z64s = zs.astype(np.float64)                            # (K, n, d)
        Gz = np.einsum("nk,knd->kd", G, z64s)
        second = np.einsum("nk,knd->kd", G, z64s * z64s)
        grad_zs = [-G[:, c, None] * (z64s[c] - model.means[c]) * inverse_var[c]
                   for c in range(len(zs))]
        grad_log_dets = [G[:, c] for c in range(len(zs))]
    if model.whitening is None:
        grad_means = inverse_var * (Gz - column_sum[:, None] * model.means)
        second = second - 2 * Gz * model.means + column_sum[:, None] * model.means**2
        grad_log_sigma = inverse_var * second - column_sum[:, None]
    if model.shared_scale:  # one row of scales for every class: the gradients add up
        grad_log_sigma[...] = grad_log_sigma.sum(axis=0)
    layer_grads: list[dict[str, np.ndarray]] | None = None
    for c, (grad_z, grad_log_det) in enumerate(zip(grad_zs, grad_log_dets)):
        if len(zs) > 1 and not np.any(grad_log_det):
            continue  # a class no row's loss depends on (pure maximum likelihood)
        grads = flow_backward(model, caches[c], grad_z.astype(x.dtype),
                              grad_log_det.astype(x.dtype), backend)
        if layer_grads is None:
            layer_grads = grads
        else:
            for total, more in zip(layer_grads, grads):
                for key in total:
                    total[key] = total[key] + more[key]
    assert layer_grads is not None
    flat = [g[k] for p, g in zip(model.layers, layer_grads) for k in p if k not in _FIXED]
    return loss, flat + [grad_means, grad_log_sigma]


def _whitened_base_gradients(model: FlowModel, zs: np.ndarray, G: np.ndarray,
                             matmul: Any = np.matmul) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray,
                                        np.ndarray]:
    """The gradients of the loss through a base with ``whitening`` (see ``FlowModel``),
    given ``G = dL/da`` (n, K): for ``a_k = -|u_k|^2 / 2 - sum log sigma_k + ...`` with
    ``u_k = A_k (z_k - mu_k) / sigma_k``, ``da_k/dz_k = -(u_k / sigma_k) A_k = -da_k/dmu_k``
    and ``da_k/dlog sigma_k = u_k^2 - 1``. Returns the codes' gradients (one per pass),
    the log-determinants', the means' and the log scales'."""
    k = len(model.means)
    whitening = model.whitening
    assert whitening is not None
    grad_means = np.zeros_like(model.means)
    grad_log_sigma = np.zeros_like(model.log_sigma)
    grad_zs: list[np.ndarray] = []
    shared_pass = len(zs) == 1
    for c in range(k):
        z = zs[0 if shared_pass else c].astype(np.float64)
        u = whitened_codes(model, z, c, matmul)
        pull = matmul(u * np.exp(-model.log_sigma[c]), whitening[c])   # da_c/dmu_c
        weight = G[:, c, None]
        grad_means[c] = (weight * pull).sum(axis=0)
        grad_log_sigma[c] = (weight * (u * u - 1.0)).sum(axis=0)
        if shared_pass:
            if c == 0:
                grad_zs.append(-weight * pull)
            else:
                grad_zs[0] -= weight * pull
        else:
            grad_zs.append(-weight * pull)
    grad_log_dets = [G.sum(axis=1)] if shared_pass else [G[:, c] for c in range(k)]
    return grad_zs, grad_log_dets, grad_means, grad_log_sigma


def stratified_split(labels: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation): about ``fraction`` of each class to validation,
    keeping at least one row of every class for training."""
    train, validation = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        k = min(round(fraction * len(rows)), len(rows) - 1)
        validation.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def within_class_statistics(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class means (K, d) and the pooled within-class covariance (d, d) of the rows of
    x by class index y, in float64."""
    classes, index = np.unique(y, return_inverse=True)
    x64 = x.astype(np.float64)
    means = np.stack([x64[index == c].mean(0) for c in range(len(classes))])
    resid = x64 - means[index]
    return means, resid.T @ resid / len(x)


def whiten(model: FlowModel, covariance: np.ndarray, mean: np.ndarray) -> None:
    """Start the first mixing layer as the whitening of ``covariance = C C^T`` around
    ``mean``: ``L U = C^-1`` (lower triangular: no pivoting), the layer's permutation kept.
    One factorisation, at initialisation only."""
    inverse = np.tril(np.linalg.inv(np.linalg.cholesky(covariance)))
    u = np.diag(inverse).copy()
    p = model.layers[model.kinds.index("lu_dense")]
    p["lower"][...] = np.tril(inverse / u[None, :], -1)
    p["upper"][...] = 0.0
    p["log_scale"][...] = np.log(u)
    p["sign"][...] = 1.0
    weight = inverse[p["permutation"]]
    p["bias"][...] = -(weight @ mean)


def choose_shrinkage(means: np.ndarray, covariance: np.ndarray, classes: np.ndarray,
                     xv: np.ndarray, yv: np.ndarray,
                     grid: tuple[float, ...] = (1e-3, 1e-2, 3e-2, 1e-1, 3e-1)) -> float:
    """The eps of ``N(mu_y, Sigma + eps I)`` (a shared-covariance Gaussian per class, closed
    form, from the training rows' ``means`` of ``classes`` and ``covariance``) with the best
    likelihood on the validation rows."""
    if len(xv) == 0:
        return 1e-2
    rv = xv.astype(np.float64) - means[np.searchsorted(classes, yv)]
    best, best_ll = grid[0], -np.inf
    for eps in grid:
        c = np.linalg.cholesky(covariance + eps * np.eye(len(covariance)))
        u = np.linalg.solve(c, rv.T)
        ll = -0.5 * (u * u).sum(0).mean() - np.log(np.diag(c)).sum()
        if ll > best_ll:
            best, best_ll = eps, ll
    return best


@dataclass
class TrainingResult:
    """What the loop reports: the model with the best parameters restored, and its curves."""

    model: FlowModel
    loss_curve: list[float]
    validation_scores: list[float]
    n_iter: int
    best_validation_score: float | None


@dataclass(frozen=True)
class Start:
    """How training starts, as chosen on held-out rows: the shrinkage ``eps`` of the
    whitening (None: no whitening) and the base, ``"per_class"`` scales, ``"shared"`` ones,
    or a covariance per class of that weight (a float; see :func:`class_covariances`)."""

    eps: float | None
    base: str | float


def apply_start(model: FlowModel, x: np.ndarray, y: np.ndarray, start: Start,
                backend: Any) -> np.ndarray:
    """Set the model's start from the rows (x, y): the first mixing layer whitening their
    within-class covariance (``+ start.eps I``), the class means those of the codes and the
    base ``start.base``. Returns the codes (float64)."""
    if start.eps is not None:
        covariance = within_class_statistics(x, y)[1]
        whiten(model, covariance + start.eps * np.eye(len(covariance)),
               x.astype(np.float64).mean(0))
    context = one_hot(y, len(model.means), x.dtype) if model.context else None
    z, _, _ = flow_forward(model, x, backend, False, context)
    z = z.astype(np.float64)
    pooled = z.var(0) if len(z) > 1 else np.ones(z.shape[1])
    for c in range(len(model.means)):
        rows = z[y == c]
        if len(rows):
            model.means[c] = rows.mean(0)
            # the class's own variances, shrunk towards the pooled ones (a prior worth
            # _PRIOR_ROWS rows) so that small classes start sensibly
            spread = ((rows - model.means[c]) ** 2).sum(0) + _PRIOR_ROWS * pooled
            model.log_sigma[c] = 0.5 * np.log(np.maximum(spread / (len(rows) + _PRIOR_ROWS),
                                                         1e-6))
    model.whitening, model.shared_scale = None, start.base == "shared"
    if start.base == "shared":
        model.log_sigma[...] = 0.5 * np.log(np.maximum(pooled, 1e-6))
    elif start.base != "per_class":
        model.log_sigma[...], model.whitening = class_covariances(
            z, y, len(model.means), float(start.base))
    return z


def initialise(model: FlowModel, xt: np.ndarray, yt: np.ndarray, xv: np.ndarray,
               yv: np.ndarray, beta: float, backend: Any, whitening: bool = True
               ) -> tuple[Start, float]:
    """The start of training, from the training rows (xt, yt) and the held-out ones (xv,
    yv; may be empty): with ``whitening``, the first mixing layer whitens the within-class
    covariance (shrinkage chosen on the held-out rows); the class means are those of the
    codes, and the scales per class or shared, or a covariance per class (see below).
    Returns the start chosen and its loss on the rows that chose it: minus the held-out
    rows' log p(x, y) per dimension, or the objective on the training rows when none are
    held out."""
    eps = None
    if whitening:
        if len(xv):
            means, covariance = within_class_statistics(xt, yt)
            eps = choose_shrinkage(means, covariance, np.unique(yt), xv, yv)
        else:  # nothing held out: shrink harder the fewer rows per feature there are
            eps = min(1.0, max(1e-2, xt.shape[1] / max(len(xt), 1)))
    # Scales per class, or one set shared by the classes (the pooled spread), or (with
    # held-out rows only: on the training ones the most parameters would always win) a
    # covariance per class, regularised discriminant analysis' mix of its own and the
    # pooled one: whichever base gives the held-out rows the highest likelihood at the
    # start, as a Gaussian mixture's covariance type is chosen (the classification term
    # judges the classifier, not the density's shape). Without held-out rows, the
    # objective that training uses decides between the first two on the training rows.
    bases: list[str | float] = ["per_class", "shared"]
    if len(xv):
        bases += list(_COVARIANCE_WEIGHTS)
    xs, ys = (xv, yv) if len(xv) else (xt, yt)
    starts, losses = [], []
    for base in bases:
        starts.append(Start(eps, base))
        apply_start(model, xt, yt, starts[-1], backend)
        losses.append(objective(model, xs, ys, 0.0 if len(xv) else beta, backend)[0])
    # the first of equal scores: the simpler base
    chosen = int(np.argmin(losses))
    apply_start(model, xt, yt, starts[chosen], backend)
    return starts[chosen], float(losses[chosen])


def class_covariances(z: np.ndarray, y: np.ndarray, n_classes: int, weight: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Regularised discriminant analysis' covariances of the codes z (n, d): each class's
    own covariance weighing ``weight``, the pooled within-class one ``1 - weight`` (0 is
    linear, 1 quadratic discriminant analysis), as ``(log sigma, A)``: the log square
    roots of the diagonal of ``L D L^T`` (K, d) and ``A = L^-1`` (K, d, d), unit
    lower-triangular (see ``FlowModel.whitening``)."""
    d = z.shape[1]
    residuals = [z[y == c] - z[y == c].mean(0) if np.any(y == c) else np.zeros((0, d))
                 for c in range(n_classes)]
    within = sum(r.T @ r for r in residuals) / max(len(z), 1)
    log_sigma = np.zeros((n_classes, d))
    whitening = np.tile(np.eye(d), (n_classes, 1, 1))
    for c, r in enumerate(residuals):
        own = r.T @ r / len(r) if len(r) else within
        covariance = weight * own + (1.0 - weight) * within + np.diag(np.full(d, 1e-6))
        factor = np.linalg.cholesky(covariance)
        scale = np.diag(factor).copy()
        log_sigma[c] = np.log(scale)
        whitening[c] = np.tril(np.linalg.inv(factor / scale[None, :]))
        whitening[c][np.diag_indices(d)] = 1.0
    return log_sigma, whitening


class Stepper:
    """Adam on a model's trainable arrays (made views of one buffer per dtype), one epoch
    of minibatches at a time; the optimiser's state carries over between epochs."""

    def __init__(self, model: FlowModel, learning_rate: float, batch_size: int, beta: float,
                 backend: Any) -> None:
        self.model, self.learning_rate, self.batch_size = model, learning_rate, batch_size
        self.beta, self.backend = beta, backend
        self.groups = model.share_buffers()
        self.buffers = [flat for flat, _ in self.groups]
        self.optimizer = Adam(self.buffers)
        # the gradients gathered like the buffers, into arrays kept between steps (a fresh
        # one per step cost its page faults: 30 MB at width 784)
        self.gradients = [np.empty_like(flat) for flat in self.buffers]

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One Adam step on the minibatch (x, y); returns its loss."""
        loss, grads = objective(self.model, x, y, self.beta, self.backend, gradients=True)
        for flat, (_, where) in zip(self.gradients, self.groups):
            np.concatenate([grads[i].ravel() for i in where], out=flat)
        self.optimizer.step(self.buffers, self.gradients, self.learning_rate)
        return loss

    def epoch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
              draw: Any = None) -> float:
        """One pass over (x, y) in a random order; ``draw(rows)``, when given, returns fresh
        inputs for those rows instead of ``x[rows]``. Returns the mean loss."""
        order = rng.permutation(len(x))
        batch = max(1, min(self.batch_size, len(x)))
        total = 0.0
        for begin in range(0, len(x), batch):
            rows = order[begin:begin + batch]
            loss = self.step(x[rows] if draw is None else draw(rows), y[rows])
            total += loss * len(rows)
        return float(total / max(len(x), 1))


def train(model: FlowModel, x: np.ndarray, y: np.ndarray, *, beta: float,
          learning_rate: float, batch_size: int, max_iter: int, early_stopping: bool,
          validation_fraction: float, n_iter_no_change: int, tol: float, whitening: bool,
          rng: np.random.Generator, backend: Any, verbose: bool | int = False,
          resample: Any = None) -> TrainingResult:
    """Fit the model on standardised inputs x (n, d) and class indices y by Adam.

    With ``early_stopping``, ``validation_fraction`` of each class is held out and training
    stops once the validation score, the held-out rows' log p(x, y) per dimension, has not
    improved by ``tol`` for ``n_iter_no_change`` epochs, the best parameters being
    restored (the start, estimated again from all of x, when no epoch beats it);
    otherwise the training loss plays that role on all the data. At most ``max_iter``
    epochs.

    ``resample(rows)``, when given, returns fresh inputs for those rows of x (x holding one
    draw): each minibatch is drawn anew (dequantisation noise), the validation rows and
    the starting statistics keep x's draw.
    """
    if early_stopping:
        train_rows, validation_rows = stratified_split(y, validation_fraction, rng)
    else:
        train_rows, validation_rows = np.arange(len(x)), np.arange(0)
    xt, yt, xv, yv = x[train_rows], y[train_rows], x[validation_rows], y[validation_rows]
    first, start_loss = initialise(model, xt, yt, xv, yv, beta, backend, whitening)
    stepper = Stepper(model, learning_rate, batch_size, beta, backend)
    draw = None if resample is None else (lambda rows: resample(train_rows[rows]))
    every = 0 if not verbose else (1 if verbose is True else int(verbose))
    use_validation = early_stopping and len(xv) > 0
    best_score, best, wait, improved = -np.inf, model.copy(), 0, False
    if use_validation:
        # The held-out rows judge the density, as they judge the base: the classification
        # term shapes training, but on a few hundred rows its noise (weighted by beta)
        # would decide when to stop (on digits: after 9 epochs on one seed of two, its
        # samples then told from real ones 84% of the time instead of 76%).
        # The start is a candidate too: on small data (a few hundred rows in tens of
        # dimensions) the discriminant analysis it holds may beat every epoch. Its score is
        # what chose it among the bases (the held-out log p(x, y) per dimension).
        best_score = -start_loss
    loss_curve: list[float] = []
    scores: list[float] = []
    start = time.perf_counter()
    epoch = 0
    for epoch in range(1, max_iter + 1):
        loss_curve.append(stepper.epoch(xt, yt, rng, draw))
        if use_validation:
            score = -objective(model, xv, yv, 0.0, backend)[0]
            scores.append(score)
        else:
            score = -loss_curve[-1]
        if every and epoch % every == 0:
            extra = f"  validation score {score:.4f}" if use_validation else ""
            print(f"epoch {epoch:4d}  loss {loss_curve[-1]:.4f}{extra}  "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
        if not np.isfinite(score):
            break
        if score > best_score + tol:
            best_score, wait, improved = score, 0, True
            best = model.copy()
        else:
            wait += 1
            if wait >= n_iter_no_change:
                break
    if use_validation and not improved:
        # No epoch beat the start: it is a closed form of the rows (a discriminant
        # analysis), so, as a model whose settings were chosen on held-out rows is refitted,
        # it is estimated again from every row, held-out ones included, with the choices
        # they made.
        apply_start(best, x, y, first, backend)
    return TrainingResult(best, loss_curve, scores, epoch,
                          float(best_score) if use_validation else None)
