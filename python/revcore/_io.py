"""Networks to and from .npz files, as plain data (:class:`revcore._layers.NetworkData`).

The layout, readable with numpy alone (nothing is pickled)::

    format_version             int64 scalar, FORMAT_VERSION
    depth                      int64 scalar, number of layers L
    weight_0 .. weight_{L-1}   (n_out, n_in) float32 or float64
    bias_0 .. bias_{L-1}       (n_out,) same dtype
    activations                (L,) unicode strings
    negative_slopes            (L,) float64
    condition_threshold        float64 scalar, NaN for the dtype's default

That is format version 1, written for networks of dense layers only (so that older
revcore reads them). A network holding other kinds is written as format version 2::

    format_version             int64 scalar, 2
    depth                      int64 scalar, number of layers L
    kinds                      (L,) unicode strings: "dense", "lu_dense", "coupling"
    condition_threshold        float64 scalar, NaN for the dtype's default
    <array>_<i>                layer i's arrays by the names its kind gives them
                               (dense: weight, bias; lu_dense: lower, upper, log_scale,
                               sign, permutation (int64), bias; coupling: weight0, bias0,
                               weight1, bias1, ...)
    <setting>_<i>              layer i's settings as 0-d arrays (dense: activation,
                               negative_slope)

Both versions are read.

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
from typing import IO, Any, Union

import numpy as np

from ._layers import LAYER_KINDS, NetworkData

__all__ = ["FORMAT_VERSION", "read_network", "write_network"]

FORMAT_VERSION = 2
_RESERVED = ("format_version", "depth", "kinds", "condition_threshold")

_Path = Union[str, "os.PathLike[str]", IO[bytes]]
_STORED_KIND = "dense"


def _where(path: _Path) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else repr(path)


def write_network(path: _Path, data: NetworkData) -> None:
    """Write a network's plain data to ``path`` (a file name or a binary file object):
    format version 1 when every layer is dense, else version 2."""
    if all(kind == _STORED_KIND for kind in data.kinds):
        arrays = _version1(data)
    else:
        arrays = _version2(data)
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as file:  # a file object: numpy would otherwise append ".npz"
            np.savez(file, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(path, **arrays)  # type: ignore[arg-type]


def _version2(data: NetworkData) -> dict[str, np.ndarray]:
    threshold = data.condition_threshold
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(2, dtype=np.int64),
        "depth": np.array(len(data.kinds), dtype=np.int64),
        "kinds": np.array(data.kinds, dtype=np.str_),
        "condition_threshold": np.array(np.nan if threshold is None else threshold),
    }
    for i, (kind, layer_arrays, settings) in enumerate(
            zip(data.kinds, data.arrays, data.settings)):
        for name, value in layer_arrays.items():
            if value is not None:
                arrays[f"{name}_{i}"] = np.asarray(value)
        for name, code in LAYER_KINDS[kind].SETTINGS.items():
            arrays[f"{name}_{i}"] = np.array(settings[name],
                                             dtype=np.str_ if code == "U" else np.float64)
    return arrays


def _version1(data: NetworkData) -> dict[str, np.ndarray]:
    threshold = data.condition_threshold
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(1, dtype=np.int64),
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
    return arrays


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
    if int(version) >= 2:
        return _read_version2(contents, where, depth, get)
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


def _read_version2(contents: dict[str, np.ndarray], where: str, depth: int,
                   get: Any) -> NetworkData:
    kinds_array = get("kinds")
    if kinds_array.dtype.kind != "U" or kinds_array.shape != (depth,):
        raise ValueError(f"{where}: kinds must be {depth} strings")
    kinds = [str(kind) for kind in kinds_array]
    for kind in kinds:
        if kind not in LAYER_KINDS:
            raise ValueError(f"{where}: unknown layer kind {kind!r}; known: "
                             f"{', '.join(LAYER_KINDS)}")
    threshold_array = get("condition_threshold")
    if threshold_array.shape != () or threshold_array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: condition_threshold must be a real scalar")
    threshold = float(threshold_array)
    arrays: list[dict[str, Any]] = [{} for _ in range(depth)]
    settings: list[dict[str, Any]] = [{} for _ in range(depth)]
    for key, value in contents.items():
        if key in _RESERVED:
            continue
        name, _, index = key.rpartition("_")
        if not name or not index.isdigit() or int(index) >= depth:
            raise ValueError(f"{where}: unexpected array {key!r}")
        i = int(index)
        code = LAYER_KINDS[kinds[i]].SETTINGS.get(name)
        if code is None:
            if value.dtype.kind not in "iuf":
                raise ValueError(f"{where}: {key} must hold numbers")
            arrays[i][name] = value
        elif value.shape != () or (value.dtype.kind == "U") != (code == "U") or (
                code != "U" and value.dtype.kind not in "iuf"):
            raise ValueError(f"{where}: {key} must be a scalar "
                             f"{'string' if code == 'U' else 'number'}")
        else:
            settings[i][name] = value.item()
    for i, kind in enumerate(kinds):
        missing = set(LAYER_KINDS[kind].SETTINGS) - set(settings[i])
        if missing:
            raise ValueError(f"{where}: layer {i} ({kind}) has no {', '.join(sorted(missing))}")
    return NetworkData(kinds, arrays, settings, None if np.isnan(threshold) else threshold)
