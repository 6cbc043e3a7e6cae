"""revcore on a ``distributed`` cluster of worker processes: revcore.dask's row maps and seeded
generation give the single process's results bit for bit, dask-ml's ParallelPostFit wraps the
classifier, and pickles hold parameters only."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import revcore
import revcore.dask as rd
from revcore._classifier import _FITTED_ARRAYS

# Irregular row chunkings of 61 rows, with blocks of 1 and 2 rows (which revcore.dask merges:
# alone, they would take the kernels' one- and two-row paths).
CHUNKINGS = [(61,), (1, 2, 29, 1, 28), (20, 20, 20, 1), (2, 59), (7,) * 8 + (5,)]


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.array", reason="dask is not installed (pip install revcore[dask])")
    distributed = pytest.importorskip(
        "distributed", reason="distributed is not installed (pip install revcore[dask])")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(-1.5, 1, (120, 5)), rng.normal(1.5, 1, (120, 5))])
    X[:, 4] = np.floor(np.abs(X[:, 4]) * 3)  # a discrete feature: dequantised and boxed
    return X, np.repeat(["left", "right"], 120)


@pytest.fixture(scope="module")
def classifier(data):
    X, y = data
    return revcore.InvertibleClassifier(n_blocks=2, hidden_width=8, max_iter=5,
                                        random_state=0).fit(X, y)


def on_cluster(client, lazy):
    """The dask array computed by the cluster's worker processes."""
    return client.compute(lazy).result()


def test_workers_are_other_processes(client):
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "decision_function", "score_samples", "encode"])
def test_classifier_methods_on_cluster_equal_single_call(client, classifier, data, method):
    import dask.array as da

    X = data[0][:61]
    expected = getattr(classifier, method)(X)
    for chunks in CHUNKINGS:
        lazy = rd.map_rows(getattr(classifier, method), da.from_array(X, chunks=(chunks, 5)))
        assert min(lazy.chunks[0]) >= min(rd.MIN_BLOCK_ROWS, len(X))
        result = on_cluster(client, lazy)
        assert (lazy.shape, lazy.dtype) == (result.shape, result.dtype) == (
            expected.shape, expected.dtype)
        np.testing.assert_array_equal(result, expected, err_msg=f"chunks {chunks}")


def test_decode_and_generated_codes_on_cluster(client, classifier):
    import dask.array as da

    codes = classifier.encode(classifier.generate(np.tile(["left", "right"], 40),
                                                  random_state=1))
    for chunks in CHUNKINGS[1:3]:
        lazy = rd.map_rows(classifier.decode, da.from_array(codes[:61], chunks=(chunks, 5)))
        np.testing.assert_array_equal(on_cluster(client, lazy), classifier.decode(codes[:61]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_passes_on_cluster_equal_single_call(client, dtype):
    import dask.array as da

    net = revcore.Network.random(9, 3, "leaky_relu", dtype=dtype, seed=2)
    x = np.random.default_rng(3).uniform(-1, 1, (61, 9)).astype(dtype)
    y = net.forward(x)
    for chunks in CHUNKINGS:
        for method, inputs in ((net.forward, x), (net.inverse, y),
                               (net.log_abs_det_jacobian, x)):
            lazy = rd.map_rows(method, da.from_array(inputs, chunks=(chunks, 9)))
            result = on_cluster(client, lazy)
            assert result.dtype == lazy.dtype == dtype
            np.testing.assert_array_equal(result, method(inputs))
    # integer rows compute in float64, with a float32 network too
    lazy = rd.map_rows(net.forward, da.from_array(np.arange(18).reshape(2, 9), chunks=1))
    assert lazy.dtype == np.float64
    np.testing.assert_array_equal(on_cluster(client, lazy),
                                  net.forward(np.arange(18).reshape(2, 9)))


def test_inverse_keyword_arguments_reach_the_workers(client):
    import dask.array as da

    net = revcore.Network.random(6, 2, "tanh", seed=4)
    y = net.forward(np.random.default_rng(4).uniform(-1, 1, (30, 6)))
    lazy = rd.map_rows(net.inverse, da.from_array(y, chunks=10), refine=2)
    np.testing.assert_array_equal(on_cluster(client, lazy), net.inverse(y, refine=2))


def test_rows_do_not_depend_on_their_block():
    # What revcore.dask relies on: blocks of at least 3 rows give each row the same bits.
    rng = np.random.default_rng(6)
    for width in (1, 7, 16, 33):
        net = revcore.Network.random(width, 3, "leaky_relu", seed=width)
        x = rng.uniform(-1, 1, (50, width))
        for method in (net.forward, net.inverse, net.log_abs_det_jacobian):
            whole = method(x)
            for size in (3, 5, 8, 13):
                starts = list(range(0, len(x), size))
                if len(x) - starts[-1] < 3:
                    starts.pop()  # the last block takes the few rows left
                ends = [*starts[1:], len(x)]
                blocks = np.concatenate([method(x[a:b]) for a, b in zip(starts, ends)])
                np.testing.assert_array_equal(blocks, whole)


# -- seeded generation ----------------------------------------------------------------------


def test_generation_does_not_depend_on_blocks_or_workers(client, classifier):
    import dask

    labels = np.repeat(classifier.classes_, 5000)  # 10000 rows: 3 units of 4096
    expected = rd.generate_rows(classifier, labels, seed=11)
    for blocks in (1, 3, 7):
        lazy = rd.generate(classifier, labels, seed=11, chunks=-(-len(labels) // blocks))
        assert lazy.numblocks == (blocks, 1)
        np.testing.assert_array_equal(on_cluster(client, lazy), expected,
                                      err_msg=f"{blocks} blocks")
    lazy = rd.generate(classifier, labels, seed=11, chunks=(1, 2, 4095, 5902))
    with dask.config.set(scheduler="sync"):  # one thread of this process
        np.testing.assert_array_equal(lazy.compute(), expected)
    # each row drawn from its own label's class (read back by the model, which errs rarely)
    assert np.mean(classifier.predict(expected) == labels) > 0.95


def test_generation_with_dask_labels_and_options(client, classifier):
    import dask.array as da

    labels = np.tile(classifier.classes_, 300)
    expected = rd.generate_rows(classifier, labels, seed=[1, 2], temperature=0.5,
                                discrete=True)
    lazy = rd.generate(classifier, da.from_array(labels, chunks=(1, 99, 500)), seed=[1, 2],
                       temperature=0.5, discrete=True)
    result = on_cluster(client, lazy)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(result[:, 4], np.floor(result[:, 4]))


def test_units_are_seed_sequence_children(classifier):
    labels = np.tile(classifier.classes_, 2100)  # 4200 rows: unit 1 holds rows 4096...
    rows = rd.generate_rows(classifier, labels, seed=7)
    children = np.random.SeedSequence(7).spawn(2)
    for unit, child in enumerate(children):
        part = slice(unit * rd.UNIT_ROWS, (unit + 1) * rd.UNIT_ROWS)
        drawn = classifier.generate(labels[part], random_state=np.random.default_rng(child))
        np.testing.assert_array_equal(rows[part], drawn)
    np.testing.assert_array_equal(
        rd.generate_rows(classifier, labels, seed=np.random.SeedSequence(7)), rows)
    np.testing.assert_array_equal(
        rd.generate_rows(classifier, labels[4000:4101], seed=7, start=4000), rows[4000:4101])
    assert not np.any(rd.generate_rows(classifier, labels[:10], seed=8) == rows[:10])


def test_generation_refuses_bad_arguments(classifier):
    labels = np.repeat(classifier.classes_, 3)
    with pytest.raises(TypeError, match="SeedSequence"):
        rd.generate_rows(classifier, labels, seed=np.random.default_rng(0))
    with pytest.raises(TypeError, match="seed must be"):
        rd.generate_rows(classifier, labels, seed=1.5)
    with pytest.raises(ValueError, match="start must be"):
        rd.generate_rows(classifier, labels, seed=0, start=-1)
    with pytest.raises(ValueError, match="1-D"):
        rd.generate_rows(classifier, labels.reshape(2, 3), seed=0)
    with pytest.raises(revcore.NotFittedError):
        rd.generate_rows(revcore.InvertibleClassifier(), labels, seed=0)
    pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="unknown label 'middle'"):
        rd.generate(classifier, ["left", "middle"], seed=0)


def test_map_rows_refuses_bad_arguments(classifier):
    da = pytest.importorskip("dask.array")
    X = da.zeros((10, 5), chunks=5)
    with pytest.raises(TypeError, match="bound method"):
        rd.map_rows(classifier.fit, X)
    with pytest.raises(TypeError, match="bound method"):
        rd.map_rows(np.sin, X)
    with pytest.raises(ValueError, match="X has 4 columns, but InvertibleClassifier.predict "
                                         "takes rows of 5 values"):
        rd.map_rows(classifier.predict, X[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        rd.map_rows(classifier.predict, X[:, 0])
    with pytest.raises(revcore.NotFittedError):
        rd.map_rows(revcore.InvertibleClassifier().predict, X)
    net = revcore.Network.random(5, 2, "tanh", seed=0)
    with pytest.raises(ValueError, match="return_info"):
        rd.map_rows(net.inverse, X, return_info=True)
    with pytest.raises(TypeError, match="real numbers"):
        rd.map_rows(net.forward, X.astype(bool))
    assert rd.map_rows(net, X).dtype == np.float64  # the network itself: its forward pass


# -- dask-ml ----------------------------------------------------------------------------------


def test_parallel_post_fit(client, data):
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed")
    import dask.array as da

    X, y = data
    model = revcore.InvertibleClassifier(n_blocks=2, hidden_width=8, max_iter=5,
                                         random_state=0)
    local = revcore.InvertibleClassifier(**model.get_params()).fit(X, y)
    lazy_X, lazy_y = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    for scoring in (None, "accuracy"):
        wrapped = wrappers.ParallelPostFit(model, scoring=scoring).fit(X, y)
        labels = wrapped.predict(lazy_X)
        np.testing.assert_array_equal(on_cluster(client, labels), local.predict(X))
        np.testing.assert_array_equal(on_cluster(client, wrapped.predict_proba(lazy_X)),
                                      local.predict_proba(X))
        assert wrapped.score(lazy_X, lazy_y) == pytest.approx(local.score(X, y), abs=1e-15)


# -- compact pickles ----------------------------------------------------------------------------


def parameter_bytes(model):
    """Bytes of the parameters: the network's layer arrays, plus a classifier's fitted
    arrays."""
    net = model.network_ if isinstance(model, revcore.InvertibleClassifier) else model
    total = sum(np.asarray(a).nbytes for layer in net.layers
                for a in layer.to_arrays()[0].values())
    if isinstance(model, revcore.InvertibleClassifier):
        total += sum(np.asarray(getattr(model, name)).nbytes for name in _FITTED_ARRAYS)
    return total


@pytest.mark.parametrize("options", [{}, {"dtype": "float32"}, {"coupling": "spline"}])
def test_classifier_pickle_holds_parameters_only(options):
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(-1, 1, (150, 16)), rng.normal(1, 1, (150, 16))])
    y = np.repeat([0, 1], 150)
    clf = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=3,
                                       random_state=0, **options).fit(X, y)
    before = pickle.dumps(clf)
    expected = (clf.predict_proba(X), clf.decode(clf.encode(X)), clf.score_samples(X))
    after = pickle.dumps(clf)  # the caches the passes built are left out
    assert len(after) == len(before) < 2 * parameter_bytes(clf)
    copy = pickle.loads(after)
    np.testing.assert_array_equal(copy.predict_proba(X), expected[0])
    np.testing.assert_array_equal(copy.decode(copy.encode(X)), expected[1])
    np.testing.assert_array_equal(copy.score_samples(X), expected[2])
    g = np.random.default_rng
    np.testing.assert_array_equal(copy.generate(y[:20], random_state=g(0)),
                                  clf.generate(y[:20], random_state=g(0)))


def test_network_pickle_rebuilds_factors_lazily():
    net = revcore.Network.random(48, 3, "leaky_relu", seed=9)
    y = net.forward(np.random.default_rng(9).uniform(-1, 1, (20, 48)))
    expected = net.inverse(y)
    assert all(layer._factors for layer in net.layers)  # factors cached by the inverse
    data = pickle.dumps(net)
    assert len(data) < 1.1 * parameter_bytes(net)  # weights and biases, nothing cached
    copy = pickle.loads(data)
    assert not any(layer._factors for layer in copy.layers)
    np.testing.assert_array_equal(copy.inverse(y), expected)
    assert all(layer._factors for layer in copy.layers)
