"""Correctness of the GEMM kernels through the dev module, on every kernel path.

Run: PYTHONPATH=/tmp/gemm-dev-build python3 -m pytest -q dev/test_gemm_dev.py
"""

import itertools

import numpy as np
import pytest

_gemm_dev = pytest.importorskip("_gemm_dev")

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 2, 3, 7, 8, 13, 16, 17, 31, 64, 97, 128, 257]
ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4}


def available_archs():
    found = []
    for arch in ["generic", "avx2", "avx512"]:
        _gemm_dev.set_arch(arch)
        if _gemm_dev.kernel_name() == arch:
            found.append(arch)
    _gemm_dev.set_arch("auto")
    return found


ARCHS = available_archs()


@pytest.fixture(params=ARCHS)
def arch(request):
    _gemm_dev.set_arch(request.param)
    yield request.param
    _gemm_dev.set_arch("auto")


def layout(x, kind):
    """The same values as x, stored as kind: C order, F order, reversed, or strided."""
    if kind == "C":
        return np.ascontiguousarray(x)
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "neg":
        buf = np.ascontiguousarray(x[::-1, ::-1])
        return buf[::-1, ::-1]
    if kind == "strided":
        buf = np.zeros((2 * x.shape[0] + 1, 3 * x.shape[1] + 1), dtype=x.dtype)
        view = buf[1::2, 1::3][: x.shape[0], : x.shape[1]]
        view[...] = x
        return view
    raise ValueError(kind)


def reference_tolerance(dtype, k):
    eps = np.finfo(dtype).eps
    return 4 * (k + 4) * eps


def check_gemm(m, n, k, dtype, kinds, alpha=1.5, beta=-0.5, rng=None):
    rng = rng or np.random.default_rng(m * 10007 + n * 101 + k)
    a64 = rng.standard_normal((m, k))
    b64 = rng.standard_normal((k, n))
    c64 = rng.standard_normal((m, n))
    a = layout(a64.astype(dtype), kinds[0])
    b = layout(b64.astype(dtype), kinds[1])
    c = layout(c64.astype(dtype), kinds[2])
    c_in = c.astype(np.float64)
    if beta == 0:
        c[...] = np.nan
    _gemm_dev.gemm(alpha, a, b, beta, c)
    a_used, b_used = a.astype(np.float64), b.astype(np.float64)
    expected = alpha * (a_used @ b_used) + (beta * c_in if beta != 0 else 0)
    scale = abs(alpha) * (np.abs(a_used) @ np.abs(b_used)) + abs(beta) * np.abs(c_in) + 1e-30
    err = np.abs(c.astype(np.float64) - expected) / scale
    assert np.all(np.isfinite(c)), "non-finite output"
    assert err.max(initial=0) <= reference_tolerance(dtype, k), (m, n, k, kinds, err.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
def test_square_sizes(arch, dtype, size):
    check_gemm(size, size, size, dtype, ("C", "C", "C"))


LAYOUTS = list(itertools.product(["C", "F", "neg", "strided"], repeat=3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kinds", LAYOUTS, ids=lambda k: "-".join(k))
def test_layouts(arch, dtype, kinds):
    for m, n, k in [(13, 31, 17), (1, 97, 64), (97, 1, 31), (64, 17, 1), (2, 3, 257)]:
        check_gemm(m, n, k, dtype, kinds)


def random_shapes(count, seed=7):
    rng = np.random.default_rng(seed)
    return [tuple(int(s) for s in rng.choice(SIZES, 3)) for _ in range(count)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", random_shapes(40), ids=str)
def test_random_shapes(arch, dtype, shape):
    kinds = [("C", "C", "C"), ("C", "F", "C"), ("F", "C", "F"), ("neg", "strided", "C")]
    kinds = kinds[sum(shape) % len(kinds)]
    check_gemm(*shape, dtype, kinds)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "alpha,beta", [(1.0, 0.0), (1.0, 1.0), (-1.0, 1.0), (0.0, 2.0), (0.0, 0.0), (2.5, -3.0)]
)
def test_alpha_beta(arch, dtype, alpha, beta):
    for m, n, k in [(37, 45, 29), (1, 33, 20), (50, 1, 9), (130, 70, 400)]:
        check_gemm(m, n, k, dtype, ("C", "C", "C"), alpha=alpha, beta=beta)
        check_gemm(m, n, k, dtype, ("F", "C", "F"), alpha=alpha, beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocking_boundaries(arch, dtype):
    # k > KC (several passes), m > MC, n > NC, big enough for both threads.
    for m, n, k in [(40, 30, 1100), (1601, 35, 20), (45, 900, 30), (300, 301, 302)]:
        check_gemm(m, n, k, dtype, ("C", "C", "C"))
        check_gemm(m, n, k, dtype, ("C", "F", "C"), beta=0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lu_trailing_update(arch, dtype):
    # alpha=-1, beta=1 on strided sub-blocks of one matrix, as an LU trailing update.
    rng = np.random.default_rng(3)
    for n, kb in [(300, 32), (97, 13)]:
        full = rng.standard_normal((n, n)).astype(dtype)
        expected = full.astype(np.float64)
        expected[kb:, kb:] -= expected[kb:, :kb] @ expected[:kb, kb:]
        _gemm_dev.gemm(-1.0, full[kb:, :kb], full[:kb, kb:], 1.0, full[kb:, kb:])
        np.testing.assert_allclose(full, expected, rtol=0, atol=reference_tolerance(dtype, kb) * 10)


def test_zero_k_and_empty(arch):
    for dtype in DTYPES:
        c = np.ones((3, 4), dtype)
        _gemm_dev.gemm(1.0, np.zeros((3, 0), dtype), np.zeros((0, 4), dtype), 2.0, c)
        assert np.all(c == 2)
        c[...] = np.nan
        _gemm_dev.gemm(1.0, np.zeros((3, 0), dtype), np.zeros((0, 4), dtype), 0.0, c)
        assert np.all(c == 0)
        _gemm_dev.gemm(1.0, np.zeros((0, 5), dtype), np.zeros((5, 4), dtype), 0.0,
                       np.zeros((0, 4), dtype))
        bias = np.arange(4, dtype=dtype) - 1.5
        c[...] = np.nan
        _gemm_dev.gemm_bias_act(np.zeros((3, 0), dtype), np.zeros((0, 4), dtype), c, bias, 1)
        np.testing.assert_array_equal(c, np.maximum(np.broadcast_to(bias, (3, 4)), 0))
        _gemm_dev.gemm_bias_act(np.zeros((3, 0), dtype), np.zeros((0, 4), dtype), c, None, 4)
        np.testing.assert_array_equal(c, 0.5)


def act_reference(z, act, slope):
    if act == "identity":
        return z
    if act == "relu":
        return np.maximum(z, 0)
    if act == "leaky_relu":
        return np.maximum(z, slope * z)
    if act == "tanh":
        return np.tanh(z)
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("kinds", [("C", "C", "C"), ("C", "F", "C"), ("F", "C", "F"),
                                   ("neg", "strided", "neg")], ids="-".join)
def test_bias_act(arch, dtype, act, kinds):
    rng = np.random.default_rng(11)
    slope = 0.1
    for m, n, k in [(1, 64, 64), (1, 257, 31), (5, 1, 7), (33, 70, 40), (130, 97, 500),
                    (256, 256, 256)]:
        a = layout((rng.standard_normal((m, k)) / np.sqrt(k)).astype(dtype), kinds[0])
        b = layout(rng.standard_normal((k, n)).astype(dtype), kinds[1])
        bias = rng.standard_normal(n).astype(dtype)
        c = layout(np.full((m, n), np.nan, dtype), kinds[2])
        _gemm_dev.gemm_bias_act(a, b, c, bias, ACTIVATIONS[act], slope)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        z = a64 @ b64 + bias
        delta = reference_tolerance(dtype, k) * (np.abs(a64) @ np.abs(b64) + np.abs(bias))
        expected = act_reference(z, act, slope)
        eps = np.finfo(dtype).eps
        err = np.abs(c - expected) - (delta + 8 * eps * np.abs(expected))
        assert err.max() <= 0, (m, n, k, act, err.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_activation_accuracy(arch, dtype, act):
    """act(bias) via k == 0 exercises the vectorised exp/tanh alone."""
    rng = np.random.default_rng(5)
    z = np.concatenate([
        np.linspace(-30, 30, 20001), rng.standard_normal(5000) * 5,
        np.geomspace(1e-30, 1, 2000), -np.geomspace(1e-30, 1, 2000),
        np.array([0.0, -0.0, 1e-300, 20, 40, 80, 200, 700, 745, -100, -700, -745, -800]),
    ]).astype(dtype)
    c = np.empty((1, z.size), dtype)
    _gemm_dev.gemm_bias_act(np.zeros((1, 0), dtype), np.zeros((0, z.size), dtype), c, z,
                            ACTIVATIONS[act])
    expected = act_reference(z.astype(np.float64), act, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(expected != 0, np.abs(c[0] - expected) / np.abs(expected),
                       np.abs(c[0]))
    tiny = np.finfo(dtype).tiny
    rel = rel[np.abs(expected) > tiny / np.finfo(dtype).eps]  # skip the subnormal range
    limit = 4e-7 if dtype == np.float32 else 1e-15
    assert rel.max() < limit, (act, dtype, rel.max(), z[np.argmax(rel)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_special_values(arch, dtype):
    z = np.array([np.nan, np.inf, -np.inf, -1e4, 1e4, -0.0, 0.0, 3.0, -3.0] * 3, dtype)
    for act in ACTIVATIONS:
        c = np.empty((1, z.size), dtype)
        _gemm_dev.gemm_bias_act(np.zeros((1, 0), dtype), np.zeros((0, z.size), dtype), c, z,
                                ACTIVATIONS[act], 0.1)
        with np.errstate(over="ignore", invalid="ignore"):
            expected = act_reference(z.astype(np.float64), act, 0.1).astype(dtype)
        np.testing.assert_allclose(c[0], expected, rtol=1e-6, err_msg=act)
    # NaN in the product (not only in the bias) also propagates.
    a = np.ones((3, 4), dtype)
    a[1, 2] = np.nan
    c = np.zeros((3, 40), dtype)
    for act in ACTIVATIONS:
        _gemm_dev.gemm_bias_act(a, np.ones((4, 40), dtype), c, None, ACTIVATIONS[act], 0.1)
        assert np.all(np.isnan(c[1])) and not np.any(np.isnan(c[[0, 2]])), act


def test_threads_setting():
    n = _gemm_dev.get_num_threads()
    assert n >= 1
    _gemm_dev.set_num_threads(1)
    assert _gemm_dev.get_num_threads() == 1
    check_gemm(300, 300, 300, np.float64, ("C", "C", "C"))
    _gemm_dev.set_num_threads(n)
    with pytest.raises(ValueError):
        _gemm_dev.set_num_threads(0)
    with pytest.raises(ValueError):
        _gemm_dev.set_arch("sse9")


def test_concurrent_callers():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(2)
    jobs = []
    for i in range(24):
        size = [20, 150, 300][i % 3]
        dtype = DTYPES[i % 2]
        jobs.append((rng.standard_normal((size, size)).astype(dtype),
                     rng.standard_normal((size, size)).astype(dtype)))

    def run(job):
        a, b = job
        c = np.empty((a.shape[0], b.shape[1]), a.dtype)
        _gemm_dev.gemm(1.0, a, b, 0.0, c)
        return c

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, jobs))
    for (a, b), c in zip(jobs, results):
        expected = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(c, expected, rtol=0,
                                   atol=reference_tolerance(a.dtype, a.shape[1]) * 50 * a.shape[1])
