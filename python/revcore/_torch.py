"""Networks to and from PyTorch modules, as plain data (:class:`revcore._layers.NetworkData`).

PyTorch is an optional dependency, imported only when a conversion is asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._activations import ACTIVATIONS, BIJECTIVE
from ._errors import NotInvertibleError
from ._layers import NetworkData

__all__ = ["module_to_data", "network_to_module"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "this needs PyTorch, an optional dependency: pip install torch"
        ) from None
    return torch


def module_to_data(module: Any) -> NetworkData:
    """The dense layers of an ``nn.Sequential`` of ``nn.Linear`` layers, each optionally
    followed by one activation module of a bijective activation (LeakyReLU, Tanh, Sigmoid or
    Identity).

    Raises NotInvertibleError naming the module for anything else (ReLU, non-square Linear,
    other module types, two activations in a row).
    """
    nn = _torch().nn
    modules = list(module) if isinstance(module, nn.Sequential) else [module]
    names = {getattr(nn, ACTIVATIONS[name].torch_module): name for name in BIJECTIVE}
    arrays: list[dict[str, Any]] = []
    settings: list[dict[str, Any]] = []
    previous_was_linear = False
    for index, child in enumerate(modules):
        label = f"module {index} ({type(child).__name__})"
        if isinstance(child, nn.Linear):
            weight = child.weight.detach().cpu().numpy().copy()
            if weight.shape[0] != weight.shape[1]:
                raise NotInvertibleError(
                    f"{label} maps {weight.shape[1]} features to {weight.shape[0]}: an "
                    "invertible network needs square Linear layers", layer=len(arrays),
                    reason="non-square Linear",
                )
            bias = None if child.bias is None else child.bias.detach().cpu().numpy().copy()
            arrays.append({"weight": weight, "bias": bias})
            settings.append({"activation": "identity", "negative_slope": 0.01})
            previous_was_linear = True
            continue
        name = names.get(type(child))
        if name is None:
            modules_list = ", ".join(["Linear"] + [ACTIVATIONS[n].torch_module for n in BIJECTIVE
                                                   if n != "identity"])
            why = ("ReLU is not a bijection (it maps every negative number to 0); use "
                   "LeakyReLU" if isinstance(child, nn.ReLU) else
                   f"only {modules_list} and Identity modules can be inverted")
            raise NotInvertibleError(f"{label}: {why}", reason=why)
        if name == "identity" and not previous_was_linear:
            continue
        if not previous_was_linear:
            raise NotInvertibleError(
                f"{label} follows no Linear layer: each Linear may be followed by at most one "
                "activation", reason="activation without a Linear layer",
            )
        settings[-1]["activation"] = name
        if name == "leaky_relu":
            settings[-1]["negative_slope"] = float(child.negative_slope)
        previous_was_linear = False
    if not arrays:
        raise NotInvertibleError("the module holds no Linear layer", reason="no layers")
    return NetworkData(["dense"] * len(arrays), arrays, settings)


def network_to_module(data: NetworkData, dtype: np.dtype) -> Any:
    """An ``nn.Sequential`` of Linear and activation modules computing the dense layers of
    ``data``, in ``dtype``."""
    torch = _torch()
    nn = torch.nn
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    modules = []
    for arrays, settings in zip(data.arrays, data.settings):
        n_out, n_in = arrays["weight"].shape
        linear = nn.Linear(n_in, n_out, dtype=torch_dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(arrays["weight"])))
            linear.bias.copy_(torch.from_numpy(np.array(arrays["bias"])))
        modules.append(linear)
        activation = getattr(nn, ACTIVATIONS[settings["activation"]].torch_module)
        if settings["activation"] == "leaky_relu":
            modules.append(activation(settings["negative_slope"]))
        else:
            modules.append(activation())
    return nn.Sequential(*modules)
