"""revcore: feed-forward networks that run backwards.

Native C++ kernels (GEMM, activations, LU) under a numpy API; :mod:`revcore.reference`
holds the same API in plain numpy, the test oracle.
"""

from __future__ import annotations

from typing import Any

from . import reference as reference  # the numpy oracle
from ._classifier import InvertibleClassifier, load_file
from ._config import (
    get_num_threads,
    num_threads,
    register_threadpoolctl,
    set_num_threads,
    show_config,
)
from ._errors import DataConversionWarning, LinAlgWarning, NotFittedError, NotInvertibleError
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
    rq_spline,
    rq_spline_backward,
)
from ._layers import Layer
from ._network import Network
from ._report import InvertibilityReport, LayerReport
from ._version import __version__ as __version__

register_threadpoolctl()


def load(path: Any) -> Network | InvertibleClassifier:
    """Read what :meth:`Network.save` or :meth:`InvertibleClassifier.save` wrote (an .npz
    file; nothing is unpickled): the file names the object it holds.

    Parameters
    ----------
    path : str, path-like or binary file object

    Returns
    -------
    Network or InvertibleClassifier

    Raises
    ------
    ValueError
        For a truncated or corrupt file, a newer format version, a missing or unexpected
        key, or arrays of the wrong dtype or shape.
    """
    return load_file(path, Network)


__all__ = [
    "DataConversionWarning",
    "InvertibilityReport",
    "InvertibleClassifier",
    "Layer",
    "LayerReport",
    "LinAlgWarning",
    "Network",
    "NotFittedError",
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
    "rq_spline",
    "rq_spline_backward",
    "set_num_threads",
    "show_config",
]
