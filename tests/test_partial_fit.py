"""Incremental training: partial_fit over chunks, scikit-learn's protocol, and how close it
comes to fit on the whole."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import revcore

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    return X_train, X_test, y_train, y_test


def test_partial_fit_over_chunks_comes_close_to_fit(wine):
    X_train, X_test, y_train, y_test = wine
    params = {"n_blocks": 2, "hidden_width": 32, "random_state": 0}
    whole = revcore.InvertibleClassifier(**params).fit(X_train, y_train)
    clf = revcore.InvertibleClassifier(**params)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X_train))
    chunks = np.array_split(order, 5)
    for _ in range(6):  # passes over the stream
        for rows in chunks:
            clf.partial_fit(X_train[rows], y_train[rows], classes=[0, 1, 2])
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.score(X_test, y_test) >= whole.score(X_test, y_test) - 0.05
    d = X_train.shape[1]
    gap = (whole.score_samples(X_test).mean() - clf.score_samples(X_test).mean()) / d
    assert gap < 0.25  # nats per feature; the figures over more passes are in the notes
    # the standardisation is that of every row seen, not of the first chunk (of x + u for
    # the dequantised integer features: about half a unit more)
    continuous = ~clf.discrete_
    assert continuous.sum() >= 10 and clf.discrete_.sum() >= 1
    np.testing.assert_allclose(clf.mean_[continuous], X_train.mean(axis=0)[continuous],
                               rtol=1e-10)
    np.testing.assert_allclose(clf.scale_[continuous], X_train.std(axis=0)[continuous],
                               rtol=1e-8)
    np.testing.assert_allclose(clf.mean_[~continuous], X_train.mean(axis=0)[~continuous] + 0.5,
                               atol=0.05)
    assert clf.check().ok
    back = clf.decode(clf.encode(X_test, y_test), y_test)
    assert (np.abs(back - X_test).max(axis=1) / np.abs(X_test).max(axis=1)).max() <= 1e-12


def test_partial_fit_protocol_errors(wine):
    X_train, _, y_train, _ = wine
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X_train, y_train)
    clf.partial_fit(X_train[:60], y_train[:60], classes=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="differ from those of the first call"):
        clf.partial_fit(X_train[60:], y_train[60:], classes=[0, 1])
    with pytest.raises(ValueError, match="label 7, which is not among the classes"):
        clf.partial_fit(X_train[:3], np.array([0, 7, 1]))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X_train[:, :5], y_train)
    # one class per chunk is fine once the classes are known
    clf.partial_fit(X_train[y_train == 2], y_train[y_train == 2])
    assert clf.n_iter_ == 2


def test_partial_fit_continues_after_fit_and_after_pickling(wine):
    X_train, X_test, y_train, _ = wine
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=20,
                                       random_state=0).fit(X_train, y_train)
    before = clf.score_samples(X_test)
    again = pickle.loads(pickle.dumps(clf))
    for model in (clf, again):
        iterations = model.n_iter_
        model.partial_fit(X_train, y_train)
        assert model.n_iter_ == iterations + 1
        assert not np.array_equal(model.score_samples(X_test), before)
    # the same data and state give the same step (the random stream travels with it)
    np.testing.assert_array_equal(again.score_samples(X_test), clf.score_samples(X_test))


def test_dask_ml_incremental_trains_over_blocks(wine):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X_train, _, y_train, _ = wine
    X_train = StandardScaler().fit(X_train).transform(X_train)
    X = da.from_array(X_train, chunks=(30, X_train.shape[1]))
    y = da.from_array(y_train, chunks=30)
    inc = wrappers.Incremental(revcore.InvertibleClassifier(n_blocks=1, hidden_width=8,
                                                            random_state=0))
    inc.fit(X, y, classes=[0, 1, 2])
    assert inc.estimator_.n_iter_ == X.numblocks[0]
    assert inc.estimator_.classes_.tolist() == [0, 1, 2]


def test_partial_fit_starts_again_from_every_row_until_it_has_enough(wine, monkeypatch):
    X_train, _, y_train, _ = wine
    monkeypatch.setattr(revcore._classifier, "_STREAM_MAP_ROWS", 80)
    params = {"n_blocks": 1, "hidden_width": 8, "random_state": 0}
    clf = revcore.InvertibleClassifier(**params)
    clf.partial_fit(X_train[:30], y_train[:30], classes=[0, 1, 2])
    clf.partial_fit(X_train[30:60], y_train[30:60])
    # 60 rows seen: the maps are those of one call on all 60 rows
    once = revcore.InvertibleClassifier(**params).partial_fit(X_train[:60], y_train[:60],
                                                              classes=[0, 1, 2])
    # (the dequantised integer features differ by their noise, drawn from other streams)
    continuous = ~clf.discrete_
    assert (clf.lambdas_[continuous] != 1).any()
    np.testing.assert_array_equal(clf.active_, once.active_)
    np.testing.assert_array_equal(clf.discrete_, once.discrete_)
    for name in ("lambdas_", "power_mean_", "power_scale_", "mean_", "scale_"):
        np.testing.assert_array_equal(getattr(clf, name)[continuous],
                                      getattr(once, name)[continuous], err_msg=name)
    assert clf._stream.sample[0].shape == (60, X_train.shape[1])
    warming = len(pickle.dumps(clf))
    # 90 rows: one more fresh start, after which the maps are kept and the rows dropped
    clf.partial_fit(X_train[60:90], y_train[60:90])
    assert clf._stream.sample is None
    kept = clf.lambdas_.copy()
    state = {name: getattr(clf, name).copy() for name in ("class_means_", "latent_scale_")}
    clf.partial_fit(X_train[90:], y_train[90:])
    np.testing.assert_array_equal(clf.lambdas_, kept)
    assert not np.array_equal(clf.class_means_, state["class_means_"])  # training went on
    np.testing.assert_allclose(clf.mean_[continuous], X_train.mean(axis=0)[continuous],
                               rtol=1e-10)
    # the 60 rows (6240 bytes) travelled with the model while it was warming up, no longer
    assert len(pickle.dumps(clf)) < warming - 6000
