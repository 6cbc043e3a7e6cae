"""Stochastic optimisers that update lists of numpy arrays in place.

Examples
--------
>>> import numpy as np
>>> from revcore._optimizers import SGD
>>> params = [np.array([1.0, 2.0])]
>>> optimizer = SGD(params, momentum=0.0)
>>> optimizer.step(params, [np.array([1.0, -1.0])], rate=0.5)
>>> params[0]
array([0.5, 2.5])
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Adam", "make_optimizer"]


class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected moment estimates."""

    def __init__(self, params: list[np.ndarray], beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], rate: float) -> None:
        """Move every parameter against its gradient with step size ``rate``."""
        self.t += 1
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= (rate / c1) * m / (np.sqrt(v / c2) + self.eps)


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum."""

    def __init__(self, params: list[np.ndarray], momentum: float = 0.9) -> None:
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], rate: float) -> None:
        """Move every parameter against its gradient with step size ``rate``."""
        for p, g, v in zip(params, grads, self.velocity):
            v *= self.momentum
            v -= rate * g
            p += v


_OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def make_optimizer(name: str, params: list[np.ndarray]) -> Adam | SGD:
    """The optimiser called ``name`` ("adam" or "sgd") for ``params``."""
    if name not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
    return _OPTIMIZERS[name](params)
