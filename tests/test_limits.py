"""Resource limits: MemoryError before allocating, 32-bit pivot limits, Ctrl-C honoured."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import revcore
from revcore import _validation

# -- memory ----------------------------------------------------------------------------------


def test_matmul_whose_result_exceeds_memory_raises_memory_error_naming_the_size():
    a, b = np.ones((10**6, 1)), np.ones((1, 10**7))
    with pytest.raises(MemoryError, match=r"matmul of \(1000000, 1\) and \(1, 10000000\) "
                                          r"would need 72.8 TiB"):
        revcore.matmul(a, b)


def test_huge_batch_inverse_and_forward_raise_before_copying_the_input():
    net = revcore.Network.random(64, 2, seed=0)
    y = np.broadcast_to(np.zeros(64), (10**10, 64))  # no memory behind it
    with pytest.raises(MemoryError, match="y of shape"):
        net.inverse(y)
    with pytest.raises(MemoryError, match="x of shape"):
        net.forward(y)


@pytest.mark.parametrize("call", [
    # Integer operands take the converting path, where this Python limit applies; float
    # operands go straight to the binding, whose own guard uses the physical memory (above).
    lambda: revcore.matmul(np.ones((300, 2), dtype=int), np.ones((2, 300))),
    lambda: revcore.dense(np.ones((300, 2), dtype=int), np.ones((300, 2))),
    lambda: revcore.dense_backward(np.ones((300, 300)), np.ones((300, 300)),
                                   np.ones((300, 300)), np.ones((300, 300))),
    lambda: revcore.lu_factor(np.eye(300)),
    lambda: revcore.lu_solve(revcore.lu_factor(np.eye(2)), np.ones((2, 50000))),
    lambda: revcore.activate(np.broadcast_to(1.0, (90000,)), "tanh"),
    lambda: revcore.activate_inverse(np.broadcast_to(0.5, (90000,)), "tanh"),
    lambda: revcore.Network.random(300, 1, seed=0).forward(np.ones((300, 300))),
], ids=["matmul", "dense", "dense_backward", "lu_factor", "lu_solve", "activate",
        "activate_inverse", "network"])
def test_every_entry_point_checks_its_output_size(monkeypatch, call):
    # A limit of 500 kB makes every call above (about 720 kB of results each) too large.
    call()
    monkeypatch.setattr(_validation, "memory_limit", lambda: 500_000)
    with pytest.raises(MemoryError, match="would need"):
        call()


def test_memory_limit_is_the_physical_memory():
    limit = _validation.memory_limit()
    assert 2**26 < limit < 2**50


# -- 64-bit sizes, 32-bit pivots ---------------------------------------------------------------


def test_lu_with_more_rows_than_32_bit_pivots_refused_clearly():
    rows = 2**31  # a zero-stride view: no memory behind it
    a = np.broadcast_to(np.float32(1), (rows, 1))
    with pytest.raises(ValueError, match="32-bit"):
        revcore.lu_factor(a, check_finite=False)
    lu = np.broadcast_to(np.float32(1), (rows, 1))
    with pytest.raises(ValueError, match="square|32-bit"):
        revcore.lu_solve((lu, np.zeros(1, np.int32)), np.zeros(rows, np.float32),
                         check_finite=False)


# -- Ctrl-C ----------------------------------------------------------------------------------


def _long(make_call, seconds=4.0, start=256, largest=8000, power=3):
    """A call of about `seconds`, extrapolated from one of size `start` (cost ~ size**power),
    timed after a warm-up call (a first call's one-off costs, such as starting threads or
    faulting pages in, would make the extrapolation far too short)."""
    probe = make_call(start)
    probe()
    t = time.perf_counter()
    probe()
    elapsed = max(time.perf_counter() - t, 1e-4)
    size = int(start * (seconds / elapsed) ** (1 / power))
    return make_call(min(max(size, start), largest))


def _matmul(n):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return lambda: revcore.matmul(a, a)


def _lu(n):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return lambda: revcore.lu_factor(a)


_NETWORK = revcore.Network.random(256, 2, "identity", dtype=np.float32, seed=0)


def _inverse(batch):
    y = np.random.default_rng(0).standard_normal((batch, 256)).astype(np.float32)
    return lambda: _NETWORK.inverse(y)


_WIDE = np.random.default_rng(1).standard_normal((8, 1024, 1024)).astype(np.float32) / 32
_FORWARD = revcore.Network.from_weights(list(_WIDE), [np.zeros(1024, np.float32)] * 8,
                                        ["tanh"] * 8)


def _forward(batch):
    x = np.random.default_rng(0).standard_normal((batch, 1024)).astype(np.float32)
    return lambda: _FORWARD.forward(x)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
@pytest.mark.parametrize("make_call,power,largest,threads", [
    (_matmul, 3, 8000, 1), (_matmul, 3, 8000, 2), (_lu, 3, 8000, 1), (_lu, 3, 8000, 2),
    (_inverse, 1, 400_000, 1), (_forward, 1, 100_000, 2)],
    ids=["matmul", "matmul_2_threads", "lu_factor", "lu_factor_2_threads", "network_inverse",
         "forward_2_threads"])
def test_keyboard_interrupt_within_a_second(make_call, power, largest, threads):
    with revcore.num_threads(threads):
        first = 768 if power == 3 else 2000 if make_call is _forward else 16000
        call = _long(make_call, start=first, largest=largest, power=power)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        sent = []
        timer = threading.Timer(0.3, lambda: (sent.append(time.perf_counter()),
                                              os.kill(os.getpid(), signal.SIGINT)))
        try:
            start = time.perf_counter()
            timer.start()
            finished = []
            with pytest.raises(KeyboardInterrupt):
                call()
                finished.append(time.perf_counter() - start)
                timer.join()  # the signal then lands here: caught, but `finished` tells
                time.sleep(0.2)
            stopped = time.perf_counter()
        finally:
            timer.cancel()
            timer.join()
            signal.signal(signal.SIGINT, previous)
    assert not finished, f"the call ended ({finished[0]:.2f} s) before the signal: too short"
    # A second; twice that in the sanitizers' instrumented build (tools/sanitize.sh), whose
    # kernels run 2-3x slower between the points where they look for a cancellation.
    limit = 2.0 if os.environ.get("REVCORE_SANITIZED") else 1.0
    assert sent and stopped - sent[0] < limit, f"took {stopped - sent[0]:.2f} s after SIGINT"
    # Nothing left behind: the next call works and gives the right answer.
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(revcore.matmul(a, a.T), a @ a.T)
