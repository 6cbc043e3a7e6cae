"""The public surface: names, native/reference signature parity, threads, doctests."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import revcore
from revcore import reference
from support import tol

# Functions that configure the library rather than compute: no reference counterpart.
CONFIGURATION = {"get_num_threads", "set_num_threads", "num_threads", "show_config"}


def test_all_names_exist():
    assert len(revcore.__all__) == len(set(revcore.__all__))
    for name in revcore.__all__:
        assert hasattr(revcore, name), name
    for name in ("matmul", "dense", "activate", "activate_inverse", "activate_derivative",
                 "lu_factor", "lu_solve", "lu_condition_estimate", "Network",
                 "NotInvertibleError", "LinAlgWarning"):
        assert name in revcore.__all__, name
    assert isinstance(revcore.__version__, str)


def test_reference_all_names_exist():
    for name in reference.__all__:
        assert hasattr(reference, name), name


PUBLIC_FUNCTIONS = sorted(
    name for name in revcore.__all__
    if inspect.isfunction(getattr(revcore, name)) and name not in CONFIGURATION
)


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_reference_has_same_signature(name):
    native = getattr(revcore, name)
    assert hasattr(reference, name), f"revcore.reference lacks {name}"
    assert name in reference.__all__
    oracle = getattr(reference, name)
    assert oracle is not native
    assert inspect.signature(oracle) == inspect.signature(native)


def test_reference_network_same_api():
    assert issubclass(reference.Network, revcore.Network)
    for method in ("from_weights", "random", "forward", "inverse", "check"):
        assert inspect.signature(getattr(reference.Network, method)) == \
            inspect.signature(getattr(revcore.Network, method))


def test_error_classes():
    assert issubclass(revcore.NotInvertibleError, ValueError)
    assert issubclass(revcore.LinAlgWarning, RuntimeWarning)
    error = revcore.NotInvertibleError("message", layer=2, reason="why", rows=(1,), columns=(3,))
    assert (error.layer, error.reason, error.rows, error.columns) == (2, "why", (1,), (3,))
    assert revcore.NotInvertibleError("only").reason == "only"


def test_thread_count():
    original = revcore.get_num_threads()
    assert isinstance(original, int) and original >= 1
    try:
        for n in (1, 2, 3):
            revcore.set_num_threads(n)
            assert revcore.get_num_threads() == n
            a = np.random.default_rng(n).standard_normal((97, 64))
            b = np.random.default_rng(n + 1).standard_normal((64, 31))
            # Any thread count gives 64-term dot products within the usual bound.
            scale = np.abs(a) @ np.abs(b)
            assert np.all(np.abs(revcore.matmul(a, b) - a @ b) <= tol(np.float64, 64) * scale)
        for bad in (0, -1, 1.5, True, "2", None):
            with pytest.raises(ValueError, match="number of threads must be a positive integer"):
                revcore.set_num_threads(bad)
        assert revcore.get_num_threads() == 3
    finally:
        revcore.set_num_threads(original)
    assert revcore.get_num_threads() == original


def test_extension_stub_lists_every_function():
    import ast
    from pathlib import Path

    stub = Path(revcore._core.__file__).with_name("_core.pyi")
    if not stub.exists():  # an editable/dev build keeps the .so apart from the sources
        stub = Path(revcore.__file__).with_name("_core.pyi")
    declared = {node.name for node in ast.parse(stub.read_text()).body
                if isinstance(node, ast.FunctionDef)}
    exported = {name for name in dir(revcore._core) if not name.startswith("_")}
    assert declared == exported


def test_package_is_typed():
    from pathlib import Path

    assert Path(revcore.__file__).with_name("py.typed").exists()
