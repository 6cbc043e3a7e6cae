"""Many Python threads at once: the same bits as serial calls, atomic weight updates, and the
GIL released while kernels run."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import revcore
from support import DTYPES

THREADS = 8


def well_conditioned(rng, n, dtype):
    return (rng.standard_normal((n, n)) + 2 * np.sqrt(n) * np.eye(n)).astype(dtype)


def frozen(array):
    array = np.array(array)
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_on_shared_inputs_give_the_serial_bits(dtype):
    rng = np.random.default_rng(8)
    n = 97
    a = frozen(well_conditioned(rng, n, dtype))
    b = frozen(rng.standard_normal((n, 61)).astype(dtype))
    x = frozen(rng.standard_normal((33, n)).astype(dtype))
    bias = frozen(rng.standard_normal(n).astype(dtype))
    net = revcore.Network.random(n, 3, "tanh", dtype=dtype, seed=1)
    y = frozen(net.forward(rng.uniform(-1, 1, (17, n)).astype(dtype)))
    factors = revcore.lu_factor(a)
    for array in factors:
        array.flags.writeable = False
    tasks = {
        "matmul": lambda: revcore.matmul(a, b),
        "matmul_t": lambda: revcore.matmul(b.T, a[:, ::-1]),
        "lu_factor": lambda: revcore.lu_factor(a)[0],
        "lu_piv": lambda: revcore.lu_factor(a)[1],
        "lu_solve": lambda: revcore.lu_solve(factors, b),
        "lu_solve_t": lambda: revcore.lu_solve(factors, b, trans=1),
        "dense": lambda: revcore.dense(x, a, bias, "sigmoid"),
        "forward": lambda: net.forward(x),
        "inverse": lambda: net.inverse(y),
        "condition": lambda: np.float64(revcore.lu_condition_estimate(factors, 1.0)),
    }
    copies = {name: np.array(v) for name, v in
              {"a": a, "b": b, "x": x, "bias": bias, "y": y}.items()}
    serial = {name: task() for name, task in tasks.items()}
    names = list(tasks) * 12
    np.random.default_rng(0).shuffle(names)
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda name: (name, tasks[name]()), names))
    assert len(results) == len(names)
    for name, result in results:
        assert result.dtype == serial[name].dtype
        assert result.tobytes() == serial[name].tobytes(), f"{name} differs from serial"
    for name, value in {"a": a, "b": b, "x": x, "bias": bias, "y": y}.items():
        assert value.tobytes() == copies[name].tobytes(), f"{name} was modified"


def _weights(seed, width, depth, dtype):
    donor = revcore.Network.random(width, depth, "leaky_relu", dtype=dtype, seed=seed)
    return [layer.weight for layer in donor.layers], [layer.bias for layer in donor.layers]


@pytest.mark.parametrize("dtype", DTYPES)
def test_set_weights_while_inverting_gives_old_or_new_never_a_mix(dtype):
    width, depth = 48, 3
    old = _weights(1, width, depth, dtype)
    new = _weights(2, width, depth, dtype)
    y = np.random.default_rng(3).standard_normal((9, width)).astype(dtype)
    expected = [revcore.Network.from_weights(w, b, "leaky_relu", 0.1).inverse(y)
                for w, b in (old, new)]
    assert not np.array_equal(*expected)
    net = revcore.Network.from_weights(*old, "leaky_relu", 0.1)
    stop = threading.Event()

    def writer():
        flips = 0
        while not stop.is_set():
            net.set_weights(*(new if flips % 2 == 0 else old))
            flips += 1
        return flips

    def reader(_):
        seen = []
        for _ in range(40):
            x = net.inverse(y)
            which = [i for i, e in enumerate(expected) if x.tobytes() == e.tobytes()]
            assert which, "an inverse matched neither the old nor the new weights"
            seen.append(which[0])
        return seen

    with ThreadPoolExecutor(THREADS) as pool:
        flipping = pool.submit(writer)
        try:
            seen = [which for part in pool.map(reader, range(THREADS - 1)) for which in part]
        finally:
            stop.set()
        flips = flipping.result()
    assert flips > 0 and len(seen) == 40 * (THREADS - 1)
    # The cache follows the weights: after the last flip the network inverts with them.
    final = new if flips % 2 else old
    assert net.inverse(y).tobytes() == expected[final is new].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_set_layer_while_inverting_never_uses_stale_factors(dtype):
    width = 40
    weights, biases = _weights(4, width, 3, dtype)
    other = _weights(5, width, 1, dtype)[0][0]
    y = np.random.default_rng(6).standard_normal((5, width)).astype(dtype)
    variants = [weights, [weights[0], other, weights[2]]]
    expected = [revcore.Network.from_weights(w, biases, "leaky_relu", 0.1).inverse(y)
                for w in variants]
    net = revcore.Network.from_weights(weights, biases, "leaky_relu", 0.1)
    stop = threading.Event()
    errors = []

    def writer():
        # Each set_layer is followed by an inverse in this thread, which must already use
        # the new layer's factors (never a cached factorization of the old weight).
        i = 0
        while not stop.is_set():
            which = (i + 1) % 2
            net.set_layer(1, weight=variants[which][1])
            x = net.inverse(y)
            if x.tobytes() != expected[which].tobytes():
                errors.append(i)
            i += 1
        return i

    def reader(_):
        for _ in range(40):
            x = net.inverse(y)
            assert any(x.tobytes() == e.tobytes() for e in expected)

    with ThreadPoolExecutor(THREADS) as pool:
        flipping = pool.submit(writer)
        try:
            list(pool.map(reader, range(THREADS - 1)))
        finally:
            stop.set()
        assert flipping.result() > 0
    assert not errors, f"stale factors after set_layer at iterations {errors[:5]}"


# -- the GIL is released around kernels -----------------------------------------------------


def _progress_rate(call) -> tuple[float, float]:
    """Iterations per second of a pure-Python loop in another thread while `call` runs in
    this one, and how long `call` took."""
    count = 0
    stop = False

    def spin():
        nonlocal count
        while not stop:
            count += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.02)  # let the spinner start
        start_count, start = count, time.perf_counter()
        call()
        end_count, end = count, time.perf_counter()
    finally:
        stop = True
        thread.join()
    return (end_count - start_count) / (end - start), end - start


def _matmul_call(n):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    return lambda: revcore.matmul(a, b)


def _lu_call(n):
    a = well_conditioned(np.random.default_rng(0), n, np.float64)
    return lambda: revcore.lu_factor(a)


_NET = {}


def _inverse_call(n):
    # width 256, 64 n rows: linear in n
    net = _NET.setdefault("net", revcore.Network.random(256, 2, "identity", seed=0))
    net.inverse(np.zeros(256))  # factor now, not in the timed call
    y = np.tile(np.random.default_rng(0).standard_normal((64, 256)), (n, 1))  # 64 n rows
    return lambda: net.inverse(y)


@pytest.mark.parametrize("make_call", [_matmul_call, _lu_call, _inverse_call],
                         ids=["matmul", "lu_factor", "network_inverse"])
def test_python_threads_progress_while_a_kernel_runs(make_call):
    # With the GIL held for the whole kernel, the spinning thread would make no progress
    # during the call (beyond one switch interval); released, it keeps a good share of its
    # idle rate even on a busy machine. One kernel thread, so the two do not compete.
    with revcore.num_threads(1):
        n = 128
        growth = 2.0 if make_call is _inverse_call else 1.3  # about x2 the time per step
        while True:  # grow the problem until a call takes 0.25 s
            busy_rate, seconds = _progress_rate(make_call(n))
            if seconds >= 0.25 or n > 8192:
                break
            n = int(n * growth)
        idle_rate, _ = _progress_rate(lambda: time.sleep(seconds))
    assert seconds > 5 * sys.getswitchinterval()
    assert busy_rate > 0.2 * idle_rate, (busy_rate, idle_rate, seconds)
