"""Files, PyTorch, Dask and thread control."""

import numpy as np
import pytest

import revcore

DTYPES = [np.float32, np.float64]


def make_network(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((5, 5)) for _ in range(3)]
    biases = [rng.standard_normal(5), None, rng.standard_normal(5)]
    return revcore.Network.from_weights(
        [w.astype(dtype) for w in weights],
        [None if b is None else b.astype(dtype) for b in biases],
        ["leaky_relu", "tanh", "identity"],
        [0.2, 0.01, 0.01],
    )


def assert_same_network(a, b):
    assert a.dtype == b.dtype and a.depth == b.depth
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert la.activation == lb.activation and la.negative_slope == lb.negative_slope


# -- save / load ------------------------------------------------------------------------------


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
    rewrite(path, format_version=np.array(2))
    with pytest.raises(ValueError, match="format version 2, newer than this revcore reads"):
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


# -- PyTorch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_round_trip(dtype):
    torch = pytest.importorskip("torch")
    net = make_network(dtype)
    module = net.to_torch()
    assert isinstance(module, torch.nn.Sequential)
    back = revcore.Network.from_torch(module)
    assert_same_network(net, back)
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(dtype)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    # One dense layer chain of length 5 sums: a few eps of the dtype, relative.
    rtol = 50 * np.finfo(dtype).eps
    np.testing.assert_allclose(net.forward(x), expected, rtol=rtol, atol=rtol)


def test_from_torch_reads_pytorch_modules():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.2), nn.Linear(4, 4, bias=False),
                           nn.Tanh(), nn.Linear(4, 4), nn.Sigmoid())
    net = revcore.Network.from_torch(module)
    assert [l.activation for l in net.layers] == ["leaky_relu", "tanh", "sigmoid"]
    assert net.layers[0].negative_slope == pytest.approx(0.2)
    np.testing.assert_array_equal(net.layers[1].bias, np.zeros(4, dtype=np.float32))
    x = torch.randn(6, 4)
    with torch.no_grad():
        y = module(x).numpy()
    np.testing.assert_allclose(net.inverse(y), x.numpy(), atol=1e-3)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda nn: nn.Sequential(nn.Linear(3, 3), nn.ReLU()), r"module 1 \(ReLU\).*LeakyReLU"),
        (lambda nn: nn.Sequential(nn.Linear(3, 4)), r"module 0 \(Linear\) maps 3 features to 4"),
        (lambda nn: nn.Sequential(nn.Linear(3, 3), nn.Dropout()), r"module 1 \(Dropout\)"),
        (lambda nn: nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Tanh()),
         r"module 2 \(Tanh\) follows no Linear"),
        (lambda nn: nn.Sequential(), "no Linear layer"),
    ],
)
def test_from_torch_refuses_what_cannot_be_inverted(build, message):
    torch = pytest.importorskip("torch")
    with pytest.raises(revcore.NotInvertibleError, match=message):
        revcore.Network.from_torch(build(torch.nn))


# -- Dask ------------------------------------------------------------------------------------


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


# -- threads -----------------------------------------------------------------------------------


def test_thread_count_controls():
    before = revcore.get_num_threads()
    with revcore.num_threads(1):
        assert revcore.get_num_threads() == 1
    assert revcore.get_num_threads() == before
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            revcore.set_num_threads(bad)


def test_show_config(capsys):
    revcore.show_config()
    out = capsys.readouterr().out
    assert out.startswith(f"revcore {revcore.__version__}")
    assert "kernels:" in out and f"threads: {revcore.get_num_threads()}" in out


def test_dask_generation_equals_single_call():
    da = pytest.importorskip("dask.array")
    import dask

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (60, 6)), rng.normal(2, 1, (60, 6))])
    y = np.repeat([0, 1], 60)
    clf = revcore.InvertibleClassifier(epochs=10, random_state=0).fit(X, y)
    labels = np.tile([0, 1], 200)
    targets = clf.targets(labels, random_state=1)
    with dask.config.set(scheduler="threads", num_workers=2):
        lazy = da.from_array(targets, chunks=(50, 6)).map_blocks(clf.decode, dtype=np.float64)
        generated = lazy.compute()
    np.testing.assert_array_equal(generated, clf.generate(labels, random_state=1))


def test_threadpoolctl_controls_revcore_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = [d for d in threadpoolctl.threadpool_info() if d["user_api"] == "revcore"]
    assert len(info) == 1 and info[0]["num_threads"] == revcore.get_num_threads()
    before = revcore.get_num_threads()
    with threadpoolctl.threadpool_limits(1, user_api="revcore"):
        assert revcore.get_num_threads() == 1
    assert revcore.get_num_threads() == before
