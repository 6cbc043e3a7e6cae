"""The lu_dense and coupling layer kinds: native against the numpy reference, exact inverses,
log-determinants against finite-difference Jacobians, gradients against finite differences,
save/load, pickling and check() lines; mixed networks with dense layers."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

import revcore
from revcore import reference
from revcore._backend import Backend
from revcore._layers import Coupling, LUDense, permutation_pivots, product_triangle, times_triangle
from revcore._training import FlowModel, objective
from revcore.reference import _ReferenceBackend
from support import (
    assert_log_det_matches_jacobian,
    check_layer_gradients,
    check_objective_gradients,
)

NATIVE, REFERENCE = Backend(), _ReferenceBackend()
WIDTHS = [1, 2, 3, 7, 16, 33]
# Native kernels and numpy differ only in summation order and blocking, so results agree to
# a few units of rounding times the widths and depths summed over (<= 33 features, <= 3
# conditioner layers, condition numbers below ~10 here): 1e-10 relative in float64
# (eps 2.2e-16) and 2e-4 in float32 (eps 1.2e-7), with atol of the same size for entries
# near zero. Round trips compose a forward and an inverse, hence the same bounds.
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def lu_layer(d, rng, dtype=np.float64, scale=0.3):
    # triangles scaled by 1 / sqrt(d): random triangular factors are otherwise
    # exponentially ill-conditioned in d
    return LUDense.from_arrays({
        "lower": rng.standard_normal((d, d)) * scale / np.sqrt(d),
        "upper": rng.standard_normal((d, d)) * scale / np.sqrt(d),
        "log_scale": rng.standard_normal(d) * scale,
        "sign": rng.choice([-1.0, 1.0], d),
        "permutation": rng.permutation(d),
        "bias": rng.standard_normal(d) * scale,
    }, {}, dtype=np.dtype(dtype))


def coupling_layer(d, rng, dtype=np.float64, hidden=(8, 5)):
    return Coupling.random(d, hidden, rng, scale=0.5, dtype=dtype)


def mixed_layers(d, rng, dtype=np.float64):
    return [lu_layer(d, rng, dtype), coupling_layer(d, rng, dtype), lu_layer(d, rng, dtype),
            coupling_layer(d, rng, dtype, hidden=(6,)), lu_layer(d, rng, dtype)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", WIDTHS)
def test_native_matches_reference_and_inverts(d, dtype):
    rng = np.random.default_rng(d)
    layers = mixed_layers(d, rng, dtype)
    native, ref = revcore.Network(layers), reference.Network(layers)
    x = rng.standard_normal((9, d)).astype(dtype)
    tol = TOL[dtype]
    y = native.forward(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.forward(x), rtol=tol, atol=tol)
    np.testing.assert_allclose(native.log_abs_det_jacobian(x), ref.log_abs_det_jacobian(x),
                               rtol=tol, atol=tol)
    for net in (native, ref):
        np.testing.assert_allclose(net.inverse(y), x, rtol=tol, atol=tol)
    for layer in layers:
        g = rng.standard_normal((9, d)).astype(dtype)
        gx, grads = layer.gradients(x, g, NATIVE)
        rgx, rgrads = layer.gradients(x, g, REFERENCE)
        np.testing.assert_allclose(gx, rgx, rtol=tol, atol=tol)
        assert grads.keys() == rgrads.keys()
        for key in grads:
            np.testing.assert_allclose(grads[key], rgrads[key], rtol=tol, atol=tol)


@pytest.mark.parametrize("d", [2, 3, 7, 16])
def test_lu_dense_packed_factors_solve_like_the_explicit_weight(d):
    rng = np.random.default_rng(10 + d)
    layer = lu_layer(d, rng)
    weight = layer.weight(REFERENCE, np.dtype(np.float64))
    lower, upper = LUDense.triangles(layer.params())
    np.testing.assert_allclose(weight, (lower @ upper)[layer.permutation], rtol=1e-14)
    np.testing.assert_allclose(np.log(abs(np.linalg.det(weight))), layer.log_scale.sum(),
                               rtol=1e-10, atol=1e-10)
    b = rng.standard_normal((d, 4))
    for backend in (NATIVE, REFERENCE):
        factors = layer.factors(backend, np.dtype(np.float64))
        x = backend.lu_solve(factors[:2], b)
        np.testing.assert_allclose(weight @ x, b, rtol=1e-10, atol=1e-10)
        assert factors.condition_estimate == pytest.approx(np.linalg.cond(weight, 1),
                                                           rel=0.5)
    # the factors are built once per parameter version
    assert layer.factors(NATIVE, np.dtype(np.float64)) is layer.factors(
        NATIVE, np.dtype(np.float64))


def test_permutation_pivots_apply_the_inverse_permutation():
    rng = np.random.default_rng(0)
    for d in (1, 2, 5, 33):
        perm = rng.permutation(d)
        r = rng.standard_normal(d)
        swapped = r.copy()
        for i, p in enumerate(permutation_pivots(perm)):
            swapped[[i, p]] = swapped[[p, i]]
        np.testing.assert_array_equal(swapped, r[np.argsort(perm)])


@pytest.mark.parametrize("d", [1, 2, 3, 7])
@pytest.mark.parametrize("make", [lu_layer, coupling_layer])
def test_log_det_matches_finite_difference_jacobian(make, d):
    rng = np.random.default_rng(20 + d)
    layer = make(d, rng)
    net = revcore.Network([layer])
    x = rng.standard_normal((3, d))
    assert_log_det_matches_jacobian(net.log_abs_det_jacobian(x), x,
                                    lambda v, i: net.forward(v), atol=1e-7)


@pytest.mark.parametrize("batch", [2, 6])  # fewer rows than d: through the factors, else W
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_lu_dense_gradients_match_finite_differences(d, batch):
    rng = np.random.default_rng(30 + d)
    check_layer_gradients(LUDense, lu_layer(d, rng).params(), rng.standard_normal((batch, d)),
                          rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, d", [(1, 2), (5, 37), (16, 64), (63, 64), (2, 129), (7, 300)])
def test_lu_dense_training_through_factors_matches_through_weight(batch, d, dtype):
    # Training with fewer rows than columns multiplies by U^T then L^T instead of forming W;
    # both must give the same outputs and gradients (to rounding: TOL, scaled by the sums'
    # magnitudes, which grow like sqrt(d)).
    rng = np.random.default_rng(d)
    p = lu_layer(d, rng, dtype).params()
    x = rng.standard_normal((batch, d)).astype(dtype)
    grad_y = rng.standard_normal((batch, d)).astype(dtype)
    grad_log_det = rng.standard_normal(batch).astype(dtype)
    backend = Backend()
    ways = [LUDense.train_forward(p, x, backend, weight) for weight in
            (None, LUDense.weight_of(p, backend))]
    assert ways[0][2][2] is None and ways[1][2][2] is not None  # the two paths were taken
    tol = TOL[dtype] * np.sqrt(d)
    np.testing.assert_allclose(ways[0][0], ways[1][0], rtol=tol, atol=tol)
    (gx0, g0), (gx1, g1) = (LUDense.train_backward(p, cache, grad_y, grad_log_det, backend)
                            for _, _, cache in ways)
    np.testing.assert_allclose(gx0, gx1, rtol=tol, atol=tol)
    assert g0.keys() == g1.keys()
    for key in g0:
        assert g0[key].dtype == dtype and g0[key].shape == p[key].shape
        np.testing.assert_allclose(g0[key], g1[key], rtol=tol, atol=tol * np.sqrt(batch),
                                   err_msg=key)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_coupling_gradients_match_finite_differences(d):
    rng = np.random.default_rng(40 + d)
    params = coupling_layer(d, rng, hidden=(6, 4)).params()
    # random biases: with one feature the hidden pre-activations would sit at ReLU's kink
    params = {k: v + (0.3 * rng.standard_normal(v.shape) if k.startswith("bias") else 0)
              for k, v in params.items()}
    check_layer_gradients(Coupling, params, rng.standard_normal((4, d)), rng)


@pytest.mark.parametrize("d,k,beta", [(5, 3, 0.0), (5, 3, 0.7), (2, 3, 3.0), (1, 2, 1.0)])
def test_training_objective_gradients_match_finite_differences(d, k, beta):
    rng = np.random.default_rng(d + 10 * k)
    model = FlowModel.build(d, k, n_blocks=2, hidden=(5, 4), rng=rng)
    for array in model.trainable():
        array[...] = rng.standard_normal(array.shape) * 0.3
    model.log_prior[...] = np.log(rng.dirichlet(np.ones(k)))
    x, y = rng.standard_normal((7, d)), rng.integers(0, k, 7)
    loss, _ = objective(model, x, y, beta, NATIVE, gradients=True)
    assert loss == pytest.approx(objective(model, x, y, beta, REFERENCE)[0], rel=1e-12)
    check_objective_gradients(model, x, y, beta, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_version_2_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(5)
    dense = revcore.Network.random(4, 1, "leaky_relu", dtype=dtype, seed=1).layers[0]
    net = revcore.Network([dense, *mixed_layers(4, rng, dtype)], condition_threshold=1e6)
    path = tmp_path / "flow.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 2
        assert list(data["kinds"]) == ["dense", "lu_dense", "coupling", "lu_dense",
                                       "coupling", "lu_dense"]
        assert data["permutation_1"].dtype == np.int64
    loaded = revcore.load(path)
    assert loaded.dtype == dtype and loaded.condition_threshold == 1e6
    assert [layer.kind for layer in loaded.layers] == [layer.kind for layer in net.layers]
    x = rng.standard_normal((3, 4)).astype(dtype)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    np.testing.assert_array_equal(reference.load(path).forward(x), reference.Network(
        net.layers).forward(x))


def test_dense_networks_still_write_and_read_version_1(tmp_path):
    net = revcore.Network.random(3, 2, "tanh", seed=0)
    path = tmp_path / "dense.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 1 and "kinds" not in data.files
    np.testing.assert_array_equal(revcore.load(path).forward(np.ones(3)),
                                  net.forward(np.ones(3)))


def test_version_2_files_are_checked():
    rng = np.random.default_rng(6)
    net = revcore.Network(mixed_layers(3, rng))
    buffer = io.BytesIO()
    net.save(buffer)

    def load_with(**changes):
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        arrays.update(changes)
        arrays = {k: v for k, v in arrays.items() if v is not None}
        out = io.BytesIO()
        np.savez(out, **arrays)
        out.seek(0)
        return revcore.Network.load(out)

    with pytest.raises(ValueError, match="unknown layer kind 'householder'"):
        load_with(kinds=np.array(["lu_dense", "householder", "lu_dense", "coupling", "lu_dense"]))
    with pytest.raises(ValueError, match="unexpected array 'extra_9'"):
        load_with(extra_9=np.zeros(2))
    with pytest.raises(ValueError, match="permutation"):
        load_with(permutation_0=np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="needs arrays weight0"):
        load_with(weight0_1=None)


def test_pickle_keeps_every_kind():
    rng = np.random.default_rng(7)
    net = revcore.Network(mixed_layers(5, rng))
    again = pickle.loads(pickle.dumps(net))
    x = rng.standard_normal((2, 5))
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    np.testing.assert_array_equal(again.inverse(net.forward(x)), net.inverse(net.forward(x)))


def test_inverse_info_bounds_the_error_and_check_lines():
    rng = np.random.default_rng(8)
    net = revcore.Network(mixed_layers(6, rng))
    x = rng.standard_normal((5, 6))
    y = net.forward(x)
    back, info = net.inverse(y, return_info=True)
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12)
    error = np.abs(back - x).max(axis=1) / np.abs(x).max(axis=1)
    assert np.all(error <= info["bound"]) and np.all(info["residual"] < 1e-14)
    assert [c is None for c in info["condition_estimates"]] == [False, True, False, True,
                                                                 False]
    report = net.check(y)
    assert report.ok
    text = str(report)
    assert "lu_dense" in text and "W = P L U" in text
    assert "conditioner 3->8->5->6 (relu), never inverted" in text
    assert report[0].condition_estimate is not None and report[1].condition_estimate is None


def test_check_refuses_ill_conditioned_mixing_and_broken_conditioners():
    rng = np.random.default_rng(9)
    layers = mixed_layers(3, rng)
    bad = layers[0].replace(0, np.dtype(np.float64), log_scale=np.array([0.0, -40.0, 0.0]))
    net = revcore.Network([bad, *layers[1:]])
    report = net.check()
    assert not report.ok and "ill-conditioned" in report[0].reason
    with pytest.raises(revcore.NotInvertibleError, match="layer 0 .*ill-conditioned"):
        net.inverse(np.zeros(3))
    broken = layers[1].replace(1, np.dtype(np.float64), bias0=np.full(8, np.nan))
    assert "inf or NaN" in revcore.Network([broken]).check()[0].reason


def test_mixed_network_keeps_dense_layers_strict():
    rng = np.random.default_rng(11)
    relu = revcore.Network.from_weights([np.eye(4)], None, "relu").layers[0]
    net = revcore.Network([lu_layer(4, rng), relu, coupling_layer(4, rng)])
    report = net.check()
    assert [r.invertible for r in report] == [True, False, True]
    assert "not a bijection" in report[1].reason
    with pytest.raises(revcore.NotInvertibleError, match="layer 1"):
        net.inverse(np.ones(4))
    tanh = revcore.Network.random(4, 1, "tanh", seed=3).layers[0]
    net = revcore.Network([lu_layer(4, rng), tanh, coupling_layer(4, rng)])
    x = rng.uniform(-0.5, 0.5, (3, 4))
    np.testing.assert_allclose(net.inverse(net.forward(x)), x, atol=1e-12)
    with pytest.raises(ValueError, match="dense layers only"):
        net.to_torch()


def test_set_layer_replaces_kind_arrays():
    rng = np.random.default_rng(12)
    net = revcore.Network(mixed_layers(3, rng))
    old = net.layers[0]
    net.set_layer(0, log_scale=np.zeros(3))
    assert net.layers[0] is not old and np.all(net.layers[0].log_scale == 0)
    np.testing.assert_array_equal(net.layers[0].lower, old.lower)
    with pytest.raises(ValueError, match="not weight"):
        net.set_layer(0, weight=np.eye(3))


def test_reference_network_of_new_kinds_never_runs_native_code(monkeypatch):
    from revcore import _core

    def refuse(*args, **kwargs):
        raise AssertionError("the numpy reference called a native kernel")

    rng = np.random.default_rng(13)
    layers = mixed_layers(5, rng)  # fresh layers: no factors cached by a native network
    for name in dir(_core):
        if not name.startswith("_") and callable(getattr(_core, name)):
            monkeypatch.setattr(_core, name, refuse)
    net = reference.Network(layers)
    x = rng.standard_normal((4, 5))
    y = net.forward(x)
    np.testing.assert_allclose(net.inverse(y), x, atol=1e-12)
    _, info = net.inverse(y, return_info=True)
    assert np.all(info["residual"] <= info["bound"])
    assert net.check(y).ok
    assert net.log_abs_det_jacobian(x).shape == (4,)
    for layer in layers:
        layer.gradients(x, np.ones_like(x), REFERENCE)
    with pytest.raises(AssertionError, match="native kernel"):
        revcore.Network(layers).forward(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", WIDTHS)
def test_lu_dense_stacks_run_in_the_fused_kernels(d, dtype):
    # lu_dense layers enter the fused network kernels as the dense layers of their W = P L U
    # (no activation), with sum(log_scale) as log|det W|: against the reference's layer loop.
    rng = np.random.default_rng(d + 1)
    dense = revcore.Network.random(d, 1, "leaky_relu", seed=d, dtype=dtype,
                                   negative_slope=0.5).layers[0]
    layers = [lu_layer(d, rng, dtype), dense, lu_layer(d, rng, dtype), lu_layer(d, rng, dtype)]
    native, ref = revcore.Network(layers), reference.Network(layers)
    assert native._backend._forward_lists(native._layers, np.dtype(dtype)) is not None
    tol = TOL[dtype]
    for batch in (1, 9):
        x = rng.standard_normal((batch, d)).astype(dtype)
        y, log_det = native.forward_log_det(x)
        ref_y, ref_log_det = ref.forward_log_det(x)
        assert y.dtype == log_det.dtype == dtype
        np.testing.assert_allclose(y, ref_y, rtol=tol, atol=tol)
        np.testing.assert_allclose(log_det, ref_log_det, rtol=tol, atol=tol)
        np.testing.assert_allclose(native.forward(x), ref_y, rtol=tol, atol=tol)
        np.testing.assert_allclose(native.inverse(ref_y), ref.inverse(ref_y), rtol=tol,
                                   atol=tol)
        np.testing.assert_allclose(native.inverse(y), x, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 127, 128, 257, 300, 515])
@pytest.mark.parametrize("lower", [True, False])
def test_triangular_products_skip_only_zero_blocks(n, lower, dtype):
    # Blocks of about 128 columns: 1 to 4 blocks here, uneven ones included. Entries are sums
    # of up to n products of standard normals (size ~sqrt(n)); TOL is relative to that.
    rng = np.random.default_rng(n)
    a = rng.standard_normal((5, n)).astype(dtype)
    t = (np.tril if lower else np.triu)(rng.standard_normal((n, n))).astype(dtype)
    for matmul in (revcore.matmul, np.matmul):
        product = times_triangle(matmul, a, t, lower)
        assert product.dtype == dtype and product.shape == (5, n)
        np.testing.assert_allclose(product, a @ t, rtol=TOL[dtype], atol=TOL[dtype] * np.sqrt(n))
    b = rng.standard_normal((5, n)).astype(dtype)
    full = a.T @ b
    triangle = (np.tril if lower else np.triu)(np.ones((n, n), dtype=bool))
    for matmul in (revcore.matmul, np.matmul):
        product = product_triangle(matmul, a.T, b, lower)
        assert product.dtype == dtype and product.shape == (n, n)
        np.testing.assert_allclose(product[triangle], full[triangle], rtol=TOL[dtype],
                                   atol=TOL[dtype])
        # beyond the diagonal blocks (under 256 columns wide) it is zero; the caller masks
        # the rest
        near = np.tril(np.ones((n, n), dtype=bool), 255) & np.triu(np.ones((n, n), bool), -255)
        far = ~near
        assert not np.any(product[far & ~triangle])
