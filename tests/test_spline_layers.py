"""The spline layer kinds (an elementwise spline with learned knots, and spline couplings):
native against the numpy reference, exact inverses, log-determinants against
finite-difference Jacobians, gradients against finite differences, the knot
parametrisation, save/load, pickling, check() lines and training."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import revcore
from revcore import reference
from revcore._backend import Backend
from revcore._spline_layers import (
    MIN_BIN,
    ElementwiseSpline,
    SplineCoupling,
    spline_knots,
    spline_knots_backward,
)
from revcore._training import FlowModel
from revcore.reference import _ReferenceBackend
from support import (
    assert_log_det_matches_jacobian,
    check_layer_gradients,
    check_objective_gradients,
)

NATIVE, REFERENCE = Backend(), _ReferenceBackend()
# As for the other flow layers: a few roundings per knot and conditioner layer, slopes within
# about 1e-2..1e2 here; 1e-10 relative in float64 and 2e-4 in float32.
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def elementwise(d, rng, dtype=np.float64, bins=5, scale=0.7):
    return ElementwiseSpline.from_arrays({
        "widths": rng.standard_normal((d, bins)) * scale,
        "heights": rng.standard_normal((d, bins)) * scale,
        "derivatives": rng.standard_normal((d, bins - 1)) * scale,
        "bound": np.array(2.5)}, {}, dtype=np.dtype(dtype))


def coupling(d, rng, dtype=np.float64, bins=4, hidden=(7, 5), scale=0.1):
    # scale 0.1 keeps the knots' slopes within about 0.1..10 (inverting a spline amplifies
    # rounding by 1 / slope, which the float32 tolerance assumes to be moderate)
    return SplineCoupling.random(d, hidden, rng, scale=scale, dtype=dtype, bins=bins, bound=3.0)


MAKERS = [elementwise, coupling]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 2, 3, 8, 17])
@pytest.mark.parametrize("make", MAKERS)
def test_native_matches_reference_and_inverts(make, d, dtype):
    rng = np.random.default_rng(d)
    layer = make(d, rng, dtype)
    native, ref = revcore.Network([layer]), reference.Network([layer])
    x = (rng.standard_normal((11, d)) * 2).astype(dtype)  # some rows in the tails
    tol = TOL[dtype]
    y = native.forward(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.forward(x), rtol=tol, atol=tol)
    np.testing.assert_allclose(native.log_abs_det_jacobian(x), ref.log_abs_det_jacobian(x),
                               rtol=tol, atol=tol)
    for net in (native, ref):
        np.testing.assert_allclose(net.inverse(y), x, rtol=tol, atol=tol)
    g = rng.standard_normal((11, d)).astype(dtype)
    gx, grads = layer.gradients(x, g, NATIVE)
    rgx, rgrads = layer.gradients(x, g, REFERENCE)
    np.testing.assert_allclose(gx, rgx, rtol=tol, atol=tol)
    for key in grads:
        np.testing.assert_allclose(grads[key], rgrads[key], rtol=tol, atol=tol)


@pytest.mark.parametrize("d", [1, 2, 3, 6])
@pytest.mark.parametrize("make", MAKERS)
def test_log_det_matches_finite_difference_jacobian(make, d):
    rng = np.random.default_rng(20 + d)
    net = revcore.Network([make(d, rng)])
    x = rng.standard_normal((4, d)) * 1.5
    assert_log_det_matches_jacobian(net.log_abs_det_jacobian(x), x,
                                    lambda v, i: net.forward(v), atol=1e-6)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_elementwise_spline_gradients_match_finite_differences(d):
    rng = np.random.default_rng(30 + d)
    params = elementwise(d, rng).params()
    check_layer_gradients(ElementwiseSpline, params, rng.standard_normal((4, d)) * 1.5, rng)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_spline_coupling_gradients_match_finite_differences(d):
    rng = np.random.default_rng(40 + d)
    params = coupling(d, rng, hidden=(6,)).params()
    # random biases: the hidden pre-activations must not sit at ReLU's kink
    params = {k: v + (0.3 * rng.standard_normal(v.shape) if k.startswith("bias") else 0)
              for k, v in params.items()}
    check_layer_gradients(SplineCoupling, params, rng.standard_normal((4, d)), rng)


def test_zero_arrays_are_the_identity_and_knots_are_valid():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)) * 3
    for layer in (ElementwiseSpline.identity(4, bins=6), SplineCoupling.random(4, (5,), rng)):
        net = revcore.Network([layer])
        np.testing.assert_allclose(net.forward(x), x, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(net.log_abs_det_jacobian(x), 0.0, atol=1e-13)
    raw = rng.standard_normal((3, 7)) * 30  # extreme raw values still give valid knots
    xk, yk, slopes, _ = spline_knots(raw, -raw, rng.standard_normal((3, 6)) * 30, 2.0)
    assert np.all(np.diff(xk) >= 2 * 2.0 * MIN_BIN * (1 - 1e-9))
    assert np.all(np.diff(yk) > 0) and np.all(slopes > 0)
    assert np.all(xk[:, 0] == -2.0) and np.all(xk[:, -1] == 2.0)
    assert np.all(slopes[:, [0, -1]] == 1.0)


def test_knot_map_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    w, h, d = rng.standard_normal((2, 5)), rng.standard_normal((2, 5)), rng.standard_normal((2, 4))
    gx, gy, gs = (rng.standard_normal((2, 6)) for _ in range(3))

    def S(w, h, d):
        xk, yk, s, _ = spline_knots(w, h, d, 1.5)
        return (gx * xk).sum() + (gy * yk).sum() + (gs * s).sum()

    cache = spline_knots(w, h, d, 1.5)[3]
    grads = spline_knots_backward(gx, gy, gs, cache, 1.5)
    eps = 1e-6
    for i, array in enumerate((w, h, d)):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            args = [w.copy(), h.copy(), d.copy()]
            args[i][idx] += eps
            up = S(*args)
            args[i][idx] -= 2 * eps
            numeric[idx] = (up - S(*args)) / (2 * eps)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-8)


def test_save_load_pickle_and_check_lines(tmp_path):
    rng = np.random.default_rng(3)
    net = revcore.Network([elementwise(4, rng), coupling(4, rng)])
    path = tmp_path / "spline.npz"
    net.save(path)
    loaded = revcore.load(path)
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(again.inverse(net.forward(x)), net.inverse(net.forward(x)))
    text = str(net.check())
    assert "5 bins on [-2.5, 2.5], knot slopes" in text
    assert "conditioner 2->7->5->22 (relu), never inverted; 4 bins on [-3, 3]" in text


def test_inverse_info_bounds_the_error():
    rng = np.random.default_rng(4)
    layer = elementwise(5, rng, scale=1.5)
    x = rng.standard_normal((50, 5)) * 2
    y = layer.forward(x, NATIVE)
    net = revcore.Network([layer])
    back, info = net.inverse(y, return_info=True)
    exact = x  # y was computed from x, so x is exact up to the forward pass's rounding
    error = np.abs(back - exact).max(axis=1) / np.abs(exact).max(axis=1)
    # the forward pass's own rounding moved y by a few ulps, amplified by 1/slope at most
    assert np.all(error <= info["bound"]) and np.all(info["bound"] < 1e-11)
    assert np.all(info["residual"] < 1e-14)
    _, info = revcore.Network([lu_free := coupling(5, rng)]).inverse(
        lu_free.forward(x, NATIVE), return_info=True)
    assert np.all(np.isfinite(info["bound"])) and np.all(info["residual"] < 1e-14)


@pytest.mark.parametrize("arrays,match", [
    ({"widths": np.zeros((2, 3)), "heights": np.zeros((2, 3)), "derivatives": np.zeros((2, 3)),
      "bound": np.array(1.0)}, r"derivatives"),
    ({"widths": np.zeros((2, 3)), "heights": np.zeros((2, 3)), "derivatives": np.zeros((2, 2)),
      "bound": np.array(0.0)}, r"bound\[0\] must be a finite scalar > 0"),
    ({"widths": np.zeros((2, 3)), "heights": np.zeros((2, 3)), "derivatives": np.zeros((2, 2))},
     r"needs an array 'bound'"),
    ({"widths": np.zeros(3), "heights": np.zeros(3), "derivatives": np.zeros(2),
      "bound": np.array(1.0)}, r"widths\[0\] must be 2-D"),
    ({"widths": np.zeros((2, 3)), "heights": np.zeros((2, 3)), "derivatives": np.zeros((2, 2)),
      "bound": np.array(1.0), "weight": np.eye(2)}, r"has no array weight"),
])
def test_elementwise_spline_arrays_are_checked(arrays, match):
    with pytest.raises(ValueError, match=match):
        ElementwiseSpline.from_arrays(arrays, {})


def test_spline_coupling_arrays_are_checked():
    good = SplineCoupling.random(5, (4,), np.random.default_rng(0), bins=3).to_arrays()[0]
    assert SplineCoupling.from_arrays(good, {}).bins == 3
    bad = dict(good, weight1=np.zeros((7, 4)), bias1=np.zeros(7))
    with pytest.raises(ValueError, match=r"\(d - d // 2\) \(3 K - 1\) outputs"):
        SplineCoupling.from_arrays(bad, {})
    with pytest.raises(ValueError, match="needs an array 'bound'"):
        SplineCoupling.from_arrays({k: v for k, v in good.items() if k != "bound"}, {})


def test_training_objective_gradients_with_spline_layers():
    rng = np.random.default_rng(5)
    model = FlowModel.build(3, 2, n_blocks=1, hidden=(4,), rng=rng, coupling="spline", bins=3,
                            elementwise_bins=3)
    assert model.kinds == ["spline", "lu_dense", "spline_coupling", "lu_dense"]
    for array in model.trainable():
        array[...] = rng.standard_normal(array.shape) * 0.3
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    check_objective_gradients(model, x, y, 1.0, rtol=1e-5, atol=1e-8)


def test_classifier_with_spline_couplings_fits_moons_and_round_trips(tmp_path):
    from sklearn.datasets import make_moons

    X, y = make_moons(400, noise=0.1, random_state=0)
    clf = revcore.InvertibleClassifier(coupling="spline", n_blocks=3, hidden_width=32,
                                       max_iter=60, random_state=0).fit(X, y)
    assert clf.score(X, y) >= 0.97
    assert clf.check().ok
    back = clf.decode(clf.encode(X, y), y)
    assert (np.abs(back - X).max(axis=1) / np.abs(X).max(axis=1)).max() <= 1e-12
    clf.save(tmp_path / "clf.npz")
    loaded = revcore.load(tmp_path / "clf.npz")
    np.testing.assert_array_equal(loaded.score_samples(X), clf.score_samples(X))
    with pytest.raises(ValueError, match="coupling must be 'affine' or 'spline'"):
        revcore.InvertibleClassifier(coupling="rq").fit(X, y)


def test_classifier_elementwise_splines_on_pixels_only_by_default():
    # small pixel-like data: integer features piled on 0 (boxed by logit="auto")
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 80)
    X = np.where(rng.random((160, 6)) < 0.4, 0, rng.integers(1, 17, (160, 6)))
    X[:, :3] += 4 * y[:, None]
    X = np.minimum(X, 16)
    small = {"n_blocks": 1, "hidden_width": 8, "max_iter": 3, "random_state": 0}
    clf = revcore.InvertibleClassifier(**small).fit(X, y)
    assert np.any(clf.boxed_ & clf.active_)
    first = clf.network_.layers[0]
    assert first.kind == "spline" and first.widths.shape == (clf.active_.sum(), 32)
    assert clf.check().ok
    back = clf.decode(clf.encode(X + 0.5))
    assert np.abs(back - (X + 0.5)).max() <= 1e-12 * 17
    plain = revcore.InvertibleClassifier(elementwise_bins=0, **small).fit(X, y)
    assert plain.network_.layers[0].kind == "lu_dense"
    five = revcore.InvertibleClassifier(elementwise_bins=5, **small).fit(X, y)
    assert five.network_.layers[0].widths.shape[1] == 5
    # continuous data: no spline by default
    moons = revcore.InvertibleClassifier(**small).fit(rng.standard_normal((60, 2)),
                                                      np.repeat([0, 1], 30))
    assert moons.network_.layers[0].kind == "lu_dense"
    for bad in (1, -2, 2.5, True, "many"):
        with pytest.raises(ValueError, match="elementwise_bins must be 'auto', 0 or an"):
            revcore.InvertibleClassifier(elementwise_bins=bad, **small).fit(X, y)
