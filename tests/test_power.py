"""The Yeo-Johnson power transform in front of the classifier's flow."""

from __future__ import annotations

import io

import numpy as np
import pytest

import revcore
from revcore._power import fit_yeo_johnson, yeo_johnson, yeo_johnson_inverse

LAMBDAS = [-1.0, -1.0 + 1e-9, -0.4, -1e-9, 0.0, 1e-9, 0.3, 1.0, 1.7, 2.0 - 1e-9, 2.0, 2.0 + 1e-9,
           2.6, 3.0]


def _wide_values() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.standard_normal(200) * 3, [0.0, -0.0, 1e-300, -1e-300, 1e-8,
                                                          -1e-8, 50.0, -50.0, 1e6, -1e6]])


@pytest.mark.parametrize("lam", LAMBDAS)
def test_inverse_undoes_the_transform(lam):
    u = _wide_values()
    v, _ = yeo_johnson(u, np.full(u.shape, lam))
    back = yeo_johnson_inverse(v, np.full(u.shape, lam))
    # A few roundings in log1p/expm1 each way, amplified by at most the condition number
    # of (1 + |u|)^p, which is p * log(1 + |u|) <= 2 * 14 here: 100 eps relative is ample.
    np.testing.assert_allclose(back, u, rtol=100 * np.finfo(float).eps, atol=1e-300)
    assert np.all(np.sign(v) == np.sign(u)) or lam == 1.0


@pytest.mark.parametrize("lam", LAMBDAS)
def test_log_slope_matches_finite_differences(lam):
    u = np.linspace(-6, 6, 49) + 0.013  # avoid the kink-free but branch-switching point 0
    lams = np.full(u.shape, lam)
    _, log_slope = yeo_johnson(u, lams)
    h = 1e-6
    numeric = (yeo_johnson(u + h, lams)[0] - yeo_johnson(u - h, lams)[0]) / (2 * h)
    # Central differences: truncation h^2 |psi'''| ~ 1e-12 and cancellation eps/h ~ 1e-10.
    np.testing.assert_allclose(np.exp(log_slope), numeric, rtol=1e-7)


def test_lambda_one_is_the_identity_and_the_map_is_increasing():
    u = _wide_values()
    v, log_slope = yeo_johnson(u, np.ones(u.shape))
    np.testing.assert_allclose(v, u, rtol=4 * np.finfo(float).eps)
    np.testing.assert_array_equal(log_slope, 0.0)
    for lam in LAMBDAS:
        s = np.sort(u)
        assert np.all(np.diff(yeo_johnson(s, np.full(s.shape, lam))[0]) >= 0)


def test_profile_likelihood_and_its_maximiser_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    u = rng.gamma(2.0, 1.0, 500) - 2.0
    lam, gain = fit_yeo_johnson(u)
    # scipy's maximiser, inside [0, 2] (where both definitions agree) for these data.
    expected = stats.yeojohnson_normmax(u)
    assert 0 < expected < 2
    assert lam == pytest.approx(expected, abs=1e-4)
    llf = stats.yeojohnson_llf
    assert gain == pytest.approx(llf(lam, u) - llf(1.0, u), rel=1e-6)


def test_fitted_exponents_follow_the_skew():
    rng = np.random.default_rng(2)
    right = rng.lognormal(0.0, 0.8, 400)
    assert fit_yeo_johnson((right - right.mean()) / right.std())[0] < 0.7
    assert fit_yeo_johnson(-(right - right.mean()) / right.std())[0] > 1.3
    normal = rng.standard_normal(400)
    assert fit_yeo_johnson(normal)[1] < 3.0  # the gate leaves Gaussian data alone
    # Tails heavier than a log-normal's take the nested logarithm (lam < 0), and the
    # exponents stay in [-1, 3] when the data ask for more.
    heavy = rng.lognormal(0.0, 0.8, 400)
    lam, gain = fit_yeo_johnson((heavy - heavy.mean()) / heavy.std())
    assert -1.0 < lam < 0.0 and gain > 50
    extreme = np.exp(rng.lognormal(0.0, 1.0, 400).clip(max=6.0))
    assert fit_yeo_johnson((extreme - extreme.mean()) / extreme.std())[0] == -1.0


def _skewed(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.column_stack([rng.lognormal(y * 0.7, 0.7, n), rng.normal(y, 1.0, n),
                         rng.integers(0, 5, n).astype(float)])
    return X, y


def test_classifier_transforms_only_skewed_features_with_many_values():
    X, y = _skewed()
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=20,
                                       random_state=0).fit(X, y)
    assert -1.0 <= clf.lambdas_[0] < 0.8  # the log-normal feature
    assert clf.lambdas_[1] == 1.0  # Gaussian: no gain
    assert clf.lambdas_[2] == 1.0  # five distinct values
    assert clf.power_scale_[0] > 0 and clf.power_mean_[1] == 0 and clf.power_scale_[1] == 1
    back = clf.decode(clf.encode(X, y), y)  # the flow takes the class: the same labels
    # Row-wise relative error, as the classifier promises (the norm of each row).
    assert (np.abs(back - X).max(axis=1) / np.abs(X).max(axis=1)).max() <= 1e-12
    off = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=20,
                                       power_transform=False, random_state=0).fit(X, y)
    np.testing.assert_array_equal(off.lambdas_, 1.0)
    # The transform gives the skewed data a better density, on rows not trained on.
    Xt, _ = _skewed(seed=4)
    assert clf.score_samples(Xt).mean() > off.score_samples(Xt).mean() + 0.05
    generated = clf.generate(np.repeat([0, 1], 200), random_state=0)
    assert np.all(np.isfinite(generated))


def test_score_samples_counts_the_power_transform_in_the_density():
    # A 1-D density integrates to 1 over the data's units only if the power transform's
    # Jacobian is counted.
    rng = np.random.default_rng(5)
    X = rng.lognormal(0.0, 0.8, (600, 1))
    y = np.arange(600) % 2  # two classes of one distribution
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=4, max_iter=30,
                                       random_state=0).fit(X, y)
    assert clf.lambdas_[0] != 1.0
    grid = np.linspace(-5, 60, 200001)[:, None]
    mass = np.exp(clf.score_samples(grid)).sum() * (grid[1, 0] - grid[0, 0])
    assert mass == pytest.approx(1.0, abs=0.01)


def test_saved_power_transform_round_trips_and_old_files_load():
    X, y = _skewed()
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=5,
                                       random_state=0).fit(X, y)
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    loaded = revcore.load(buffer)
    np.testing.assert_array_equal(loaded.lambdas_, clf.lambdas_)
    np.testing.assert_array_equal(loaded.score_samples(X), clf.score_samples(X))
    # Without the three arrays a file means no power transform.
    buffer.seek(0)
    contents = dict(np.load(buffer))
    for name in ("lambdas_", "power_mean_", "power_scale_"):
        del contents[name]
    older = io.BytesIO()
    np.savez(older, **contents)
    older.seek(0)
    plain = revcore.load(older)
    np.testing.assert_array_equal(plain.lambdas_, 1.0)
    contents["lambdas_"] = np.full(3, 3.5)
    bad = io.BytesIO()
    np.savez(bad, **contents)
    bad.seek(0)
    with pytest.raises(ValueError, match=r"lambdas_ must lie in \[-1, 3\]"):
        revcore.load(bad)


def test_power_transform_parameter_is_validated():
    X, y = _skewed(60)
    with pytest.raises(ValueError, match="power_transform must be True or False"):
        revcore.InvertibleClassifier(power_transform="yes").fit(X, y)


def test_tukey_quantile_inverts_to_the_last_bits_and_its_log_slope_is_the_derivative():
    from revcore._power import tukey_quantile, tukey_quantile_inverse

    rng = np.random.default_rng(0)
    # (the box map uses p in [1e-3, 1 - 1e-3]; towards 0, p^0.14 underflows against 1 only
    # below 1e-100 or so, where Q is flat to rounding)
    p = np.r_[rng.uniform(0, 1, 10000), 1e-12, 1e-3, 0.5, 1 - 1e-3, 1 - 1e-12]
    w, log_slope = tukey_quantile(p)
    assert np.all(np.diff(tukey_quantile(np.sort(p))[0]) >= 0)
    # float64: Newton from a bracket ends within a few ulps of p
    np.testing.assert_allclose(tukey_quantile_inverse(w), p, rtol=4e-15, atol=0)
    # central differences, step 1e-6 in p (error ~1e-10 relative away from the ends)
    inner = (p > 1e-3) & (p < 1 - 1e-3)
    h = 1e-6
    numeric = (tukey_quantile(p[inner] + h)[0] - tukey_quantile(p[inner] - h)[0]) / (2 * h)
    np.testing.assert_allclose(np.exp(log_slope[inner]), numeric, rtol=1e-6)
    # close to the normal's quantiles, times about 1.44
    probit = np.array([-3.090232, -1.281552, 0.0, 1.281552, 3.090232])
    ratio = tukey_quantile(np.array([1e-3, 0.1, 0.5, 0.9, 1 - 1e-3]))[0] / np.where(
        probit == 0, 1, probit)
    assert np.all(np.abs(ratio[[0, 1, 3, 4]] / 1.44 - 1) < 0.01)
    # beyond Q's range (+-1 / 0.14): the ends of (0, 1)
    np.testing.assert_array_equal(tukey_quantile_inverse(np.array([-9.0, 9.0])), [0.0, 1.0])
