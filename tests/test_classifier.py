"""InvertibleClassifier: training, generation from labels, and the quality bars on digits."""

import pickle

import numpy as np
import pytest

import revcore
from revcore import reference

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from revcore.demo import load_split, quality_figures

SEED = 0


@pytest.fixture(scope="module")
def digits():
    return load_split()


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return revcore.InvertibleClassifier(random_state=SEED).fit(X_train, y_train)


def blobs(n_per_class=40, n_features=6, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (n_classes, n_features))
    X = np.vstack([c + rng.normal(0, 1, (n_per_class, n_features)) for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


# -- the digits quality bars (75/25 stratified split, random_state=0) ----------------------


def test_test_accuracy_bar(fitted, digits):
    _, X_test, _, y_test = digits
    assert fitted.score(X_test, y_test) >= 0.96


def test_generated_digits_bars(fitted, digits):
    X_train, _, y_train, _ = digits
    labels = np.repeat(np.arange(10), 20)
    generated = fitted.generate(labels, random_state=SEED)
    assert generated.shape == (200, 64)
    np.testing.assert_array_equal(fitted.predict(generated), labels)
    figures = quality_figures(generated, labels, X_train, y_train)
    assert figures["independent_agreement"] >= 0.95
    assert figures["nn_ratio"] <= 1.3
    assert figures["in_range"] >= 0.95


def test_every_layer_invertible_after_fit(fitted):
    report = fitted.check()
    assert report.ok
    for layer in report:
        assert layer.condition_estimate < 1e3


# -- generation -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["sample", "mean"])
def test_generate_is_classified_as_requested(fitted, style):
    labels = np.tile(np.arange(10), 5)
    generated = fitted.generate(labels, style=style, random_state=1)
    np.testing.assert_array_equal(fitted.predict(generated), labels)


def test_generate_sample_is_varied_and_seeded(fitted):
    a = fitted.generate([3, 3, 3], random_state=5)
    b = fitted.generate([3, 3, 3], random_state=5)
    np.testing.assert_array_equal(a, b)
    assert np.linalg.norm(a[0] - a[1]) > 1.0


def test_generate_mean_style_is_the_inverted_class_mean(fitted):
    generated = fitted.generate(7, style="mean")
    assert generated.shape == (64,)
    outputs = fitted.encode(generated[None])[0]
    target = fitted.class_mean_outputs_[7].copy()
    target[:10] = fitted._enforce_margin(target[None, :10], np.array([7]))[0]
    np.testing.assert_allclose(outputs, target, atol=1e-8)


def test_generate_with_latent(fitted):
    rng = np.random.default_rng(0)
    latent = rng.normal(0, 0.5, (4, 54))
    generated = fitted.generate([0, 1, 2, 3], latent=latent)
    outputs = fitted.encode(generated)
    np.testing.assert_allclose(outputs[:, 10:], latent, atol=1e-8)
    np.testing.assert_array_equal(fitted.predict(generated), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"latent must have shape \(4, 54\)"):
        fitted.generate([0, 1, 2, 3], latent=latent[:, :5])


def test_counterfactual_keeps_style_and_swaps_label(fitted, digits):
    _, X_test, _, _ = digits
    X = X_test[:20]
    for label in range(10):
        swapped = fitted.counterfactual(X, label)
        np.testing.assert_array_equal(fitted.predict(swapped), np.full(20, label))
        np.testing.assert_allclose(fitted.encode(swapped)[:, 10:], fitted.encode(X)[:, 10:],
                                   atol=1e-8)


def test_generate_rejects_unknown_labels_and_styles(fitted):
    with pytest.raises(ValueError, match="unknown label 11"):
        fitted.generate([1, 11])
    with pytest.raises(ValueError, match="style must be"):
        fitted.generate([1], style="median")


def test_string_labels():
    X, y = blobs()
    names = np.array(["ant", "bee", "cat"])[y]
    clf = revcore.InvertibleClassifier(epochs=30, random_state=0).fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["ant", "bee", "cat"])
    assert clf.score(X, names) > 0.9
    np.testing.assert_array_equal(clf.predict(clf.generate(["cat", "ant"], random_state=0)),
                                  ["cat", "ant"])


# -- log |det J| --------------------------------------------------------------------------


def finite_difference_jacobian(f, x, h=1e-6):
    columns = []
    for j in range(len(x)):
        e = np.zeros_like(x)
        e[j] = h
        columns.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("module", [revcore, reference], ids=["native", "reference"])
def test_network_log_abs_det_jacobian(activation, module):
    net = module.Network.random(6, 3, activation, seed=3, condition=5.0, negative_slope=0.3)
    rng = np.random.default_rng(1)
    for x in rng.normal(0, 0.7, (3, 6)):
        jacobian = finite_difference_jacobian(net.forward, x)
        # Central differences with h = 1e-6 are accurate to about 1e-9 relative here.
        np.testing.assert_allclose(net.log_abs_det_jacobian(x),
                                   np.linalg.slogdet(jacobian)[1], atol=1e-6)


def test_classifier_log_abs_det_jacobian(fitted, digits):
    _, X_test, _, _ = digits
    x = X_test[0]
    jacobian = finite_difference_jacobian(lambda v: fitted.encode(v[None])[0], x, h=1e-4)
    # Piecewise-linear layers: exact unless a leaky_relu kink lies within h of x.
    np.testing.assert_allclose(fitted.log_abs_det_jacobian(x[None])[0],
                               np.linalg.slogdet(jacobian)[1], atol=1e-5)


# -- the dense layer's backward pass ---------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["identity", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 4), (7, 13, 8), (33, 17, 31)])
def test_dense_backward_matches_reference(dtype, activation, shape):
    batch, n_in, n_out = shape
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((batch, n_in)), rng.standard_normal((n_out, n_in))
    z, g = rng.standard_normal((batch, n_out)), rng.standard_normal((batch, n_out))
    args = [a.astype(dtype) for a in (x, w, z, g)]
    got = revcore.dense_backward(*args, activation, 0.2)
    want = reference.dense_backward(*args, activation, 0.2)
    # Sums of at most 33 products of O(1) numbers: 64 eps relative covers the rounding.
    rtol = 64 * np.finfo(dtype).eps
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("activation", ["identity", "leaky_relu", "tanh", "sigmoid"])
def test_dense_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    b, g = rng.standard_normal(3), rng.standard_normal((4, 3))

    def loss(x_, w_, b_):
        return np.sum(g * revcore.dense(x_, w_, b_, activation, 0.3))

    z = revcore.dense(x, w, b)
    grad_x, grad_w, grad_b = revcore.dense_backward(x, w, z, g, activation, 0.3)
    h = 1e-6
    for array, grad, index in ((x, grad_x, (1, 2)), (w, grad_w, (2, 4)), (b, grad_b, (1,))):
        plus, minus = array.copy(), array.copy()
        plus[index] += h
        minus[index] -= h
        args_p = [plus if a is array else a for a in (x, w, b)]
        args_m = [minus if a is array else a for a in (x, w, b)]
        numeric = (loss(*args_p) - loss(*args_m)) / (2 * h)
        # Central differences: error O(h^2) plus rounding O(eps / h) ~ 1e-10.
        assert abs(numeric - grad[index]) < 1e-6


# -- estimator conventions --------------------------------------------------------------------


def test_constructor_only_stores_parameters():
    clf = revcore.InvertibleClassifier(depth=2, epochs=3)
    assert clf.get_params()["depth"] == 2
    assert not hasattr(clf, "classes_")
    assert repr(clf) == "InvertibleClassifier(depth=2, epochs=3)"
    assert clf.set_params(depth=4) is clf and clf.depth == 4
    with pytest.raises(ValueError, match="invalid parameter 'width'"):
        clf.set_params(width=3)


def test_fit_returns_self_and_sets_attributes():
    X, y = blobs()
    clf = revcore.InvertibleClassifier(epochs=5, random_state=0)
    assert clf.fit(X, y) is clf
    assert clf.n_features_in_ == 6
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert len(clf.loss_curve_) == 5


def test_fit_is_reproducible_and_leaves_inputs_alone():
    X, y = blobs()
    X_before, y_before = X.copy(), y.copy()
    a = revcore.InvertibleClassifier(epochs=4, random_state=3).fit(X, y)
    b = revcore.InvertibleClassifier(epochs=4, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.encode(X), b.encode(X))
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
def test_optimizers_and_activations_learn(optimizer, activation):
    X, y = blobs(seed=1)
    rate = 3e-3 if optimizer == "adam" else 0.03
    clf = revcore.InvertibleClassifier(epochs=30, optimizer=optimizer, learning_rate=rate,
                                       activation=activation, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_float32_training():
    X, y = blobs()
    clf = revcore.InvertibleClassifier(epochs=20, dtype="float32", random_state=0).fit(X, y)
    assert clf.network_.dtype == np.float32
    assert clf.score(X, y) > 0.9


def test_conditioning_penalty_keeps_layers_well_conditioned(digits):
    # Without the log-det penalty the weights drift toward singular (2-norm condition numbers
    # in the thousands after 20 epochs on digits); with it they stay near orthogonal.
    X_train, _, y_train, _ = digits
    free = revcore.InvertibleClassifier(epochs=20, conditioning_penalty=0.0,
                                        random_state=0).fit(X_train, y_train)
    kept = revcore.InvertibleClassifier(epochs=20, random_state=0).fit(X_train, y_train)
    worst = [max(np.linalg.cond(l.weight) for l in c.network_.layers) for c in (free, kept)]
    assert worst[1] < 10 and worst[0] > 100


def test_condition_backstop_caps_the_condition_number(digits):
    X_train, _, y_train, _ = digits
    clf = revcore.InvertibleClassifier(epochs=20, conditioning_penalty=0.0, max_condition=20.0,
                                       random_state=0).fit(X_train, y_train)
    conditions = [np.linalg.cond(layer.weight) for layer in clf.network_.layers]
    assert max(conditions) <= 20.0 * (1 + 1e-9)
    assert max(conditions) > 19.0  # the backstop was needed and active
    assert clf.check().ok


@pytest.mark.parametrize(
    "params, message",
    [
        ({"activation": "relu"}, "activation must be a bijection.*relu maps every negative"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"optimizer": "lbfgs"}, "optimizer must be 'adam' or 'sgd'"),
        ({"negative_slope": 0.0}, "negative_slope must be a finite positive"),
        ({"max_condition": 1.0}, "max_condition must exceed 1"),
    ],
)
def test_bad_parameters_fail_at_fit(params, message):
    X, y = blobs()
    with pytest.raises(ValueError, match=message):
        revcore.InvertibleClassifier(**params).fit(X, y)


def test_more_classes_than_features():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 4
    with pytest.raises(ValueError, match="4 classes but only 3 features"):
        revcore.InvertibleClassifier().fit(X, y)


def test_bad_inputs():
    X, y = blobs()
    clf = revcore.InvertibleClassifier(epochs=2)
    with pytest.raises(revcore.NotFittedError, match="not fitted"):
        clf.predict(X)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X, np.zeros(len(X)))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, y)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but InvertibleClassifier is "
                                         "expecting 6 features as input"):
        clf.predict(X[:, :5])


def test_sklearn_clone_cross_validation_and_pipeline():
    X, y = blobs()
    clf = revcore.InvertibleClassifier(epochs=60, random_state=0)
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), clf).fit(X, y)
    assert pipe.score(X, y) > 0.9


def test_pickle_round_trip(fitted, digits):
    _, X_test, _, _ = digits
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X_test), fitted.predict_proba(X_test))
    np.testing.assert_array_equal(restored.generate([1, 2], random_state=0),
                                  fitted.generate([1, 2], random_state=0))


def test_demo_writes_the_picture(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from revcore import demo

    path = tmp_path / "digits.png"
    assert demo.main(["--output", str(path), "--per-label", "3"]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "test accuracy: 0.9" in out
    assert "every layer is invertible" in out


def test_verbose_reports_progress(capsys):
    X, y = blobs()
    revcore.InvertibleClassifier(epochs=4, verbose=2, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch    2/4" in err and "epoch    4/4" in err and "epoch    1/4" not in err
