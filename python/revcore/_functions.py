"""The public array functions, on the native kernels.

Every activation reaches the kernels as its registry code (:mod:`revcore._activations`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from . import _core
from ._activations import (
    ACTIVATIONS,
    Activation,
    activation_range,
    get_activation,
    out_of_range_message,
)
from ._errors import LinAlgWarning
from ._validation import (
    as_float_array,
    check_memory,
    contiguous_ready,
    finish_matmul,
    kernel_ready,
    prepare_condition,
    prepare_dense,
    prepare_dense_backward,
    prepare_lu_factor,
    prepare_lu_solve,
    prepare_matmul,
    prepare_rq_spline,
    prepare_rq_spline_backward,
    spline_knots_error,
)

__all__ = [
    "activate",
    "activate_derivative",
    "activate_inverse",
    "dense",
    "dense_backward",
    "lu_condition_estimate",
    "lu_factor",
    "lu_solve",
    "matmul",
    "native_dense",
    "rq_spline",
    "rq_spline_backward",
]


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_FLOATS = (_F32, _F64)


def _plain(a: Any, b: Any) -> bool:
    """Whether a and b are ndarrays of one float dtype: the calls that can go straight to the
    kernels, which check shapes and memory themselves. Identity tests keep this well under a
    microsecond; an equal dtype that is another object takes the full path."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    dtype = a.dtype
    return (dtype is _F64 or dtype is _F32) and b.dtype is dtype


def _ready_2d(*arrays: np.ndarray) -> bool:
    """Whether every array is 2-D, C-contiguous and aligned (what the kernels address)."""
    return all(a.ndim == 2 and a.flags.c_contiguous and a.flags.aligned for a in arrays)


def native_dense(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, activation: Activation,
    negative_slope: float,
) -> np.ndarray:
    """The fused dense kernel on arrays the caller has already checked and made contiguous."""
    return _core.dense(x, weight, bias, activation.code, negative_slope)


def matmul(a: Any, b: Any) -> Any:
    """Matrix product of two arrays, as ``numpy.matmul`` for 1-D and 2-D operands.

    Parameters
    ----------
    a : array_like, shape (m, k) or (k,)
    b : array_like, shape (k, n) or (k,)
        Real arrays of any memory layout. Integers are converted to float64 and float16 to
        float32; the result dtype follows numpy's promotion of the two.

    Returns
    -------
    ndarray, shape (m, n), (n,), (m,) or a scalar, as numpy gives.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> revcore.matmul(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 2.],
           [3., 4.]])
    """
    if _plain(a, b):
        try:  # the common call: the binding's own checks (shapes, memory) suffice
            return _core.matmul(a, b)
        except (TypeError, ValueError):
            pass  # 1-D operands and anything unusual: the full checks below
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    a2, b2, dtype = prepare_matmul(a, b)
    check_memory(a2.shape[0] * b2.shape[1], dtype, f"matmul of {a2.shape} and {b2.shape}")
    c = _core.matmul(kernel_ready(a2, dtype), kernel_ready(b2, dtype))
    return finish_matmul(c, a_ndim, b_ndim)


def dense(
    x: Any,
    weight: Any,
    bias: Any = None,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> np.ndarray:
    """A dense layer: ``activation(x @ weight.T + bias)``.

    Parameters
    ----------
    x : array_like, shape (n_features,) or (batch, n_features)
    weight : array_like, shape (n_out, n_features)
    bias : array_like, shape (n_out,), optional
    activation : {"identity", "leaky_relu", "tanh", "sigmoid", "relu"}
    negative_slope : float
        Slope of leaky_relu for negative inputs; must be positive.

    Returns
    -------
    ndarray, shape (n_out,) or (batch, n_out)

    Examples
    --------
    >>> import numpy as np, revcore
    >>> revcore.dense(np.array([1.0, -2.0]), np.eye(2), activation="leaky_relu",
    ...               negative_slope=0.5)
    array([ 1., -1.])
    """
    known = ACTIVATIONS.get(activation) if type(activation) is str else None
    if known is not None and type(negative_slope) is float and 0 < negative_slope < math.inf:
        try:  # the common call: the binding's own checks (dtypes, shapes, memory) suffice
            return native_dense(x, weight, bias, known, negative_slope)
        except (TypeError, ValueError):
            pass  # anything unusual: the full checks and conversions below
    x_ndim = np.ndim(x)
    x2, weight, bias, dtype, act = prepare_dense(x, weight, bias, activation, negative_slope)
    check_memory(x2.shape[0] * weight.shape[0], dtype,
                 f"dense of x {x2.shape} and weight {weight.shape}")
    y = native_dense(
        kernel_ready(x2, dtype),
        kernel_ready(weight, dtype),
        None if bias is None else contiguous_ready(bias, dtype),
        act,
        float(negative_slope),
    )
    return y[0] if x_ndim == 1 else y


def dense_backward(
    x: Any,
    weight: Any,
    preactivation: Any,
    grad_output: Any,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of a dense layer ``y = activation(z)``, ``z = x @ weight.T + bias``.

    Parameters
    ----------
    x : array_like, shape (batch, n_in) or (n_in,)
        The layer's input.
    weight : array_like, shape (n_out, n_in)
    preactivation : array_like, shape (batch, n_out) or (n_out,)
        z, as saved by the forward pass.
    grad_output : array_like, shape like preactivation
        dL/dy for some scalar loss L.

    Returns
    -------
    grad_x, grad_weight, grad_bias : ndarray
        dL/dx (shaped like x), dL/dweight (n_out, n_in) and dL/dbias (n_out,).

    Examples
    --------
    >>> import numpy as np, revcore
    >>> gx, gw, gb = revcore.dense_backward([[1.0, 2.0]], np.eye(2), [[1.0, -1.0]],
    ...                                     [[1.0, 1.0]], "leaky_relu", 0.5)
    >>> gw
    array([[1. , 2. ],
           [0.5, 1. ]])
    """
    known = ACTIVATIONS.get(activation) if type(activation) is str else None
    if (known is not None and type(negative_slope) is float and 0 < negative_slope < math.inf
            and _plain(x, weight) and _plain(preactivation, grad_output)
            and x.dtype is preactivation.dtype and _ready_2d(x, weight, preactivation, grad_output)
            and x.shape[1] == weight.shape[1]
            and preactivation.shape == grad_output.shape == (x.shape[0], weight.shape[0])):
        # the common call (2-D C-contiguous arrays of one dtype, shapes checked here)
        check_memory(x.size + weight.size + weight.shape[0], x.dtype,
                     lambda: f"dense_backward of x {x.shape} and weight {weight.shape}")
        return _core.dense_backward(  # type: ignore[no-any-return]
            x, weight, preactivation, grad_output, known.code, negative_slope, True)
    x_ndim = np.ndim(x)
    x, weight, z, g, dtype, act = prepare_dense_backward(
        x, weight, preactivation, grad_output, activation, negative_slope
    )
    check_memory((x.shape[0] + weight.shape[0] + 1) * x.shape[1] + 2 * z.size, dtype,
                 f"dense_backward of x {x.shape} and weight {weight.shape}")
    xc, wc, zc, gc = (contiguous_ready(a, dtype) for a in (x, weight, z, g))
    grad_x, grad_weight, grad_bias = _core.dense_backward(
        xc, wc, zc, gc, act.code, float(negative_slope), True
    )
    assert grad_x is not None  # asked for (need_grad_x=True)
    return (grad_x[0] if x_ndim == 1 else grad_x), grad_weight, grad_bias


def _elementwise(kernel: Any, x: Any, name: str, negative_slope: float) -> np.ndarray:
    code = get_activation(name, negative_slope).code
    x = as_float_array(x, "x")
    check_memory(2 * x.size, x.dtype, f"an activation of shape {x.shape}")
    flat = contiguous_ready(x).reshape(-1)
    return kernel(flat, code, float(negative_slope)).reshape(x.shape)


def activate(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    """Apply an activation element-wise.

    ``identity``: x; ``relu``: max(x, 0); ``leaky_relu``: x if x > 0 else negative_slope * x;
    ``tanh``; ``sigmoid``: 1 / (1 + exp(-x)). NaN propagates.

    Examples
    --------
    >>> import revcore
    >>> revcore.activate([-2.0, 0.0, 3.0], "leaky_relu", negative_slope=0.1)
    array([-0.2,  0. ,  3. ])
    """
    return _elementwise(_core.activate, x, name, negative_slope)


def activate_derivative(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    """Derivative of an activation at pre-activations x (0 for relu at 0, slope for
    leaky_relu at 0, the left derivatives)."""
    return _elementwise(_core.activate_derivative, x, name, negative_slope)


def activate_inverse(y: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    """Invert a bijective activation element-wise.

    ``leaky_relu``: y if y > 0 else y / negative_slope; ``tanh``: atanh; ``sigmoid``: logit,
    log(y) - log1p(-y); ``identity``: y.

    Raises
    ------
    ValueError
        If a value lies outside the activation's open range ((-1, 1) for tanh, (0, 1) for
        sigmoid, finite numbers otherwise; NaN never qualifies), saying how many and where
        the first one is.
    NotInvertibleError
        For relu, which is not a bijection (a subclass of ValueError).

    Examples
    --------
    >>> import revcore
    >>> revcore.activate_inverse([0.5], "sigmoid")
    array([0.])
    """
    code = get_activation(name, negative_slope).code
    activation_range(name)
    x_in = as_float_array(y, "y")
    check_memory(2 * x_in.size, x_in.dtype, f"an activation inverse of shape {x_in.shape}")
    flat = contiguous_ready(x_in).reshape(-1)
    x, bad, _ = _core.activate_inverse(flat, code, float(negative_slope))
    if bad:
        raise ValueError(f"activate_inverse({name!r}): " + out_of_range_message(x_in, name))
    return x.reshape(x_in.shape)


def lu_factor(
    a: Any, overwrite_a: bool = False, check_finite: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """LU factorization with partial pivoting, ``P A = L U``, as ``scipy.linalg.lu_factor``.

    The parameters are scipy's, in scipy's order.

    Parameters
    ----------
    a : array_like, shape (m, n)
    overwrite_a : bool
        Accepted for scipy compatibility and ignored: revcore never modifies the input, the
        factors are always a new array.
    check_finite : bool
        Refuse arrays with inf or NaN (ValueError). Disabling it may give garbage factors
        for such input, never a crash.

    Returns
    -------
    lu : ndarray, shape (m, n)
        U in the upper triangle, the unit lower-triangular L below the diagonal.
    piv : ndarray of int32, shape (min(m, n),)
        Row i of the matrix was interchanged with row piv[i] (0-based, LAPACK's order).

    Warns
    -----
    LinAlgWarning
        If U has an exact zero on its diagonal (the matrix is singular).

    Examples
    --------
    >>> import numpy as np, revcore
    >>> lu, piv = revcore.lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> piv
    array([1, 1], dtype=int32)
    """
    a = prepare_lu_factor(a, check_finite)
    lu, piv, info = _core.lu_factor(kernel_ready(a, a.dtype))
    if info:
        warnings.warn(
            f"Diagonal number {info} is exactly zero. Singular matrix.", LinAlgWarning,
            stacklevel=2,
        )
    return lu, piv


def lu_solve(
    lu_and_piv: tuple[Any, Any],
    b: Any,
    trans: int = 0,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> np.ndarray:
    """Solve ``A x = b`` (trans=0) or ``A^T x = b`` (trans=1 or 2) from ``lu_factor(A)``.

    Accepts the factors of either revcore.lu_factor or scipy.linalg.lu_factor. The
    parameters are scipy's, in scipy's order.

    Parameters
    ----------
    lu_and_piv : (lu, piv)
        piv holds 0-based row indices, of an integer dtype or whole numbers of a float dtype
        (as scipy accepts); fractions, NaN and indices outside [0, n) are refused. An empty
        piv of any numeric dtype (``np.array([])``) goes with an empty lu.
    b : array_like, shape (n,) or (n, k, ...)
    trans : {0, 1, 2}
    overwrite_b : bool
        Accepted for scipy compatibility and ignored: revcore never modifies the input, the
        solution is always a new array.
    check_finite : bool

    Returns
    -------
    ndarray shaped like b.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> revcore.lu_solve(revcore.lu_factor(a), np.array([3.0, 4.0]))
    array([1., 1.])
    """
    fast = _lu_solve_fast(lu_and_piv, b, trans, check_finite)
    if fast is not None:
        return fast
    lu, piv, b2, dtype, transposed = prepare_lu_solve(lu_and_piv, b, trans, check_finite)
    check_memory(b2.size, dtype, f"lu_solve of b {np.shape(b)}")
    x = _core.lu_solve(kernel_ready(lu, dtype), piv, kernel_ready(b2, dtype), transposed, False)
    assert x is not None  # None reports bad pivots or values, which the checks above refused
    return x.reshape(np.shape(b))


_INT32 = np.dtype(np.int32)


def _lu_solve_fast(lu_and_piv: Any, b: Any, trans: Any, check_finite: bool) -> Any:
    """The common call (ndarrays of one float dtype, int32 pivots, 1-D or 2-D b) with the
    checks done in the kernel's call; None sends anything else to the full checks."""
    if type(lu_and_piv) is not tuple or len(lu_and_piv) != 2 or trans not in (0, 1, 2) \
            or type(trans) is bool:
        return None
    lu, piv = lu_and_piv
    if type(lu) is not np.ndarray or type(piv) is not np.ndarray or type(b) is not np.ndarray:
        return None
    dtype = lu.dtype
    if dtype not in _FLOATS or b.dtype != dtype or piv.dtype != _INT32 or lu.ndim != 2 \
            or b.ndim not in (1, 2) or piv.ndim != 1:
        return None
    n = lu.shape[0]
    if lu.shape[1] != n or piv.shape[0] != n or b.shape[0] != n or not lu.flags.aligned \
            or not b.flags.aligned or not piv.flags.c_contiguous:
        return None
    check_memory(b.size, dtype, f"lu_solve of b {b.shape}")
    # The kernel call checks pivots (and finiteness) itself; a failure there means the slow
    # path's messages apply, so it re-runs the full checks to raise them.
    x = _core.lu_solve(lu, piv, b if b.ndim == 2 else b[:, None], trans != 0,
                       bool(check_finite))
    if x is None:
        return None
    return x if b.ndim == 2 else x[:, 0]


def lu_condition_estimate(lu_and_piv: tuple[Any, Any], norm1: float) -> float:
    """Estimate the 1-norm condition number of A from its LU factors and ``||A||_1``.

    O(n^2) work (Hager's method with Higham's refinement, as LAPACK's gecon). The estimate
    is a lower bound of the true ``||A||_1 ||A^-1||_1``, rarely below a third of it;
    ``inf`` for an exactly singular matrix.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> a = np.diag([1.0, 1e-3])
    >>> float(revcore.lu_condition_estimate(revcore.lu_factor(a), np.abs(a).sum(0).max()))
    1000.0
    """
    lu, piv, norm1 = prepare_condition(lu_and_piv, norm1)
    return _core.lu_condition_estimate(kernel_ready(lu, lu.dtype), piv, norm1)



def _knot_failure(name: str, knots: tuple[np.ndarray, ...]) -> ValueError:
    """The ValueError for knots the kernel refused, worded as the reference words it."""
    message = spline_knots_error(name, *knots)
    return ValueError(message or f"{name}: the knots do not define monotone splines")


def rq_spline(
    x: Any, x_knots: Any, y_knots: Any, derivatives: Any, inverse: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Monotone rational-quadratic spline (Durkan et al., 2019), element-wise, with identity
    tails; its log-derivative.

    Element ``(i, j)`` uses the knots of dimension j (of row i when the knots are given per
    row). Inside ``[x_0, x_K]`` the bin k with ``x_k <= x < x_{k+1}`` (the last knot belongs to
    the last bin) maps x with ``w = x_{k+1} - x_k``, ``h = y_{k+1} - y_k``, ``s = h / w``,
    ``xi = (x - x_k) / w``::

        y = y_k + h (s xi^2 + d_k xi (1 - xi)) / (s + (d_k + d_{k+1} - 2 s) xi (1 - xi))

    Outside, ``y = x`` and the log-derivative is 0 (so are infinities); NaN gives NaN in both
    outputs.

    Parameters
    ----------
    x : array_like, shape (n, d)
        The inputs; the outputs y when ``inverse`` is true. Any memory layout.
    x_knots, y_knots : array_like, shape (d, K+1) or (n, d, K+1)
        Finite and strictly increasing along the last axis, K >= 1: shared by all rows, or
        one set per row (as a coupling's conditioner gives).
    derivatives : array_like, shape like x_knots
        The spline's slopes at the knots: positive and finite.
    inverse : bool
        Map y to x instead (by the numerically stable root of the bin's quadratic).

    Returns
    -------
    out : ndarray, shape (n, d)
        y (x when ``inverse``), C-contiguous; the dtype is numpy's promotion of the four
        arrays (float32 or float64).
    log_derivative : ndarray, shape (n, d)
        ``log dy/dx`` of the forward map at x (at the x found, when ``inverse``).

    Raises
    ------
    ValueError
        For inconsistent shapes, and for knots that are not finite, not strictly increasing
        or derivatives that are not positive, naming the dimension (and row).

    Examples
    --------
    >>> import numpy as np, revcore
    >>> x_knots, y_knots = np.array([[-1.0, 0.0, 1.0]]), np.array([[-1.0, 0.5, 1.0]])
    >>> derivatives = np.ones((1, 3))
    >>> y, log_derivative = revcore.rq_spline([[0.5], [2.0]], x_knots, y_knots, derivatives)
    >>> y
    array([[0.75],
           [2.  ]])
    >>> np.round(log_derivative, 4)
    array([[-1.0986],
           [ 0.    ]])
    >>> revcore.rq_spline(y, x_knots, y_knots, derivatives, inverse=True)[0]
    array([[0.5],
           [2. ]])
    """
    v, xk, yk, dk, dtype = prepare_rq_spline(x, x_knots, y_knots, derivatives, inverse)
    check_memory(2 * v.size, dtype, f"rq_spline of x {v.shape}")
    xk, yk, dk = (contiguous_ready(a, dtype) for a in (xk, yk, dk))
    result = _core.rq_spline(contiguous_ready(v, dtype), xk, yk, dk, bool(inverse))
    if result is None:
        raise _knot_failure("rq_spline", (xk, yk, dk))
    return result  # type: ignore[no-any-return]


def rq_spline_backward(
    x: Any, x_knots: Any, y_knots: Any, derivatives: Any, grad_out: Any,
    grad_log_derivative: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a scalar L through the forward ``rq_spline(x, ...)``, given
    ``dL/dout`` and ``dL/dlog_derivative``.

    Parameters
    ----------
    x : array_like, shape (n, d)
    x_knots, y_knots, derivatives : array_like, shape (d, K+1) or (n, d, K+1)
        As for :func:`rq_spline`.
    grad_out, grad_log_derivative : array_like, shape (n, d)
        The cotangents of the two outputs of the forward map.

    Returns
    -------
    grad_x : ndarray, shape (n, d)
        dL/dx: the cotangent of out times dy/dx plus that of the log-derivative times its
        derivative; ``grad_out`` itself in the identity tails, NaN where x is NaN.
    grad_x_knots, grad_y_knots, grad_derivatives : ndarray, shaped like the knots
        Summed over the rows when the knots are shared ((d, K+1)); elements in the tails
        contribute nothing. At an element exactly on an interior knot, the derivatives are
        those of the bin to the knot's right.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> x_knots, y_knots = np.array([[-1.0, 0.0, 1.0]]), np.array([[-1.0, 0.5, 1.0]])
    >>> grads = revcore.rq_spline_backward([[0.5], [2.0]], x_knots, y_knots,
    ...                                    np.ones((1, 3)), np.ones((2, 1)), np.zeros((2, 1)))
    >>> np.round(grads[0], 4)  # dy/dx
    array([[0.3333],
           [1.    ]])
    >>> np.round(grads[2], 4)  # dy/dy_knots: the bin's end points only
    array([[0. , 0.5, 0.5]])
    """
    v, xk, yk, dk, g_out, g_log, dtype = prepare_rq_spline_backward(
        x, x_knots, y_knots, derivatives, grad_out, grad_log_derivative)
    check_memory(v.size + 3 * xk.size, dtype, f"rq_spline_backward of x {v.shape}")
    xk, yk, dk = (contiguous_ready(a, dtype) for a in (xk, yk, dk))
    result = _core.rq_spline_backward(contiguous_ready(v, dtype), xk, yk, dk,
                                      contiguous_ready(g_out, dtype),
                                      contiguous_ready(g_log, dtype))
    if result is None:
        raise _knot_failure("rq_spline_backward", (xk, yk, dk))
    return result  # type: ignore[no-any-return]
