"""Property tests (hypothesis) of the whole public API against revcore.reference.

Random shapes (0, 1, small and larger primes), dtypes (every one a user may pass: the
documented TypeError for bool, complex, object and strings), memory layouts (C, Fortran,
strided, negative strides, read-only, misaligned views of a byte buffer) and values (NaN,
inf, -0.0, subnormals, huge and tiny magnitudes). Every call must give the reference's answer
(within a rounding bound where the reference is finite, NaN where it is NaN) or the same
exception as the reference, never crash, and never modify its inputs.

Values are drawn with numpy from a hypothesis-chosen seed and value mode: hypothesis explores
and shrinks the shapes, dtypes, layouts and modes while numpy fills arrays of any size fast.
``REVCORE_FUZZ=1`` runs 20x more examples per test.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import revcore
from revcore import reference
from support import ACTIVATIONS, layout

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    # hypothesis imports libcst to print a patch for a failing example, which warns (a
    # DeprecationWarning of mypy_extensions) and warnings are errors: import it quietly now.
    warnings.simplefilter("ignore")
    try:
        import hypothesis.extra._patching
    except ImportError:  # pragma: no cover
        pass

settings.register_profile(
    "revcore-ci", max_examples=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # no "explain" phase: it imports a module that warns, and warnings are errors here
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile("revcore-fuzz", parent=settings.get_profile("revcore-ci"),
                          max_examples=1200)
PROFILE = settings.get_profile("revcore-fuzz" if os.environ.get("REVCORE_FUZZ") == "1"
                               else "revcore-ci")

REAL_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8]
REFUSED_DTYPES = [np.bool_, np.complex128, np.complex64, object, "U3"]
ALL_DTYPES = REAL_DTYPES + REFUSED_DTYPES
SMALL = [0, 1, 2, 3, 5, 7, 13, 31, 64, 67]
LARGE = [127, 257, 521]
LAYOUTS = ["C", "F", "strided", "negative", "negative2", "readonly", "misaligned"]
MODES = ["normal", "integers", "specials", "huge", "tiny", "subnormal", "mixed"]
SLOPES = [0.01, 0.5, 1.0, 3.0]

dims = st.sampled_from(SMALL)
dims_or_large = st.one_of(dims, dims, dims, st.sampled_from(LARGE))


# -- inputs -------------------------------------------------------------------------------


def fill(rng: np.random.Generator, shape: tuple[int, ...], mode: str) -> np.ndarray:
    """float64 values of a kind named by mode; 'specials' sprinkles NaN, +-inf and -0.0."""
    size = int(np.prod(shape))
    values = rng.standard_normal(size)
    if mode == "integers":
        values = rng.integers(-3, 4, size).astype(np.float64)
    elif mode == "huge":
        values *= 10.0 ** rng.integers(100, 308, size)
    elif mode == "tiny":
        values *= 10.0 ** -rng.integers(100, 300, size)
    elif mode == "subnormal":
        values *= 1e-310
    elif mode in ("specials", "mixed"):
        pool = [np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, -1e-310, 1e300, -1e-300, 1e38,
                1e-40]
        if mode == "specials":
            pool = pool[:5]
        chosen = rng.random(size) < 0.15
        values[chosen] = rng.choice(pool, int(chosen.sum()))
    return values.reshape(shape)


def make(rng: np.random.Generator, shape: tuple[int, ...], dtype, mode: str,
         kind: str) -> np.ndarray:
    """An array of `dtype` with values of `mode` in memory layout `kind`."""
    values = fill(rng, shape, mode)
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        if dtype.kind in "iu":
            values = np.nan_to_num(values, nan=0, posinf=7, neginf=-7)
            info = np.iinfo(dtype)
            values = np.clip(values, info.min, info.max).astype(dtype)
        elif dtype.kind == "U":
            values = values.astype(dtype)
        else:
            values = values.astype(dtype)
    if dtype.kind in "OU":
        return values  # no byte-buffer views of Python objects
    return arrange(values, kind)


def arrange(values: np.ndarray, kind: str) -> np.ndarray:
    """conftest.layout, plus "negative2": negative strides along both axes of a matrix."""
    if kind != "negative2":
        return layout(values, kind)
    if values.ndim < 2:
        return layout(values, "negative")
    out = values[::-1, ::-1].copy()[::-1, ::-1]
    np.testing.assert_array_equal(out, values)
    return out


def snapshot(*arrays):
    return [(a, np.array(a, copy=True)) for a in arrays if isinstance(a, np.ndarray)]


def assert_unchanged(snapshots) -> None:
    for array, copy in snapshots:
        if array.dtype.kind == "O":
            assert all(x is y for x, y in zip(array.ravel(), copy.ravel()))
        elif array.dtype.kind == "U":
            assert (array == copy).all()
        else:
            assert array.tobytes() == copy.tobytes(), "an input was modified"


def call_both(name: str, *args, **kwargs):
    """(native result or exception, reference result or exception); asserts that exceptions
    agree in type and message and that no input was modified."""
    snaps = snapshot(*args, *kwargs.values())
    outcomes = []
    for module in (revcore, reference):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outcomes.append(getattr(module, name)(*args, **kwargs))
            except (TypeError, ValueError) as error:
                outcomes.append(error)
        assert_unchanged(snaps)
    native, ref = outcomes
    if isinstance(ref, Exception) or isinstance(native, Exception):
        assert type(native) is type(ref), (native, ref)
        assert str(native) == str(ref)
    return native, ref


def result_dtype(*dtypes) -> np.dtype | None:
    """The documented result dtype, or None when some dtype must be refused."""
    out = []
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        if dtype.kind in "iu":
            out.append(np.dtype(np.float64))
        elif dtype == np.float16:
            out.append(np.dtype(np.float32))
        elif dtype.kind == "f":
            out.append(dtype)
        else:
            return None
    return np.result_type(*out)


def assert_matches(native, ref, bound, dtype) -> None:
    """native == ref within `bound` (elementwise, float64) where ref is finite and the bound
    is finite; NaN exactly where ref is NaN when the bound is finite; the same infinities."""
    native, ref = np.asarray(native), np.asarray(ref)
    assert native.shape == ref.shape and native.dtype == ref.dtype == dtype
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), ref.shape)
    defined = np.isfinite(bound)
    r = ref.astype(np.float64)
    n = native.astype(np.float64)
    assert np.array_equal(np.isnan(n)[defined], np.isnan(r)[defined]), "NaN pattern differs"
    infinite = defined & np.isinf(r)
    assert np.array_equal(n[infinite], r[infinite]), "infinities differ"
    finite = defined & np.isfinite(r)
    subnormal = float(np.finfo(dtype).smallest_subnormal)
    error = np.abs(n[finite] - r[finite])
    assert np.all(error <= bound[finite] + 4 * subnormal), (
        f"worst error {np.max(error - bound[finite], initial=0):.3g} beyond the bound")


def product_bound(a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rounding bound of a @ b: 2 k eps (|a| |b|), inf where the exact product may overflow
    (or the operands hold NaN/inf and the result is decided by the non-finite terms)."""
    a64 = np.nan_to_num(np.abs(a.astype(np.float64)), nan=0.0, posinf=0.0)
    b64 = np.nan_to_num(np.abs(b.astype(np.float64)), nan=0.0, posinf=0.0)
    with np.errstate(all="ignore"):
        scale = a64 @ b64
        k = a.shape[1]
        bound = 2 * (k + 2) * float(np.finfo(dtype).eps) * scale
        # products may underflow to subnormals in either library: k half-ulps of tiny each
        bound = bound + k * float(np.finfo(dtype).smallest_subnormal)
    bound[~(scale < float(np.finfo(dtype).max) / 4)] = np.inf
    return bound


def seeds():
    return st.integers(0, 2**32 - 1)


# -- matmul -------------------------------------------------------------------------------


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    m=dims_or_large, k=dims, n=dims_or_large, a_ndim=st.sampled_from([1, 2, 2]),
    b_ndim=st.sampled_from([1, 2, 2]),
    a_dtype=st.sampled_from(ALL_DTYPES), b_dtype=st.sampled_from(REAL_DTYPES),
    a_layout=st.sampled_from(LAYOUTS), b_layout=st.sampled_from(LAYOUTS),
    mode=st.sampled_from(MODES), seed=seeds(), swap=st.booleans(),
)
def test_matmul(m, k, n, a_ndim, b_ndim, a_dtype, b_dtype, a_layout, b_layout, mode, seed,
                swap):
    if swap:
        a_dtype, b_dtype = b_dtype, a_dtype
    rng = np.random.default_rng(seed)
    a_shape = (k,) if a_ndim == 1 else (m, k)
    b_shape = (k,) if b_ndim == 1 else (k, n)
    a = make(rng, a_shape, a_dtype, mode, a_layout)
    b = make(rng, b_shape, b_dtype, mode, b_layout)
    native, ref = call_both("matmul", a, b)
    dtype = result_dtype(a.dtype, b.dtype)
    if dtype is None:
        assert isinstance(native, TypeError)
        return
    a2 = a.reshape(1, k) if a_ndim == 1 else a
    b2 = b.reshape(k, 1) if b_ndim == 1 else b
    bound = product_bound(a2, b2, dtype).reshape(np.shape(ref))
    assert_matches(native, ref, bound, dtype)


def test_matmul_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        revcore.matmul(np.ones((3, 4)), np.ones((5, 2)))


# -- dense and dense_backward -------------------------------------------------------------


def activation_bound(z_bound, y_ref, name, slope, dtype):
    """Error bound of act(z) given an error bound on z: the activation's Lipschitz constant
    times the bound, plus a few ulps of the result (libm vs numpy)."""
    lipschitz = {"identity": 1.0, "relu": 1.0, "leaky_relu": max(1.0, slope), "tanh": 1.0,
                 "sigmoid": 0.25}[name]
    with np.errstate(all="ignore"):
        return lipschitz * z_bound + 8 * float(np.finfo(dtype).eps) * np.abs(
            np.nan_to_num(y_ref.astype(np.float64), nan=0, posinf=0, neginf=0))


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    batch=dims_or_large, n_in=dims, n_out=dims, single=st.booleans(), with_bias=st.booleans(),
    x_dtype=st.sampled_from(ALL_DTYPES), w_dtype=st.sampled_from(REAL_DTYPES),
    x_layout=st.sampled_from(LAYOUTS), w_layout=st.sampled_from(LAYOUTS),
    activation=st.sampled_from(ACTIVATIONS), slope=st.sampled_from(SLOPES),
    mode=st.sampled_from(MODES), seed=seeds(),
)
def test_dense(batch, n_in, n_out, single, with_bias, x_dtype, w_dtype, x_layout, w_layout,
               activation, slope, mode, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (n_in,) if single else (batch, n_in), x_dtype, mode, x_layout)
    w = make(rng, (n_out, n_in), w_dtype, mode, w_layout)
    bias = make(rng, (n_out,), w_dtype, "normal", x_layout) if with_bias else None
    native, ref = call_both("dense", x, w, bias, activation, slope)
    dtype = result_dtype(*(a.dtype for a in (x, w, bias) if a is not None))
    if dtype is None:
        assert isinstance(native, TypeError)
        return
    x2 = x.reshape(1, n_in) if single else x
    z_bound = product_bound(x2, w.T, dtype)
    if bias is not None:
        z_bound = z_bound + 2 * float(np.finfo(dtype).eps) * np.abs(bias.astype(np.float64))
    if single:
        z_bound = z_bound[0]
    assert_matches(native, ref, activation_bound(z_bound, np.asarray(ref), activation, slope,
                                                 dtype), dtype)


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    batch=dims, n_in=dims, n_out=dims, single=st.booleans(),
    dtype=st.sampled_from(ALL_DTYPES), other=st.sampled_from(REAL_DTYPES),
    kind=st.sampled_from(LAYOUTS), activation=st.sampled_from(ACTIVATIONS),
    slope=st.sampled_from(SLOPES), mode=st.sampled_from(["normal", "integers", "specials",
                                                          "tiny"]),
    seed=seeds(),
)
def test_dense_backward(batch, n_in, n_out, single, dtype, other, kind, activation, slope,
                        mode, seed):
    rng = np.random.default_rng(seed)
    lead = () if single else (batch,)
    x = make(rng, lead + (n_in,), dtype, mode, kind)
    w = make(rng, (n_out, n_in), other, mode, kind)
    z = make(rng, lead + (n_out,), other, mode, kind)
    g = make(rng, lead + (n_out,), dtype, mode, kind)
    native, ref = call_both("dense_backward", x, w, z, g, activation, slope)
    result = result_dtype(x.dtype, w.dtype, z.dtype, g.dtype)
    if result is None:
        assert isinstance(native, TypeError)
        return
    x2, _, g2 = (a.reshape(1, -1) if single else a for a in (x, z, g))
    # grad_z = g f'(z) with |f'| <= max(1, slope): bounds of the products through |grad_z|
    with np.errstate(all="ignore"):
        gz = np.abs(g2.astype(np.float64)) * max(1.0, slope)
    bounds = [product_bound(gz, w, result), product_bound(gz.T, x2, result)]
    if single:
        bounds[0] = bounds[0][0]
    for out, expected, bound in zip(native[:2], ref[:2], bounds):
        # relative error of grad_z itself (activation derivative, a few ulps) adds 8 eps
        assert_matches(out, expected, bound * 1.5, result)
    gb_bound = product_bound(np.ones((1, gz.shape[0])), gz, result)[0] * 1.5
    assert_matches(native[2], ref[2], gb_bound, result)


# -- activations --------------------------------------------------------------------------


def elementwise_bound(x: np.ndarray, ref: np.ndarray, name: str, function: str,
                      dtype) -> np.ndarray:
    eps = float(np.finfo(dtype).eps)
    x64 = np.nan_to_num(np.abs(x.astype(np.float64)), nan=0, posinf=0)
    r64 = np.nan_to_num(np.abs(ref.astype(np.float64)), nan=0, posinf=0)
    with np.errstate(all="ignore"):
        if function == "activate_derivative":
            return 4 * eps + 0 * r64  # derivatives are at most 1; 1 - t^2 cancels
        if function == "activate_inverse" and name == "sigmoid":
            # log(y) - log1p(-y): each term's rounding, relative to its own size
            return 8 * eps * (np.abs(np.log(x64)) + np.abs(np.log1p(-x64)) + r64)
        if function == "activate" and name == "sigmoid":
            # the reference's exp(-logaddexp(0, -x)) carries eps |x| of relative error
            return 8 * eps * r64 * (1 + x64)
        return 8 * eps * r64


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    shape=st.lists(st.sampled_from([0, 1, 2, 5, 13, 67]), max_size=3).map(tuple),
    dtype=st.sampled_from(ALL_DTYPES), kind=st.sampled_from(LAYOUTS),
    name=st.sampled_from(ACTIVATIONS + ["softplus"]),
    function=st.sampled_from(["activate", "activate_inverse", "activate_derivative"]),
    slope=st.sampled_from(SLOPES + [0.0, -1.0, float("nan")]), mode=st.sampled_from(MODES),
    squash=st.booleans(), seed=seeds(),
)
def test_activations(shape, dtype, kind, name, function, slope, mode, squash, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, mode, kind if shape else "C")
    if squash and np.dtype(dtype).kind == "f" and function == "activate_inverse":
        # mostly inside (0, 1) and (-1, 1), so that the inverses have something to invert
        with np.errstate(all="ignore"):
            x = np.asarray(np.tanh(x) if name == "tanh" else 1 / (1 + np.exp(-x)), dtype=dtype)
    native, ref = call_both(function, x, name, slope)
    if isinstance(ref, Exception):
        return
    result = result_dtype(x.dtype)
    assert_matches(native, ref, elementwise_bound(x, np.asarray(ref), name, function, result),
                   result)


# -- LU -----------------------------------------------------------------------------------


def permute(a: np.ndarray, piv: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    for i, p in enumerate(piv):
        out[[i, p]] = out[[p, i]]
    return out


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    m=dims_or_large, n=dims, square=st.booleans(), dtype=st.sampled_from(ALL_DTYPES),
    kind=st.sampled_from(LAYOUTS), mode=st.sampled_from(MODES), check_finite=st.booleans(),
    seed=seeds(),
)
def test_lu_factor(m, n, square, dtype, kind, mode, check_finite, seed):
    if square:
        m = n
    rng = np.random.default_rng(seed)
    a = make(rng, (m, n), dtype, mode, kind)
    native, ref = call_both("lu_factor", a, check_finite=check_finite)
    result = result_dtype(a.dtype)
    if result is None or isinstance(ref, Exception):
        return
    (lu, piv), (lu_ref, piv_ref) = native, ref
    k = min(m, n)
    assert lu.shape == (m, n) and lu.dtype == result
    assert piv.shape == (k,) and piv.dtype == np.int32
    assert np.all((piv >= np.arange(k)) & (piv < max(m, 1)))
    a64 = a.astype(np.float64)
    if not np.isfinite(a64).all() or mode in ("huge", "subnormal", "tiny", "mixed"):
        return  # garbage in, no crash out; scaling extremes: pivot choices may differ
    # Backward stability: |P A - L U| <= c k eps |L| |U| entrywise (Higham, Thm 9.3).
    lower = np.tril(lu[:, :k].astype(np.float64), -1) + np.eye(m, k)
    upper = np.triu(lu[:k, :].astype(np.float64))
    bound = 4 * (k + 2) * float(np.finfo(result).eps) * (np.abs(lower) @ np.abs(upper))
    assert np.all(np.abs(permute(a64, piv) - lower @ upper) <= bound + 1e-300)
    assert np.all(np.abs(np.tril(lu[:, :k], -1)) <= 1)
    if np.array_equal(piv, piv_ref) and k <= 64:
        # Same pivots (no near-ties broken differently): the same factors to rounding.
        scale = np.abs(lower) @ np.abs(upper)
        assert_matches(lu, lu_ref, 4 * (k + 2) * float(np.finfo(result).eps) * (
            1 + scale) * 1e2, result)


def conditioned(rng, n: int) -> np.ndarray:
    """A random n x n matrix with 2-norm condition number at most 3."""
    if n == 0:
        return np.zeros((0, 0))
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (q * rng.uniform(1, 3, n)) @ np.linalg.qr(rng.standard_normal((n, n)))[0]


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    n=st.one_of(dims, st.sampled_from([127, 131])), rhs=st.sampled_from([(), (1,), (3,), (5, 2)]),
    lu_dtype=st.sampled_from([np.float32, np.float64]), b_dtype=st.sampled_from(ALL_DTYPES),
    lu_layout=st.sampled_from(LAYOUTS), b_layout=st.sampled_from(LAYOUTS),
    trans=st.sampled_from([0, 1, 2]), mode=st.sampled_from(["normal", "integers", "specials",
                                                            "tiny", "huge"]),
    check_finite=st.booleans(), seed=seeds(),
)
def test_lu_solve(n, rhs, lu_dtype, b_dtype, lu_layout, b_layout, trans, mode, check_finite,
                  seed):
    rng = np.random.default_rng(seed)
    a = conditioned(rng, n).astype(lu_dtype)
    lu, piv = revcore.lu_factor(a)
    lu = arrange(lu, lu_layout)
    piv = layout(piv.astype(rng.choice([np.int32, np.int64])), "C")
    b = make(rng, (n,) + rhs, b_dtype, mode, b_layout)
    native, ref = call_both("lu_solve", (lu, piv), b, trans=trans, check_finite=check_finite)
    result = result_dtype(lu.dtype, b.dtype)
    if result is None:
        assert isinstance(native, TypeError)
        return
    if isinstance(ref, Exception):
        return
    b2 = b.reshape(n, int(np.prod(rhs))).astype(np.float64)
    if not np.isfinite(b2).all():
        return  # NaN/inf right-hand sides: no crash is the property (order-dependent NaNs)
    # x = A^-1 b with cond <= 3 (in float64 terms): bound relative to max |x| per column
    with np.errstate(all="ignore"):
        column = np.abs(np.asarray(ref, dtype=np.float64).reshape(b2.shape)).max(axis=0,
                                                                              initial=0)
        bound = 64 * (n + 2) * float(np.finfo(result).eps) * column
        bound = bound + 1e3 * (n + 2) * float(np.finfo(result).smallest_subnormal)
    bound[~(column < float(np.finfo(result).max) / 1e3)] = np.inf
    assert_matches(native, ref, np.broadcast_to(bound, b2.shape).reshape(np.shape(ref)),
                   result)


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    n=st.one_of(dims, st.sampled_from([127])), dtype=st.sampled_from([np.float32, np.float64]),
    kind=st.sampled_from(LAYOUTS), log_condition=st.floats(0, 6), seed=seeds(),
    norm1=st.sampled_from([None, 0.0, -1.0, float("nan"), float("inf"), True, "1"]),
)
def test_lu_condition_estimate(n, dtype, kind, log_condition, seed, norm1):
    rng = np.random.default_rng(seed)
    a = conditioned(rng, n)
    if n:
        a = a * np.geomspace(1, 10.0 ** -log_condition, n)
    a = a.astype(dtype)
    factors = revcore.lu_factor(a)
    factors = (arrange(factors[0], kind), factors[1])
    value = float(np.abs(a.astype(np.float64)).sum(axis=0).max(initial=0)) if norm1 is None \
        else norm1
    native, ref = call_both("lu_condition_estimate", factors, value)
    if isinstance(ref, Exception):
        return
    assert np.isfinite(native) and native >= 0
    # Hager's estimate is a lower bound of the exact value (to rounding), rarely far below.
    slack = 1 + 64 * n * float(np.finfo(dtype).eps) * ref
    assert native <= ref * slack + 1e-300
    assert native >= ref / 10


# -- Network ------------------------------------------------------------------------------


@PROFILE
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.given(
    width=st.sampled_from([1, 2, 3, 7, 13, 31, 67]), depth=st.integers(1, 4),
    activation=st.sampled_from(["identity", "leaky_relu", "tanh", "sigmoid"]),
    dtype=st.sampled_from([np.float32, np.float64]), batch=st.sampled_from([0, 1, 5, 13]),
    single=st.booleans(), x_dtype=st.sampled_from(ALL_DTYPES), kind=st.sampled_from(LAYOUTS),
    poison=st.sampled_from([None, np.nan, np.inf, -np.inf, 1.5, -0.0]), seed=seeds(),
)
def test_network_forward_and_inverse(width, depth, activation, dtype, batch, single, x_dtype,
                                     kind, poison, seed):
    rng = np.random.default_rng(seed)
    net = revcore.Network.random(width, depth, activation, dtype=dtype, seed=seed)
    ref_net = reference.Network(net.layers)
    shape = (width,) if single else (batch, width)
    x = make(rng, shape, x_dtype, "normal" if np.dtype(x_dtype).kind == "f" else "integers",
             kind)
    snaps = snapshot(x)
    outcomes = []
    for network in (net, ref_net):
        try:
            outcomes.append(network.forward(x))
        except (TypeError, ValueError) as error:
            outcomes.append(error)
        assert_unchanged(snaps)
    native, ref = outcomes
    if isinstance(ref, Exception):
        assert type(native) is type(ref) and str(native) == str(ref)
        return
    result = np.result_type(result_dtype(x.dtype), dtype)
    eps = float(np.finfo(result).eps)
    assert_matches(native, ref, 64 * depth * width * eps * (1 + np.abs(ref)), result)

    y = np.array(ref, dtype=result)
    if poison is not None and y.size:
        y.reshape(-1)[rng.integers(y.size)] = poison
    y = arrange(y, kind)
    snaps = snapshot(y)
    outcomes = []
    for network in (net, ref_net):
        try:
            outcomes.append(network.inverse(y))
        except revcore.NotInvertibleError as error:
            outcomes.append(error)
        assert_unchanged(snaps)
    native, ref = outcomes
    if isinstance(ref, Exception) or isinstance(native, Exception):
        # The same refusal: which layer, and (targets given by the caller) the same place.
        assert type(native) is type(ref), (native, ref)
        assert native.layer == ref.layer
        if native.layer == depth - 1:
            assert (native.rows, native.columns) == (ref.rows, ref.columns)
        return
    assert poison is None or y.size == 0 or poison == -0.0 or (activation in ("identity", "leaky_relu")
                                                and abs(poison) == 1.5)
    # Well-conditioned layers (condition 10): the two inverses differ by a few ulps per
    # layer, each layer multiplying what comes in by up to its condition number, so the
    # bound grows like 10^depth (relative to the size of the values and the layers' inverse
    # slopes). sigmoid's inverse has slope 1 / (y (1 - y)) >= 4 everywhere, so each sigmoid
    # layer multiplies the error by at least 4 more.
    slopes = 4.0 ** depth if activation == "sigmoid" else 1.0
    assert_matches(native, ref, 100 * 10.0**depth * width * slopes * eps * (1 + np.abs(ref)),
                   result)
