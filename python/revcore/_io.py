"""Networks to and from .npz files, as plain data (:class:`revcore._layers.NetworkData`).

The layout, readable with numpy alone (nothing is pickled)::

    format_version             int64 scalar, FORMAT_VERSION
    depth                      int64 scalar, number of layers L
    weight_0 .. weight_{L-1}   (n_out, n_in) float32 or float64
    bias_0 .. bias_{L-1}       (n_out,) same dtype
    activations                (L,) unicode strings
    negative_slopes            (L,) float64
    condition_threshold        float64 scalar, NaN for the dtype's default

Each layer kind names its arrays (``<name>_<i>``) and its settings (one column
``<name>s`` per setting) in ``ARRAYS`` and ``SETTINGS``; this version stores dense layers
only, so a file with other kinds needs a ``kinds`` column and a new format version.

Examples
--------
>>> import io, numpy as np
>>> from revcore._io import read_network, write_network
>>> from revcore._layers import NetworkData
>>> data = NetworkData(["dense"], [{"weight": np.eye(2), "bias": np.zeros(2)}],
...                    [{"activation": "tanh", "negative_slope": 0.01}], None)
>>> file = io.BytesIO()
>>> write_network(file, data)
>>> _ = file.seek(0)
>>> read_network(file).settings
[{'activation': 'tanh', 'negative_slope': 0.01}]
"""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import IO, Union

import numpy as np

from ._layers import LAYER_KINDS, NetworkData

__all__ = ["FORMAT_VERSION", "read_network", "write_network"]

FORMAT_VERSION = 1

_Path = Union[str, "os.PathLike[str]", IO[bytes]]
_STORED_KIND = "dense"


def _where(path: _Path) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else repr(path)


def write_network(path: _Path, data: NetworkData) -> None:
    """Write a network's plain data to ``path`` (a file name or a binary file object)."""
    if any(kind != _STORED_KIND for kind in data.kinds):
        raise ValueError(f"format version {FORMAT_VERSION} stores {_STORED_KIND} layers only")
    threshold = data.condition_threshold
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "depth": np.array(len(data.kinds), dtype=np.int64),
    }
    cls = LAYER_KINDS[_STORED_KIND]
    for name, kind in cls.SETTINGS.items():
        arrays[f"{name}s"] = np.array([s[name] for s in data.settings],
                                      dtype=np.str_ if kind == "U" else np.float64)
    arrays["condition_threshold"] = np.array(np.nan if threshold is None else threshold)
    for i, layer_arrays in enumerate(data.arrays):
        for name in cls.ARRAYS:
            arrays[f"{name}_{i}"] = layer_arrays[name]
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as file:  # a file object: numpy would otherwise append ".npz"
            np.savez(file, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(path, **arrays)  # type: ignore[arg-type]


def _read_arrays(path: _Path) -> dict[str, np.ndarray]:
    try:
        if isinstance(path, (str, os.PathLike)):
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    # zipfile raises NotImplementedError for a damaged flags or compression field, and
    # RuntimeError for an "encrypted" member; zlib.error for a corrupt compressed member.
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError, zlib.error) as error:
        raise ValueError(
            f"could not read a revcore network from {_where(path)}: the file is "
            f"truncated, corrupt or not an .npz file ({error})"
        ) from None


def read_network(path: _Path) -> NetworkData:
    """Read the plain data of a network written by :func:`write_network`. Never unpickles:
    no code runs from a file. The arrays are checked for layout, not for consistency (the
    layers check that when they are built).

    Raises
    ------
    ValueError
        For a file that is not a revcore network, is truncated or corrupt, or comes from a
        newer format version.
    """
    contents = _read_arrays(path)
    where = _where(path)

    def get(key: str) -> np.ndarray:
        if key not in contents:
            raise ValueError(f"{where} is not a revcore network file: it has no {key!r}")
        return contents[key]

    version = get("format_version")
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{where}: format_version must be an integer scalar")
    if int(version) > FORMAT_VERSION:
        raise ValueError(
            f"{where} has format version {int(version)}, newer than this revcore reads "
            f"({FORMAT_VERSION}): upgrade revcore"
        )
    depth_array = get("depth")
    if depth_array.shape != () or depth_array.dtype.kind not in "iu":
        raise ValueError(f"{where}: depth must be an integer scalar")
    depth = int(depth_array)
    cls = LAYER_KINDS[_STORED_KIND]
    columns = {}
    for name, kind in cls.SETTINGS.items():
        column = get(f"{name}s")
        if kind == "U" and (column.dtype.kind != "U" or column.shape != (depth,)):
            raise ValueError(f"{where}: {name}s must be {depth} strings")
        if column.shape != (depth,):
            raise ValueError(f"{where}: {name}s must have shape ({depth},)")
        columns[name] = column
    threshold_array = get("condition_threshold")
    if threshold_array.shape != () or threshold_array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: condition_threshold must be a real scalar")
    threshold = float(threshold_array)
    arrays = [{name: get(f"{name}_{i}") for name in cls.ARRAYS} for i in range(depth)]
    settings = [{name: column[i].item() for name, column in columns.items()}
                for i in range(depth)]
    return NetworkData([_STORED_KIND] * depth, arrays, settings,
                       None if np.isnan(threshold) else threshold)
