"""Saving and loading networks (.npz files read with numpy alone, nothing unpickled)."""

import io

import numpy as np
import pytest

import revcore
from support import DTYPES, assert_same_network, make_network


@pytest.mark.parametrize("dtype", DTYPES)
def test_save_load_round_trip(tmp_path, dtype):
    net = make_network(dtype)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = revcore.load(path)
    assert_same_network(net, loaded)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(dtype)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_saved_file_is_plain_numpy(tmp_path):
    net = make_network()
    net.condition_threshold = 1e6
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 1
        assert list(data["activations"]) == ["leaky_relu", "tanh", "identity"]
        np.testing.assert_array_equal(data["weight_1"], net.layers[1].weight)
        np.testing.assert_array_equal(data["bias_1"], np.zeros(5))
    assert revcore.load(path).condition_threshold == 1e6


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays.update(changes)
    for key, value in list(arrays.items()):
        if value is None:
            del arrays[key]
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def test_load_rejects_newer_versions(tmp_path):
    path = tmp_path / "net.npz"
    make_network().save(path)
    rewrite(path, format_version=np.array(4))
    with pytest.raises(ValueError, match="format version 4, newer than this revcore reads"):
        revcore.load(path)


def test_load_rejects_truncated_files(tmp_path):
    path = tmp_path / "net.npz"
    make_network().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated, corrupt or not an .npz file"):
        revcore.load(path)


def test_load_rejects_wrong_shapes_and_missing_keys(tmp_path):
    path = tmp_path / "net.npz"
    make_network().save(path)
    rewrite(path, bias_1=np.zeros(4))
    with pytest.raises(ValueError, match="inconsistent network.*biases\\[1\\]"):
        revcore.load(path)
    make_network().save(path)
    rewrite(path, weight_2=None)
    with pytest.raises(ValueError, match="no 'weight_2'"):
        revcore.load(path)


def test_load_never_unpickles(tmp_path):
    path = tmp_path / "net.npz"
    make_network().save(path)
    rewrite(path, activations=np.array([object(), "tanh", "identity"], dtype=object))
    with pytest.raises(ValueError, match="could not read|pickle"):
        revcore.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        revcore.load(tmp_path / "nothing.npz")


# -- InvertibleClassifier ----------------------------------------------------------------------

TINY = {"n_blocks": 1, "hidden_width": 8, "max_iter": 5, "random_state": 0}


def fit_tiny(labels, dtype="float64", n_features=3, **params):
    rng = np.random.default_rng(0)
    labels = np.asarray(labels)
    X = rng.normal(size=(len(labels), n_features)) + 2.0 * (
        np.searchsorted(np.unique(labels), labels)[:, None])
    clf = revcore.InvertibleClassifier(dtype=dtype, **{**TINY, **params}).fit(X, labels)
    return clf, X


LABELS = {
    "str": np.repeat(["cat", "dog", "eel"], 12),
    "int": np.repeat([-3, 7], 18),
    "float": np.repeat([-1.0, 2.0, 30.0], 12),
    "bool": np.repeat([False, True], 18),
    "object-str": np.repeat(np.array(["x", "yy"], dtype=object), 18),
}


def assert_same_outputs(clf, loaded, X):
    """Every method gives the same bits (and dtypes) for both classifiers."""
    for method in ("predict_proba", "predict_log_proba", "decision_function", "predict",
                   "score_samples", "encode"):
        expected, got = getattr(clf, method)(X), getattr(loaded, method)(X)
        assert got.dtype == expected.dtype, method
        np.testing.assert_array_equal(got, expected, err_msg=method)
    Z = clf.encode(X)
    np.testing.assert_array_equal(loaded.decode(Z), clf.decode(Z))
    labels = clf.classes_[[0, -1, 0]]
    for seed in (0, 5):
        np.testing.assert_array_equal(loaded.generate(labels, random_state=seed),
                                      clf.generate(labels, random_state=seed))
    np.testing.assert_array_equal(loaded.generate(labels, temperature=0.3, random_state=1),
                                  clf.generate(labels, temperature=0.3, random_state=1))
    for a, b in zip(loaded.sample(4, random_state=2), clf.sample(4, random_state=2)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.counterfactual(X[:3], clf.classes_[-1]),
                                  clf.counterfactual(X[:3], clf.classes_[-1]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", list(LABELS))
def test_classifier_round_trip_is_bit_identical(tmp_path, dtype, kind):
    clf, X = fit_tiny(LABELS[kind], dtype)
    path = tmp_path / "clf.npz"
    clf.save(path)
    loaded = revcore.load(path)
    assert type(loaded) is revcore.InvertibleClassifier
    assert loaded.get_params() == clf.get_params()
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.network_.dtype == np.dtype(dtype)
    for name in ("n_features_in_", "n_iter_", "loss_curve_", "validation_scores_",
                 "best_validation_score_"):
        assert getattr(loaded, name) == getattr(clf, name), name
    for name in ("mean_", "scale_", "active_", "class_means_", "latent_scale_",
                 "class_log_prior_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(clf, name))
    assert_same_outputs(clf, loaded, X)


def test_classifier_load_classmethod_and_file_objects(tmp_path):
    clf, X = fit_tiny(LABELS["str"], early_stopping=False)
    assert clf.best_validation_score_ is None
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    loaded = revcore.InvertibleClassifier.load(buffer)
    assert loaded.best_validation_score_ is None
    assert_same_outputs(clf, loaded, X)


def test_classifier_with_constant_features_round_trips(tmp_path):
    labels = LABELS["int"]
    clf, X = fit_tiny(labels, n_features=4)
    X[:, 1] = 3.0
    clf.fit(X, labels)
    assert not clf.active_[1]
    path = tmp_path / "clf.npz"
    clf.save(path)
    assert_same_outputs(clf, revcore.load(path), X)


def test_loaded_classifier_refits_as_the_original(tmp_path):
    clf, X = fit_tiny(LABELS["str"])
    path = tmp_path / "clf.npz"
    clf.save(path)
    loaded = revcore.load(path)
    y = LABELS["str"][::-1]
    clf.fit(X, y)
    loaded.fit(X, y)
    assert_same_outputs(clf, loaded, X)
    loaded.set_params(max_iter=2).fit(X, y)
    assert loaded.n_iter_ <= 2


def test_classifier_file_is_plain_numpy(tmp_path):
    clf, _ = fit_tiny(LABELS["str"], temperature=0.5)
    path = tmp_path / "clf.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 3
        assert str(data["object"]) == "InvertibleClassifier"
        assert list(data["classes_"]) == ["cat", "dog", "eel"]
        assert float(data["params/temperature"]) == 0.5
        assert data["params/verbose"].dtype == bool
        assert list(data["network/kinds"]) == ["lu_dense", "coupling", "lu_dense"]
        np.testing.assert_array_equal(data["class_means_"], clf.class_means_)
        np.testing.assert_array_equal(data["network/lower_0"], clf.network_.layers[0].lower)


def test_unfitted_classifier_refuses_to_save(tmp_path):
    with pytest.raises(revcore.NotFittedError):
        revcore.InvertibleClassifier().save(tmp_path / "clf.npz")
    assert not (tmp_path / "clf.npz").exists()


@pytest.mark.parametrize("classes, message", [
    (np.array([1, "a"], dtype=object), "mixes label types"),
    (np.array([1.5, 2], dtype=object), "mixes label types"),
    (np.array([(1,), (2,)] + [None], dtype=object)[:2], "cannot be saved without pickling"),
])
def test_unstorable_classes_are_refused_at_save(tmp_path, classes, message):
    clf, _ = fit_tiny(LABELS["int"])
    clf.classes_ = classes
    with pytest.raises(ValueError, match=message):
        clf.save(tmp_path / "clf.npz")


def test_generator_random_state_is_saved_as_none(tmp_path):
    clf, X = fit_tiny(LABELS["int"], random_state=np.random.default_rng(0))
    path = tmp_path / "clf.npz"
    with pytest.warns(UserWarning, match="random_state is a Generator"):
        clf.save(path)
    loaded = revcore.load(path)
    assert loaded.random_state is None
    assert_same_outputs(clf, loaded, X)


def test_network_and_classifier_files_are_told_apart(tmp_path):
    clf_path, net_path = tmp_path / "clf.npz", tmp_path / "net.npz"
    fit_tiny(LABELS["int"])[0].save(clf_path)
    make_network().save(net_path)
    with pytest.raises(ValueError, match="holds an InvertibleClassifier, not a Network"):
        revcore.Network.load(clf_path)
    with pytest.raises(ValueError, match="holds a Network, not an InvertibleClassifier"):
        revcore.InvertibleClassifier.load(net_path)
    assert isinstance(revcore.load(net_path), revcore.Network)


def test_classifier_load_rejects_newer_versions(tmp_path):
    path = tmp_path / "clf.npz"
    fit_tiny(LABELS["int"])[0].save(path)
    rewrite(path, format_version=np.array(4))
    with pytest.raises(ValueError, match="format version 4, newer than this revcore reads"):
        revcore.load(path)


def test_reference_load_reads_classifier_files(tmp_path):
    clf, X = fit_tiny(LABELS["str"])
    path = tmp_path / "clf.npz"
    clf.save(path)
    loaded = revcore.reference.load(path)
    assert isinstance(loaded, revcore.InvertibleClassifier)
    assert isinstance(loaded.network_, revcore.reference.Network)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X),
                               rtol=1e-12, atol=1e-12)
    make_network().save(tmp_path / "net.npz")
    assert isinstance(revcore.reference.load(tmp_path / "net.npz"), revcore.reference.Network)
