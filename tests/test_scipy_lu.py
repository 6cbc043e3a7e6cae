"""scipy's own LU tests, run against revcore's lu_factor and lu_solve.

The test module is taken from the installed scipy at test time (scipy's wheels ship their tests
as the ``scipy.linalg.tests`` package); nothing of it is copied into this repository. It is
loaded under a private name, its ``lu_factor`` and ``lu_solve`` are replaced by revcore's, and
its TestLUFactor and TestLUSolve classes are rebuilt here, without the cases revcore does not
claim (see ``_excluded``), so that pytest collects them as tests of this file. The oracles the
scipy tests compare against (LAPACK's getrf, ``scipy.linalg.solve``) stay scipy's.

Below them, the scipy conventions revcore promises beyond those tests: the same signatures,
inputs never modified whatever ``overwrite_a`` / ``overwrite_b`` say, and pivots of a float
dtype.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import revcore
from revcore import reference

SCIPY_TEST_MODULE = "scipy.linalg.tests.test_decomp_lu"
SCIPY_CLASSES = ("TestLUFactor", "TestLUSolve")

# Whole test methods left out, besides the complex-valued ones, and why.
LEFT_OUT = {
    "TestLUFactor.test_check_finite": "calls scipy.linalg.lu, which revcore does not provide",
    # A non-square case (revcore solves square systems only; its lu_factor takes any shape,
    # so scipy's other non-square factor cases do run). This one compares with LAPACK's getrf
    # at rtol=1e-7 and atol=0 although U[2, 3] is zero in exact arithmetic: only LAPACK's own
    # operation order reproduces its rounding there (revcore gives 3e-16, LAPACK -1.8e-15).
    "TestLUFactor.test_hrectangular": "non-square, compares rounding noise of an exact zero",
}


def _load_scipy_tests() -> tuple[types.ModuleType | None, str]:
    """scipy's test module with revcore's functions in it, or None and why it is absent."""
    try:
        spec = importlib.util.find_spec(SCIPY_TEST_MODULE)
    except ImportError:  # scipy, or its tests package, is not installed
        spec = None
    if spec is None or spec.origin is None:
        return None, f"{SCIPY_TEST_MODULE} is not installed (scipy absent or built without tests)"
    # A private name: the module never takes the place of scipy's own in sys.modules.
    private = importlib.util.spec_from_file_location("_scipy_test_decomp_lu", spec.origin)
    assert private is not None and private.loader is not None
    module = importlib.util.module_from_spec(private)
    private.loader.exec_module(module)
    module.lu_factor = revcore.lu_factor
    module.lu_solve = revcore.lu_solve
    return module, ""


def _is_complex(value: Any) -> bool:
    """Whether a parameter value is a complex dtype (as a type, a dtype or a type code)."""
    if hasattr(value, "values") and hasattr(value, "marks"):  # a pytest.param(...)
        return any(_is_complex(v) for v in value.values)
    if isinstance(value, (tuple, list)):
        return any(_is_complex(v) for v in value)
    if isinstance(value, type):
        return issubclass(value, (complex, np.complexfloating))
    if isinstance(value, np.dtype):
        return value.kind == "c"
    if isinstance(value, str):
        return len(value) == 1 and value in np.typecodes["Complex"]
    return isinstance(value, complex)


def _excluded(qualname: str) -> str | None:
    """Why a whole test method is left out, or None."""
    if qualname in LEFT_OUT:
        return LEFT_OUT[qualname]
    if "complex" in qualname.rsplit(".", 1)[-1]:
        return "complex-valued input: revcore's LU is real-only"
    return None


def _real_parameters(mark: Any) -> Any:
    """A parametrize mark without its complex-valued parameter sets (revcore is real-only),
    or None if nothing is left."""
    argnames, argvalues = mark.args[:2]
    kwargs = dict(mark.kwargs)
    keep = [i for i, value in enumerate(argvalues) if not _is_complex(value)]
    if not keep:
        return None
    if isinstance(kwargs.get("ids"), (list, tuple)):
        kwargs["ids"] = [kwargs["ids"][i] for i in keep]
    return pytest.mark.parametrize(argnames, [argvalues[i] for i in keep], **kwargs).mark


def _on_revcore(original: type) -> type:
    """A fresh class with original's helpers and its real-valued test cases."""
    namespace: dict[str, Any] = {}
    for klass in reversed(original.__mro__[:-1]):
        for name, value in vars(klass).items():
            if not name.startswith("__"):
                namespace[name] = value
    for name in [n for n in namespace if n.startswith("test")]:
        method = namespace.pop(name)
        if not callable(method) or _excluded(f"{original.__name__}.{name}"):
            continue
        marks = []
        for mark in getattr(method, "pytestmark", []):
            if mark.name == "parametrize":
                mark = _real_parameters(mark)
                if mark is None:
                    break
            marks.append(mark)
        else:
            namespace[name] = _with_marks(method, marks)
    namespace["__module__"] = __name__
    namespace["__doc__"] = f"scipy's {original.__name__} (real-valued cases) on revcore."
    return type(original.__name__, (), namespace)


def _with_marks(method: Callable[..., Any], marks: list[Any]) -> Callable[..., Any]:
    """method under its own name and signature, carrying the given pytest marks."""

    @functools.wraps(method)
    def case(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    case.pytestmark = marks
    return case


_SCIPY_TESTS, _ABSENT = _load_scipy_tests()

if _SCIPY_TESTS is None:

    def test_scipy_lu_tests_available() -> None:
        pytest.skip(_ABSENT)

else:
    for _name in SCIPY_CLASSES:
        if hasattr(_SCIPY_TESTS, _name):
            globals()[_name] = _on_revcore(getattr(_SCIPY_TESTS, _name))

    def test_scipy_lu_tests_selected() -> None:
        """Both classes exist and the filters above leave real cases in each (a renamed or
        reshaped scipy test module would otherwise pass here by running nothing)."""
        for name in SCIPY_CLASSES:
            assert name in globals(), f"{SCIPY_TEST_MODULE} has no {name}"
            assert any(n.startswith("test") for n in vars(globals()[name])), name


# -- the conventions beyond scipy's tests ------------------------------------------------------

@pytest.mark.parametrize("name", ["lu_factor", "lu_solve"])
def test_signature_is_scipys(name):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    expected = inspect.signature(getattr(scipy_linalg, name))
    for module in (revcore, reference):
        ours = inspect.signature(getattr(module, name))
        assert list(ours.parameters) == list(expected.parameters), module.__name__
        assert [p.default for p in ours.parameters.values()] == \
            [p.default for p in expected.parameters.values()], module.__name__


@pytest.mark.parametrize("module", [revcore, reference], ids=["native", "reference"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overwrite_never_modifies_input(module, order, dtype):
    rng = np.random.default_rng(7)
    a = np.asarray(rng.standard_normal((5, 5)) + 5 * np.eye(5), dtype=dtype, order=order)
    a_before = a.copy()
    lu, piv = module.lu_factor(a, overwrite_a=True)
    np.testing.assert_array_equal(a, a_before)
    lu_before, piv_before = lu.copy(), piv.copy()
    for b in (np.asarray(rng.standard_normal(5), dtype=dtype),
              np.asarray(rng.standard_normal((5, 3)), dtype=dtype, order=order)):
        b_before = b.copy()
        for trans in (0, 1):
            x = module.lu_solve((lu, piv), b, trans, True)  # scipy's positional order
            np.testing.assert_array_equal(b, b_before)
            assert not np.shares_memory(x, b)
            np.testing.assert_allclose(x, module.lu_solve((lu, piv), b, trans=trans), rtol=0)
        np.testing.assert_array_equal(lu, lu_before)
        np.testing.assert_array_equal(piv, piv_before)
    # check_finite keeps its meaning at scipy's third position
    with pytest.raises(ValueError, match="infs or NaNs"):
        module.lu_factor(np.full((2, 2), np.nan), False, True)
    module.lu_factor(np.full((2, 2), np.nan), False, False)


@pytest.mark.parametrize("function", [revcore.lu_solve, reference.lu_solve],
                         ids=["native", "reference"])
def test_float_pivots(function):
    a = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0], [0.0, 1.0, 5.0]])
    lu, piv = revcore.lu_factor(a)
    b = np.array([1.0, 2.0, 3.0])
    expected = function((lu, piv), b)
    for float_piv in (piv.astype(np.float64), piv.astype(np.float32), piv.tolist()):
        np.testing.assert_array_equal(function((lu, float_piv), b), expected)
    for bad in (np.nan, np.inf, 0.5):
        wrong = piv.astype(np.float64)
        wrong[2] = bad
        with pytest.raises(ValueError, match="piv must hold whole numbers .* at position 2"):
            function((lu, wrong), b)
    with pytest.raises(ValueError, match=r"piv holds row indices outside \[0, 3\)"):
        function((lu, np.array([0.0, 1.0, 3.0])), b)
    # the empty system: an empty piv of any numeric dtype
    for empty in (np.array([]), [], np.array([], np.float32), np.array([], np.int64),
                  np.array([], np.uint8), np.array([], np.complex128)):
        for rhs in (np.zeros(0), np.zeros((0, 2))):
            assert function((np.zeros((0, 0)), empty), rhs).shape == rhs.shape
    with pytest.raises(TypeError, match="piv must hold integers"):
        function((np.zeros((0, 0)), np.array([], dtype=object)), np.zeros(0))
