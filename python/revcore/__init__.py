"""revcore: feed-forward networks that run backwards.

Native C++ kernels (GEMM, activations, LU) under a numpy API; :mod:`revcore.reference`
holds the same API in plain numpy, the test oracle.
"""

from __future__ import annotations

from . import _core
from ._checks import LinAlgWarning, NotInvertibleError
from ._functions import (
    activate,
    activate_derivative,
    activate_inverse,
    dense,
    dense_backward,
    lu_condition_estimate,
    lu_factor,
    lu_solve,
    matmul,
)
from ._classifier import InvertibleClassifier
from ._network import InvertibilityReport, Layer, LayerReport, Network

from . import reference  # noqa: E402  (the numpy oracle, after the names it wraps)

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Set how many threads the kernels use (at least 1)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the kernels use."""
    return int(_core.get_num_threads())


__all__ = [
    "InvertibleClassifier",
    "InvertibilityReport",
    "Layer",
    "LayerReport",
    "LinAlgWarning",
    "Network",
    "NotInvertibleError",
    "activate",
    "activate_derivative",
    "activate_inverse",
    "dense",
    "dense_backward",
    "get_num_threads",
    "lu_condition_estimate",
    "lu_factor",
    "lu_solve",
    "matmul",
    "set_num_threads",
]
