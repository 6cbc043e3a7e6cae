"""Networks to and from files (.npz) and PyTorch modules."""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import Any

import numpy as np

from ._checks import NotInvertibleError

__all__ = ["save", "load", "from_torch", "to_torch", "FORMAT_VERSION"]

# The .npz layout, readable with numpy alone (no pickle):
#   format_version     int64 scalar, FORMAT_VERSION
#   depth              int64 scalar, number of layers L
#   weight_0 .. weight_{L-1}   (n_out, n_in) float32 or float64
#   bias_0 .. bias_{L-1}       (n_out,) same dtype
#   activations        (L,) unicode strings
#   negative_slopes    (L,) float64
#   condition_threshold        float64 scalar, NaN for the dtype's default
FORMAT_VERSION = 1


def save(network: Any, path: str | os.PathLike) -> None:
    """Write a network to ``path`` in revcore's documented .npz layout."""
    layers = network.layers
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "depth": np.array(len(layers), dtype=np.int64),
        "activations": np.array([layer.activation for layer in layers], dtype=np.str_),
        "negative_slopes": np.array([layer.negative_slope for layer in layers]),
        "condition_threshold": np.array(
            np.nan if network.condition_threshold is None else network.condition_threshold
        ),
    }
    for i, layer in enumerate(layers):
        arrays[f"weight_{i}"] = layer.weight
        arrays[f"bias_{i}"] = layer.bias
    with open(path, "wb") as file:  # a file object: numpy would otherwise append ".npz"
        np.savez(file, **arrays)


def load(path: str | os.PathLike, cls: Any = None) -> Any:
    """Read a network written by :func:`save`. Never unpickles: no code runs from a file.

    Raises
    ------
    ValueError
        For a file that is not a revcore network, is truncated or corrupt, comes from a newer
        format version, or holds inconsistent shapes.
    """
    if cls is None:
        from ._network import Network as cls
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    # zipfile raises NotImplementedError for a damaged flags or compression field, and
    # RuntimeError for an "encrypted" member; zlib.error for a corrupt compressed member.
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError, zlib.error) as error:
        raise ValueError(
            f"could not read a revcore network from {os.fspath(path)!r}: the file is "
            f"truncated, corrupt or not an .npz file ({error})"
        ) from None
    where = f"{os.fspath(path)!r}"

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
    depth = get("depth")
    if depth.shape != () or depth.dtype.kind not in "iu":
        raise ValueError(f"{where}: depth must be an integer scalar")
    depth = int(depth)
    activations = get("activations")
    slopes = get("negative_slopes")
    if activations.dtype.kind != "U" or activations.shape != (depth,):
        raise ValueError(f"{where}: activations must be {depth} strings")
    if slopes.shape != (depth,):
        raise ValueError(f"{where}: negative_slopes must have shape ({depth},)")
    threshold = get("condition_threshold")
    if threshold.shape != () or threshold.dtype.kind not in "iuf":
        raise ValueError(f"{where}: condition_threshold must be a real scalar")
    threshold = float(threshold)
    try:
        return cls.from_weights(
            [get(f"weight_{i}") for i in range(depth)],
            [get(f"bias_{i}") for i in range(depth)],
            [str(a) for a in activations],
            [float(s) for s in slopes],
            condition_threshold=None if np.isnan(threshold) else threshold,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} holds an inconsistent network: {error}") from None


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "this needs PyTorch, an optional dependency: pip install torch"
        ) from None
    return torch


def from_torch(module: Any, cls: Any = None, **kwargs: Any) -> Any:
    """Build a network from an ``nn.Sequential`` of ``nn.Linear`` layers, each optionally
    followed by one activation module: LeakyReLU, Tanh, Sigmoid or Identity.

    Raises NotInvertibleError naming the module for anything else (ReLU, non-square Linear,
    other module types, two activations in a row).
    """
    torch = _torch()
    nn = torch.nn
    if cls is None:
        from ._network import Network as cls
    modules = list(module) if isinstance(module, nn.Sequential) else [module]
    weights: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    activations: list[str] = []
    slopes: list[float] = []
    previous_was_linear = False
    for index, child in enumerate(modules):
        name = f"module {index} ({type(child).__name__})"
        if isinstance(child, nn.Linear):
            weight = child.weight.detach().cpu().numpy().copy()
            if weight.shape[0] != weight.shape[1]:
                raise NotInvertibleError(
                    f"{name} maps {weight.shape[1]} features to {weight.shape[0]}: an "
                    "invertible network needs square Linear layers", layer=len(weights),
                    reason="non-square Linear",
                )
            weights.append(weight)
            biases.append(None if child.bias is None else child.bias.detach().cpu().numpy().copy())
            activations.append("identity")
            slopes.append(0.01)
            previous_was_linear = True
            continue
        kind = {nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
                nn.Identity: "identity"}.get(type(child))
        if kind is None:
            why = ("ReLU is not a bijection (it maps every negative number to 0); use "
                   "LeakyReLU" if isinstance(child, nn.ReLU) else
                   "only Linear, LeakyReLU, Tanh, Sigmoid and Identity modules can be inverted")
            raise NotInvertibleError(f"{name}: {why}", reason=why)
        if kind == "identity" and not previous_was_linear:
            continue
        if not previous_was_linear:
            raise NotInvertibleError(
                f"{name} follows no Linear layer: each Linear may be followed by at most one "
                "activation", reason="activation without a Linear layer",
            )
        activations[-1] = kind
        if kind == "leaky_relu":
            slopes[-1] = float(child.negative_slope)
        previous_was_linear = False
    if not weights:
        raise NotInvertibleError("the module holds no Linear layer", reason="no layers")
    return cls.from_weights(weights, biases, activations, slopes, **kwargs)


def to_torch(network: Any) -> Any:
    """The network as an ``nn.Sequential`` of Linear and activation modules (same dtype)."""
    torch = _torch()
    nn = torch.nn
    dtype = torch.float32 if network.dtype == np.float32 else torch.float64
    modules = []
    for layer in network.layers:
        n_out, n_in = layer.shape
        linear = nn.Linear(n_in, n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.weight)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.bias)))
        modules.append(linear)
        modules.append({
            "identity": lambda: nn.Identity(),
            "relu": lambda: nn.ReLU(),
            "leaky_relu": lambda: nn.LeakyReLU(layer.negative_slope),
            "tanh": lambda: nn.Tanh(),
            "sigmoid": lambda: nn.Sigmoid(),
        }[layer.activation]())
    return nn.Sequential(*modules)
