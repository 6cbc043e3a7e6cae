"""Dask: blocks mapped over a network or a classifier give the single call's result."""

import numpy as np
import pytest

import revcore


def test_dask_map_blocks_equals_single_call():
    da = pytest.importorskip("dask.array")
    import dask

    net = revcore.Network.random(16, 4, "leaky_relu", seed=0)
    x = np.random.default_rng(0).standard_normal((1000, 16))
    lazy = da.from_array(x, chunks=(250, 16))
    with dask.config.set(scheduler="threads", num_workers=2):
        y = lazy.map_blocks(net.forward, dtype=np.float64).compute()
        back = da.from_array(y, chunks=(250, 16)).map_blocks(net.inverse,
                                                            dtype=np.float64).compute()
    np.testing.assert_array_equal(y, net.forward(x))
    np.testing.assert_array_equal(back, net.inverse(y))


def test_dask_generation_equals_single_call():
    da = pytest.importorskip("dask.array")
    import dask

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (60, 6)), rng.normal(2, 1, (60, 6))])
    y = np.repeat([0, 1], 60)
    clf = revcore.InvertibleClassifier(n_blocks=2, hidden_width=8, max_iter=10,
                                       random_state=0).fit(X, y)
    codes = clf.encode(clf.generate(np.tile([0, 1], 200), random_state=1))
    with dask.config.set(scheduler="threads", num_workers=2):
        lazy = da.from_array(codes, chunks=(50, 6)).map_blocks(clf.decode, dtype=np.float64)
        decoded = lazy.compute()
    np.testing.assert_array_equal(decoded, clf.decode(codes))
