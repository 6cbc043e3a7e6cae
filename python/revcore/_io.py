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
    kinds                      (L,) unicode strings: "dense", "lu_dense", "coupling",
                               "spline", "spline_coupling"
    condition_threshold        float64 scalar, NaN for the dtype's default
    <array>_<i>                layer i's arrays by the names its kind gives them
                               (dense: weight, bias; lu_dense: lower, upper, log_scale,
                               sign, permutation (int64), bias; coupling: weight0, bias0,
                               weight1, bias1, ... and, when the conditioner takes a
                               context, context_width (int64); spline: widths, heights,
                               derivatives, bound; spline_coupling: bound and those of
                               coupling)
    <setting>_<i>              layer i's settings as 0-d arrays (dense: activation,
                               negative_slope)

Both versions are read.

A fitted :class:`revcore.InvertibleClassifier` is written as format version 3, a file that
names the object it holds (files without ``object``, versions 1 and 2, hold a network)::

    format_version             int64 scalar, 3
    object                     unicode scalar, "InvertibleClassifier"
    network/<key>              the fitted flow, in the format 2 layout above with every
                               key prefixed (network/depth, network/kinds,
                               network/condition_threshold, network/weight0_1, ...)
    classes_                   (K,) the labels, sorted and distinct: integers, floats,
                               bools, unicode or bytes strings (never objects)
    classes_object             bool scalar, whether classes_ was an object array (all
                               strings or all numbers) before it was stored
    mean_, scale_              (F,) float64, the standardisation; scale_ > 0
    lambdas_                   (F,) float64 in [-1, 3], the power transform's exponents
                               (1: none)
    power_mean_, power_scale_  (F,) float64, the standardisation after the power
                               transform; power_scale_ > 0 (the three are optional: files
                               without them mean no power transform)
    active_                    (F,) bool, the features the network models (D of them)
    class_means_               (K, D) float64
    latent_scale_              (K, D) float64, > 0 (a (D,) row shared by every class in
                               files written before the scales were per class)
    latent_whitening_          (K, D, D) float64, unit lower-triangular, each class's
                               decorrelation of the codes (optional: files without it
                               mean the identity)
    class_log_prior_           (K,) float64, <= 0
    loss_curve_                (n,) float64
    validation_scores_         (m,) float64
    best_validation_score_     float64 scalar, or a (0,) array for None
    n_iter_                    int64 scalar
    params/<name>              each constructor parameter as a 0-d array (bool, int64,
                               float64 or unicode), or a (0,) float64 array for None

Readers refuse (ValueError) a missing or unexpected key, a wrong dtype or shape, a
non-finite value, an object array (never unpickled) and a newer format version; older
revcore refuses version 3 files as newer than it reads.

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

__all__ = [
    "FORMAT_VERSION",
    "NETWORK_PREFIX",
    "network_arrays",
    "network_from_arrays",
    "read_arrays",
    "read_network",
    "stored_object",
    "write_arrays",
    "write_network",
]

FORMAT_VERSION = 3
#: The format version of files that name the object they hold.
OBJECT_VERSION = 3
#: The prefix of a network's keys inside a file that holds another object.
NETWORK_PREFIX = "network/"
#: What a format version 3 file may hold (``object``).
STORED_OBJECTS = ("InvertibleClassifier",)
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
        arrays = {"format_version": np.array(2, dtype=np.int64), **network_arrays(data)}
    write_arrays(path, arrays)


def write_arrays(path: _Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays to an uncompressed .npz file at ``path`` (a file name, written
    as given, or a binary file object). Object arrays are refused: nothing is pickled."""
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise ValueError(f"{key} is an object array, which cannot be saved without "
                             f"pickling")
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as file:  # a file object: numpy would otherwise append ".npz"
            np.savez(file, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(path, **arrays)  # type: ignore[arg-type]


def network_arrays(data: NetworkData, prefix: str = "") -> dict[str, np.ndarray]:
    """A network's arrays in the format 2 layout (without ``format_version``), each key
    prefixed with ``prefix``."""
    threshold = data.condition_threshold
    arrays: dict[str, np.ndarray] = {
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
    return {prefix + key: value for key, value in arrays.items()}


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


def read_arrays(path: _Path) -> dict[str, np.ndarray]:
    """Every array of the .npz file at ``path``, never unpickling.

    Raises
    ------
    ValueError
        For a truncated or corrupt file, one that is not an .npz file, or an object array.
    FileNotFoundError
        For a missing file.
    """
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
            f"could not read a revcore file from {_where(path)}: the file is "
            f"truncated, corrupt or not an .npz file ({error})"
        ) from None


def stored_object(contents: dict[str, np.ndarray], where: str) -> str:
    """The name of the object a file's arrays hold: "Network" for format versions 1 and 2,
    ``object`` for version 3.

    Raises
    ------
    ValueError
        For a file without a valid format version, from a newer format version, or
        naming an unknown object.
    """
    if "format_version" not in contents:
        raise ValueError(f"{where} is not a revcore file: it has no 'format_version'")
    version = contents["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{where}: format_version must be an integer scalar")
    if int(version) > FORMAT_VERSION:
        raise ValueError(
            f"{where} has format version {int(version)}, newer than this revcore reads "
            f"({FORMAT_VERSION}): upgrade revcore"
        )
    if int(version) < OBJECT_VERSION:
        return "Network"
    if "object" not in contents:
        raise ValueError(f"{where} is not a revcore file: format version {int(version)} "
                         f"but no 'object'")
    name = contents["object"]
    if name.shape != () or name.dtype.kind != "U" or str(name) not in STORED_OBJECTS:
        raise ValueError(f"{where}: object must be one of {', '.join(STORED_OBJECTS)}, got "
                         f"{name!r}")
    return str(name)


def read_network(path: _Path) -> NetworkData:
    """Read the plain data of a network written by :func:`write_network`. Never unpickles:
    no code runs from a file. The arrays are checked for layout, not for consistency (the
    layers check that when they are built).

    Raises
    ------
    ValueError
        For a file that is not a revcore network (a classifier's file among them), is
        truncated or corrupt, or comes from a newer format version.
    """
    contents = read_arrays(path)
    where = _where(path)
    name = stored_object(contents, where)
    if name != "Network":
        raise ValueError(f"{where} holds an {name}, not a Network: read it with "
                         f"revcore.load or {name}.load")
    return network_from_arrays(contents, where)


def network_from_arrays(contents: dict[str, np.ndarray], where: str,
                        prefix: str = "") -> NetworkData:
    """The plain data of the network whose arrays are the keys of ``contents`` that start
    with ``prefix`` (format 1 or 2 layout; without a prefix, ``format_version`` decides,
    with one the layout is format 2).

    Raises
    ------
    ValueError
        For a missing key or an array of the wrong dtype or shape.
    """
    if prefix:
        contents = {key[len(prefix):]: value for key, value in contents.items()
                    if key.startswith(prefix)}
        version = 2
    else:
        version = int(contents["format_version"])

    def get(key: str) -> np.ndarray:
        if key not in contents:
            raise ValueError(f"{where} is not a revcore network file: it has no "
                             f"{prefix + key!r}")
        return contents[key]

    depth_array = get("depth")
    if depth_array.shape != () or depth_array.dtype.kind not in "iu":
        raise ValueError(f"{where}: {prefix}depth must be an integer scalar")
    depth = int(depth_array)
    if version >= 2:
        return _read_version2(contents, where, depth, get, prefix)
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
                   get: Any, prefix: str = "") -> NetworkData:
    kinds_array = get("kinds")
    if kinds_array.dtype.kind != "U" or kinds_array.shape != (depth,):
        raise ValueError(f"{where}: {prefix}kinds must be {depth} strings")
    kinds = [str(kind) for kind in kinds_array]
    for kind in kinds:
        if kind not in LAYER_KINDS:
            raise ValueError(f"{where}: unknown layer kind {kind!r}; known: "
                             f"{', '.join(LAYER_KINDS)}")
    threshold_array = get("condition_threshold")
    if threshold_array.shape != () or threshold_array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: {prefix}condition_threshold must be a real scalar")
    threshold = float(threshold_array)
    arrays: list[dict[str, Any]] = [{} for _ in range(depth)]
    settings: list[dict[str, Any]] = [{} for _ in range(depth)]
    for key, value in contents.items():
        if key in _RESERVED:
            continue
        name, _, index = key.rpartition("_")
        if not name or not index.isdigit() or int(index) >= depth:
            raise ValueError(f"{where}: unexpected array {prefix + key!r}")
        i = int(index)
        code = LAYER_KINDS[kinds[i]].SETTINGS.get(name)
        if code is None:
            if value.dtype.kind not in "iuf":
                raise ValueError(f"{where}: {prefix}{key} must hold numbers")
            arrays[i][name] = value
        elif value.shape != () or (value.dtype.kind == "U") != (code == "U") or (
                code != "U" and value.dtype.kind not in "iuf"):
            raise ValueError(f"{where}: {prefix}{key} must be a scalar "
                             f"{'string' if code == 'U' else 'number'}")
        else:
            settings[i][name] = value.item()
    for i, kind in enumerate(kinds):
        missing = set(LAYER_KINDS[kind].SETTINGS) - set(settings[i])
        if missing:
            raise ValueError(f"{where}: layer {i} ({kind}) has no {', '.join(sorted(missing))}")
    return NetworkData(kinds, arrays, settings, None if np.isnan(threshold) else threshold)
