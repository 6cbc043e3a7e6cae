"""What the side-by-side benchmark scripts share: alternating timing and thread pinning.

The scripts import it by name (``python benchmarks/<script>.py`` puts this folder on the
path, and so does pytest for the files here).
"""

from __future__ import annotations

from typing import Any

import revcore
from revcore.bench import median_times

__all__ = ["median_times", "pin_threads"]


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
