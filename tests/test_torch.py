"""Networks to and from PyTorch modules (skipped without torch, an optional dependency)."""

import numpy as np
import pytest

import revcore
from support import DTYPES, assert_same_network, make_network


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
