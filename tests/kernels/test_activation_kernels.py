"""The vector paths of the activation kernels: every length around the vector widths, special
values in every lane, the range check's count and first index wherever the failure sits.

The same checks run in-process (the best path of this CPU) and in one subprocess per kernel
path (REVCORE_ARCH=generic|avx2|avx512, read once per process), as test_dispatch.py does.
Run as a script (``python test_activation_kernels.py``) they print one line per failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import revcore
from revcore import _core, reference
from revcore._activations import ACTIVATIONS, activation_code
from support import DTYPES, KERNEL_PATHS, run_on_kernel_path

# 0..70 covers every tail length of the 4-, 8- and 16-lane paths plus the 2-vector unrolling;
# the large ones are not multiples of any vector width.
SIZES = list(range(71)) + [127, 129, 1023, 4099, 65539]
SLOPE = 0.1
RANGES = {name: a.range for name, a in ACTIVATIONS.items() if a.bijective}

# Relative tolerances, in units of the dtype's eps (the same reasoning for both dtypes, since
# the float32 and float64 kernels are the same code with their own polynomial degrees):
# inverse: the log kernel is within ~1 ulp and forming its argument (2|y| / (1 - |y|) or
# (2y - 1) / (1 - y)) adds <= 1.5 ulp; measured max 3.1 ulp (float32 logit), so 4 eps.
INVERSE_RTOL = 4
# forward tanh: expm1 polynomial + one division, measured <= 3 ulp, so 4 eps; sigmoid: exp has
# condition number |x|, so its unavoidable error is ~|x| eps on top of the kernel's 2-3 ulp.
FORWARD_RTOL = 4


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def tiny_atol(dtype) -> float:
    # Subnormal results carry absolute, not relative, precision: a few of the smallest steps.
    return 4 * float(np.finfo(dtype).smallest_subnormal)


def logit(y64: np.ndarray) -> np.ndarray:
    """logit in float64 without numpy's cancellation near y = 1/2: 2 atanh(2y - 1) there."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y64 < 0.25, np.log(y64 / (1 - y64)),
                        2 * np.arctanh(np.maximum(2 * y64 - 1, -0.5)))


def inverse_reference(y: np.ndarray, name: str) -> np.ndarray:
    y64 = y.astype(np.float64)
    if name == "tanh":
        return np.arctanh(y64)
    if name == "sigmoid":
        return logit(y64)
    if name == "leaky_relu":  # correctly rounded in the dtype (overflows where it does)
        with np.errstate(over="ignore"):
            return np.where(y > 0, y, y / y.dtype.type(SLOPE)).astype(np.float64)
    return y64


def forward_reference(x: np.ndarray, name: str) -> np.ndarray:
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        if name == "tanh":
            return np.tanh(x64)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-x64))
        if name == "relu":
            return np.where(x64 < 0, 0.0, x64)
        if name == "leaky_relu":
            return np.where(x64 > 0, x64, np.float64(x.dtype.type(SLOPE)) * x64)
    return x64


def derivative_reference(z: np.ndarray, name: str) -> np.ndarray:
    z64 = z.astype(np.float64)
    with np.errstate(over="ignore"):
        if name == "tanh":
            return 1 - np.tanh(z64) ** 2
        if name == "sigmoid":
            s = 1 / (1 + np.exp(-z64))
            return s * (1 - s)
        if name == "relu":
            return np.where(z64 > 0, 1.0, 0.0)
        if name == "leaky_relu":
            return np.where(z64 > 0, 1.0, np.float64(z.dtype.type(SLOPE)))
    return np.ones_like(z64)


def kernel_inverse(y: np.ndarray, name: str):
    """(x, count, first) straight from the kernel, without the Python-level message."""
    return _core.activate_inverse(y, activation_code(name, SLOPE), SLOPE)


def close(got, want, rtol, atol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    same_nan = np.isnan(got) == np.isnan(want)
    with np.errstate(invalid="ignore"):
        ok = np.where(np.isnan(want), True,
                      np.abs(got - want) <= rtol * np.abs(want) + atol) | (got == want)
    return bool(np.all(same_nan & ok))


def in_range(rng, name, n, dtype):
    if name == "tanh":
        return rng.uniform(-1, 1, n).astype(dtype).clip(-0.999, 0.999)
    if name == "sigmoid":
        return rng.uniform(0, 1, n).astype(dtype).clip(0.001, 0.999)
    return (10 * rng.standard_normal(n)).astype(dtype)


# ---- the checks (each returns a list of failure descriptions) --------------------------------

def check_sizes(dtype) -> list[str]:
    failures = []
    rng = np.random.default_rng(1)
    e = eps(dtype)
    for n in SIZES:
        for name in RANGES:
            y = in_range(rng, name, n, dtype)
            x, bad, first = kernel_inverse(y, name)
            if bad != 0 or first != -1 or x.dtype != dtype or x.shape != (n,):
                failures.append(f"inverse {name} n={n} {dtype.__name__}: bad={bad} first={first}")
            elif not close(x, inverse_reference(y, name), INVERSE_RTOL * e, tiny_atol(dtype)):
                failures.append(f"inverse {name} n={n} {dtype.__name__}: values")
        x = (8 * rng.standard_normal(n)).astype(dtype)
        for name in ACTIVATIONS:
            rtol = FORWARD_RTOL * e * ((1 + np.abs(x.astype(np.float64)))
                                       if name == "sigmoid" else 1)
            y = revcore.activate(x, name, SLOPE)
            if not close(y, forward_reference(x, name), rtol, tiny_atol(dtype)):
                failures.append(f"forward {name} n={n} {dtype.__name__}")
            d = revcore.activate_derivative(x, name, SLOPE)
            # The reference forms 1 - tanh^2 / s (1 - s): absolute error of a few eps.
            if not close(d, derivative_reference(x, name), 0, 4 * e):
                failures.append(f"derivative {name} n={n} {dtype.__name__}")
    return failures


def special_inputs(name: str, dtype):
    """(value, in range?) pairs for the inverse of `name`."""
    f = np.finfo(dtype)
    one_minus = np.nextafter(dtype(1), dtype(0))
    sub = f.smallest_subnormal
    common = [(np.nan, False), (np.inf, False), (-np.inf, False)]
    if name == "tanh":
        return common + [(-0.0, True), (0.0, True), (sub, True), (-sub, True),
                         (f.tiny, True), (dtype(1e-30), True), (-dtype(3e-20), True),
                         (one_minus, True), (-one_minus, True), (1.0, False), (-1.0, False),
                         (2.0, False), (f.max, False)]
    if name == "sigmoid":
        return common + [(sub, True), (f.tiny, True), (dtype(1e-30), True), (0.5, True),
                         (np.nextafter(dtype(0.5), dtype(1)), True),
                         (np.nextafter(dtype(0.5), dtype(0)), True), (0.25, True),
                         (one_minus, True), (0.0, False), (-0.0, False), (1.0, False),
                         (-sub, False), (f.max, False)]
    return common + [(-0.0, True), (0.0, True), (sub, True), (-sub, True), (f.max, True),
                     (-f.max, True)]


def check_specials(dtype) -> list[str]:
    """Each special value at every position of arrays of every length up to 2 x 16 lanes + 3."""
    failures = []
    rng = np.random.default_rng(2)
    e = eps(dtype)
    for name in ("tanh", "sigmoid", "leaky_relu", "identity"):
        for value, ok in special_inputs(name, dtype):
            value = dtype(value)
            for n in range(1, 36):
                base = in_range(rng, name, n, dtype)
                for p in range(n):
                    y = base.copy()
                    y[p] = value
                    x, bad, first = kernel_inverse(y, name)
                    want_bad, want_first = (0, -1) if ok else (1, p)
                    if (bad, first) != (want_bad, want_first):
                        failures.append(f"inverse {name} {value!r} at {p}/{n} "
                                        f"{dtype.__name__}: count {bad} first {first}")
                        continue
                    if not ok:
                        keep = np.arange(n) != p
                        x, y = x[keep], y[keep]
                    want = inverse_reference(y, name)
                    if not close(x, want, INVERSE_RTOL * e, tiny_atol(dtype)):
                        failures.append(f"inverse {name} {value!r} at {p}/{n} "
                                        f"{dtype.__name__}: values")
                    elif ok and value == 0 and name != "sigmoid" and \
                            np.signbit(x[p]) != np.signbit(value):
                        failures.append(f"inverse {name} of {value!r}: sign of zero lost")
    f = np.finfo(dtype)
    forward_specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, f.smallest_subnormal,
                        -f.smallest_subnormal, f.tiny, f.max, -f.max, 1e-30, -1e-30]
    for value in forward_specials:
        value = dtype(value)
        for n in range(1, 36):
            base = (4 * rng.standard_normal(n)).astype(dtype)
            for p in range(n):
                x = base.copy()
                x[p] = value
                for name in ("relu", "leaky_relu", "tanh", "sigmoid"):
                    y = revcore.activate(x, name, SLOPE)
                    rtol = FORWARD_RTOL * e * ((1 + np.abs(x.astype(np.float64)))
                                               if name == "sigmoid" else 1)
                    want = forward_reference(x, name)
                    if not close(y, want, rtol, tiny_atol(dtype)):
                        failures.append(f"forward {name} {value!r} at {p}/{n} {dtype.__name__}")
                    elif name in ("tanh", "leaky_relu") and value == 0 and \
                            np.signbit(y[p]) != np.signbit(value):
                        failures.append(f"forward {name} of {value!r}: sign of zero lost")
                    d = revcore.activate_derivative(x, name, SLOPE)
                    if not close(d, derivative_reference(x, name), 0, 4 * e):
                        failures.append(f"derivative {name} {value!r} at {p}/{n} "
                                        f"{dtype.__name__}")
    return failures


def check_first_bad(dtype) -> list[str]:
    """Count and first index with several failures, the first in any lane of any block."""
    failures = []
    rng = np.random.default_rng(3)
    for name, bads in (("tanh", [1.0, np.nan, -2.0]), ("sigmoid", [0.0, np.inf, 1.0]),
                       ("leaky_relu", [np.nan, -np.inf]), ("identity", [np.inf, np.nan])):
        for n in list(range(1, 71)) + [1000, 4099]:
            positions = range(n) if n <= 70 else rng.choice(n, 40, replace=False)
            for p in positions:
                y = in_range(rng, name, n, dtype)
                later = rng.integers(p, n, size=rng.integers(0, 4))
                marked = sorted({int(p), *map(int, later)})
                for i, q in enumerate(marked):
                    y[q] = bads[i % len(bads)]
                _, bad, first = kernel_inverse(y, name)
                if (bad, first) != (len(marked), p):
                    failures.append(f"{name} n={n} bad at {marked} {dtype.__name__}: "
                                    f"count {bad} first {first}")
        y = np.full(4099, np.nan, dtype)
        _, bad, first = kernel_inverse(y, name)
        if (bad, first) != (4099, 0):
            failures.append(f"{name} all NaN {dtype.__name__}: count {bad} first {first}")
    _, bad, first = kernel_inverse(np.zeros(0, dtype), "tanh")
    if (bad, first) != (0, -1):
        failures.append(f"empty: count {bad} first {first}")
    return failures


def check_aliasing(dtype) -> list[str]:
    """The kernels may write in place (the bindings do for fresh arrays): same results."""
    failures = []
    rng = np.random.default_rng(4)
    for n in (5, 37, 1001):
        y = in_range(rng, "tanh", n, dtype)
        want = np.arctanh(y.astype(np.float64))
        got = revcore.activate_inverse(y, "tanh")
        if not close(got, want, INVERSE_RTOL * eps(dtype), tiny_atol(dtype)):
            failures.append(f"aliasing n={n} {dtype.__name__}")
    return failures


def check_dense_backward(dtype) -> list[str]:
    """The fused gate + blocked products, across the 512-row block boundary and batch 0."""
    failures = []
    rng = np.random.default_rng(5)
    for batch, n_in, n_out in ((0, 3, 5), (1, 7, 9), (511, 13, 17), (512, 5, 33),
                               (1100, 31, 19)):
        x = rng.standard_normal((batch, n_in)).astype(dtype)
        w = rng.standard_normal((n_out, n_in)).astype(dtype)
        z = (3 * rng.standard_normal((batch, n_out))).astype(dtype)
        g = rng.standard_normal((batch, n_out)).astype(dtype)
        for name in ACTIVATIONS:
            got = revcore.dense_backward(x, w, z, g, name, SLOPE)
            want = reference.dense_backward(*(a.astype(np.float64) for a in (x, w, z, g)),
                                            name, SLOPE)
            for label, a, b, k in zip(("grad_x", "grad_w", "grad_b"), got, want,
                                      (n_out, batch, batch)):
                # Sums of k products of O(1) terms: 4 (k + 1) eps of the term magnitudes.
                scale = 4 * (k + 1) * eps(dtype) * max(1.0, float(np.abs(b).max(initial=0)))
                if a.shape != b.shape or a.dtype != dtype or \
                        not np.all(np.abs(a.astype(np.float64) - b) <= scale):
                    failures.append(f"dense_backward {name} {batch}x{n_in}x{n_out} "
                                    f"{dtype.__name__}: {label}")
    return failures


CHECKS = [check_sizes, check_specials, check_first_bad, check_aliasing, check_dense_backward]


def run_all() -> list[str]:
    failures = []
    for dtype in DTYPES:
        for check in CHECKS:
            failures += check(dtype)
    return failures


# ---- pytest ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_best_path(check, dtype):
    failures = check(dtype)
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("path", KERNEL_PATHS)
def test_every_path(path):
    run_on_kernel_path(Path(__file__), path)


def main() -> int:
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    failures = []
    kernel = _core.build_info()["kernel"]
    if wanted and kernel != wanted:
        failures.append(f"asked for {wanted}, got {kernel}")
    failures += run_all()
    for failure in failures[:200]:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
