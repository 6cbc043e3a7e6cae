"""Network.inverse: the native reverse pass, refinement, error information and failures."""

from __future__ import annotations

import numpy as np
import pytest

import revcore
from revcore import reference
from support import DTYPES, eps

BATCHES = [1, 2, 3, 17, 33, 100]


def exact_inverse(net: revcore.Network, y: np.ndarray) -> np.ndarray:
    """The inverse of y through the float64 copy of net's weights, to about 1e-19 relative:
    long double targets and residuals, float64 corrections (the test's ground truth)."""
    x = np.asarray(y, dtype=np.longdouble)
    for layer in reversed(net.layers):
        w = layer.weight.astype(np.longdouble)
        a = np.longdouble(layer.negative_slope)
        if layer.activation == "leaky_relu":
            t = np.where(x > 0, x, x / a)
        elif layer.activation == "tanh":
            t = np.arctanh(x)
        else:
            t = x
        z = t - layer.bias.astype(np.longdouble)
        w64 = layer.weight.astype(np.float64)
        sol = np.linalg.solve(w64, z.astype(np.float64).T).T.astype(np.longdouble)
        for _ in range(4):
            r = z - sol @ w.T
            sol = sol + np.linalg.solve(w64, r.astype(np.float64).T).T
        x = sol
    return x


def relative_error(x: np.ndarray, exact: np.ndarray) -> np.ndarray:
    exact = np.asarray(exact, dtype=np.longdouble)
    return (np.abs(np.asarray(x, np.longdouble) - exact).max(axis=1)
            / np.abs(exact).max(axis=1)).astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("width", [1, 7, 16, 41])
def test_native_matches_reference(rng, width, batch, dtype):
    net = revcore.Network.random(width, 3, "leaky_relu", dtype=dtype, seed=int(rng.integers(99)),
                                 condition=10)
    x0 = rng.standard_normal((batch, width)).astype(dtype)
    y = net.forward(x0)
    x = net.inverse(y)
    expected = reference.Network(net.layers).inverse(y)
    assert x.dtype == dtype and x.shape == x0.shape
    # Both are backward-stable reverse passes through the same 3 layers (condition 10,
    # slopes 10): they may differ by the amplified roundings, cond * slope * depth * n * eps.
    scale = np.abs(expected).max() + 1
    np.testing.assert_allclose(x, expected, rtol=0, atol=300 * 3 * width * eps(dtype) * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
@pytest.mark.parametrize("condition", [10.0, 1e2, 1e4])
@pytest.mark.parametrize("refine", [0, 2])
def test_a_priori_bound_holds(rng, refine, condition, activation, dtype):
    width = 24
    net = revcore.Network.random(width, 3, activation, dtype=dtype, condition=condition,
                                 seed=int(rng.integers(1000)))
    x0 = (0.3 * rng.standard_normal((20, width))).astype(dtype)
    y = net.forward(x0)
    x, info = net.inverse(y, refine=refine, return_info=True)
    assert x.dtype == dtype
    assert info["residual"].shape == info["bound"].shape == (20,)
    assert len(info["condition_estimates"]) == 3
    error = relative_error(x, exact_inverse(net, y))
    assert np.all(error <= info["bound"]), (error.max(), info["bound"].min())
    # The measured residual is what refinement drives down: a few eps of the float64 check.
    assert np.all(info["residual"] <= 1e3 * width * eps(dtype))


@pytest.mark.parametrize("condition", [10.0, 1e2, 1e3, 1e4])
@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
def test_float32_refined_within_10x_of_float64(rng, activation, condition):
    width = 32
    net32 = revcore.Network.random(width, 2, activation, dtype=np.float32, condition=condition,
                                   seed=int(rng.integers(1000)))
    net64 = revcore.Network.from_weights(
        [layer.weight.astype(np.float64) for layer in net32.layers],
        [layer.bias.astype(np.float64) for layer in net32.layers], activation, 0.1)
    x0 = 0.3 * rng.standard_normal((16, width))
    y = net64.forward(x0)
    exact = exact_inverse(net64, y)
    error64 = relative_error(net64.inverse(y), exact)
    x32 = net32.inverse(y, refine=5)  # float64 targets: float32 factors, float64 refinement
    assert x32.dtype == np.float64
    error32 = relative_error(x32, exact)
    # Mixed-precision refinement converges to the float64 solve's accuracy when
    # cond * n * eps32 < 1; the floor (a few float64 ulps) covers samples where the float64
    # solve happens to be exact to rounding.
    floor = 8 * eps(np.float64)
    assert np.all(error32 <= 10 * np.maximum(error64, floor)), (error32.max(), error64.max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_refined_matches_reference(rng, dtype):
    net = revcore.Network.random(12, 3, "tanh", dtype=dtype, condition=100, seed=3)
    y = net.forward((0.3 * rng.standard_normal((5, 12))).astype(dtype))
    x, info = net.inverse(y, refine=2, return_info=True)
    x_ref, info_ref = reference.Network(net.layers).inverse(y, refine=2, return_info=True)
    # Same algorithm, different kernels: each is within its a-priori bound of the exact
    # inverse, so they differ by at most the sum of the bounds (x is rounded to the working
    # dtype at every layer, which the next layers amplify: no tighter tolerance is honest).
    difference = np.abs(x - x_ref).max(axis=1) / np.abs(x_ref).max(axis=1)
    assert np.all(difference <= info["bound"] + info_ref["bound"])
    np.testing.assert_allclose(info["bound"], info_ref["bound"], rtol=0.5)
    single, single_info = net.inverse(y[0], refine=1, return_info=True)
    assert single.shape == (12,) and np.ndim(single_info["residual"]) == 0


def test_refine_argument_errors():
    net = revcore.Network.random(4, 2, seed=0)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="refine must be a non-negative integer"):
            net.inverse(np.zeros(4), refine=bad)


@pytest.mark.parametrize("batch", [1, 5, 70])
def test_intermediate_out_of_range_reported_like_reference(batch):
    # Large tanh weights push the second layer's hand-down targets out of (-1, 1).
    rng = np.random.default_rng(5)
    w = [np.eye(8) * 3.0, np.eye(8) * 0.2]
    net = revcore.Network.from_weights(w, None, "tanh")
    y = np.clip(rng.uniform(-0.99, 0.99, (batch, 8)), -0.99, 0.99)
    with pytest.raises(revcore.NotInvertibleError) as native_error:
        net.inverse(y)
    with pytest.raises(revcore.NotInvertibleError) as reference_error:
        reference.Network(net.layers).inverse(y)
    assert native_error.value.layer == reference_error.value.layer == 0
    assert native_error.value.rows == reference_error.value.rows
    assert native_error.value.columns == reference_error.value.columns


def test_set_layer_never_mixes_factors():
    import threading

    net = revcore.Network.random(32, 3, seed=0)
    nets = [revcore.Network.random(32, 3, seed=s) for s in (1, 2)]
    y = np.random.default_rng(0).standard_normal((64, 32))
    expected = [n.inverse(y) for n in nets]
    stop = threading.Event()
    failures = []

    def reader():
        while not stop.is_set():
            x = net.inverse(y)
            if not any(np.allclose(x, e, atol=1e-8) for e in expected):
                failures.append(1)

    def writer():
        for i in range(200):
            net.set_weights([l.weight for l in nets[i % 2].layers],
                            [l.bias for l in nets[i % 2].layers])
        stop.set()

    net.set_weights([l.weight for l in nets[0].layers], [l.bias for l in nets[0].layers])
    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_check_reports_bounds_rows_and_columns():
    w = [np.eye(8) * 3.0, np.eye(8) * 0.2]
    net = revcore.Network.from_weights(w, None, "tanh")
    y = np.full((4, 8), 0.1)
    y[2, 5] = 0.99
    report = net.check(y)
    assert not report.ok
    assert report[0].out_of_range == 1 and report[0].rows == (2,) and report[0].columns == (5,)
    assert report[1].out_of_range == 0 and report[1].rows == ()
    for layer in report:
        assert layer.error_bound == pytest.approx(3 * layer.condition_estimate * 16 * eps(np.float64))


def hilbert(n: int) -> np.ndarray:
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1)


def prescribed(n: int, condition: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (u * np.geomspace(1.0, 1.0 / condition, n)) @ v.T


ILL_CONDITIONED = (
    [("hilbert", n) for n in (4, 6, 8, 10)]
    + [("prescribed", c) for c in (1e2, 1e4, 1e6, 1e8, 1e10, 1e12, 1e14)]
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, parameter", ILL_CONDITIONED)
def test_reported_bounds_cover_the_observed_error_on_ill_conditioned_layers(
        rng, kind, parameter, dtype):
    weight = (hilbert(int(parameter)) * 10.0 if kind == "hilbert"
              else prescribed(12, parameter, seed=int(parameter) % 97))
    true_condition = np.linalg.cond(weight, 1)
    n = weight.shape[0]
    if true_condition * eps(dtype) > 1e-2:
        # Beyond what the dtype resolves: the default threshold refuses, never inverts silently.
        net = revcore.Network.from_weights([weight.astype(dtype)], None, "identity")
        with pytest.raises(revcore.NotInvertibleError, match="ill-conditioned|singular"):
            net.inverse(np.ones(n, dtype=dtype))
        assert not net.check().ok
        return
    # Threshold lifted so that layers up to cond * eps ~ 1e-2 are inverted, not refused.
    net = revcore.Network.from_weights([weight.astype(dtype)] * 2, None,
                                       ["leaky_relu", "identity"], 0.5,
                                       condition_threshold=1e17)
    y = rng.standard_normal((30, n)).astype(dtype)
    x, info = net.inverse(y, return_info=True)
    error = relative_error(x, exact_inverse(net, y))
    assert np.all(error <= info["bound"]), (error.max(), info["bound"].min())
    # check(): each layer's bound on its own solve covers what a single solve does.
    single = revcore.Network.from_weights([weight.astype(dtype)], None, "identity",
                                          condition_threshold=1e17)
    report = single.check()
    observed = relative_error(single.inverse(y), exact_inverse(single, y)).max()
    assert observed <= report[0].error_bound, (observed, report[0].error_bound)
