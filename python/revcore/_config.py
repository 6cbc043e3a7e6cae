"""Threads and build information."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import _core
from ._version import __version__

__all__ = [
    "get_num_threads",
    "num_threads",
    "register_threadpoolctl",
    "set_num_threads",
    "show_config",
]

_lock = threading.Lock()


def _check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    return n


def set_num_threads(n: int) -> None:
    """Set how many threads the kernels use (at least 1; default: the number of cores, or the
    REVCORE_NUM_THREADS environment variable). Applies to the whole process."""
    _core.set_num_threads(_check_count(n))


def get_num_threads() -> int:
    """The number of threads the kernels use."""
    return int(_core.get_num_threads())


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Use ``n`` threads inside a ``with`` block, then restore the previous count.

    >>> import revcore
    >>> with revcore.num_threads(1):
    ...     revcore.get_num_threads()
    1
    """
    n = _check_count(n)
    with _lock:
        previous = get_num_threads()
        set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)


def show_config(file: Any = None) -> None:
    """Print the version, the kernels chosen for this CPU, the thread count and the build."""
    info = dict(_core.build_info())
    lines = [
        f"revcore {__version__}",
        f"python {sys.version.split()[0]} on {platform.machine()} ({platform.system()})",
        f"kernels: {info['kernel']} (REVCORE_ARCH={os.environ.get('REVCORE_ARCH', 'unset')})",
        (f"threads: {get_num_threads()} (REVCORE_NUM_THREADS="
         f"{os.environ.get('REVCORE_NUM_THREADS', 'unset')})"),
    ]
    for key in ("compiler", "flags", "build_type"):
        if key in info:
            lines.append(f"{key}: {info[key]}")
    print("\n".join(lines), file=file or sys.stdout)


def register_threadpoolctl() -> None:
    """Make ``threadpoolctl.threadpool_limits`` (and its info) see revcore's threads, when
    threadpoolctl is installed: ``threadpool_limits(1, user_api="revcore")`` works."""
    try:
        from threadpoolctl import LibController, register
    except ImportError:
        return

    class RevcoreController(LibController):
        user_api = "revcore"
        internal_api = "revcore"
        filename_prefixes = ("_core",)
        check_symbols = ("revcore_get_num_threads", "revcore_set_num_threads")

        def get_num_threads(self) -> int:
            return int(self.dynlib.revcore_get_num_threads())

        def set_num_threads(self, num_threads: int) -> None:
            self.dynlib.revcore_set_num_threads(int(num_threads))

        def get_version(self) -> str:
            return __version__

        def set_additional_attributes(self) -> None:
            pass

    register(RevcoreController)
