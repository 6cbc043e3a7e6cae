"""Saving and loading networks (.npz files read with numpy alone, nothing unpickled)."""

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
