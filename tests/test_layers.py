"""The layer-kind interface and its registry, on the dense kind."""

from __future__ import annotations

import numpy as np
import pytest

import revcore
from revcore import reference
from revcore._backend import Backend
from revcore._layers import LAYER_KINDS, Layer, layer_from_arrays, register_layer_kind


def dense_layer(seed=0, activation="tanh"):
    rng = np.random.default_rng(seed)
    return layer_from_arrays("dense", {"weight": rng.standard_normal((4, 4)),
                                       "bias": rng.standard_normal(4)},
                             {"activation": activation, "negative_slope": 0.3})


def test_registry_knows_dense_and_refuses_a_second_registration():
    assert LAYER_KINDS["dense"] is Layer is revcore.Layer
    with pytest.raises(ValueError, match="already registered"):
        register_layer_kind(Layer)
    with pytest.raises(ValueError, match="unknown layer kind 'householder'"):
        layer_from_arrays("householder", {}, {})


def test_arrays_round_trip_and_replace_keep_the_kind():
    layer = dense_layer()
    arrays, settings = layer.to_arrays()
    again = Layer.from_arrays(arrays, settings)
    np.testing.assert_array_equal(again.weight, layer.weight)
    assert (again.activation, again.negative_slope) == ("tanh", 0.3)
    new = layer.replace(0, layer.dtype, bias=np.zeros(4))
    np.testing.assert_array_equal(new.weight, layer.weight)
    np.testing.assert_array_equal(new.bias, np.zeros(4))
    with pytest.raises(ValueError, match="layer 0 has shape"):
        layer.replace(0, layer.dtype, weight=np.eye(3), bias=np.zeros(3))


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_gradients_match_the_reference_dense_backward(activation):
    layer = dense_layer(1, activation)
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    grad_x, grads = layer.gradients(x, g, Backend())
    z = reference.dense(x, layer.weight, layer.bias)
    want = reference.dense_backward(x, layer.weight, z, g, activation, 0.3)
    np.testing.assert_allclose(grad_x, want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["weight"], want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["bias"], want[2], rtol=1e-12, atol=1e-12)


def test_inverse_and_log_det_agree_with_the_network():
    layer = dense_layer(3, "leaky_relu")
    backend = Backend()
    x = np.random.default_rng(4).standard_normal((3, 4))
    total = np.zeros(3)
    y = layer.forward_log_det(x, total, backend)
    np.testing.assert_allclose(y, layer.forward(x, backend), rtol=1e-14)
    factors, reason = layer.diagnose(backend, np.dtype(np.float64), 1e8)
    assert reason == "" and factors is not None
    np.testing.assert_allclose(layer.inverse(y, factors, backend), x, atol=1e-12)
    network = revcore.Network([layer])
    np.testing.assert_allclose(network.log_abs_det_jacobian(x), total, rtol=1e-14)
