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
