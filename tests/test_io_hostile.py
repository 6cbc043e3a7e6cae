"""Loading is safe: malformed or hostile .npz files give ValueError (or, when the damage
misses everything that is read, the network that was saved), never a crash, another
exception type, or code execution."""

from __future__ import annotations

import io
import os
import pickle
import warnings

import numpy as np
import pytest

import revcore

hypothesis = pytest.importorskip("hypothesis")
with warnings.catch_warnings():  # see test_properties.py: hypothesis's patch printer warns
    warnings.simplefilter("ignore")
    try:
        import hypothesis.extra._patching
    except ImportError:  # pragma: no cover
        pass
from hypothesis import settings
from hypothesis import strategies as st

EXAMPLES = 2000 if os.environ.get("REVCORE_FUZZ") == "1" else 150


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    net = revcore.Network.random(5, 3, "tanh", dtype=np.float32, seed=0,
                                 condition_threshold=1e3)
    path = tmp_path_factory.mktemp("saved") / "net.npz"
    net.save(path)
    return net, path.read_bytes()


def same_network(a, b) -> bool:
    return (a.condition_threshold == b.condition_threshold and a.depth == b.depth and all(
        x.activation == y.activation and x.negative_slope == y.negative_slope
        and x.weight.dtype == y.weight.dtype and np.array_equal(x.weight, y.weight)
        and np.array_equal(x.bias, y.bias) for x, y in zip(a.layers, b.layers)))


def load_bytes(data: bytes, tmp_path, name="fuzzed.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    return revcore.load(path)


def assert_value_error_or_same(data, original, tmp_path):
    try:
        loaded = load_bytes(data, tmp_path)
    except ValueError:
        return
    assert same_network(loaded, original)


@settings(max_examples=EXAMPLES, deadline=None)
@hypothesis.given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                           st.integers(1, 255)), min_size=1, max_size=4))
def test_byte_flips_give_value_error_or_the_saved_network(saved, tmp_path_factory, flips):
    net, data = saved
    data = bytearray(data)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    assert_value_error_or_same(bytes(data), net, tmp_path_factory.mktemp("flip"))


@settings(max_examples=EXAMPLES // 3, deadline=None)
@hypothesis.given(keep=st.floats(0, 1, exclude_max=True))
def test_truncations_give_value_error(saved, tmp_path_factory, keep):
    _, data = saved
    with pytest.raises(ValueError):
        load_bytes(data[: int(keep * len(data))], tmp_path_factory.mktemp("cut"))


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def valid(**changes):
    arrays = {
        "format_version": np.array(1), "depth": np.array(1),
        "weight_0": np.eye(2), "bias_0": np.zeros(2),
        "activations": np.array(["tanh"]), "negative_slopes": np.array([0.01]),
        "condition_threshold": np.array(np.nan),
    }
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("arrays", [
    valid(depth=np.array([1, 2])),                       # depth not a scalar
    valid(depth=np.array(1.5)),                          # depth not an integer
    valid(depth=np.array("one")),
    valid(depth=np.array(-1)),
    valid(depth=np.array(10**12)),
    valid(format_version=np.array([1, 1])),
    valid(format_version=np.array(1.0)),
    valid(condition_threshold=np.array([1.0, 2.0])),     # not a scalar
    valid(condition_threshold=np.array("big")),
    valid(condition_threshold=np.array(0.5)),
    valid(negative_slopes=np.array(["a"])),
    valid(negative_slopes=np.array([-1.0])),
    valid(activations=np.array([b"tanh"])),
    valid(activations=np.array(["softplus"])),
    valid(weight_0=np.eye(2, dtype=np.complex128)),
    valid(weight_0=np.ones((2, 2, 2))),
    valid(weight_0=np.eye(2).astype(np.float16)),
    valid(weight_0=np.array(["a", "b"])),
    valid(weight_0=np.eye(3)),
    valid(bias_0=None),
    valid(weight_0=np.array([Boom()], dtype=object)),   # a pickle: never unpickled
], ids=["depth-vector", "depth-float", "depth-string", "depth-negative", "depth-huge",
        "version-vector", "version-float", "threshold-vector", "threshold-string",
        "threshold-below-1", "slopes-strings", "slope-negative", "activations-bytes",
        "activation-unknown", "weight-complex", "weight-3d", "weight-float16", "weight-strings",
        "weight-bias-mismatch", "bias-missing", "weight-pickle"])
def test_hostile_contents_give_value_error(tmp_path, arrays):
    if any(a.dtype == object for a in arrays.values()):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # numpy pickles object arrays when asked to
        data = buffer.getvalue()
    else:
        data = npz(**arrays)
    try:
        loaded = load_bytes(data, tmp_path)
    except ValueError:
        return
    # float16 weights make a valid network (promoted with the bias); nothing else loads
    assert arrays["weight_0"].dtype == np.float16
    assert np.array_equal(loaded.layers[0].weight, np.eye(2))


def test_not_a_zip_and_a_pickle_file_give_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_bytes(b"", tmp_path)
    with pytest.raises(ValueError):
        load_bytes(pickle.dumps(Boom()), tmp_path)
    with pytest.raises(ValueError):
        load_bytes(np.lib.format.__name__.encode() * 10, tmp_path)


@pytest.mark.parametrize("flag", [0x01, 0x40])  # "encrypted", "strong encryption"
def test_regression_damaged_zip_flags_give_value_error(saved, tmp_path, flag):
    # Found by the byte-flip fuzzing: zipfile raised NotImplementedError / RuntimeError,
    # which escaped load() instead of its documented ValueError.
    _, data = saved
    data = bytearray(data)
    central = data.index(b"PK\x01\x02")
    data[central + 8] ^= flag  # general purpose bit flags of the first member
    with pytest.raises(ValueError, match="truncated, corrupt"):
        load_bytes(bytes(data), tmp_path)


# -- InvertibleClassifier files ---------------------------------------------------------------

X_PROBE = np.random.default_rng(3).normal(size=(6, 3))


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 10)
    X = rng.normal(size=(30, 3)) + np.repeat(np.arange(3.0), 10)[:, None]
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=5,
                                       random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("saved") / "clf.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return clf, path.read_bytes(), arrays


def same_classifier(a, b) -> bool:
    return (type(a) is type(b) and a.get_params() == b.get_params()
            and np.array_equal(a.classes_, b.classes_)
            and np.array_equal(a.predict_proba(X_PROBE), b.predict_proba(X_PROBE))
            and np.array_equal(a.encode(X_PROBE), b.encode(X_PROBE))
            and np.array_equal(a.generate(["a", "c"], random_state=0),
                               b.generate(["a", "c"], random_state=0)))


@settings(max_examples=EXAMPLES, deadline=None)
@hypothesis.given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                           st.integers(1, 255)), min_size=1, max_size=4))
def test_classifier_byte_flips_give_value_error_or_the_saved_classifier(
        saved_classifier, tmp_path_factory, flips):
    clf, data, _ = saved_classifier
    data = bytearray(data)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    try:
        loaded = load_bytes(bytes(data), tmp_path_factory.mktemp("flip"))
    except ValueError:
        return
    assert same_classifier(loaded, clf)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@hypothesis.given(keep=st.floats(0, 1, exclude_max=True))
def test_classifier_truncations_give_value_error(saved_classifier, tmp_path_factory, keep):
    _, data, _ = saved_classifier
    with pytest.raises(ValueError):
        load_bytes(data[: int(keep * len(data))], tmp_path_factory.mktemp("cut"))


def changed(arrays, changes):
    """The saved classifier's arrays with changes (None removes a key)."""
    out = dict(arrays)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


HOSTILE = {
    "no-object": {"object": None},
    "object-unknown": {"object": np.array("Pipeline")},
    "object-network": {"object": np.array("Network")},
    "object-bytes": {"object": np.array(b"InvertibleClassifier")},
    "version-newer": {"format_version": np.array(4)},
    "no-classes": {"classes_": None},
    "no-mean": {"mean_": None},
    "no-active": {"active_": None},
    "no-class-means": {"class_means_": None},
    "no-latent-scale": {"latent_scale_": None},
    "no-prior": {"class_log_prior_": None},
    "no-n-iter": {"n_iter_": None},
    "no-best": {"best_validation_score_": None},
    "no-classes-object": {"classes_object": None},
    "no-param": {"params/n_blocks": None},
    "no-network-depth": {"network/depth": None},
    "no-network-layer": {"network/lower_0": None},
    "unexpected-key": {"extra": np.zeros(2)},
    "unexpected-param": {"params/alpha": np.array(1.0)},
    "unexpected-network-key": {"network/weight_9": np.zeros(2)},
    "classes-2d": {"classes_": np.array([["a", "b", "c"]])},
    "classes-unsorted": {"classes_": np.array(["b", "a", "c"])},
    "classes-repeated": {"classes_": np.array(["a", "a", "c"])},
    "classes-too-few": {"classes_": np.array(["a", "b"])},
    "classes-nan": {"classes_": np.array([0.0, 1.0, np.nan])},
    "classes-complex": {"classes_": np.array([1j, 2j, 3j])},
    "classes-datetime": {"classes_": np.array(["2020-01-01", "2020-01-02", "2020-01-03"],
                                               dtype="datetime64[D]")},
    "classes-object-flag-float": {"classes_object": np.array(1.0)},
    "mean-short": {"mean_": np.zeros(2)},
    "mean-int": {"mean_": np.zeros(3, dtype=np.int64)},
    "mean-nan": {"mean_": np.array([0.0, np.nan, 0.0])},
    "scale-zero": {"scale_": np.array([1.0, 0.0, 1.0])},
    "scale-inf": {"scale_": np.array([1.0, np.inf, 1.0])},
    "active-float": {"active_": np.ones(3)},
    "active-none": {"active_": np.zeros(3, dtype=bool)},
    "active-fewer": {"active_": np.array([True, True, False])},
    "class-means-shape": {"class_means_": np.zeros((3, 2))},
    "class-means-1d": {"class_means_": np.zeros(9)},
    "class-means-nan": {"class_means_": np.full((3, 3), np.nan)},
    "class-means-strings": {"class_means_": np.full((3, 3), "x")},
    "latent-scale-negative": {"latent_scale_": -np.ones(3)},
    "latent-scale-shape": {"latent_scale_": np.ones(4)},
    "prior-positive": {"class_log_prior_": np.ones(3)},
    "prior-nan": {"class_log_prior_": np.array([np.nan, -1.0, -1.0])},
    "loss-curve-2d": {"loss_curve_": np.zeros((2, 2))},
    "best-vector": {"best_validation_score_": np.zeros(2)},
    "best-string": {"best_validation_score_": np.array("best")},
    "n-iter-negative": {"n_iter_": np.array(-1)},
    "n-iter-float": {"n_iter_": np.array(5.0)},
    "param-nan": {"params/learning_rate": np.array(np.nan)},
    "param-inf": {"params/temperature": np.array(np.inf)},
    "param-temperature-negative": {"params/temperature": np.array(-1.0)},
    "param-float-for-int": {"params/n_blocks": np.array(1.5)},
    "param-bool-for-int": {"params/max_iter": np.array(True)},
    "param-vector": {"params/tol": np.array([1e-4, 1e-3])},
    "param-dtype-unknown": {"params/dtype": np.array("float16")},
    "param-dtype-mismatch": {"params/dtype": np.array("float32")},
    "param-random-state-float": {"params/random_state": np.array(0.5)},
    "param-random-state-string": {"params/random_state": np.array("seed")},
    "param-verbose-none": {"params/verbose": np.zeros(0)},
    "param-early-stopping-int": {"params/early_stopping": np.array(1)},
    "network-depth-string": {"network/depth": np.array("three")},
    "network-kinds-unknown": {"network/kinds": np.array(["lu_dense", "conv", "lu_dense"])},
    "network-layer-shape": {"network/lower_0": np.eye(4)},
    "network-layer-strings": {"network/upper_0": np.full((3, 3), "u")},
    "network-layer-3d": {"network/weight0_1": np.zeros((2, 2, 2))},
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_classifier_contents_give_value_error(saved_classifier, tmp_path, name):
    _, _, arrays = saved_classifier
    data = npz(**changed(arrays, HOSTILE[name]))
    with pytest.raises(ValueError):
        load_bytes(data, tmp_path)
    path = tmp_path / "fuzzed.npz"
    with pytest.raises(ValueError):
        revcore.InvertibleClassifier.load(path)


@pytest.mark.parametrize("key", ["classes_", "params/dtype", "network/kinds", "mean_"])
def test_pickled_object_arrays_in_a_classifier_file_are_never_unpickled(
        saved_classifier, tmp_path, key):
    _, _, arrays = saved_classifier
    data = npz(**changed(arrays, {key: np.array([Boom(), Boom()], dtype=object)}))
    with pytest.raises(ValueError, match="could not read|pickle"):
        load_bytes(data, tmp_path)


def test_hostile_classifier_errors_name_what_is_wrong(saved_classifier, tmp_path):
    _, _, arrays = saved_classifier
    for changes, message in [
        ({"class_means_": None}, "no 'class_means_'"),
        ({"params/n_blocks": None}, "no 'params/n_blocks'"),
        ({"network/lower_0": None}, "lower"),
        ({"mean_": np.zeros(2)}, "scale_ must have shape \\(2,\\)"),
        ({"latent_scale_": np.ones((3, 4))}, "latent_scale_ must have shape \\(3, 3\\)"),
        ({"params/learning_rate": np.array(np.nan)}, "learning_rate"),
        ({"class_means_": np.full((3, 3), np.nan)}, "class_means_ holds non-finite"),
        ({"extra": np.zeros(2)}, "unexpected array 'extra'"),
        ({"format_version": np.array(4)}, "format version 4, newer"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_bytes(npz(**changed(arrays, changes)), tmp_path)


def test_unchanged_classifier_arrays_load(saved_classifier, tmp_path):
    clf, _, arrays = saved_classifier
    assert same_classifier(load_bytes(npz(**arrays), tmp_path), clf)
