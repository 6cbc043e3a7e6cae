"""Regression tests of bugs found by the property tests and the sanitizer build
(``tools/sanitize.sh``)."""

from __future__ import annotations

import numpy as np
import pytest

import revcore
from revcore import _core


def misaligned(values):
    values = np.asarray(values)
    buffer = bytearray(values.nbytes + 1)
    out = np.frombuffer(buffer, dtype=values.dtype, count=values.size, offset=1)
    out = out.reshape(values.shape)
    out[...] = values
    assert out.ctypes.data % values.itemsize and out.flags.c_contiguous
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_c_contiguous_inputs_are_copied_before_the_flat_kernels(dtype):
    # UBSan: "load of misaligned address ... for type 'const float'" in activation_forward.
    # np.ascontiguousarray kept a misaligned C-contiguous array as it was, and the flat kernels
    # (activations, dense bias, dense_backward, network passes) read it through a T*.
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (5, 4)).astype(dtype)
    w = np.eye(4, dtype=dtype) + 0.1 * rng.standard_normal((4, 4)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    m = misaligned
    for name in ("activate", "activate_derivative", "activate_inverse"):
        expected = getattr(revcore, name)(x, "tanh")
        np.testing.assert_array_equal(getattr(revcore, name)(m(x), "tanh"), expected)
    np.testing.assert_array_equal(revcore.dense(x, w, m(bias)), revcore.dense(x, w, bias))
    expected = revcore.dense_backward(x, w, x, x, "tanh")
    for actual, wanted in zip(revcore.dense_backward(m(x), m(w), m(x), m(x), "tanh"), expected):
        np.testing.assert_array_equal(actual, wanted)
    net = revcore.Network.from_weights([w, w], [bias, bias], "tanh")
    np.testing.assert_array_equal(net.forward(m(x)), net.forward(x))
    y = net.forward(x)
    np.testing.assert_array_equal(net.inverse(m(y)), net.inverse(y))


def test_flat_kernels_refuse_misaligned_arrays_instead_of_reading_them():
    # The binding-level guard behind the fix above: a misaligned buffer never reaches a T*.
    with pytest.raises(ValueError, match="misaligned"):
        _core.activate(misaligned(np.ones(10)), 0, 0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_misaligned_inputs_are_accepted(dtype):
    # Found by test_properties under the sanitizer build's run: numpy flags an empty view at
    # an odd address as aligned, so it is not copied; the guard above must let it through.
    empty = np.frombuffer(bytearray(1), dtype=dtype, count=0, offset=1).reshape(0, 3)
    assert empty.flags.aligned and empty.ctypes.data % empty.itemsize
    net = revcore.Network.random(3, 2, "tanh", dtype=dtype, seed=0)
    assert net.forward(empty).shape == (0, 3)
    assert net.inverse(empty).shape == (0, 3)
    assert revcore.activate(empty, "tanh").shape == (0, 3)
    assert revcore.activate_inverse(empty, "tanh").shape == (0, 3)
    assert revcore.dense(empty, np.eye(3, dtype=dtype), np.zeros(3, dtype)).shape == (0, 3)
    assert revcore.dense_backward(empty, np.eye(3, dtype=dtype), empty, empty)[1].shape == (3, 3)


@pytest.mark.parametrize("delay", [0.05, 0.15])
def test_interrupted_recursive_lu_uses_no_unset_pivot(delay):
    # Found by test_limits after merging main's recursive LU: a level whose right half was
    # cancelled went on to apply that half's pivots, never written: a wild row swap (SIGSEGV).
    # Every level now returns as soon as a child was cancelled.
    import os
    import signal
    import threading
    import time

    a = np.random.default_rng(0).standard_normal((1500, 1500))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        with revcore.num_threads(1):
            timer.start()
            try:
                revcore.lu_factor(a)
                timer.join()
                time.sleep(0.2)
            except KeyboardInterrupt:
                pass
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    _, piv = revcore.lu_factor(a[:50, :50])  # and the library still works
    assert np.all((piv >= np.arange(50)) & (piv < 50))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_lu_solve_empty_b_at_an_odd_address(dtype, shape):
    # Found by test_properties.test_lu_solve: numpy calls an empty array aligned wherever it
    # points, so lu_solve's fast path passed it on and the binding refused it as misaligned.
    n = shape[0]
    factors = revcore.lu_factor(np.eye(n, dtype=dtype))
    b = misaligned(np.zeros(shape, dtype))
    x = revcore.lu_solve(factors, b, check_finite=False)
    assert x.shape == shape and x.dtype == dtype
