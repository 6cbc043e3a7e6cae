"""The package's structure: no import cycle, no optional dependency at import, a numpy
oracle that never runs native code, and every module's examples (doctests) pass."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import revcore
from revcore import _core, reference

OPTIONAL = ("torch", "dask", "sklearn", "scipy", "matplotlib")
PACKAGE = Path(revcore.__file__).parent
MODULES = sorted(info.name for info in pkgutil.iter_modules([str(PACKAGE)])
                 if info.name != "_core")


def test_import_loads_no_optional_dependency():
    code = ("import sys, revcore; print('loaded:', *sorted({m.split('.')[0] for m in "
            f"sys.modules}} & set({OPTIONAL!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    # An editable build may print its rebuild first: the answer is the last line.
    assert out.splitlines()[-1].strip() == "loaded:", out


def package_imports(name: str) -> set[str]:
    """The package modules that module `name` imports at module level (relative imports)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def test_no_import_cycle():
    graph = {name: package_imports(name) for name in MODULES}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import cycle: " + " -> ".join(path + [name])
        state[name] = "open"
        for child in sorted(graph[name]):
            visit(child, path + [name])
        state[name] = "done"

    for name in MODULES:
        visit(name, [])


def test_reference_network_never_runs_native_code(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the numpy reference called a native kernel")

    for name in dir(_core):
        if not name.startswith("_") and callable(getattr(_core, name)):
            monkeypatch.setattr(_core, name, refuse)
    with pytest.raises(AssertionError, match="native kernel"):
        revcore.matmul(np.eye(2), np.eye(2))  # the patch is in force
    for dtype in (np.float32, np.float64):
        net = reference.Network.random(5, 3, "tanh", dtype=dtype, seed=0)
        x = np.random.default_rng(0).uniform(-1, 1, (4, 5)).astype(dtype)
        y = net.forward(x)
        np.testing.assert_allclose(net.inverse(y), x, atol=1e3 * np.finfo(dtype).eps)
        _back, info = net.inverse(y, refine=1, return_info=True)
        assert np.all(info["residual"] <= info["bound"] + 1e3 * np.finfo(dtype).eps)
        assert net.check(y).ok
        assert net.log_abs_det_jacobian(x).shape == (4,)
        with pytest.raises(revcore.NotInvertibleError):
            net.inverse(np.full(5, 2.0, dtype=dtype))  # outside tanh's range


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"revcore.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    has_examples = ">>> " in (PACKAGE / f"{name}.py").read_text()
    assert (result.attempted > 0) == has_examples
