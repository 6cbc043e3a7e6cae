"""The log-determinant of a network's Jacobian in the fused native forward pass: against
the numpy reference's layer loop on many shapes, every bijective activation and both dtypes,
against slogdet of finite-difference Jacobians, and its argument checks."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import revcore
from revcore import _core, reference
from revcore._activations import ACTIVATIONS
from revcore._layers import Coupling
from support import DTYPES, INVERTIBLE, assert_log_det_matches_jacobian, eps

WIDTHS = [1, 7, 16, 33, 257]
BATCHES = [0, 1, 7, 16, 33, 257]


@functools.cache
def networks(width, activation, dtype):
    """A native network and its reference twin, built once per case (the reference's factors
    cost most of the time); slope 0.3 keeps leaky ReLU's log(slope) well away from 0."""
    depth = 2 if width > 64 else 3
    args = {"width": width, "depth": depth, "activation": activation, "dtype": dtype,
            "seed": width, "condition": 4.0, "negative_slope": 0.3}
    return revcore.Network.random(**args), reference.Network.random(**args)


def reference_log_det(net, x):
    """The layer loop in float64 with exact pre-activations' closed forms (numpy)."""
    total = np.zeros(len(x))
    h = x.astype(np.float64)
    for layer in net.layers:
        weight = layer.weight.astype(np.float64)
        total += np.linalg.slogdet(weight)[1]
        z = h @ weight.T + layer.bias
        total += ACTIVATIONS[layer.activation].log_abs_derivative(
            z, layer.negative_slope).sum(axis=1)
        h = ACTIVATIONS[layer.activation].forward(z, layer.negative_slope)
    return total


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", INVERTIBLE)
@pytest.mark.parametrize("width", WIDTHS)
def test_matches_reference(width, activation, dtype):
    native, oracle = networks(width, activation, dtype)
    rng = np.random.default_rng(width)
    for batch in BATCHES:
        x = rng.normal(0.0, 1.5, (batch, width)).astype(dtype)
        x_before = x.copy()
        y, log_det = native.forward_log_det(x)
        y_ref, log_det_ref = oracle.forward_log_det(x)
        np.testing.assert_array_equal(x, x_before)
        assert y.dtype == dtype and log_det.dtype == dtype
        assert y.shape == (batch, width) and log_det.shape == (batch,)
        # Both sum depth * width terms log|f'(z)| and log|u_ii| of size O(1) (|z| is O(1)
        # here), each from pre-activations that are width-term dot products rounded in a
        # different order: 16 * depth * width * eps bounds the difference with room for
        # unlucky float32 sums (observed: below depth * width * eps).
        bound = 16 * native.depth * width * eps(dtype) * (1 + np.abs(log_det_ref))
        assert np.all(np.abs(log_det.astype(np.float64) - log_det_ref) <= bound)
        np.testing.assert_allclose(y, y_ref, rtol=16 * width * eps(dtype),
                                   atol=16 * width * eps(dtype))
        # and the outputs are the plain forward pass's
        np.testing.assert_allclose(y, native.forward(x), rtol=4 * eps(dtype),
                                   atol=4 * eps(dtype))


@pytest.mark.parametrize("activation", INVERTIBLE)
def test_float64_against_an_independent_oracle(activation):
    native, _ = networks(33, activation, np.float64)
    x = np.random.default_rng(5).normal(0.0, 2.0, (40, 33))
    # float64 throughout; slogdet and the closed forms differ from the kernel's only by
    # rounding of 3 layers x 33 terms (1e-12 is ~100x that).
    np.testing.assert_allclose(native.log_abs_det_jacobian(x), reference_log_det(native, x),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", INVERTIBLE)
@pytest.mark.parametrize("width", [1, 5, 17])
def test_against_slogdet_of_finite_differences(activation, width):
    net = revcore.Network.random(width, 4, activation, seed=width, condition=3.0,
                                 negative_slope=2.5 if width == 5 else 0.2)
    rng = np.random.default_rng(width)
    x = rng.normal(0.0, 0.8, (3, width))
    # Central differences (h = 1e-6) are accurate to about 1e-9 relative per entry; a kink
    # of leaky ReLU within h of a sample would break that, and has probability below 1e-5.
    assert_log_det_matches_jacobian(net.log_abs_det_jacobian(x), x,
                                    lambda v, i: net.forward(v), atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_large_pre_activations_stay_finite(activation, dtype):
    native, oracle = networks(16, activation, dtype)
    x = np.full((2, 16), 1e3, dtype=dtype)
    x[1] = -x[1]
    log_det = native.log_abs_det_jacobian(x)
    assert np.isfinite(log_det).all() and (log_det < -100).all()
    # The closed forms lose nothing for large |z|: the terms are -2|z| or -|z| plus O(1).
    np.testing.assert_allclose(log_det, oracle.log_abs_det_jacobian(x), rtol=1e-4)


def test_single_sample_and_promotion():
    native, _ = networks(7, "tanh", np.float32)
    x = np.linspace(-1, 1, 7)
    y, log_det = native.forward_log_det(x)  # float64 input: computed in float64
    assert y.shape == (7,) and log_det.shape == () and log_det.dtype == np.float64
    y32, log_det32 = native.forward_log_det(x.astype(np.float32))
    assert y32.dtype == np.float32 and log_det32.dtype == np.float32
    np.testing.assert_allclose(log_det32, log_det, rtol=1e-5)


def test_replacing_a_layer_updates_its_log_det():
    net = revcore.Network.random(8, 3, "leaky_relu", seed=1)
    x = np.random.default_rng(0).normal(size=(4, 8))
    before = net.log_abs_det_jacobian(x)
    # Doubling the last layer's weight and bias doubles z, so f'(z) is unchanged and only
    # log|det W| grows, by 8 log 2.
    last = net.layers[-1]
    net.set_layer(2, weight=2 * last.weight, bias=2 * last.bias)
    np.testing.assert_allclose(net.log_abs_det_jacobian(x) - before, 8 * np.log(2.0),
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width, batch", [(64, 3000), (300, 700), (300, 129)])
def test_threads_give_the_serial_result(width, batch, dtype):
    # rows split over the threads, in chunks kept in L2 (width 64) or whole parts (300)
    net = revcore.Network.random(width, 3, "sigmoid", seed=2, dtype=dtype)
    x = np.random.default_rng(1).normal(size=(batch, width)).astype(dtype)
    with revcore.num_threads(1):
        serial = net.forward_log_det(x)
    for threads in (2, 3):
        with revcore.num_threads(threads):
            threaded = net.forward_log_det(x)
        assert threaded[0].tobytes() == serial[0].tobytes()
        assert threaded[1].tobytes() == serial[1].tobytes()


def test_mixed_networks_keep_the_layer_loop():
    rng = np.random.default_rng(3)
    dense = revcore.Network.random(4, 1, "tanh", seed=3).layers[0]
    coupling = Coupling.random(4, (6,), rng, scale=0.5, dtype=np.float64)
    native = revcore.Network([dense, coupling])
    oracle = reference.Network([dense, coupling])
    x = rng.normal(size=(5, 4))
    np.testing.assert_allclose(native.log_abs_det_jacobian(x),
                               oracle.log_abs_det_jacobian(x), rtol=1e-12)


def test_refuses_what_has_no_determinant():
    relu = revcore.Network.from_weights([np.eye(3)], None, "relu")
    with pytest.raises(revcore.NotInvertibleError, match="bijective"):
        relu.log_abs_det_jacobian(np.ones(3))
    wide = revcore.Network.from_weights([np.ones((2, 3))], None, "tanh")
    with pytest.raises(revcore.NotInvertibleError, match="square"):
        wide.log_abs_det_jacobian(np.ones(3))


def test_kernel_arguments_are_checked():
    w, x = np.eye(3), np.ones((2, 3))
    with pytest.raises(ValueError, match="relu"):
        _core.network_forward_log_det([w], [None], [1], [0.01], [0.0], x)
    with pytest.raises(ValueError, match="one log"):
        _core.network_forward_log_det([w], [None], [3], [0.01], [], x)
    with pytest.raises(ValueError, match="square"):
        _core.network_forward_log_det([np.ones((2, 3))], [None], [3], [0.01], [0.0], x)
    with pytest.raises(ValueError, match="shape"):
        _core.network_forward_log_det([w], [None], [3], [0.01], [0.0], np.ones((2, 4)))
    y, log_det = _core.network_forward_log_det([w], [None], [3], [0.01], [0.5], x)
    # tanh of 1 with W = I: log(1 - tanh(1)^2) per element, plus the given log|det W|
    np.testing.assert_allclose(y, np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(log_det, 0.5 + 3 * np.log(1 - np.tanh(1.0) ** 2), rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trailing_linear_layers_add_their_constant(dtype):
    # log_abs_det_jacobian stops the pass at the last layer whose log-determinant depends on
    # its input and adds the linear layers' constants after it: the same values as the full
    # pass (to rounding: the sums are grouped otherwise), for every position of the linear
    # layers, and for an all-linear network the same constant on every row.
    from test_flow_layers import lu_layer

    rng = np.random.default_rng(4)
    width = 6
    lu_a, lu_b = lu_layer(width, rng, dtype), lu_layer(width, rng, dtype)
    coupling = Coupling.random(width, (5,), rng, scale=0.5, dtype=dtype)
    tanh = revcore.Network.random(width, 1, "tanh", seed=5, dtype=dtype).layers[0]
    linear = revcore.Network.from_weights([rng.normal(size=(width, width)).astype(dtype)],
                                          None, "identity").layers[0]
    x = rng.normal(size=(9, width)).astype(dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5  # float32 sums of a few terms of size ~1
    for layers in ([coupling, lu_a], [lu_a, coupling, lu_b, linear], [tanh, lu_a, linear],
                   [lu_a, tanh], [lu_a, lu_b], [linear, lu_b]):
        net = revcore.Network(layers)
        got = net.log_abs_det_jacobian(x)
        assert got.dtype == dtype and got.shape == (9,)
        np.testing.assert_allclose(got, net.forward_log_det(x)[1], rtol=rtol, atol=rtol)
        np.testing.assert_allclose(net.log_abs_det_jacobian(x[0]), got[0], rtol=rtol,
                                   atol=rtol)
    constant = net.log_abs_det_jacobian(1e3 * x)
    assert np.all(constant == constant[0])
    np.testing.assert_allclose(constant, net.log_abs_det_jacobian(x), rtol=0)
