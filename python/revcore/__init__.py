"""revcore: feed-forward networks that run backwards.

Native C++ kernels (GEMM, activations, LU) under a numpy API; :mod:`revcore.reference`
holds the same API in plain numpy, the test oracle.
"""

from __future__ import annotations

from typing import Any

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
from ._config import get_num_threads, num_threads, set_num_threads, show_config
from ._network import InvertibilityReport, Layer, LayerReport, Network

from . import reference  # noqa: E402  (the numpy oracle, after the names it wraps)
from ._config import _register_threadpoolctl

_register_threadpoolctl()

__version__ = "0.1.0"


def load(path: Any) -> Network:
    """Read a network saved with :meth:`Network.save` (an .npz file; nothing is unpickled).

    Raises ValueError for a truncated or corrupt file, a newer format version or
    inconsistent shapes.
    """
    from ._interop import load as _load

    return _load(path, Network)


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
    "load",
    "lu_condition_estimate",
    "lu_factor",
    "lu_solve",
    "matmul",
    "num_threads",
    "set_num_threads",
    "show_config",
]
