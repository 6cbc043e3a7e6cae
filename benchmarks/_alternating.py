"""What the side-by-side benchmark scripts share: alternating timing and thread pinning.

The scripts import it by name (``python benchmarks/<script>.py`` puts this folder on the
path, and so does pytest for the files here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import revcore


def median_times(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each call after one warm-up call each, the calls taking turns in
    every round (so a slow spell of the machine hits them all alike)."""
    for f in calls.values():
        f()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, f in calls.items():
            start = time.perf_counter()
            f()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def pin_threads(threads: int) -> Any:
    """Run revcore, the BLAS (threadpoolctl) and torch, when installed, at ``threads``
    threads for the rest of the process; returns the torch module or None."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:
        torch = None
    threadpool_limits(threads)
    revcore.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
    return torch
