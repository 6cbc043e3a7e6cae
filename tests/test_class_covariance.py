"""A base with a covariance per class (regularised discriminant analysis at the start of
training): the factorisation, the objective's gradients, the classifier's density, its
samples, encode/decode, files and pickles."""

import io
import pickle

import numpy as np
import pytest

import revcore
from revcore._backend import Backend
from revcore._training import FlowModel, class_covariances, objective
from support import check_objective_gradients

FAST = {"n_blocks": 2, "hidden_width": 16, "max_iter": 30}


def unit_lower(rng, k, d):
    """k random unit lower-triangular (d, d) matrices."""
    out = np.tril(rng.standard_normal((k, d, d)) * 0.5, -1)
    out[:, np.arange(d), np.arange(d)] = 1.0
    return out


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("d", [1, 3, 7])
def test_class_covariances_factor_the_regularised_covariances(weight, d):
    rng = np.random.default_rng(d)
    y = np.repeat(np.arange(3), [20, 31, 9])
    z = rng.standard_normal((len(y), d)) @ rng.standard_normal((d, d)) + y[:, None]
    log_sigma, whitening = class_covariances(z, y, 3, weight)
    residuals = [z[y == c] - z[y == c].mean(0) for c in range(3)]
    within = sum(r.T @ r for r in residuals) / len(z)
    for c, r in enumerate(residuals):
        a = whitening[c]
        assert np.array_equal(np.triu(a, 1), np.zeros((d, d)))
        assert np.array_equal(np.diag(a), np.ones(d))
        expected = weight * (r.T @ r / len(r)) + (1 - weight) * within + 1e-6 * np.eye(d)
        inverse = np.linalg.inv(a)
        rebuilt = inverse @ np.diag(np.exp(2 * log_sigma[c])) @ inverse.T
        np.testing.assert_allclose(rebuilt, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("context", [False, True])
@pytest.mark.parametrize("d,k,beta", [(4, 3, 0.0), (3, 2, 3.0), (1, 2, 1.0)])
def test_objective_gradients_with_class_covariances(d, k, beta, context):
    rng = np.random.default_rng(d + 10 * k)
    model = FlowModel.build(d, k, n_blocks=1, hidden=(5,), rng=rng, class_context=context)
    for array in model.trainable():
        array[...] = rng.standard_normal(array.shape) * 0.3
    model.log_prior[...] = np.log(rng.dirichlet(np.ones(k)))
    x, y = rng.standard_normal((7, d)), rng.integers(0, k, 7)
    # the identity for every class is the diagonal base, to rounding
    diagonal = objective(model, x, y, beta, Backend())[0]
    model.whitening = np.tile(np.eye(d), (k, 1, 1))
    assert objective(model, x, y, beta, Backend())[0] == pytest.approx(diagonal, rel=1e-12)
    model.whitening = unit_lower(rng, k, d)
    assert objective(model, x, y, beta, Backend())[0] != pytest.approx(diagonal, rel=1e-6) \
        or d == 1
    check_objective_gradients(model, x, y, beta, rtol=1e-5, atol=1e-8)


def crossed_classes(n=300, seed=0):
    """Two classes with the same spread but opposite correlations (an X shape): one
    shared covariance cannot describe them, a covariance per class can."""
    rng = np.random.default_rng(seed)
    first = rng.multivariate_normal([0, 0, 0], [[1, 0.9, 0], [0.9, 1, 0], [0, 0, 1]], n)
    second = rng.multivariate_normal([0.5, 0, 0], [[1, -0.9, 0], [-0.9, 1, 0], [0, 0, 1]], n)
    return np.vstack([first, second]), np.repeat(["a", "b"], n)


@pytest.fixture(scope="module")
def crossed():
    X, y = crossed_classes()
    clf = revcore.InvertibleClassifier(random_state=0, **FAST).fit(X, y)
    return X, y, clf


def test_crossed_classes_get_a_covariance_each(crossed):
    X, y, clf = crossed
    assert clf.latent_whitening_.shape == (2, 3, 3)
    assert clf._full_covariance()
    # a shared covariance would read these classes at chance level
    assert clf.score(X, y) > 0.8


def test_joint_log_probability_is_the_gaussian_density_of_the_codes(crossed):
    X, _, clf = crossed
    rows = X[:50]
    inputs, log_jacobian, _ = clf._standardise(rows)
    joint = clf._joint(rows)
    for c in range(2):
        z, log_det = clf.network_.forward_log_det(inputs, context=clf._context(np.full(50, c)))
        inverse = np.linalg.inv(clf.latent_whitening_[c])
        covariance = inverse @ np.diag(clf.latent_scale_[c] ** 2) @ inverse.T
        offsets = z - clf.class_means_[c]
        _, log_abs = np.linalg.slogdet(covariance)
        gaussian = -0.5 * (np.einsum("ij,ij->i", offsets @ np.linalg.inv(covariance), offsets)
                           + log_abs + 3 * np.log(2 * np.pi))
        expected = gaussian + log_det + log_jacobian + clf.class_log_prior_[c]
        np.testing.assert_allclose(joint[:, c], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_generated_codes_have_each_class_covariance(crossed, temperature):
    _, _, clf = crossed
    labels = np.repeat(["a", "b"], 4000)
    generated = clf.generate(labels, temperature=temperature, random_state=1)
    codes = clf.encode(generated, labels)
    for c, label in enumerate(["a", "b"]):
        inverse = np.linalg.inv(clf.latent_whitening_[c])
        expected = temperature**2 * inverse @ np.diag(clf.latent_scale_[c] ** 2) @ inverse.T
        found = np.cov(codes[labels == label].T)
        # 4000 draws: entries within a few standard errors (about 0.03 of the variances)
        scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
        assert np.abs(found - expected).max() < 0.1 * scale.max()


def test_encode_decode_round_trip_with_class_covariances(crossed):
    X, y, clf = crossed
    np.testing.assert_allclose(clf.decode(clf.encode(X, y), y), X, rtol=0, atol=1e-12)


def test_save_load_and_pickle_keep_the_class_covariances(crossed, tmp_path):
    X, _, clf = crossed
    path = tmp_path / "crossed.npz"
    clf.save(path)
    for copy in (revcore.InvertibleClassifier.load(path), pickle.loads(pickle.dumps(clf))):
        assert np.array_equal(copy.latent_whitening_, clf.latent_whitening_)
        assert np.array_equal(copy.score_samples(X), clf.score_samples(X))
        assert np.array_equal(copy.generate(["a", "b"] * 5, random_state=3),
                              clf.generate(["a", "b"] * 5, random_state=3))


def rewritten(path, **changes):
    """The saved file's arrays with some replaced (None: removed), as a new file's bytes."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    return buffer


def test_files_without_class_covariances_load_as_the_diagonal_base(crossed, tmp_path):
    X, _, clf = crossed
    path = tmp_path / "crossed.npz"
    clf.save(path)
    old = revcore.InvertibleClassifier.load(rewritten(path, latent_whitening_=None))
    assert np.array_equal(old.latent_whitening_, np.tile(np.eye(3), (2, 1, 1)))
    assert not old._full_covariance()
    # the same model but for the decorrelation: another density
    assert not np.allclose(old.score_samples(X), clf.score_samples(X))


@pytest.mark.parametrize("change,message", [
    ("upper", "latent_whitening_ must be unit lower-triangular"),
    ("diagonal", "latent_whitening_ must be unit lower-triangular"),
    ("shape", "latent_whitening_ must have shape \\(2, 3, 3\\)"),
    ("flat", "latent_whitening_ must be a 3-d array"),
])
def test_damaged_class_covariances_give_value_error(crossed, tmp_path, change, message):
    _, _, clf = crossed
    path = tmp_path / "crossed.npz"
    clf.save(path)
    whitening = clf.latent_whitening_.copy()
    if change == "upper":
        whitening[1, 0, 2] = 0.5
    elif change == "diagonal":
        whitening[0, 1, 1] = 2.0
    elif change == "shape":
        whitening = whitening[:, :2, :2]
    else:
        whitening = whitening.reshape(-1)
    with pytest.raises(ValueError, match=message):
        revcore.InvertibleClassifier.load(rewritten(path, latent_whitening_=whitening))


def test_early_stopping_keeps_the_start_when_no_epoch_beats_it():
    # steps far too long: every epoch scores below the discriminant analysis it starts from
    X, y = crossed_classes(100)
    clf = revcore.InvertibleClassifier(random_state=0, learning_rate=1.0,
                                       **{**FAST, "n_iter_no_change": 3}).fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.best_validation_score_ > max(clf.validation_scores_)
    steady = revcore.InvertibleClassifier(random_state=0, learning_rate=1e-12,
                                          **{**FAST, "max_iter": 1}).fit(X, y)
    # the start is the same for both, and so are the parameters kept
    np.testing.assert_allclose(clf.score_samples(X), steady.score_samples(X), rtol=1e-9)


def test_a_start_no_epoch_beats_is_estimated_again_from_every_row():
    # steps far too long, so the start is kept; it is then the closed form of all the
    # rows (the held-out ones included), with the shrinkage and base they chose
    from revcore._training import flow_forward, stratified_split, train

    X, labels = crossed_classes(100)
    y = (labels == "b").astype(np.intp)
    model = FlowModel.build(X.shape[1], 2, 1, (8,), np.random.default_rng(1))
    kept, _ = stratified_split(y, 0.2, np.random.default_rng(2))
    result = train(model, X, y, beta=1.0, learning_rate=1.0, batch_size=32, max_iter=3,
                   early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                   tol=0.0, whitening=True, rng=np.random.default_rng(2), backend=Backend())
    assert result.best_validation_score > max(result.validation_scores)
    z = flow_forward(result.model, X, Backend(), False)[0]
    for c in (0, 1):
        np.testing.assert_allclose(result.model.means[c], z[y == c].mean(0), atol=1e-12)
        assert not np.allclose(result.model.means[c], z[kept][y[kept] == c].mean(0))
    # the whitened codes of every row have the identity as within-class covariance, up to
    # the chosen shrinkage (which only shrinks the variances)
    residuals = z - result.model.means[y]
    within = residuals.T @ residuals / len(z)
    assert np.all(np.diag(within) <= 1.0 + 1e-9)
    np.testing.assert_allclose(within - np.diag(np.diag(within)), 0.0, atol=0.2)


@pytest.mark.parametrize("beta, learning_rate", [(0.0, 1e-2), (5.0, 1e-3)])
def test_early_stopping_scores_the_held_out_joint_likelihood(beta, learning_rate):
    # whatever the classification weight, the score kept is log p(x, y) / d of the
    # held-out rows under the parameters kept (the split drawn first from the generator),
    # here those of an epoch that beat the start (steps short enough for one to)
    from revcore._training import stratified_split, train

    X, labels = crossed_classes(100)
    y = (labels == "b").astype(np.intp)
    model = FlowModel.build(X.shape[1], 2, 1, (8,), np.random.default_rng(1))
    rng = np.random.default_rng(2)
    _, held = stratified_split(y, 0.2, np.random.default_rng(2))
    result = train(model, X, y, beta=beta, learning_rate=learning_rate, batch_size=32,
                   max_iter=5, early_stopping=True, validation_fraction=0.2,
                   n_iter_no_change=5, tol=0.0, whitening=True, rng=rng, backend=Backend())
    assert result.best_validation_score == max(result.validation_scores)
    joint = -objective(result.model, X[held], y[held], 0.0, Backend())[0]
    hybrid = -objective(result.model, X[held], y[held], beta, Backend())[0]
    assert result.best_validation_score == pytest.approx(joint, rel=1e-12)
    assert beta == 0.0 or abs(joint - hybrid) > 1e-6
    assert len(result.validation_scores) == result.n_iter
