"""The peers section of the benchmark command: ``python -m revcore.bench --peers``.

revcore's flow operations against PyTorch (plain modules and autograd), nflows, zuko and
FrEIA, where installed. Every peer is loaded with the same weights as revcore and its result
is compared with revcore's before it is timed; a peer that disagrees is reported, not timed.
All libraries run in one process, taking turns in every timed round, at the same thread
count. The peers are imported here only, and only when this section runs.

The stacks are depth 8 and built from one set of factors per layer, ``W = P L U`` with L
unit lower triangular, U upper triangular with a positive diagonal and P a permutation:
every peer can hold such weights exactly (nflows' ``LULinear`` keeps U's diagonal positive
through a softplus, zuko's ``LULinearTransform`` takes L with the diagonal and U unit,
FrEIA's ``FixedLinearTransform`` takes the product W itself).
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import revcore

from ._backend import Backend
from ._layers import LUDense
from ._training import LOG_2PI, FlowModel, Stepper, objective, train

__all__ = ["PEERS", "PeerCase", "cases", "run"]

PEERS = ("torch", "torch fused", "nflows", "zuko", "FrEIA")
# The flow libraries and the submodules each is used through (imported up front: one that
# fails makes the library skipped with a reason, not an error in the middle of the run).
FLOW_LIBRARIES = {"nflows": ("nflows.transforms",), "zuko": ("zuko.transforms",),
                  "FrEIA": ("FrEIA.framework", "FrEIA.modules")}
DEPTH = 8
NEGATIVE_SLOPE = 0.01
# zuko's LU inverse broadcasts L and U to one (width, width) pair per sample: cases whose two
# broadcast matrices exceed this many bytes are skipped.
ZUKO_MEMORY_BUDGET = 1 << 30
# Normwise agreement asked of a peer, max|peer - revcore| / max|revcore| per result array.
# Both sides round differently (other summation orders, nflows' softplus round trip of U's
# diagonal, an explicit inverse against triangular solves); the errors grow with the
# conditioning of the eight layers (each about 25, see _factors) and, in a reverse pass,
# with leaky ReLU's 1/0.01 slope. In float32 a pre-activation within rounding of 0 may
# change sides, moving log|det J| by log(0.01) (4.6 on totals of order 1e4 at width 1024):
# the largest differences measured by `python -m revcore.bench --peers --json out.json` (its
# "checks") are about 5e-4 in float32 (log|det J|, width 1024; 6e-6 elsewhere) and 1e-13
# in float64. The bounds leave room for a few such flips and still fail any wrong weight,
# bias, permutation or slope. The fit compares loss curves after hundreds of Adam steps,
# where rounding differences grow further.
TOLERANCE = {"float32": 5e-3, "float64": 1e-10}
FIT_TOLERANCE = {"float32": 1e-2, "float64": 1e-6}


@dataclass
class Peer:
    """A peer's timed call, its result as numpy arrays, and the context both run in."""

    call: Callable[[], Any]
    result: Callable[[], list[np.ndarray]]
    context: Callable[[], Any] = contextlib.nullcontext


@dataclass
class PeerCase:
    operation: str
    shape: str
    dtype: str
    revcore: Callable[[], Any]
    revcore_result: Callable[[], list[np.ndarray]]
    peers: dict[str, Peer] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    tolerance: float | None = None


def load_peers() -> tuple[dict[str, Any], dict[str, str]]:
    """The importable peer modules by name, and a reason for each one that is not."""
    modules: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name in ("torch", *FLOW_LIBRARIES):
        if name != "torch" and "torch" not in modules:
            reasons[name] = "needs PyTorch, which is not installed"
            continue
        try:
            modules[name] = __import__(name)
            for submodule in FLOW_LIBRARIES.get(name, ()):
                __import__(submodule)
        except (ImportError, AttributeError, OSError, RuntimeError, TypeError,
                ValueError) as error:  # a broken install raises more than ImportError
            reasons[name] = f"cannot be imported ({type(error).__name__}: {error})"
    if "torch" in modules and not _has_fused_adam(modules["torch"]):
        reasons["torch fused"] = "this PyTorch has no fused Adam on the CPU"
    return modules, reasons


def _has_fused_adam(torch: Any) -> bool:
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


# -- weights --------------------------------------------------------------------------------


@dataclass
class Factors:
    """One layer's ``W = P L U`` and bias: ``W[i] = (L U)[permutation[i]]``, float64."""

    lower: np.ndarray        # strictly lower part of L
    upper: np.ndarray        # strictly upper part of U
    diagonal: np.ndarray     # U's diagonal, positive
    permutation: np.ndarray
    bias: np.ndarray

    @property
    def weight(self) -> np.ndarray:
        lower = self.lower + np.eye(len(self.bias))
        upper = self.upper + np.diag(self.diagonal)
        return (lower @ upper)[self.permutation]


def _factors(width: int, rng: np.random.Generator) -> list[Factors]:
    """Random well-conditioned layers: the off-diagonal parts of L and U have spectral norms
    near 0.3 / (1 - 0.3), so each W has a condition number of about 25 at any width."""
    scale = 0.3 / math.sqrt(width)
    out = []
    for _ in range(DEPTH):
        out.append(Factors(
            np.tril(rng.standard_normal((width, width)) * scale, -1),
            np.triu(rng.standard_normal((width, width)) * scale, 1),
            np.exp(0.1 * rng.standard_normal(width)),
            rng.permutation(width),
            0.1 * rng.standard_normal(width),
        ))
    return out


def dense_network(layers: list[Factors], dtype: Any) -> revcore.Network:
    """Dense layers with weights ``P L U`` and leaky ReLU."""
    return revcore.Network.from_weights([f.weight.astype(dtype) for f in layers],
                                        [f.bias.astype(dtype) for f in layers],
                                        "leaky_relu", NEGATIVE_SLOPE)


def lu_network(layers: list[Factors], dtype: Any) -> revcore.Network:
    """revcore's ``lu_dense`` layers holding the same factors."""
    return revcore.Network([LUDense.from_arrays(
        {"lower": f.lower, "upper": f.upper, "log_scale": np.log(f.diagonal),
         "sign": np.ones(len(f.bias)), "permutation": f.permutation, "bias": f.bias},
        {}, i, np.dtype(dtype)) for i, f in enumerate(layers)])


# -- the peers' versions of the stacks -------------------------------------------------------


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    return torch.float32 if np.dtype(dtype) == np.float32 else torch.float64


@contextlib.contextmanager
def _default_dtype(torch: Any, dtype: Any) -> Iterator[None]:
    """nflows makes tensors in the default dtype (identities, masks): float64 needs it set."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(_torch_dtype(torch, dtype))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class TorchStack:
    """The stack in plain PyTorch: ``nn.Linear`` modules for the forward pass, LU factors
    from ``torch.linalg.lu_factor`` (computed once, as revcore caches its own) for the
    reverse pass."""

    def __init__(self, torch: Any, layers: list[Factors], dtype: Any, leaky: bool) -> None:
        self.torch, self.leaky = torch, leaky
        tdtype = _torch_dtype(torch, dtype)
        nn = torch.nn
        modules: list[Any] = []
        self.weights, self.biases, self.factors = [], [], []
        log_det = 0.0
        for f in layers:
            weight = torch.from_numpy(f.weight.astype(dtype))
            bias = torch.from_numpy(f.bias.astype(dtype))
            linear = nn.Linear(len(f.bias), len(f.bias), dtype=tdtype)
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            modules.append(linear)
            if leaky:
                modules.append(nn.LeakyReLU(NEGATIVE_SLOPE))
            self.weights.append(weight)
            self.biases.append(bias)
            lu, pivots = torch.linalg.lu_factor(weight)
            self.factors.append((lu, pivots))
            log_det += float(torch.log(torch.abs(torch.diagonal(lu))).sum())
        self.module = nn.Sequential(*modules).eval()
        self.log_det = log_det
        self.log_slope = math.log(NEGATIVE_SLOPE)

    def forward(self, x: Any) -> Any:
        return self.module(x)

    def inverse(self, y: Any) -> Any:
        torch = self.torch
        x = y
        for (lu, pivots), bias in zip(reversed(self.factors), reversed(self.biases)):
            z = torch.minimum(x, x / NEGATIVE_SLOPE) if self.leaky else x
            # rows x_i = W^-1 z_i, all at once: X W^T = Z
            x = torch.linalg.lu_solve(lu, pivots, z - bias, left=False, adjoint=True)
        return x

    def forward_log_det(self, x: Any) -> tuple[Any, Any]:
        torch = self.torch
        total = torch.full((x.shape[0],), self.log_det, dtype=x.dtype)
        for weight, bias in zip(self.weights, self.biases):
            z = torch.nn.functional.linear(x, weight, bias)
            if self.leaky:
                total = total + self.log_slope * (z < 0).sum(dim=1).to(x.dtype)
                x = torch.nn.functional.leaky_relu(z, NEGATIVE_SLOPE)
            else:
                x = z
        return x, total


@contextlib.contextmanager
def _quiet_nflows() -> Iterator[None]:
    """nflows' cached inverse calls torch.triangular_solve, which PyTorch deprecates."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
        yield


def nflows_stack(torch: Any, nflows: Any, layers: list[Factors], dtype: Any,
                 leaky: bool) -> Any:
    """nflows' ``LULinear`` (cached weight and inverse: eval mode, ``using_cache=True``),
    ``Permutation`` and ``LeakyReLU`` transforms, composed; build under _default_dtype."""
    transforms = nflows.transforms
    parts: list[Any] = []
    for f in layers:
        width = len(f.bias)
        linear = transforms.LULinear(width, using_cache=True)
        rows, columns = np.tril_indices(width, -1)
        upper_rows, upper_columns = np.triu_indices(width, 1)
        with torch.no_grad():
            linear.lower_entries.copy_(torch.from_numpy(f.lower[rows, columns]))
            linear.upper_entries.copy_(torch.from_numpy(f.upper[upper_rows, upper_columns]))
            # upper_diag = softplus(raw) + eps
            raw = np.log(np.expm1(f.diagonal - linear.eps))
            linear.unconstrained_upper_diag.copy_(torch.from_numpy(raw))
            # Permutation(p) outputs z[:, p]: the bias before it is b[p^-1]
            linear.bias.copy_(torch.from_numpy(f.bias[np.argsort(f.permutation)]))
        parts += [linear, transforms.Permutation(torch.from_numpy(f.permutation))]
        if leaky:
            parts.append(transforms.LeakyReLU(NEGATIVE_SLOPE))
    return transforms.CompositeTransform(parts).to(_torch_dtype(torch, dtype)).eval()


def zuko_stack(torch: Any, zuko: Any, layers: list[Factors], dtype: Any) -> Any:
    """zuko's ``LULinearTransform`` (L with the diagonal, U unit: ``L U = (L D)(D^-1 U)``),
    ``PermutationTransform`` and ``AdditiveTransform`` for the bias, composed."""
    transforms = zuko.transforms
    parts: list[Any] = []
    for f in layers:
        packed = np.tril(f.lower, -1) * f.diagonal[None, :] + np.diag(f.diagonal) \
            + f.upper / f.diagonal[:, None]
        parts += [transforms.LULinearTransform(torch.from_numpy(packed.astype(dtype))),
                  transforms.PermutationTransform(torch.from_numpy(f.permutation)),
                  transforms.AdditiveTransform(torch.from_numpy(f.bias.astype(dtype)))]
    return transforms.ComposedTransform(*parts)


def freia_stack(torch: Any, freia: Any, layers: list[Factors], dtype: Any,
                leaky: bool) -> Any:
    """FrEIA's ``SequenceINN`` of ``FixedLinearTransform`` (``y = W x + b``; it computes
    log|det W| and an explicit inverse of W once, when built) and, for leaky ReLU,
    ``InvAutoActTwoSided`` (a leaky ReLU with learnable slopes) with its slopes fixed at 1
    and 0.01; build under _default_dtype, as the slopes are made in the default dtype."""
    modules = freia.modules
    inn = freia.framework.SequenceINN(len(layers[0].bias))
    for f in layers:
        inn.append(modules.FixedLinearTransform, M=torch.from_numpy(f.weight.astype(dtype)),
                   b=torch.from_numpy(f.bias.astype(dtype)))
        if leaky:
            inn.append(modules.InvAutoActTwoSided, init_pos=1.0, init_neg=NEGATIVE_SLOPE,
                       learnable=False)
    return inn.eval()


# -- the training step: the classifier's network in torch autograd ---------------------------


class TorchFlow:
    """revcore's FlowModel (``lu_dense`` and ``coupling`` layers, class-conditional Gaussian
    base, the classifier's hybrid loss) written with torch tensors and autograd; its
    parameters start as copies of the model's, in the same order as ``model.trainable()``."""

    def __init__(self, torch: Any, model: FlowModel) -> None:
        self.torch = torch
        self.kinds = list(model.kinds)
        self.layers: list[dict[str, Any]] = []
        self.parameters: list[Any] = []
        for kind, p in zip(model.kinds, model.layers):
            tensors = {}
            for key, value in p.items():
                tensor = torch.from_numpy(np.array(value))
                if key not in ("sign", "permutation"):
                    tensor.requires_grad_(True)
                    self.parameters.append(tensor)
                tensors[key] = tensor
            self.layers.append(tensors)
        self.means = torch.from_numpy(model.means.copy()).requires_grad_(True)
        # scales per class, or one row shared by every class
        self.shared_scale = model.shared_scale
        rows = model.log_sigma[:1] if self.shared_scale else model.log_sigma
        self.log_sigma = torch.from_numpy(rows.copy()).requires_grad_(True)
        self.n_classes = len(model.means)
        self.parameters += [self.means, self.log_sigma]
        self.log_prior = torch.from_numpy(model.log_prior.copy())

    def loss(self, x: Any, y: Any, beta: float) -> Any:
        torch = self.torch
        log_det = torch.zeros(x.shape[0], dtype=x.dtype)
        for kind, p in zip(self.kinds, self.layers):
            if kind == "lu_dense":
                width = p["log_scale"].shape[0]
                eye = torch.eye(width, dtype=x.dtype)
                lower = torch.tril(p["lower"], -1) + eye
                upper = torch.triu(p["upper"], 1) + torch.diag(
                    p["sign"] * torch.exp(p["log_scale"]))
                if x.shape[0] < width:  # as revcore: through the factors, W not formed
                    x = ((x @ upper.T) @ lower.T)[:, p["permutation"]] + p["bias"]
                else:
                    weight = (lower @ upper)[p["permutation"]]
                    x = torch.nn.functional.linear(x, weight, p["bias"])
                log_det = log_det + p["log_scale"].sum()
            else:
                depth = len(p) // 2
                d1 = p["weight0"].shape[1]
                x1, x2 = x[:, :d1], x[:, d1:]
                a = x1
                for i in range(depth):
                    a = torch.nn.functional.linear(a, p[f"weight{i}"], p[f"bias{i}"])
                    if i < depth - 1:
                        a = torch.relu(a)
                d2 = a.shape[1] // 2
                s = 2.0 * torch.tanh(0.5 * a[:, :d2])
                x = torch.cat([x1, x2 * torch.exp(s) + a[:, d2:]], dim=1)
                log_det = log_det + s.sum(dim=1)
        # the base in float64, as revcore's objective
        z = x.double()
        log_sigma = self.log_sigma.expand(self.n_classes, -1)   # (K, d)
        inverse_var = torch.exp(-2 * log_sigma)
        weighted = self.means * inverse_var
        squared = ((z * z) @ inverse_var.T - 2 * z @ weighted.T
                   + (self.means * weighted).sum(1)[None, :])
        d = z.shape[1]
        a = (-0.5 * squared - log_sigma.sum(1)[None, :] - 0.5 * d * LOG_2PI
             + log_det.double()[:, None] + self.log_prior[None, :])
        joint = a[torch.arange(len(y)), y]
        return -joint.mean() / d - beta * (joint - torch.logsumexp(a, dim=1)).mean()


def _perturbed_flow(width: int, n_classes: int, rng: np.random.Generator,
                    dtype: Any) -> FlowModel:
    """The classifier's default network (6 blocks, conditioners 64 x 64) at ``width``, moved
    away from its identity start so that every parameter has a gradient."""
    model = FlowModel.build(width, n_classes, N_BLOCKS, HIDDEN, rng, dtype)
    for p in model.layers:
        for key, value in p.items():
            if key not in ("sign", "permutation"):
                value += (0.3 / math.sqrt(width) * rng.standard_normal(value.shape)).astype(
                    value.dtype)
    model.means[...] = rng.standard_normal(model.means.shape)
    return model


def _revcore_step(model: FlowModel, x: np.ndarray, y: np.ndarray, beta: float,
                  rate: float) -> Callable[[], float]:
    """One step of revcore's training loop (the classifier's ``Stepper``): objective and its
    hand-written gradients, then Adam on the flat parameter buffers; returns the loss."""
    stepper = Stepper(model, rate, len(x), beta, Backend())
    return lambda: stepper.step(x, y)


def _torch_step(torch: Any, flow: TorchFlow, x: Any, y: Any, beta: float, rate: float,
                fused: bool) -> Callable[[], None]:
    optimizer = torch.optim.Adam(flow.parameters, lr=rate, fused=True) if fused else \
        torch.optim.Adam(flow.parameters, lr=rate)

    def step() -> None:
        optimizer.zero_grad()
        flow.loss(x, y, beta).backward()
        optimizer.step()
    return step


# -- fitting the classifier ----------------------------------------------------------------


# The classifier's defaults, used by the training step and the fits on both sides.
N_BLOCKS, HIDDEN, BATCH_SIZE, LEARNING_RATE, BETA = 6, (64, 64), 128, 1e-3, 3.0


def _revcore_fit(x: np.ndarray, y: np.ndarray, epochs: int, dtype: str) -> list[float]:
    clf = revcore.InvertibleClassifier(
        n_blocks=N_BLOCKS, hidden_width=HIDDEN[0], hidden_layers=len(HIDDEN),
        learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, classification_weight=BETA,
        max_iter=epochs, early_stopping=False, n_iter_no_change=epochs + 1, dtype=dtype,
        dequantize=False, power_transform=False, random_state=0)
    clf.fit(x, y)
    return list(clf.loss_curve_)


def _torch_fit(torch: Any, x: np.ndarray, y: np.ndarray, epochs: int,
               dtype: str) -> list[float]:
    """InvertibleClassifier.fit without early stopping, dequantisation or power transform,
    its loop in torch: the same numpy start (standardising, dropping near-constant
    features, then revcore's own ``train`` for zero epochs: whitening, class means and
    scales, with the classifier's random draws), then the same batches in the same order,
    torch autograd and torch.optim.Adam."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    mode_share = np.array([np.unique(c, return_counts=True)[1].max() for c in x.T]) / len(x)
    active = (std > 1e-12 * np.maximum(1.0, np.abs(mean))) & (mode_share < 0.95)
    scale = np.where(active, std, 1.0)
    inputs = np.ascontiguousarray(((x - mean) / scale)[:, active]).astype(dtype)
    classes, labels = np.unique(y, return_inverse=True)
    rng = np.random.default_rng(0)
    rng.random(x.shape)  # the classifier's two dequantisation draws (zeros here)
    rng.random(x.shape)
    model = FlowModel.build(inputs.shape[1], len(classes), N_BLOCKS, HIDDEN, rng,
                            np.dtype(dtype))
    model.log_prior = np.log(np.bincount(labels) / len(labels))
    model = train(model, inputs, labels, beta=BETA, learning_rate=LEARNING_RATE,
                  batch_size=BATCH_SIZE, max_iter=0, early_stopping=False,
                  validation_fraction=0.2, n_iter_no_change=1, tol=0.0, whitening=True,
                  rng=rng, backend=Backend()).model
    flow = TorchFlow(torch, model)
    optimizer = torch.optim.Adam(flow.parameters, lr=LEARNING_RATE)
    tx, ty = torch.from_numpy(inputs), torch.from_numpy(labels)
    batch = BATCH_SIZE
    curve = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(inputs)))
        total = 0.0
        for begin in range(0, len(inputs), batch):
            rows = order[begin:begin + batch]
            optimizer.zero_grad()
            loss = flow.loss(tx[rows], ty[rows], BETA)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        curve.append(total / len(inputs))
    return curve


# -- the cases --------------------------------------------------------------------------------


def _numpy(*tensors: Any) -> list[np.ndarray]:
    return [t.detach().cpu().numpy() for t in tensors]


def cases(quick: bool, modules: dict[str, Any], reasons: dict[str, str]) -> Iterator[PeerCase]:
    """Every peers case, built when it is reached (the large ones hold big buffers)."""
    torch = modules.get("torch")
    shapes = [(64, 256), (256, 256)] if quick else [
        (w, b) for w in (64, 256, 1024) for b in (1, 256, 4096)]
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        for width, batch in shapes:
            rng = np.random.default_rng(width + batch)
            layers = _factors(width, rng)
            x = rng.standard_normal((batch, width)).astype(dtype)
            targets = rng.standard_normal((batch, width)).astype(dtype)
            for stack in ("dense+leaky", "lu_dense"):
                yield from _stack_cases(stack, layers, x, targets, name, torch, modules,
                                        reasons)
        for width, batch in ([(64, 256)] if quick else
                             [(64, 256), (256, 256), (784, 128), (1024, 256),
                              (256, 4096)]):
            yield _step_case(width, batch, name, torch, reasons)
        yield _fit_case(2 if quick else 10, name, torch, reasons)


def _stack_cases(stack: str, layers: list[Factors], x: np.ndarray, targets: np.ndarray,
                 name: str, torch: Any, modules: dict[str, Any],
                 reasons: dict[str, str]) -> Iterator[PeerCase]:
    leaky = stack == "dense+leaky"
    dtype = x.dtype
    net = dense_network(layers, dtype) if leaky else lu_network(layers, dtype)
    shape = f"{x.shape[0]}x{x.shape[1]}"
    operations = [f"inverse {stack} d{DEPTH}", f"forward {stack} d{DEPTH}",
                  f"log|det J| {stack} d{DEPTH}"]
    ours: list[tuple[Callable[[], Any], Callable[[], list[np.ndarray]]]] = [
        (lambda: net.inverse(targets), lambda: [net.inverse(targets)]),
        (lambda: net.forward(x), lambda: [net.forward(x)]),
        (lambda: net.forward_log_det(x), lambda: list(net.forward_log_det(x))),
    ]
    built = [PeerCase(op, shape, name, call, result) for op, (call, result)
             in zip(operations, ours)]
    for case in built:
        case.skipped.update({k: v for k, v in reasons.items() if k != "torch fused"})
        case.skipped["torch fused"] = "Adam's fused step only: the training step"
    if torch is not None:
        ts = TorchStack(torch, layers, dtype, leaky)
        tx, ty = torch.from_numpy(x), torch.from_numpy(targets)
        inference = torch.inference_mode
        built[0].peers["torch"] = Peer(lambda: ts.inverse(ty),
                                       lambda: _numpy(ts.inverse(ty)), inference)
        built[1].peers["torch"] = Peer(lambda: ts.forward(tx),
                                       lambda: _numpy(ts.forward(tx)), inference)
        built[2].peers["torch"] = Peer(lambda: ts.forward_log_det(tx),
                                       lambda: _numpy(*ts.forward_log_det(tx)), inference)
    if "nflows" in modules:
        def nflows_context(dtype: Any = dtype) -> Any:
            stack_context = contextlib.ExitStack()
            stack_context.enter_context(_default_dtype(torch, dtype))
            stack_context.enter_context(torch.inference_mode())
            stack_context.enter_context(_quiet_nflows())
            return stack_context

        with _default_dtype(torch, dtype):
            flow = nflows_stack(torch, modules["nflows"], layers, dtype, leaky)
        built[0].peers["nflows"] = Peer(lambda: flow.inverse(ty),
                                        lambda: _numpy(flow.inverse(ty)[0]), nflows_context)
        built[1].peers["nflows"] = Peer(lambda: flow(tx),
                                        lambda: _numpy(flow(tx)[0]), nflows_context)
        built[2].peers["nflows"] = Peer(lambda: flow(tx),
                                        lambda: _numpy(*flow(tx)), nflows_context)
    if "zuko" in modules:
        if leaky:
            for case in built:
                case.skipped["zuko"] = "zuko has no leaky ReLU transform"
        else:
            transform = zuko_stack(torch, modules["zuko"], layers, dtype)
            batch, width = x.shape
            need = 2 * batch * width * width * x.dtype.itemsize
            if need > ZUKO_MEMORY_BUDGET:
                built[0].skipped["zuko"] = (
                    f"its LU inverse broadcasts L and U per sample: {need / 2**30:.1f} GiB, "
                    f"over the {ZUKO_MEMORY_BUDGET / 2**30:.0f} GiB budget")
            else:
                built[0].peers["zuko"] = Peer(lambda: transform.inv(ty),
                                              lambda: _numpy(transform.inv(ty)),
                                              torch.inference_mode)
            built[1].peers["zuko"] = Peer(lambda: transform(tx), lambda: _numpy(transform(tx)),
                                          torch.inference_mode)
            built[2].peers["zuko"] = Peer(lambda: transform.call_and_ladj(tx),
                                          lambda: _numpy(*transform.call_and_ladj(tx)),
                                          torch.inference_mode)
    if "FrEIA" in modules:
        with _default_dtype(torch, dtype):
            inn = freia_stack(torch, modules["FrEIA"], layers, dtype, leaky)
        # FrEIA 0.2's SequenceINN adds up the log-determinants even with jac=False, which
        # InvAutoActTwoSided then returns as None: with leaky ReLU, its passes need jac=True
        jac = leaky
        built[0].peers["FrEIA"] = Peer(lambda: inn(ty, rev=True, jac=jac),
                                       lambda: _numpy(inn(ty, rev=True, jac=jac)[0]),
                                       torch.inference_mode)
        built[1].peers["FrEIA"] = Peer(lambda: inn(tx, jac=jac),
                                       lambda: _numpy(inn(tx, jac=jac)[0]),
                                       torch.inference_mode)
        built[2].peers["FrEIA"] = Peer(lambda: inn(tx), lambda: _numpy(*inn(tx)),
                                       torch.inference_mode)
    for case in built:
        for peer in case.peers:
            case.skipped.pop(peer, None)
    yield from built


def _step_case(width: int, batch: int, name: str, torch: Any,
               reasons: dict[str, str]) -> PeerCase:
    rng = np.random.default_rng(width * batch)
    dtype = np.dtype(name)
    start = _perturbed_flow(width, 10, rng, dtype)
    x = rng.standard_normal((batch, width)).astype(dtype)
    y = rng.integers(0, 10, batch)
    beta, rate = BETA, LEARNING_RATE

    def revcore_result() -> list[np.ndarray]:
        loss, grads = objective(start.copy(), x, y, beta, Backend(), gradients=True)
        return [np.array(loss)] + list(grads)

    case = PeerCase("train step (classifier net)", f"{batch}x{width}", name,
                    _revcore_step(start.copy(), x, y, beta, rate), revcore_result)
    for peer in FLOW_LIBRARIES:
        case.skipped[peer] = "the same network and loss are not expressible as-is"
    if torch is None:
        case.skipped["torch"] = reasons["torch"]
        case.skipped["torch fused"] = reasons["torch"]
        return case
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def torch_result() -> list[np.ndarray]:
        flow = TorchFlow(torch, start)
        loss = flow.loss(tx, ty, beta)
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in flow.parameters]

    variants = {"torch": False} if "torch fused" in reasons else {"torch": False,
                                                                  "torch fused": True}
    for peer, fused in variants.items():
        step = _torch_step(torch, TorchFlow(torch, start), tx, ty, beta, rate, fused)
        case.peers[peer] = Peer(step, torch_result)
    if "torch fused" in reasons:
        case.skipped["torch fused"] = reasons["torch fused"]
    return case


def _fit_case(epochs: int, name: str, torch: Any, reasons: dict[str, str]) -> PeerCase:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        x = np.random.default_rng(0).integers(0, 17, (1797, 64)).astype(np.float64)
        y = np.random.default_rng(1).integers(0, 10, 1797)
        data = "random 8x8 digits-like (no scikit-learn)"
    else:
        x, y = load_digits(return_X_y=True)
        data = "digits"
    case = PeerCase(f"fit {data}, {epochs} epochs", f"{x.shape[0]}x{x.shape[1]}", name,
                    lambda: _revcore_fit(x, y, epochs, name),
                    lambda: [np.array(_revcore_fit(x, y, epochs, name))],
                    tolerance=FIT_TOLERANCE[name])
    for peer in FLOW_LIBRARIES:
        case.skipped[peer] = (
            "no flow library fits this model (class-conditional Gaussian base, hybrid loss)")
    case.skipped["torch fused"] = "the fit uses Adam's default step"
    if torch is None:
        case.skipped["torch"] = reasons["torch"]
    else:
        case.peers["torch"] = Peer(lambda: _torch_fit(torch, x, y, epochs, name),
                                   lambda: [np.array(_torch_fit(torch, x, y, epochs, name))])
    return case


# -- running ----------------------------------------------------------------------------------


def disagreement(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    """The largest normwise relative difference over the result arrays (inf on a shape
    mismatch or a non-finite value)."""
    if len(ours) != len(theirs):
        return math.inf
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
            return math.inf
        if a.size:
            worst = max(worst, float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300)))
    return worst


@contextlib.contextmanager
def one_process_threads(threads: int, torch: Any) -> Iterator[None]:
    """Every library at ``threads`` threads: revcore, the BLAS (threadpoolctl) and torch's
    intra- and inter-op pools (the latter can only be set before torch's first parallel
    work, hence guarded)."""
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    limit = threadpoolctl.threadpool_limits(threads) if threadpoolctl else None
    previous = None
    if torch is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)
    try:
        with revcore.num_threads(threads):
            yield
    finally:
        if limit is not None:
            limit.restore_original_limits()
        if previous is not None:
            torch.set_num_threads(previous)


def _in_context(peer: Peer) -> Callable[[], Any]:
    """The peer's call, in its context (entered per call: about a microsecond for torch's
    inference mode, under 3% of the fastest peer call timed here)."""
    if peer.context is contextlib.nullcontext:
        return peer.call

    def call() -> Any:
        with peer.context():
            return peer.call()
    return call


def run(quick: bool = False, repeats: int = 7, threads: int = 1,
        progress: bool = True, only: str | None = None) -> tuple[list[Any], dict[str, str]]:
    """Time every peers case (or those whose operation contains ``only``); returns the rows
    and the reasons of the peers left out."""
    from .bench import Row, median_times

    modules, reasons = load_peers()
    rows = []
    with one_process_threads(threads, modules.get("torch")):
        for i, case in enumerate(cases(quick, modules, reasons)):
            if only is not None and only not in case.operation:
                continue
            if progress:
                print(f"\r[{i + 1}] {case.operation} {case.shape} {case.dtype}".ljust(70),
                      end="", file=sys.stderr, flush=True)
            tolerance = case.tolerance or TOLERANCE[case.dtype]
            ours = case.revcore_result()
            row = Row(case.operation, case.shape, case.dtype, 0.0, 0.0, notes=dict(case.skipped))
            calls = {"revcore": case.revcore}
            for name, peer in case.peers.items():
                with peer.context():
                    error = disagreement(ours, peer.result())
                if not error <= tolerance:
                    row.notes[name] = (f"disagrees with revcore: relative difference "
                                       f"{error:.3g} > {tolerance:g}; not timed")
                    continue
                calls[name] = _in_context(peer)
                row.checks[name] = error
            # the libraries take turns in every round, as in the kernels' table
            times = median_times(calls, repeats)
            row.revcore_seconds = times.pop("revcore")
            row.others.update(times)
            rows.append(row)
            del case
    if progress:
        print(file=sys.stderr)
    return rows, reasons
