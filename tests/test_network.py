"""revcore.Network against revcore.reference.Network: passes, round trips, refusals, caching."""

from __future__ import annotations

import math
import re
from itertools import pairwise

import numpy as np
import pytest

import revcore
from revcore import reference
from support import DTYPES, INVERTIBLE, LAYOUTS, assert_close_scaled, eps, layout, tol

WIDTHS = [1, 7, 64]
DEPTHS = list(range(1, 9))


def random_network(width, depth, activation, dtype, seed, condition=1.5):
    # slope 0.5: leaky_relu's inverse then amplifies errors by at most 2 per layer.
    return revcore.Network.random(width, depth, activation, dtype, seed,
                                  condition=condition, negative_slope=0.5)


def preactivations(network, x):
    """The pre-activations z_i of every layer for input x, in float64 by the reference."""
    out = []
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    for layer in network.layers:
        z = reference.dense(x, layer.weight.astype(np.float64), layer.bias.astype(np.float64))
        out.append(z)
        x = reference.activate(z, layer.activation, layer.negative_slope)
    return out


def round_trip_bound(network, x, dtype):
    """A-priori error bound of one round trip through the network at input x.

    Inverting layer i solves W_i x = act^-1(y) - b_i: the relative error it adds or amplifies
    is at most cond_1(W_i) (the check() estimate) times the worst inverse slope 1 / act'(z_i)
    of the activation on this batch, times a few eps per layer (a backward-stable LU solve plus
    an elementwise inverse). Errors compound through the layers, hence the product.
    """
    report = network.check()
    product = 1.0
    for layer, entry, z in zip(network.layers, report, preactivations(network, x)):
        slope = reference.activate_derivative(z, layer.activation, layer.negative_slope)
        product *= entry.condition_estimate * float(np.max(1 / slope, initial=1.0))
    return 8 * network.depth * eps(dtype) * product


# The product-of-conditions bound is pessimistic (observed errors stay below 1/10 of it) and
# grows ~40x per 64-wide layer (1-norm estimates); these depths keep it under 20% of the data.
MAX_DEPTH = {np.float32: {1: 6, 7: 3, 64: 2}, np.float64: {1: 8, 7: 8, 64: 4}}
ROUND_TRIPS = [(dtype, width, depth) for dtype in DTYPES for width in WIDTHS
               for depth in DEPTHS if depth <= MAX_DEPTH[dtype][width]]


@pytest.mark.parametrize("activation", INVERTIBLE)
@pytest.mark.parametrize("dtype,width,depth", ROUND_TRIPS,
                         ids=[f"{d.__name__}-w{w}-d{k}" for d, w, k in ROUND_TRIPS])
def test_round_trips(dtype, width, depth, activation):
    seed = 1000 * depth + 10 * width + INVERTIBLE.index(activation)
    network = random_network(width, depth, activation, dtype, seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (5, width)).astype(dtype)
    y = network.forward(x)
    assert y.dtype == dtype and y.shape == (5, width)
    bound = round_trip_bound(network, x, dtype)
    assert bound < 0.2, "the parameters must give a meaningful bound"
    back = network.inverse(y)
    assert back.dtype == dtype and back.shape == x.shape
    assert_close_scaled(back, x, max(1.0, float(np.abs(x).max())), bound)
    # The other way round: targets in the network's image, inverted and run forwards.
    targets = network.forward(rng.uniform(-1, 1, (5, width)).astype(dtype))
    inputs = network.inverse(targets)
    assert np.all(np.isfinite(inputs))
    again = network.forward(inputs)
    bound = round_trip_bound(network, inputs, dtype)
    assert bound < 0.2, "the parameters must give a meaningful bound"
    assert_close_scaled(again, targets, max(1.0, float(np.abs(inputs).max())), bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", INVERTIBLE)
def test_single_sample_round_trip(activation, dtype):
    network = random_network(7, 3, activation, dtype, seed=5)
    x = np.linspace(-0.9, 0.9, 7).astype(dtype)
    y = network.forward(x)
    assert y.shape == (7,)
    back = network.inverse(y)
    assert back.shape == (7,) and back.dtype == dtype
    assert_close_scaled(back, x, 1.0, round_trip_bound(network, x, dtype))


def weights_and_biases(rng, sizes, dtype):
    weights = [rng.standard_normal((m, n)).astype(dtype) / math.sqrt(n)
               for n, m in pairwise(sizes)]
    biases = [rng.standard_normal(m).astype(dtype) * 0.1 for m in sizes[1:]]
    return weights, biases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [(1, 1), (7, 13, 3), (16, 8, 31, 2), (64, 97, 64, 1),
                                   (3, 0, 4)], ids=str)
@pytest.mark.parametrize("activations", [["relu", "leaky_relu", "tanh", "sigmoid", "identity"],
                                         ["sigmoid", "tanh", "identity", "relu", "leaky_relu"]])
def test_forward_against_reference(rng, sizes, activations, dtype):
    weights, biases = weights_and_biases(rng, sizes, dtype)
    activations = activations[: len(weights)]
    native = revcore.Network.from_weights(weights, biases, activations, 0.2)
    oracle = reference.Network.from_weights(weights, biases, activations, 0.2)
    x = rng.standard_normal((9, sizes[0])).astype(dtype)
    y = native.forward(x)
    expected = oracle.forward(x)
    assert y.dtype == expected.dtype == dtype and y.shape == (9, sizes[-1])
    # Each layer is a dense() with a k-term dot product and a 1-Lipschitz activation (slope
    # 0.2 < 1): errors add up over layers with weights of norm ~1.
    k = sum(sizes[:-1]) + len(weights)
    assert_close_scaled(y, expected, 1 + np.abs(expected), tol(dtype, k) * 4)
    np.testing.assert_array_equal(native(x), y)  # __call__ is forward


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_of_many_rows_gives_the_bits_of_its_parts(rng, dtype):
    # The forward pass takes a large batch in blocks of rows (about 8 MiB of activations per
    # buffer at width 520: three blocks of 1367 rows in float64, two of 2050 in float32) and,
    # at two threads, in parts of rows per thread; every row is computed as on its own, so
    # neither may change a bit: one call over 4100 rows equals calls over slices (of two rows
    # or more: a single row takes the vector product), at one thread and at two.
    width, batch = 520, 4100
    weights = [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
               for _ in range(2)]
    biases = [rng.standard_normal(width).astype(dtype) * 0.1 for _ in range(2)]
    net = revcore.Network.from_weights(weights, biases, ["tanh", "tanh"])
    x = rng.uniform(-1, 1, (batch, width)).astype(dtype)
    with revcore.num_threads(1):
        parts = np.concatenate([net.forward(x[r:r + 1000]) for r in range(0, batch, 1000)])
        whole = net.forward(x)
    assert whole.tobytes() == parts.tobytes()
    with revcore.num_threads(2):
        assert net.forward(x).tobytes() == whole.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", INVERTIBLE)
@pytest.mark.parametrize("width", [1, 8, 31])
def test_inverse_and_check_against_reference(width, activation, dtype):
    native = random_network(width, 3, activation, dtype, seed=width)
    layers = native.layers
    oracle = reference.Network.from_weights([l.weight for l in layers],
                                            [l.bias for l in layers], activation, 0.5)
    x = np.random.default_rng(width).uniform(-1, 1, (4, width)).astype(dtype)
    y = native.forward(x)
    bound = round_trip_bound(native, x, dtype)
    assert_close_scaled(native.inverse(y), oracle.inverse(y), 1.0, 2 * bound)
    native_report, oracle_report = native.check(), oracle.check()
    assert native_report.ok and oracle_report.ok
    for mine, exact in zip(native_report, oracle_report):
        # The reference computes ||W||_1 ||W^-1||_1 exactly; the estimate is a lower bound
        # (to rounding) rarely below a third of it.
        assert exact.condition_estimate / 3 <= mine.condition_estimate
        assert mine.condition_estimate <= exact.condition_estimate * (1 + tol(dtype, width))
        true = np.linalg.cond(native.layers[mine.index].weight.astype(np.float64), 1)
        assert true / 3 * (1 - tol(dtype, width) * true) <= mine.condition_estimate
        assert mine.condition_estimate <= true * (1 + tol(dtype, width) * true)


# -- refusals --------------------------------------------------------------------------


def square_network(activations, dtype=np.float64, **kwargs):
    rng = np.random.default_rng(7)
    n = 4
    weights = [np.eye(n) + 0.1 * rng.standard_normal((n, n)) for _ in activations]
    return revcore.Network.from_weights([w.astype(dtype) for w in weights], None,
                                        activations, **kwargs)


def test_relu_layer_refused():
    network = square_network(["tanh", "relu", "identity"])
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(np.zeros(4))
    error = info.value
    assert error.layer == 1
    assert re.search(r"layer 1 \(relu, 4x4\) cannot be inverted: relu is not a bijection",
                     str(error)), str(error)
    assert "relu is not a bijection" in error.reason
    assert isinstance(error, ValueError)


def test_non_square_layer_refused():
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((5, 4)), rng.standard_normal((5, 5))]
    network = revcore.Network.from_weights(weights, None, "identity")
    assert network.forward(np.ones(4)).shape == (5,)
    with pytest.raises(revcore.NotInvertibleError,
                       match=r"layer 0 \(identity, 5x4\) cannot be inverted: the weight is "
                             r"5x4, not square") as info:
        network.inverse(np.ones(5))
    assert info.value.layer == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_singular_weight_refused(dtype):
    singular = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype)
    network = revcore.Network.from_weights([np.eye(3, dtype=dtype), singular], None,
                                           ["tanh", "identity"])
    with pytest.raises(revcore.NotInvertibleError, match=r"layer 1 .*singular") as info:
        network.inverse(np.ones(3, dtype=dtype))
    assert info.value.layer == 1
    report = network.check()
    assert not report.ok and report[0].invertible and not report[1].invertible
    assert "singular" in report[1].reason
    assert report[1].condition_estimate == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_ill_conditioned_weight_refused(dtype):
    small = 1e-15 if dtype == np.float64 else 1e-6
    weight = np.diag([1.0, small, 1.0]).astype(dtype)
    network = revcore.Network.from_weights([np.eye(3, dtype=dtype), weight], None, "identity")
    threshold = 0.01 / eps(dtype)
    assert network.threshold(dtype) == pytest.approx(threshold)
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(np.ones(3, dtype=dtype))
    message = str(info.value)
    assert info.value.layer == 1
    match = re.search(r"ill-conditioned: condition estimate (\S+) exceeds the threshold (\S+)",
                      message)
    assert match, message
    assert float(match[1]) == pytest.approx(1 / np.float32(small) if dtype == np.float32
                                            else 1 / small, rel=1e-2)
    assert float(match[2]) == pytest.approx(threshold, rel=1e-2)


def test_user_condition_threshold():
    weight = np.diag([1.0, 1e-3])  # condition number exactly 1000
    network = revcore.Network.from_weights([weight], None, "identity",
                                           condition_threshold=100.0)
    with pytest.raises(revcore.NotInvertibleError,
                       match=r"condition estimate 1e\+03 exceeds the threshold 100"):
        network.inverse(np.ones(2))
    assert not network.check().ok
    assert network.check().condition_threshold == 100.0
    network.condition_threshold = 1e4
    np.testing.assert_allclose(network.inverse(np.ones(2)), [1.0, 1000.0])
    assert network.check().ok
    with pytest.raises(ValueError, match="condition_threshold must exceed 1"):
        revcore.Network.from_weights([weight], None, "identity", condition_threshold=0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation,bad", [("tanh", 1.0), ("tanh", -1.5), ("sigmoid", 0.0),
                                            ("sigmoid", 1.0), ("sigmoid", -0.2)])
def test_target_outside_range(activation, bad, dtype):
    network = square_network(["identity", activation], dtype)
    y = np.full((5, 4), 0.5, dtype=dtype)
    y[1, 2] = bad
    y[3, 2] = bad
    y[3, 0] = bad
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(y)
    error = info.value
    assert error.layer == 1
    assert error.rows == (1, 3)
    assert error.columns == (0, 2)
    message = str(error)
    assert message.startswith(f"layer 1 ({activation}) cannot be inverted: 3 of 20 of the "
                              f"targets lie outside the open range"), message
    assert f"the first at row 1, column 2 is {float(dtype(bad))!r}" in message
    assert "rows [1, 3]" in message and "columns [0, 2]" in message
    # One sample: no rows, only columns.
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(y[3])
    assert info.value.rows == () and info.value.columns == (0, 2)
    assert "the first at column 0" in str(info.value)
    report = network.check(y)
    assert not report.ok and report[1].out_of_range == 3


def test_intermediate_target_outside_range():
    # The top layer (identity, weight 10 I) accepts any target; divided by 10 some leave
    # (0, 1), which the sigmoid layer below must refuse, naming itself.
    network = revcore.Network.from_weights([np.eye(2), 10 * np.eye(2)], None,
                                           ["sigmoid", "identity"])
    y = np.array([[5.0, 20.0], [3.0, 4.0], [-1.0, 2.0]])
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(y)
    error = info.value
    assert error.layer == 0
    assert error.rows == (0, 2) and error.columns == (0, 1)
    assert "layer 0 (sigmoid) cannot be inverted" in str(error)
    assert "layer 1's inverse hands down" in str(error)
    report = network.check(y)
    assert report[1].out_of_range == 0 and report[0].out_of_range == 2


@pytest.mark.parametrize("activation", INVERTIBLE)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_target(activation, bad):
    network = square_network([activation])
    y = np.full((2, 4), 0.5)
    y[1, 3] = bad
    with pytest.raises(revcore.NotInvertibleError) as info:
        network.inverse(y)
    assert info.value.layer == 0
    assert info.value.rows == (1,) and info.value.columns == (3,)
    assert "row 1, column 3" in str(info.value)


def test_overflowing_solve_is_refused_not_returned():
    weight = np.diag([1.0, 1e-300 * 1e10])
    network = revcore.Network.from_weights([weight], None, "identity",
                                           condition_threshold=1e300)
    with pytest.raises(revcore.NotInvertibleError, match="not finite|overflow"):
        network.inverse(np.array([1.0, 1e300]))


def test_wrong_input_shapes():
    network = square_network(["tanh", "identity"])
    for bad in (np.ones(3), np.ones((2, 5)), np.ones((2, 2, 4)), np.float64(1.0)):
        with pytest.raises(ValueError, match=r"must have shape \(4,\) or \(batch, 4\), got"):
            network.forward(bad)
        with pytest.raises(ValueError, match=r"must have shape \(4,\) or \(batch, 4\), got"):
            network.inverse(bad)


def test_construction_errors():
    with pytest.raises(ValueError, match="got 2 weights but 1 biases"):
        revcore.Network.from_weights([np.eye(2)] * 2, [np.zeros(2)], "identity")
    with pytest.raises(ValueError, match="got 2 weights but 3 activations"):
        revcore.Network.from_weights([np.eye(2)] * 2, None, ["tanh"] * 3)
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(2,\)"):
        revcore.Network.from_weights([np.eye(2)], [np.zeros(3)], "identity")
    with pytest.raises(ValueError, match="layer 1 takes 3 inputs but layer 0 gives 2 outputs"):
        revcore.Network.from_weights([np.eye(2), np.ones((2, 3))], None, "identity")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        revcore.Network.from_weights([np.eye(2)], None, "swish")
    with pytest.raises(ValueError, match="negative_slope must be a finite positive number"):
        revcore.Network.from_weights([np.eye(2)], None, "leaky_relu", 0.0)
    with pytest.raises(ValueError, match="at least one layer"):
        revcore.Network.from_weights([], None, "identity")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        revcore.Network.random(2, 2, dtype=np.int64)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        revcore.Network.random(0, 2)


# -- report ----------------------------------------------------------------------------


def test_check_report_content():
    rng = np.random.default_rng(11)
    weights = [np.eye(3) + 0.1 * rng.standard_normal((3, 3)), rng.standard_normal((3, 3)),
               rng.standard_normal((2, 3))]
    network = revcore.Network.from_weights(weights, None, ["tanh", "relu", "identity"])
    report = network.check()
    assert isinstance(report, revcore.InvertibilityReport)
    assert len(report) == 3 and not report.ok
    assert [r.index for r in report] == [0, 1, 2]
    assert [r.shape for r in report] == [(3, 3), (3, 3), (2, 3)]
    assert [r.activation for r in report] == ["tanh", "relu", "identity"]
    assert [r.verdict for r in report] == ["invertible", "NOT INVERTIBLE", "NOT INVERTIBLE"]
    assert report[0].reason == "" and report[0].invertible
    assert "relu" in report[1].reason and "not square" in report[2].reason
    exact = np.linalg.cond(weights[0], 1)
    assert exact / 3 <= report[0].condition_estimate <= exact * (1 + tol(np.float64, 3))
    text = str(report)
    lines = text.splitlines()
    assert len(lines) == 5
    assert "NOT INVERTIBLE" in lines[2] and "relu" in lines[2]
    assert "2x3" in lines[3] and "not square" in lines[3]
    assert f"{report[0].condition_estimate:.3g}" in lines[1]
    assert "NOT invertible" in lines[-1]
    assert text in repr(report)
    good = random_network(4, 2, "tanh", np.float64, seed=1).check()
    assert good.ok and "every layer is invertible" in str(good)


# -- caching, mutation -----------------------------------------------------------------


def cached_factors(layer):
    return list(layer._factors.values())


def test_factors_cached_and_reused(monkeypatch):
    network = random_network(5, 3, "tanh", np.float64, seed=2)
    calls = []
    original = type(network._backend).lu_factor

    def counting(a, check_finite=True):
        calls.append(a.shape)
        return original(a, check_finite=check_finite)

    monkeypatch.setattr(type(network._backend), "lu_factor", staticmethod(counting))
    y = network.forward(np.full(5, 0.1))
    first = network.inverse(y)
    assert len(calls) == 3
    factors = [cached_factors(layer) for layer in network.layers]
    assert all(len(f) == 1 for f in factors)
    second = network.inverse(y)
    network.check()
    assert len(calls) == 3, "factors must be reused, not recomputed"
    np.testing.assert_array_equal(first, second)
    for layer, before in zip(network.layers, factors):
        assert cached_factors(layer)[0] is before[0]

    old_layers = network.layers
    network.set_layer(1, weight=2 * network.layers[1].weight)
    assert network.layers[0] is old_layers[0] and network.layers[2] is old_layers[2]
    assert network.layers[1] is not old_layers[1]
    assert cached_factors(network.layers[1]) == []
    third = network.inverse(y)
    assert len(calls) == 4  # only the replaced layer is factored again
    assert cached_factors(network.layers[0])[0] is factors[0][0]
    assert cached_factors(network.layers[2])[0] is factors[2][0]
    assert cached_factors(network.layers[1])[0] is not factors[1][0]
    np.testing.assert_allclose(network.forward(third), y, atol=1e-12)
    assert not np.allclose(third, first)


def test_set_layer_and_set_weights():
    rng = np.random.default_rng(4)
    weights, biases = weights_and_biases(rng, (3, 3, 3), np.float64)
    network = revcore.Network.from_weights(weights, biases, ["tanh", "identity"])
    x = rng.standard_normal(3)
    new_weight = rng.standard_normal((3, 3))
    network.set_layer(0, weight=new_weight)
    expected = reference.dense(reference.dense(x, new_weight, biases[0], "tanh"),
                               weights[1], biases[1])
    np.testing.assert_allclose(network.forward(x), expected, rtol=1e-14, atol=1e-14)
    network.set_layer(1, bias=np.ones(3))
    expected = reference.dense(reference.dense(x, new_weight, biases[0], "tanh"),
                               weights[1], np.ones(3))
    np.testing.assert_allclose(network.forward(x), expected, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match=r"layer 0 has shape \(3, 3\)"):
        network.set_layer(0, weight=np.ones((3, 2)))
    replaced = [rng.standard_normal((3, 3)) for _ in range(2)]
    old = network.layers
    network.set_weights(replaced)
    assert all(a is not b for a, b in zip(old, network.layers))
    expected = reference.dense(reference.dense(x, replaced[0], biases[0], "tanh"),
                               replaced[1], np.ones(3))
    np.testing.assert_allclose(network.forward(x), expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(network.forward(network.inverse(expected)), expected,
                               rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="expected 2 weights"):
        network.set_weights(replaced[:1])


# -- inputs, dtypes ----------------------------------------------------------------------


@pytest.mark.parametrize("layout_kind", LAYOUTS)
def test_inputs_never_modified(layout_kind):
    rng = np.random.default_rng(9)
    weights = [layout(np.eye(4) + 0.1 * rng.standard_normal((4, 4)), layout_kind)
               for _ in range(2)]
    biases = [layout(0.1 * rng.standard_normal(4), layout_kind) for _ in range(2)]
    copies = [a.copy() for a in weights + biases]
    network = revcore.Network.from_weights(weights, biases, ["tanh", "leaky_relu"])
    x = layout(rng.uniform(-1, 1, (3, 4)), layout_kind)
    x_copy = x.copy()
    y = network.forward(x)
    y_view = layout(y, layout_kind)
    back = network.inverse(y_view)
    network.check(y_view)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y_view, y)
    for array, copy in zip(weights + biases, copies):
        np.testing.assert_array_equal(array, copy)
    np.testing.assert_allclose(back, x_copy, atol=1e-12)
    if all(a.flags.writeable for a in weights + biases):
        # Later changes to the caller's arrays do not reach the network.
        for array in weights + biases:
            array[...] = 0
        np.testing.assert_array_equal(network.forward(x), y)
        np.testing.assert_array_equal(network.inverse(y), back)
    for layer in network.layers:
        assert not layer.weight.flags.writeable and not layer.bias.flags.writeable


def test_promotion():
    network = random_network(3, 2, "tanh", np.float32, seed=0)
    assert network.dtype == np.float32
    x32 = np.full(3, 0.25, dtype=np.float32)
    assert network.forward(x32).dtype == np.float32
    y64 = network.forward(x32.astype(np.float64))
    assert y64.dtype == np.float64
    assert network.inverse(y64).dtype == np.float64
    assert network.forward(np.zeros(3, dtype=np.int64)).dtype == np.float64
    assert network.inverse(network.forward(x32)).dtype == np.float32
    # float64 evaluation of the float32 weights: as accurate as float64 allows.
    oracle = reference.Network.from_weights([l.weight.astype(np.float64) for l in network.layers],
                                            [l.bias.astype(np.float64) for l in network.layers],
                                            "tanh")
    np.testing.assert_allclose(y64, oracle.forward(x32.astype(np.float64)), rtol=1e-14)
    mixed = revcore.Network.from_weights([np.eye(2, dtype=np.float32)], [np.zeros(2)], "tanh")
    assert mixed.dtype == np.float64
    with pytest.raises(TypeError, match="must hold real numbers"):
        network.forward(np.ones(3, dtype=complex))


def test_empty_layers_and_empty_batches():
    empty = revcore.Network.from_weights([np.zeros((0, 0))], None, "identity")
    assert empty.forward(np.zeros((3, 0))).shape == (3, 0)
    assert empty.forward(np.zeros(0)).shape == (0,)
    net = revcore.Network.random(4, 2, "tanh", seed=0)
    assert net.forward(np.zeros((0, 4))).shape == (0, 4)
    assert net.inverse(np.zeros((0, 4))).shape == (0, 4)
