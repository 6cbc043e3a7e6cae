"""Argument coercion and the per-function checks shared by the native API and the numpy
reference, so that both accept and refuse the same arguments with the same messages.

Examples
--------
>>> import numpy as np
>>> from revcore._validation import as_float_array
>>> as_float_array(np.arange(3), "x")
array([0., 1., 2.])
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._activations import Activation, get_activation

__all__ = [
    "as_float_array",
    "check_factors",
    "check_finite_array",
    "check_memory",
    "check_spline_knots",
    "contiguous_ready",
    "finish_matmul",
    "kernel_ready",
    "memory_limit",
    "prepare_condition",
    "prepare_dense",
    "prepare_dense_backward",
    "prepare_lu_factor",
    "prepare_lu_solve",
    "prepare_matmul",
    "prepare_rq_spline",
    "prepare_rq_spline_backward",
    "spline_knots_error",
]


def as_float_array(x: Any, name: str) -> np.ndarray:
    """Return x as a float32 or float64 array without copying when it already is one.

    Integers become float64 and float16 becomes float32, as numpy's promotion would give in
    arithmetic with a float; bool, complex, object, string and extended-precision arrays are
    refused with TypeError.
    """
    array = np.asarray(x)
    kind = array.dtype.kind
    if kind in "iu":
        return array.astype(np.float64)
    if kind == "f":
        if array.dtype.itemsize == 2:
            return array.astype(np.float32)
        if array.dtype.itemsize in (4, 8):
            return array
    raise TypeError(
        f"{name} must hold real numbers (float32, float64 or integers), got dtype "
        f"{array.dtype}"
    )


def check_finite_array(array: np.ndarray, name: str) -> None:
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must not contain infs or NaNs")


def kernel_ready(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast to dtype; copy only when the kernels cannot address the memory as it is."""
    array = array.astype(dtype, copy=False)
    size = array.dtype.itemsize
    if array.ctypes.data % size or any(s % size for s in array.strides):
        array = array.copy()
    return array


@functools.lru_cache(maxsize=1)
def memory_limit() -> int:
    """Bytes a single request may allocate: the machine's physical memory."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not POSIX: let the allocator decide
        return 2**63


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def check_memory(elements: int, dtype: Any, what: str | Callable[[], str]) -> None:
    """MemoryError, before anything is allocated, when `elements` of `dtype` (Python ints:
    no overflow) exceed the machine's physical memory. Overcommitting allocators would
    otherwise hand out the buffer and the process be killed while filling it. `what` may be
    a function giving the description, so hot paths format it only on failure."""
    nbytes = int(elements) * np.dtype(dtype).itemsize
    limit = memory_limit()
    if nbytes > limit:
        raise MemoryError(
            f"{what() if callable(what) else what} would need {_bytes(nbytes)} ({nbytes} "
            f"bytes), more than the {_bytes(limit)} of physical memory"
        )


def contiguous_ready(array: np.ndarray, dtype: Any = None) -> np.ndarray:
    """C-contiguous and aligned (as the flat kernels need), copying only when it is not.

    np.ascontiguousarray keeps a misaligned array (a view at an odd offset of a byte buffer)
    as it is; reading it through a T* is undefined behaviour (UBSan reports it).
    """
    if (dtype is None or array.dtype == dtype) and array.flags.c_contiguous \
            and array.flags.aligned:
        return array
    return np.require(array, dtype, ["C_CONTIGUOUS", "ALIGNED"])


def _two_d(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    return array


def prepare_matmul(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Checked 2-D operands of matmul (1-D ones promoted as numpy does) and result dtype."""
    a = as_float_array(a, "a")
    b = as_float_array(b, "b")
    for name, array in (("a", a), ("b", b)):
        if array.ndim not in (1, 2):
            raise ValueError(f"matmul: {name} must be 1-D or 2-D, got shape {array.shape}")
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    if a2.shape[1] != b2.shape[0]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
            f"{a2.shape[1]} (last dimension of a) != {b2.shape[0]} (first dimension of b)"
        )
    return a2, b2, np.result_type(a2, b2)


def finish_matmul(c: np.ndarray, a_ndim: int, b_ndim: int) -> Any:
    if b_ndim == 1:
        c = c[:, 0]
    if a_ndim == 1:
        c = c[0]
    return c


def prepare_dense(
    x: Any, weight: Any, bias: Any, activation: Any, negative_slope: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.dtype, Activation]:
    """Checked 2-D x, weight, bias (or None), result dtype and activation of dense."""
    act = get_activation(activation, negative_slope)
    x = as_float_array(x, "x")
    weight = _two_d(as_float_array(weight, "weight"), "weight")
    if x.ndim not in (1, 2):
        raise ValueError(f"dense: x must have shape (n_features,) or (batch, n_features), "
                         f"got {x.shape}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"dense: x has {x.shape[-1]} features but weight {weight.shape} expects "
            f"{weight.shape[1]} (weight has shape (n_out, n_features))"
        )
    arrays = [x, weight]
    if bias is not None:
        bias = as_float_array(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"dense: bias must have shape ({weight.shape[0]},) to match weight "
                f"{weight.shape}, got {bias.shape}"
            )
        arrays.append(bias)
    x2 = x[np.newaxis, :] if x.ndim == 1 else x
    return x2, weight, bias, np.result_type(*arrays), act


_MAX_PIVOT_ROWS = 2**31 - 1  # pivots are int32, as scipy's and LAPACK's


def _check_pivot_rows(rows: int, name: str) -> None:
    if rows > _MAX_PIVOT_ROWS:
        raise ValueError(
            f"{name} has {rows} rows; LU pivots are 32-bit integers (as LAPACK's), so at most "
            f"{_MAX_PIVOT_ROWS} rows are supported"
        )


def prepare_lu_factor(a: Any, check_finite: bool) -> np.ndarray:
    a = _two_d(as_float_array(a, "a"), "a")
    _check_pivot_rows(a.shape[0], "a")
    check_memory(a.size, a.dtype, f"lu_factor of a {a.shape[0]}x{a.shape[1]} matrix")
    if check_finite:
        check_finite_array(a, "a")
    return a


def check_factors(lu_and_piv: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked (lu, int32 piv) from the pair returned by lu_factor (revcore's or scipy's)."""
    try:
        lu, piv = lu_and_piv
    except (TypeError, ValueError):
        raise TypeError("lu_and_piv must be the pair (lu, piv) returned by lu_factor") from None
    lu = _two_d(as_float_array(lu, "lu"), "lu")
    n = lu.shape[0]
    _check_pivot_rows(n, "lu")
    if lu.shape[1] != n:
        raise ValueError(
            f"expected the factors of a square matrix, got lu of shape {lu.shape}"
        )
    piv = np.asarray(piv)
    if piv.size == 0 and np.issubdtype(piv.dtype, np.number):
        piv = np.zeros(piv.shape, np.int32)  # no values: any numeric dtype, as np.array([])
    if piv.dtype.kind not in "iuf":
        raise TypeError(f"piv must hold integers (or whole numbers of a float dtype), got dtype "
                        f"{piv.dtype}")
    if piv.shape != (n,):
        raise ValueError(f"piv must have shape ({n},) to match lu {lu.shape}, got {piv.shape}")
    if piv.dtype.kind == "f":
        # Whole numbers of a float dtype are row indices as scipy takes them; scipy truncates
        # anything else, which here is refused.
        whole = np.isfinite(piv) & (piv == np.trunc(piv))
        if not whole.all():
            bad = int(np.argmin(whole))
            raise ValueError(f"piv must hold whole numbers (row indices), got {float(piv[bad])} "
                             f"at position {bad}")
    if n and (piv.min() < 0 or piv.max() >= n):
        raise ValueError(f"piv holds row indices outside [0, {n})")
    return lu, piv.astype(np.int32)


def prepare_lu_solve(
    lu_and_piv: Any, b: Any, trans: Any, check_finite: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype, bool]:
    """Checked (lu, int32 piv, 2-D b, result dtype, transposed?) for lu_solve."""
    lu, piv = check_factors(lu_and_piv)
    n = lu.shape[0]
    b = as_float_array(b, "b")
    if b.ndim == 0 or b.shape[0] != n:
        raise ValueError(f"shapes of lu {lu.shape} and b {b.shape} are incompatible")
    if isinstance(trans, bool) or trans not in (0, 1, 2):
        raise ValueError(f"trans must be 0 (solve A x = b) or 1 or 2 (A^T x = b), got {trans!r}")
    if check_finite:
        check_finite_array(lu, "lu")
        check_finite_array(b, "b")
    return lu, piv, b.reshape(n, math.prod(b.shape[1:])), np.result_type(lu, b), trans != 0


def prepare_condition(lu_and_piv: Any, norm1: Any) -> tuple[np.ndarray, np.ndarray, float]:
    lu, piv = check_factors(lu_and_piv)
    if isinstance(norm1, bool) or not isinstance(norm1, numbers.Real):
        raise TypeError(f"norm1 must be a real number, got {norm1!r}")
    if not (math.isfinite(norm1) and float(norm1) >= 0):
        raise ValueError(f"norm1 must be a finite non-negative number, got {norm1!r}")
    return lu, piv, float(norm1)


def prepare_dense_backward(
    x: Any, weight: Any, preactivation: Any, grad_output: Any, activation: Any,
    negative_slope: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype, Activation]:
    """Checked 2-D x, weight, z, g, result dtype and activation of dense_backward."""
    act = get_activation(activation, negative_slope)
    weight = _two_d(as_float_array(weight, "weight"), "weight")
    arrays = [as_float_array(a, name) for a, name in
              ((x, "x"), (preactivation, "preactivation"), (grad_output, "grad_output"))]
    single = arrays[0].ndim == 1
    if any(a.ndim != arrays[0].ndim for a in arrays) or arrays[0].ndim not in (1, 2):
        raise ValueError("dense_backward: x, preactivation and grad_output must all be 1-D or "
                         "all be 2-D")
    x, z, g = (a[np.newaxis, :] if single else a for a in arrays)
    n_out, n_in = weight.shape
    if x.shape[1] != n_in or z.shape != (x.shape[0], n_out) or g.shape != z.shape:
        raise ValueError(
            f"dense_backward: expected x (batch, {n_in}), preactivation and grad_output "
            f"(batch, {n_out}) for weight {weight.shape}; got x {x.shape}, preactivation "
            f"{z.shape}, grad_output {g.shape}"
        )
    return x, weight, z, g, np.result_type(x, weight, z, g), act


def _spline_arrays(
    name: str, x: Any, knots: tuple[Any, Any, Any], x_name: str,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """x as (n, d) and the three knot arrays as (d, K+1) or (n, d, K+1), all checked for
    shape (not values); the arrays keep their own dtypes."""
    x = as_float_array(x, x_name)
    if x.ndim != 2:
        raise ValueError(f"{name}: {x_name} must have shape (n, d), got {x.shape}")
    n, d = x.shape
    arrays = [as_float_array(a, label) for a, label in zip(knots, _KNOT_NAMES)]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(
            f"{name}: x_knots, y_knots and derivatives must have one shape, got "
            f"{', '.join(str(a.shape) for a in arrays)}"
        )
    if shape[:-1] not in ((d,), (n, d)) or shape[-1] < 2:
        raise ValueError(
            f"{name}: the knot arrays must have shape ({d}, K+1) (shared by all rows) or "
            f"({n}, {d}, K+1) (one set per row) with K >= 1 bins, for {x_name} of shape "
            f"{x.shape}; got {shape}"
        )
    return x, arrays


_KNOT_NAMES = ("x_knots", "y_knots", "derivatives")


def prepare_rq_spline(
    x: Any, x_knots: Any, y_knots: Any, derivatives: Any, inverse: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Checked x (n, d), knot arrays ((d, K+1) or (n, d, K+1)) and result dtype of
    rq_spline. Knot values are checked by :func:`check_spline_knots`."""
    if not isinstance(inverse, (bool, np.bool_)):
        raise TypeError(f"rq_spline: inverse must be True or False, got {inverse!r}")
    x, (xk, yk, dk) = _spline_arrays("rq_spline", x, (x_knots, y_knots, derivatives),
                                     "y" if inverse else "x")
    return x, xk, yk, dk, np.result_type(x, xk, yk, dk)


def prepare_rq_spline_backward(
    x: Any, x_knots: Any, y_knots: Any, derivatives: Any, grad_out: Any,
    grad_log_derivative: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Checked x, knot arrays, the two cotangents (n, d) and result dtype of
    rq_spline_backward."""
    name = "rq_spline_backward"
    x, (xk, yk, dk) = _spline_arrays(name, x, (x_knots, y_knots, derivatives), "x")
    grads = []
    for array, label in ((grad_out, "grad_out"), (grad_log_derivative, "grad_log_derivative")):
        g = as_float_array(array, label)
        if g.shape != x.shape:
            raise ValueError(f"{name}: {label} must have the shape of x {x.shape}, got "
                             f"{g.shape}")
        grads.append(g)
    return x, xk, yk, dk, grads[0], grads[1], np.result_type(x, xk, yk, dk, *grads)


def _first_false(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmin(mask)), mask.shape))


def _knot_position(index: tuple[int, ...]) -> str:
    if len(index) == 2:
        return f"dimension {index[0]}"
    return f"row {index[0]}, dimension {index[1]}"


def spline_knots_error(
    name: str, x_knots: np.ndarray, y_knots: np.ndarray, derivatives: np.ndarray,
) -> str | None:
    """What is wrong with the knots (the first fault, checked in the order x_knots, y_knots,
    derivatives and in C order within each), or None when they define monotone splines:
    finite values, strictly increasing x and y knots, positive derivatives."""
    for label, knots in (("x_knots", x_knots), ("y_knots", y_knots)):
        finite = np.isfinite(knots)
        if not finite.all():
            index = _first_false(finite)
            return (f"{name}: {label} must be finite; {label}[{', '.join(map(str, index))}] "
                    f"is {knots[index]} ({_knot_position(index)})")
        rising = np.diff(knots, axis=-1) > 0
        if not rising.all():
            index = _first_false(rising)
            after = (*index[:-1], index[-1] + 1)
            return (
                f"{name}: {label} must be strictly increasing along the last axis (equal "
                f"knots are refused); {label}[{', '.join(map(str, after))}] = {knots[after]} "
                f"is not above {label}[{', '.join(map(str, index))}] = {knots[index]} "
                f"({_knot_position(index)})"
            )
    good = np.isfinite(derivatives) & (derivatives > 0)
    if not good.all():
        index = _first_false(good)
        return (f"{name}: derivatives must be positive and finite; "
                f"derivatives[{', '.join(map(str, index))}] = {derivatives[index]} "
                f"({_knot_position(index)})")
    return None


def check_spline_knots(
    name: str, x_knots: np.ndarray, y_knots: np.ndarray, derivatives: np.ndarray,
) -> None:
    """ValueError saying what is wrong with the knots, if anything."""
    message = spline_knots_error(name, x_knots, y_knots, derivatives)
    if message is not None:
        raise ValueError(message)
