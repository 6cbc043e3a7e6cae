"""Pure-numpy reference implementation of revcore's public operations: the test oracle.

Every function here has the signature and semantics of its namesake in :mod:`revcore` and
is written for clarity, not speed. The argument checks are shared with the native API.

Nothing here runs native code: :class:`Network` computes with a backend made of the numpy
functions below (factorisation, condition number, solves included).

Examples
--------
>>> import numpy as np
>>> from revcore import reference
>>> net = reference.Network.random(width=3, depth=2, activation="tanh", seed=0)
>>> x = np.array([0.1, -0.2, 0.3])
>>> bool(np.allclose(net.inverse(net.forward(x)), x))
True
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._activations import (
    activation_range,
    get_activation,
    out_of_range_mask,
    out_of_range_message,
)
from ._backend import Backend, Failure
from ._classifier import InvertibleClassifier, load_file
from ._errors import LinAlgWarning
from ._network import Network as _NativeNetwork
from ._optimizers import Adam as _NativeAdam
from ._validation import (
    as_float_array,
    check_spline_knots,
    finish_matmul,
    prepare_condition,
    prepare_dense,
    prepare_dense_backward,
    prepare_lu_factor,
    prepare_lu_solve,
    prepare_matmul,
    prepare_rq_spline,
    prepare_rq_spline_backward,
)

__all__ = [
    "Network",
    "activate",
    "activate_derivative",
    "activate_inverse",
    "dense",
    "dense_backward",
    "load",
    "lu_condition_estimate",
    "lu_factor",
    "lu_solve",
    "matmul",
    "rq_spline",
    "rq_spline_backward",
]


def matmul(a: Any, b: Any) -> Any:
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    a2, b2, dtype = prepare_matmul(a, b)
    return finish_matmul(a2.astype(dtype) @ b2.astype(dtype), a_ndim, b_ndim)


def dense(
    x: Any,
    weight: Any,
    bias: Any = None,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> np.ndarray:
    x_ndim = np.ndim(x)
    x2, weight, bias, dtype, act = prepare_dense(x, weight, bias, activation, negative_slope)
    z = x2.astype(dtype) @ weight.astype(dtype).T
    if bias is not None:
        z += bias.astype(dtype)
    y = act.forward(z, negative_slope)
    return y[0] if x_ndim == 1 else y


def dense_backward(
    x: Any,
    weight: Any,
    preactivation: Any,
    grad_output: Any,
    activation: str = "identity",
    negative_slope: float = 0.01,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    x_ndim = np.ndim(x)
    x, weight, z, g, dtype, _ = prepare_dense_backward(
        x, weight, preactivation, grad_output, activation, negative_slope
    )
    x, weight, z, g = (a.astype(dtype) for a in (x, weight, z, g))
    grad_z = g * activate_derivative(z, activation, negative_slope)
    grad_x = grad_z @ weight
    return (grad_x[0] if x_ndim == 1 else grad_x), grad_z.T @ x, grad_z.sum(axis=0)


def activate(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    return get_activation(name, negative_slope).forward(as_float_array(x, "x"), negative_slope)


def activate_derivative(x: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation = get_activation(name, negative_slope)
    return activation.derivative(as_float_array(x, "x"), negative_slope)


def activate_inverse(y: Any, name: str, negative_slope: float = 0.01) -> np.ndarray:
    activation = get_activation(name, negative_slope)
    activation_range(name)
    y = as_float_array(y, "y")
    if out_of_range_mask(y, name).any():
        raise ValueError(f"activate_inverse({name!r}): " + out_of_range_message(y, name))
    assert activation.inverse is not None  # activation_range refused the others
    return activation.inverse(y, negative_slope)


def lu_factor(
    a: Any, overwrite_a: bool = False, check_finite: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Right-looking Gaussian elimination with partial pivoting (LAPACK getf2's order).

    overwrite_a is accepted for scipy compatibility and ignored: a is never modified."""
    lu = prepare_lu_factor(a, check_finite).copy()
    m, n = lu.shape
    piv = np.zeros(min(m, n), dtype=np.int32)
    singular = 0
    for j in range(min(m, n)):
        p = j + int(np.argmax(np.abs(lu[j:, j])))
        piv[j] = p
        lu[[j, p]] = lu[[p, j]]
        if lu[j, j] == 0:
            singular = singular or j + 1
            continue
        lu[j + 1 :, j] /= lu[j, j]
        lu[j + 1 :, j + 1 :] -= np.outer(lu[j + 1 :, j], lu[j, j + 1 :])
    if singular:
        warnings.warn(
            f"Diagonal number {singular} is exactly zero. Singular matrix.", LinAlgWarning,
            stacklevel=2,
        )
    return lu, piv


def _forward_substitution(t: np.ndarray, b: np.ndarray, unit: bool) -> np.ndarray:
    x = b.copy()
    for i in range(len(x)):
        x[i] -= t[i, :i] @ x[:i]
        if not unit:
            x[i] /= t[i, i]
    return x


def _back_substitution(t: np.ndarray, b: np.ndarray, unit: bool) -> np.ndarray:
    x = b.copy()
    for i in reversed(range(len(x))):
        x[i] -= t[i, i + 1 :] @ x[i + 1 :]
        if not unit:
            x[i] /= t[i, i]
    return x


def lu_solve(
    lu_and_piv: tuple[Any, Any],
    b: Any,
    trans: int = 0,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> np.ndarray:
    """Permuted forward and back substitution.

    overwrite_b is accepted for scipy compatibility and ignored: b is never modified."""
    lu, piv, b2, dtype, transposed = prepare_lu_solve(lu_and_piv, b, trans, check_finite)
    lu, x = lu.astype(dtype), b2.astype(dtype)
    lower, upper = np.tril(lu, -1), np.triu(lu)
    if not transposed:
        for i, p in enumerate(piv):
            x[[i, p]] = x[[p, i]]
        x = _back_substitution(upper, _forward_substitution(lower, x, unit=True), unit=False)
    else:
        x = _forward_substitution(upper.T, x, unit=False)
        x = _back_substitution(lower.T, x, unit=True)
        for i, p in reversed(list(enumerate(piv))):
            x[[i, p]] = x[[p, i]]
    return x.reshape(np.shape(b))


def lu_condition_estimate(lu_and_piv: tuple[Any, Any], norm1: float) -> float:
    """The exact ``||A||_1 ||A^-1||_1`` that the native function estimates."""
    lu, piv, norm1 = prepare_condition(lu_and_piv, norm1)
    n = lu.shape[0]
    if n == 0:
        return 0.0
    if not np.all(np.diag(lu)):
        return float("inf")
    inverse = lu_solve((lu, piv), np.eye(n, dtype=lu.dtype), check_finite=False)
    return float(norm1 * np.abs(inverse).sum(axis=0).max())



def _take(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(array, index[..., None], axis=-1)[..., 0]


def _spline_setup(
    v: np.ndarray, x_knots: np.ndarray, y_knots: np.ndarray, derivatives: np.ndarray,
    by_y: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """For every element of v: inside its spline's range (x or y knots), v moved inside
    (to keep the arithmetic quiet where the answer is the identity), and the knot values
    x_k, x_{k+1}, y_k, y_{k+1}, d_k, d_{k+1} of its bin."""
    shape = (*v.shape, x_knots.shape[-1])
    x_knots, y_knots, derivatives = (np.broadcast_to(a, shape)
                                     for a in (x_knots, y_knots, derivatives))
    knots = y_knots if by_y else x_knots
    inside = (v >= knots[..., 0]) & (v <= knots[..., -1])
    safe = np.where(inside, v, knots[..., 0])
    # The bin of v: how many interior knots lie at or below it (the last knot belongs to
    # the last bin).
    k = (knots[..., 1:-1] <= safe[..., None]).sum(axis=-1)
    values = tuple(_take(a, j) for a in (x_knots, y_knots, derivatives) for j in (k, k + 1))
    return inside, safe, values


def _rq_log_derivative(xi: np.ndarray, s: np.ndarray, d0: np.ndarray,
                       d1: np.ndarray) -> np.ndarray:
    t = xi * (1 - xi)
    denominator = s + (d0 + d1 - 2 * s) * t
    numerator = d1 * xi * xi + 2 * s * t + d0 * (1 - xi) * (1 - xi)
    return 2 * np.log(s) + np.log(numerator) - 2 * np.log(denominator)  # type: ignore[no-any-return]


def rq_spline(
    x: Any, x_knots: Any, y_knots: Any, derivatives: Any, inverse: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Monotone rational-quadratic spline (Durkan et al., 2019), element-wise, with identity
    tails; its log-derivative.

    Element ``(i, j)`` uses the knots of dimension j (of row i when the knots are given per
    row): ``x_knots[.., j, :]``, ``y_knots[.., j, :]`` and the derivatives at the knots.
    Inside ``[x_0, x_K]`` the bin k with ``x_k <= x < x_{k+1}`` (the last knot belongs to the
    last bin) maps x with ``w = x_{k+1} - x_k``, ``h = y_{k+1} - y_k``, ``s = h / w``,
    ``xi = (x - x_k) / w``::

        y = y_k + h (s xi^2 + d_k xi (1 - xi)) / (s + (d_k + d_{k+1} - 2 s) xi (1 - xi))

    Outside, ``y = x`` and the log-derivative is 0 (so are infinities); NaN gives NaN in both
    outputs.

    Parameters
    ----------
    x : array_like, shape (n, d)
        The inputs; the outputs y when ``inverse`` is true.
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
    >>> import numpy as np
    >>> from revcore import reference
    >>> x_knots, y_knots = np.array([[-1.0, 0.0, 1.0]]), np.array([[-1.0, 0.5, 1.0]])
    >>> derivatives = np.ones((1, 3))
    >>> y, log_derivative = reference.rq_spline([[0.5], [2.0]], x_knots, y_knots, derivatives)
    >>> y
    array([[0.75],
           [2.  ]])
    >>> np.round(log_derivative, 4)
    array([[-1.0986],
           [ 0.    ]])
    >>> reference.rq_spline(y, x_knots, y_knots, derivatives, inverse=True)[0]
    array([[0.5],
           [2. ]])
    """
    v, xk, yk, dk, dtype = prepare_rq_spline(x, x_knots, y_knots, derivatives, inverse)
    v, xk, yk, dk = (a.astype(dtype, copy=False) for a in (v, xk, yk, dk))
    check_spline_knots("rq_spline", xk, yk, dk)
    inside, safe, (x0, x1, y0, y1, d0, d1) = _spline_setup(v, xk, yk, dk, bool(inverse))
    w, h = x1 - x0, y1 - y0
    s = h / w
    if inverse:
        r = safe - y0
        c2 = d0 + d1 - 2 * s
        a = h * (s - d0) + r * c2
        b = h * d0 - r * c2
        c = -s * r
        # b^2 - 4ac >= 0 in exact arithmetic; rounding may leave a tiny negative.
        root = np.sqrt(np.maximum(b * b - 4 * a * c, 0))
        # The root in [0, 1], in the form without cancellation for the sign of b: 2c / (-b -
        # root) for b >= 0, (root - b) / 2a for b < 0 (where a > 0); the other form loses
        # digits near the top of a bin whose end slope exceeds twice its mean slope.
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = np.where(b >= 0, 2 * c / (-b - root), (root - b) / (2 * a))
        out = x0 + xi * w
    else:
        xi = (safe - x0) / w
        t = xi * (1 - xi)
        out = y0 + h * (s * xi * xi + d0 * t) / (s + (d0 + d1 - 2 * s) * t)
    log_derivative = np.where(inside, _rq_log_derivative(xi, s, d0, d1), 0).astype(dtype)
    log_derivative[np.isnan(v)] = np.nan
    return np.where(inside, out, v).astype(dtype), log_derivative


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
    >>> import numpy as np
    >>> from revcore import reference
    >>> x_knots, y_knots = np.array([[-1.0, 0.0, 1.0]]), np.array([[-1.0, 0.5, 1.0]])
    >>> grads = reference.rq_spline_backward([[0.5], [2.0]], x_knots, y_knots,
    ...                                      np.ones((1, 3)), np.ones((2, 1)), np.zeros((2, 1)))
    >>> np.round(grads[0], 4)  # dy/dx
    array([[0.3333],
           [1.    ]])
    >>> np.round(grads[2], 4)  # dy/dy_knots: the bin's end points only
    array([[0. , 0.5, 0.5]])
    """
    v, xk, yk, dk, g_out, g_log, dtype = prepare_rq_spline_backward(
        x, x_knots, y_knots, derivatives, grad_out, grad_log_derivative)
    v, xk, yk, dk, g_out, g_log = (a.astype(dtype, copy=False)
                                   for a in (v, xk, yk, dk, g_out, g_log))
    check_spline_knots("rq_spline_backward", xk, yk, dk)
    inside, safe, (x0, x1, y0, y1, d0, d1) = _spline_setup(v, xk, yk, dk, False)
    gy, gl = np.where(inside, g_out, 0), np.where(inside, g_log, 0)
    w, h = x1 - x0, y1 - y0
    s = h / w
    xi = (safe - x0) / w
    t = xi * (1 - xi)
    c2 = d0 + d1 - 2 * s
    den = s + c2 * t                                   # D
    num = s * xi * xi + d0 * t                         # N, y = y_k + h N / D
    slope_num = d1 * xi * xi + 2 * s * t + d0 * (1 - xi) * (1 - xi)  # M, dy/dx = s^2 M / D^2
    q = num / den
    # Partial derivatives of D, N and M with respect to s, xi, d_k, d_{k+1}.
    den_s, den_xi, den_d = 1 - 2 * t, c2 * (1 - 2 * xi), t
    num_s, num_xi, num_d0 = xi * xi, 2 * s * xi + d0 * (1 - 2 * xi), t
    slope_s = 2 * t
    slope_xi = 2 * d1 * xi + 2 * s * (1 - 2 * xi) - 2 * d0 * (1 - xi)
    slope_d0, slope_d1 = (1 - xi) * (1 - xi), xi * xi

    def through(n_part: Any, d_part: Any, m_part: Any) -> np.ndarray:
        """dL/dtheta for one of s, xi, d_k, d_{k+1} (the direct dependence only)."""
        return gy * h * (n_part - q * d_part) / den + gl * (m_part / slope_num
                                                           - 2 * d_part / den)

    g_s = through(num_s, den_s, slope_s) + gl * 2 / s
    g_xi = through(num_xi, den_xi, slope_xi)
    g_d0 = through(num_d0, den_d, slope_d0)
    g_d1 = through(0, den_d, slope_d1)
    g_h = gy * q + g_s / w                             # s = h / w
    g_w = -(g_s * s + g_xi * xi) / w                   # s = h / w, xi = (x - x_k) / w
    grad_x = np.where(inside, g_xi / w, g_out)
    grad_x[np.isnan(v)] = np.nan

    full = (*v.shape, xk.shape[-1])
    k = (np.broadcast_to(xk, full)[..., 1:-1] <= safe[..., None]).sum(axis=-1)[..., None]
    grads = []
    for low, high in ((-g_xi / w - g_w, g_w), (gy - g_h, g_h), (g_d0, g_d1)):
        grad = np.zeros(full, dtype)
        np.put_along_axis(grad, k, low[..., None], axis=-1)
        np.put_along_axis(grad, k + 1, high[..., None], axis=-1)  # k + 1 != k: no overlap
        grads.append(grad if xk.ndim == 3 else grad.sum(axis=0))
    return grad_x.astype(dtype, copy=False), grads[0], grads[1], grads[2]


class _ReferenceBackend(Backend):
    """The network's passes written layer by layer with the functions above."""

    lu_factor = staticmethod(lu_factor)
    lu_solve = staticmethod(lu_solve)
    lu_condition_estimate = staticmethod(lu_condition_estimate)
    dense = staticmethod(dense)
    dense_backward = staticmethod(dense_backward)
    matmul = staticmethod(matmul)
    activate = staticmethod(activate)
    activate_inverse = staticmethod(activate_inverse)
    rq_spline = staticmethod(rq_spline)
    rq_spline_backward = staticmethod(rq_spline_backward)

    def forward(self, layers: Any, x: np.ndarray, context: Any = None) -> np.ndarray:
        return self.forward_layers(layers, x, context)

    def forward_log_det(self, layers: Any, x: np.ndarray,
                        context: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self.forward_log_det_layers(layers, x, context)

    def prepare_inverse(self, layers: Any, factors: Any, dtype: Any) -> Any:
        return factors

    def inverse(self, layers: Any, factors: Any, y: np.ndarray,
                context: Any = None) -> tuple[np.ndarray, Failure | None]:
        return self.inverse_layers(layers, factors, y, context)


class Network(_NativeNetwork):
    __doc__ = _NativeNetwork.__doc__
    _backend = _ReferenceBackend()


class Adam(_NativeAdam):
    """Adam with every step in numpy (:func:`revcore._optimizers.adam_update`): the oracle
    of the native step."""

    native = False


def load(path: Any) -> Network | InvertibleClassifier:
    """Read what Network.save or InvertibleClassifier.save wrote: a reference Network, or
    a classifier whose ``network_`` is one."""
    return load_file(path, Network)
