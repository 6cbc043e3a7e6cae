"""The native Adam step against its numpy reference (bit for bit: both round the same
operations in the same order), the fallback for arrays the kernel does not take, and the
kernel's argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import revcore
from revcore import _core, reference
from revcore._optimizers import Adam, adam_update
from support import DTYPES, SIZES


def parameters(shapes, dtype, rng):
    return [rng.normal(size=shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("dtype", DTYPES)
def test_native_equals_reference_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    shapes = [(n,) for n in SIZES] + [(13, 7), (64, 65)]
    native_params = parameters(shapes, dtype, rng)
    reference_params = [p.copy() for p in native_params]
    start = [p.copy() for p in native_params]
    native, oracle = Adam(native_params), reference.Adam(reference_params)
    assert native.native and not oracle.native
    for step in range(4):
        grads = parameters(shapes, dtype, rng)
        grads_before = [g.copy() for g in grads]
        native.step(native_params, grads, rate=10.0 ** -(step + 1))
        oracle.step(reference_params, grads, rate=10.0 ** -(step + 1))
        for g, before in zip(grads, grads_before):
            np.testing.assert_array_equal(g, before)
    for ours, theirs in zip(native_params + native.m + native.v,
                            reference_params + oracle.m + oracle.v):
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours, theirs)
    assert all((p != s).all() for p, s in zip(native_params, start))  # every element moved


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_quadratic_converges_identically(dtype):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(40, 33)) / 6).astype(dtype)
    target = rng.normal(size=33).astype(dtype)
    runs = []
    for optimizer_class in (Adam, reference.Adam):
        p = np.zeros(33, dtype=dtype)
        optimizer = optimizer_class([p])
        for _ in range(300):
            grad = (a.T @ (a @ (p - target))).astype(dtype)
            optimizer.step([p], [grad], rate=0.05)
        runs.append(p)
    np.testing.assert_array_equal(runs[0], runs[1])
    # and it did converge: within 2% of the minimiser, from 100% away at the start
    assert np.linalg.norm(runs[0] - target) < 0.02 * np.linalg.norm(target)


def test_large_arrays_on_threads_equal_the_reference():
    # Just above the size at which the kernel splits the pass over threads (2^24 elements);
    # the reference runs on slices at both ends (a step is element-wise), the threaded pass
    # against the serial one on everything.
    n = (1 << 24) + 17
    g = np.tile(np.random.default_rng(2).normal(size=4099).astype(np.float32), n // 4099 + 1)[:n]
    results = []
    for threads in (1, 2):
        p = -g
        optimizer = Adam([p])
        with revcore.num_threads(threads):
            optimizer.step([p], [g], rate=0.001)
        results.append((p, optimizer.v[0]))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    for part in (slice(0, 5000), slice(n - 5000, n)):
        p, m, v = -g[part], np.zeros(5000, np.float32), np.zeros(5000, np.float32)
        adam_update(p, g[part], m, v, 0.9, 0.999, 0.01, 0.001, 1e-8)
        np.testing.assert_array_equal(results[1][0][part], p)
        np.testing.assert_array_equal(results[1][1][part], v)


def test_arrays_the_kernel_does_not_take_fall_back_to_numpy():
    rng = np.random.default_rng(3)
    fortran = np.asfortranarray(rng.normal(size=(5, 4)))
    single = rng.normal(size=6).astype(np.float32)
    params = [fortran, single]
    start = single.copy()
    twins = [p.copy(order="K") for p in params]
    grads = [rng.normal(size=(5, 4)), rng.normal(size=6)]  # float64 gradient of float32
    native, oracle = Adam(params), reference.Adam(twins)
    native.step(params, grads, rate=0.1)
    oracle.step(twins, grads, rate=0.1)
    for ours, theirs in zip(params, twins):
        np.testing.assert_array_equal(ours, theirs)
    assert params[1].dtype == np.float32 and (params[1] != start).all()


def arrays(n=8, dtype=np.float64):
    return [np.ones(n, dtype) for _ in range(4)]


def test_kernel_arguments_are_checked():
    scalars = (0.9, 0.999, 0.1, 0.001, 1e-8)
    p, g, m, v = arrays()
    with pytest.raises(TypeError, match="the gradient of parameter 0 has dtype float32"):
        _core.adam_step([p], [g.astype(np.float32)], [m], [v], *scalars)
    with pytest.raises(ValueError, match="the first moment of parameter 0 has 7 elements"):
        _core.adam_step([p], [g], [m[:7]], [v], *scalars)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.adam_step([p[::2]], [g[::2]], [m[::2]], [v[::2]], *scalars)
    readonly = v.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="second moment of parameter 0 is read-only"):
        _core.adam_step([p], [g], [m], [readonly], *scalars)
    with pytest.raises(ValueError, match="share memory"):
        _core.adam_step([p], [g], [m], [m], *scalars)
    with pytest.raises(ValueError, match="as many"):
        _core.adam_step([p], [g, g], [m], [v], *scalars)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.adam_step([p.astype(np.int64)], [g], [m], [v], *scalars)
    # A bad array anywhere in the lists: nothing is updated.
    q = np.ones(8)
    with pytest.raises(ValueError):
        _core.adam_step([q, p], [g, g], [np.ones(8), m], [np.ones(8), m], *scalars)
    np.testing.assert_array_equal(q, np.ones(8))
