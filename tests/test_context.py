"""Coupling conditioners that take a context (the class's one-hot): the network's passes,
the training objective's gradients, files, and the classifier that uses them."""

from __future__ import annotations

import io

import numpy as np
import pytest

import revcore
from revcore import reference
from revcore._backend import Backend
from revcore._layers import Coupling
from revcore._spline_layers import SplineCoupling
from revcore._training import FlowModel, objective
from revcore.reference import _ReferenceBackend
from support import assert_log_det_matches_jacobian, check_objective_gradients

NATIVE, REFERENCE = Backend(), _ReferenceBackend()


def context_network(d, k, rng, spline=False):
    make = SplineCoupling.random if spline else Coupling.random
    block = make(d, (6,), rng, 0.3, np.float64, k)
    mixing = revcore.Network.random(d, 1, "identity", seed=1).layers[0]
    return revcore.Network([mixing, block, mixing, make(d, (5,), rng, 0.3, np.float64, k)])


@pytest.mark.parametrize("spline", [False, True])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_passes_depend_on_the_context_and_invert_exactly(d, spline):
    rng = np.random.default_rng(d)
    net = context_network(d, 3, rng, spline)
    assert net.context_width == 3
    x = rng.standard_normal((8, d))
    c = np.eye(3)[rng.integers(0, 3, 8)]
    y = net.forward(x, context=c)
    np.testing.assert_allclose(y, reference.Network(net.layers).forward(x, context=c),
                               rtol=1e-12, atol=1e-12)
    other = net.forward(x, context=np.roll(c, 1, axis=1))
    assert not np.allclose(y[:, d // 2:], other[:, d // 2:])  # the class moves x2
    np.testing.assert_allclose(y[:, :0], other[:, :0])
    np.testing.assert_allclose(net.inverse(y, context=c), x, rtol=1e-12, atol=1e-12)
    _, info = net.inverse(y, return_info=True, context=c)
    assert np.all(info["residual"] < 1e-13)
    assert_log_det_matches_jacobian(
        net.log_abs_det_jacobian(x[:3], context=c[:3]), x[:3],
        lambda v, i: net.forward(v[None], context=c[i:i + 1])[0], atol=1e-6)


def test_context_is_checked():
    rng = np.random.default_rng(0)
    net = context_network(4, 2, rng)
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match="take a context of width 2"):
        net.forward(x)
    with pytest.raises(ValueError, match=r"context must have shape \(3, 2\)"):
        net.inverse(x, context=np.ones((2, 2)))
    with pytest.raises(ValueError, match="context"):
        net.forward(x, context=np.full((3, 2), np.nan))
    plain = revcore.Network.random(4, 1, "tanh", seed=0)
    with pytest.raises(ValueError, match="takes no context"):
        plain.forward(x, context=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"context_width\[0\] \(coupling\) must be an integer"):
        Coupling.from_arrays({**Coupling.random(4, (3,), rng, context=2).to_arrays()[0],
                              "context_width": np.array(9)}, {})


def test_saved_and_pickled_context_blocks_round_trip(tmp_path):
    import pickle

    rng = np.random.default_rng(1)
    net = context_network(5, 3, rng, spline=True)
    path = tmp_path / "context.npz"
    net.save(path)
    x, c = rng.standard_normal((4, 5)), np.eye(3)[[0, 1, 2, 0]]
    for other in (revcore.load(path), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.forward(x, context=c), net.forward(x, context=c))


@pytest.mark.parametrize("coupling", ["affine", "spline"])
@pytest.mark.parametrize("beta", [0.0, 1.5])
def test_objective_gradients_with_a_class_context(coupling, beta):
    rng = np.random.default_rng(3)
    model = FlowModel.build(4, 3, n_blocks=1, hidden=(5,), rng=rng, coupling=coupling, bins=3,
                            class_context=True)
    assert model.context == 3
    for array in model.trainable():
        array[...] = rng.standard_normal(array.shape) * 0.3
    x, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    loss, _ = objective(model, x, y, beta, NATIVE, gradients=True)
    assert loss == pytest.approx(objective(model, x, y, beta, REFERENCE)[0], rel=1e-12)
    check_objective_gradients(model, x, y, beta, rtol=1e-5, atol=1e-7)


def test_classifier_takes_the_class_when_it_has_few_classes():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, centers=3, n_features=4, random_state=0)
    few = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=30,
                                       random_state=0).fit(X, y)
    assert few.network_.context_width == 3
    off = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=30,
                                       class_context=False, random_state=0).fit(X, y)
    assert off.network_.context_width == 0
    assert few.score(X, y) > 0.9
    # encode and decode take the labels; the defaults are the predicted class and the class
    # nearest to the code
    back = few.decode(few.encode(X, y), y)
    assert (np.abs(back - X).max(axis=1) / np.abs(X).max(axis=1)).max() <= 1e-12
    np.testing.assert_array_equal(few.encode(X), few.encode(X, few.predict(X)))
    fakes = few.generate(np.repeat([0, 1, 2], 30), random_state=0)
    assert np.mean(few.predict(fakes) == np.repeat([0, 1, 2], 30)) > 0.9
    swapped = few.counterfactual(X[y == 0][:10], 2)
    assert np.mean(few.predict(swapped) == 2) >= 0.9
    buffer = io.BytesIO()
    few.save(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(revcore.load(buffer).score_samples(X), few.score_samples(X))
    with pytest.raises(ValueError, match="class_context must be 'auto', True or False"):
        revcore.InvertibleClassifier(class_context="yes").fit(X, y)
