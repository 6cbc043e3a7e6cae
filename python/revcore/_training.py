"""Training the classifier's network: its loss, gradients and the minibatch loop.

The parameters are plain lists (weights, then biases) updated in place, so a step costs no
network rebuild; the estimator builds a :class:`revcore.Network` from them at the end.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import _functions as native
from ._optimizers import make_optimizer

__all__ = ["TrainingSettings", "clip_condition", "initial_parameters", "loss_and_gradients",
           "train"]


@dataclass(frozen=True)
class TrainingSettings:
    """What the loop and the loss need of the estimator's parameters."""

    depth: int
    activation: str
    negative_slope: float
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    latent_penalty: float
    conditioning_penalty: float
    max_condition: float
    verbose: bool | int

    @property
    def activations(self) -> list[str]:
        """Hidden layers use the activation, the last layer is linear."""
        return [self.activation] * (self.depth - 1) + ["identity"]


def initial_parameters(depth: int, n: int, dtype: np.dtype,
                       rng: np.random.Generator) -> list[np.ndarray]:
    """Random orthogonal weights (n, n) and zero biases: ``depth`` of each."""
    weights = []
    for _ in range(depth):
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        weights.append((q * np.sign(np.diag(r))).astype(dtype))
    return weights + [np.zeros(n, dtype=dtype) for _ in range(depth)]


def clip_condition(weight: np.ndarray, max_condition: float) -> np.ndarray:
    """The weight with its singular values raised to at least ``largest / max_condition``."""
    u, s, vt = np.linalg.svd(weight)
    if s[-1] * max_condition >= s[0]:
        return weight
    return ((u * np.maximum(s, s[0] / max_condition)) @ vt).astype(weight.dtype)


def loss_and_gradients(settings: TrainingSettings, params: list[np.ndarray], x: np.ndarray,
                       labels: np.ndarray, k: int) -> tuple[float, list[np.ndarray]]:
    """The loss on a batch and its gradient with respect to every parameter.

    The first ``k`` outputs are logits (softmax cross-entropy), the rest a latent part
    penalised by ``latent_penalty * mean ||latent||^2 / 2``; every weight adds
    ``conditioning_penalty * (||W||_F^2 / 2 - log |det W|) / n``.
    """
    depth, slope = settings.depth, settings.negative_slope
    weights, biases = params[:depth], params[depth:]
    activations = settings.activations
    saved = []
    for weight, bias, name in zip(weights, biases, activations):
        z = native.dense(x, weight, bias)
        saved.append((x, z))
        x = native.activate(z, name, slope)
    m = len(labels)
    logits, latent = x[:, :k], x[:, k:]
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(m), labels].mean() + 0.5 * settings.latent_penalty * (
        (latent**2).sum(axis=1).mean())
    grad = np.empty_like(x)
    grad[:, :k] = np.exp(log_p)
    grad[np.arange(m), labels] -= 1
    grad[:, :k] /= m
    grad[:, k:] = settings.latent_penalty * latent / m
    grad_w: list = [None] * depth
    grad_b: list = [None] * depth
    for index in reversed(range(depth)):
        layer_input, z = saved[index]
        grad_x, grad_w[index], grad_b[index] = native.dense_backward(
            layer_input, weights[index], z, grad, activations[index], slope)
        assert grad_x is not None
        grad = grad_x
    n = weights[0].shape[0]
    for index, weight in enumerate(weights):
        # d/dW of (||W||_F^2 / 2 - log|det W|) / n is (W - W^-T) / n.
        lu = native.lu_factor(weight, check_finite=False)
        inverse_t = native.lu_solve(lu, np.eye(n, dtype=weight.dtype), trans=1,
                                    check_finite=False)
        grad_w[index] += settings.conditioning_penalty / n * (weight - inverse_t)
    return float(loss), grad_w + grad_b


def train(settings: TrainingSettings, params: list[np.ndarray], inputs: np.ndarray,
          labels: np.ndarray, k: int, rng: np.random.Generator) -> list[float]:
    """Minibatch training with a cosine-decayed step size; returns the mean loss per epoch.

    After each epoch every weight's condition number is capped at ``max_condition``.
    """
    n_samples = len(inputs)
    batch = min(settings.batch_size, n_samples)
    steps_per_epoch = -(-n_samples // batch)
    total_steps = settings.epochs * steps_per_epoch
    optimizer = make_optimizer(settings.optimizer, params)
    every = 10 if settings.verbose is True else int(settings.verbose)
    start = time.perf_counter()
    curve = []
    step = 0
    for epoch in range(settings.epochs):
        order = rng.permutation(n_samples)
        losses = []
        for begin in range(0, n_samples, batch):
            rows = order[begin : begin + batch]
            loss, grads = loss_and_gradients(settings, params, inputs[rows], labels[rows], k)
            rate = settings.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            optimizer.step(params, grads, rate)
            losses.append(loss)
            step += 1
        for weight in params[: settings.depth]:
            weight[...] = clip_condition(weight, settings.max_condition)
        curve.append(float(np.mean(losses)))
        if every and ((epoch + 1) % every == 0 or epoch + 1 == settings.epochs):
            print(f"epoch {epoch + 1:4d}/{settings.epochs}  loss {curve[-1]:.4f}  "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    return curve
