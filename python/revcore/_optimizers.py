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

from typing import ClassVar

import numpy as np

from . import _core

__all__ = ["SGD", "Adam", "adam_update", "make_optimizer"]


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float,
                beta2: float, step_size: float, correction2: float, eps: float) -> None:
    """One Adam step on one array in numpy, in place: the reference of the native kernel.

    ``step_size`` is the rate over ``1 - beta1**t`` and ``correction2`` is ``1 - beta2**t``.
    Python floats meet the arrays as numpy rounds them (to the arrays' dtype), and the
    native kernel rounds every operation the same way in the same order.
    """
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    p -= step_size * m / (np.sqrt(v / correction2) + eps)


def _native_ready(arrays: tuple[np.ndarray, ...]) -> bool:
    """Whether the native step takes these arrays: C-contiguous numpy arrays of one dtype,
    float32 or float64, of one size, the written ones writeable."""
    p = arrays[0]
    if type(p) is not np.ndarray or p.dtype not in (np.float32, np.float64):
        return False
    for index, a in enumerate(arrays):
        if (type(a) is not np.ndarray or a.dtype != p.dtype or a.size != p.size
                or not a.flags.c_contiguous or (index != 1 and not a.flags.writeable)):
            return False
    return not any(np.may_share_memory(a, b) for i, a in enumerate(arrays)
                   for b in arrays[i + 1:])


class Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected moment estimates.

    Each step updates every parameter, its moments included, in one native pass
    (:func:`adam_update` is its numpy reference, used for arrays the kernel does not take:
    not C-contiguous, or of mixed dtypes).
    """

    #: Whether steps run the native kernel (the numpy reference subclasses set it False).
    native: ClassVar[bool] = True

    def __init__(self, params: list[np.ndarray], beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], rate: float) -> None:
        """Move every parameter against its gradient with step size ``rate``."""
        self.t += 1
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        scalars = (self.beta1, self.beta2, rate / c1, c2, self.eps)
        native: tuple[list, list, list, list] = ([], [], [], [])
        for arrays in zip(params, grads, self.m, self.v):
            if self.native and _native_ready(arrays):
                for into, a in zip(native, arrays):
                    into.append(a)
            else:
                adam_update(*arrays, *scalars)
        if native[0]:
            _core.adam_step(*native, *scalars)


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
