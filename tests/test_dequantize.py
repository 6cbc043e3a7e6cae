"""Integer-valued features: dequantisation, the logit of their box, and what the classifier's
methods do with integers and with dequantised values."""

from __future__ import annotations

import io

import numpy as np
import pytest

import revcore
from revcore._power import tukey_quantile_inverse


def counts(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two integer features (binomial, one shifted by class) and one continuous."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.column_stack([rng.binomial(9, 0.3 + 0.4 * y), rng.binomial(4, 0.5, n),
                         rng.normal(y, 1.0, n)]).astype(float)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = counts()
    clf = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=40,
                                       box_map="linear", random_state=0).fit(X, y)
    return clf, X, y


def test_integer_features_are_detected_and_boxed(fitted):
    clf, X, _ = fitted
    # both count features pile up on an edge (binomial: 0 or 9 in >= 2% of the rows)?
    piled = [max((X[:, j] == X[:, j].min()).mean(), (X[:, j] == X[:, j].max()).mean())
             for j in range(2)]
    assert min(piled) >= 0.02
    np.testing.assert_array_equal(clf.discrete_, [True, True, False])
    np.testing.assert_array_equal(clf.boxed_, [True, True, False])
    # an edge with a pile is a bound; the box reaches past one without by the range seen
    low, high = X[:, :2].min(axis=0), X[:, :2].max(axis=0)
    need = max(0.02 * len(X), 10)
    low_piled = (X[:, :2] == low).sum(axis=0) >= need
    high_piled = (X[:, :2] == high).sum(axis=0) >= need
    span = high + 1 - low
    np.testing.assert_array_equal(clf.lower_[:2], np.where(low_piled, low, low - span))
    np.testing.assert_array_equal(clf.upper_[:2], np.where(high_piled, high + 1,
                                                           high + 1 + span))
    plain = revcore.InvertibleClassifier(n_blocks=1, max_iter=2, logit=False,
                                         random_state=0).fit(X, fitted[2])
    assert plain.discrete_[:2].all() and not plain.boxed_.any()
    off = revcore.InvertibleClassifier(n_blocks=1, max_iter=2, dequantize=False,
                                       random_state=0).fit(X, fitted[2])
    assert not off.discrete_.any() and not off.boxed_.any()
    forced = revcore.InvertibleClassifier(n_blocks=1, max_iter=2, dequantize=True,
                                          random_state=0).fit(X, fitted[2])
    assert forced.discrete_.all()


def test_generated_values_stay_in_the_box_and_round_to_its_integers(fitted):
    clf, _, _ = fitted
    labels = np.repeat([0, 1], 300)
    fake = clf.generate(labels, temperature=1.0, random_state=0)
    box = fake[:, :2]
    # the box logit's inverse keeps values within (lower, upper) up to the squeeze of the
    # logit (1e-3 of the box at either end)
    span = clf.upper_[:2] - clf.lower_[:2]
    assert np.all(box > clf.lower_[:2] - 2e-3 * span) and np.all(box < clf.upper_[:2] + 2e-3 * span)
    assert not np.all(box == np.round(box))  # continuous: the density is over x + u
    rounded = clf.generate(labels, temperature=1.0, random_state=0, discrete=True)
    assert np.all(rounded[:, :2] == np.round(rounded[:, :2]))
    lower, top = clf.lower_[:2], clf.upper_[:2] - 1  # the box's first and last integers
    assert np.all((rounded[:, :2] >= lower) & (rounded[:, :2] <= top))
    np.testing.assert_array_equal(rounded[:, 2], fake[:, 2])
    np.testing.assert_array_equal(rounded[:, :2], np.clip(np.floor(box), lower, top))


def test_predictions_read_integers_at_their_cells_centres(fitted):
    clf, X, _ = fitted
    centred = X + 0.5 * clf.discrete_
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(centred))
    np.testing.assert_array_equal(clf.score_samples(X), clf.score_samples(centred))
    # a dequantised value is read as it is
    shifted = X + 0.25 * clf.discrete_
    assert not np.allclose(clf.score_samples(shifted), clf.score_samples(X))


@pytest.mark.parametrize("box_map", ["linear", "levels"])
def test_density_is_over_the_dequantised_values_and_zero_outside_the_box(box_map):
    rng = np.random.default_rng(1)
    X = rng.binomial(6, 0.4, (800, 1)).astype(float)
    y = np.arange(800) % 2
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=4, max_iter=30,
                                       box_map=box_map, random_state=0).fit(X, y)
    assert clf.boxed_[0]
    lo, hi = clf.lower_[0], clf.upper_[0]
    grid = np.linspace(lo, hi, 200001, endpoint=False)[:, None] + 1e-7  # no integers
    mass = np.exp(clf.score_samples(grid)).sum() * (hi - lo) / 200001
    assert mass == pytest.approx(1.0, abs=0.01)
    outside = np.array([[lo - 0.5], [hi], [hi + 3.0]])
    assert np.all(clf.score_samples(outside) == -np.inf)
    # predictions clip such rows to the box instead of failing
    assert np.all(np.isfinite(clf.predict_proba(outside)))


@pytest.mark.parametrize("which", ["fitted", "levels"])
def test_encode_decode_exact_for_integers_and_dequantised_values(which, request):
    clf, X, y = request.getfixturevalue(which)
    rng = np.random.default_rng(2)
    for inputs in (X, X + rng.random(X.shape) * clf.discrete_):
        back = clf.decode(clf.encode(inputs, y), y)
        error = np.abs(back - inputs).max(axis=1) / np.abs(inputs).max(axis=1)
        assert error.max() <= 1e-12


@pytest.mark.parametrize("which", ["fitted", "levels"])
def test_saved_maps_round_trip_and_older_files_load(which, request):
    clf, X, _ = request.getfixturevalue(which)
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    loaded = revcore.load(buffer)
    for name in ("discrete_", "boxed_", "lower_", "upper_", "box_feature_", "box_knot_",
                 "box_cdf_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(clf, name))
    np.testing.assert_array_equal(loaded.score_samples(X), clf.score_samples(X))
    buffer.seek(0)
    contents = dict(np.load(buffer))
    contents["upper_"] = contents["lower_"].copy()
    bad = io.BytesIO()
    np.savez(bad, **contents)
    bad.seek(0)
    with pytest.raises(ValueError, match="upper_ must exceed lower_"):
        revcore.load(bad)
    # files from before the distribution functions map each box linearly
    buffer.seek(0)
    older = {k: v for k, v in np.load(buffer).items()
             if not k.startswith(("box_", "params/box_map"))}
    old_file = io.BytesIO()
    np.savez(old_file, **older)
    old_file.seek(0)
    linear = revcore.load(old_file)
    assert linear.box_map == "linear"
    boxed = np.flatnonzero(clf.boxed_)
    np.testing.assert_array_equal(linear.box_knot_,
                                  np.column_stack([clf.lower_[boxed], clf.upper_[boxed]]).ravel())
    x = X[:5] + 0.5 * clf.discrete_
    p = 1e-3 + (1 - 2e-3) * (x[:, boxed] - clf.lower_[boxed]) / (clf.upper_ - clf.lower_)[boxed]
    np.testing.assert_allclose(linear._boxed(x)[0][:, boxed], np.log(p / (1 - p)), rtol=1e-12)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(box_cdf_=c["box_cdf_"][::-1].copy()), "box_cdf_ from 0 to 1"),
    (lambda c: c.update(box_knot_=c["box_knot_"] + 0.5), "box_knot_ must increase"),
    (lambda c: c.update(box_feature_=c["box_feature_"][1:], box_knot_=c["box_knot_"][1:],
                        box_cdf_=c["box_cdf_"][1:]), "box_cdf_ from 0 to 1"),
    (lambda c: c.update(box_feature_=np.zeros_like(c["box_feature_"])), "box_feature_ must"),
    (lambda c: c.update(box_cdf_=c["box_cdf_"][:-1]), "must have one length"),
    (lambda c: c.update(box_cdf_=np.where(c["box_cdf_"] == 1, np.nan, c["box_cdf_"])),
     "non-finite"),
])
def test_damaged_box_functions_give_value_error(levels, change, message):
    clf = levels[0]
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    contents = dict(np.load(buffer))
    change(contents)
    bad = io.BytesIO()
    np.savez(bad, **contents)
    bad.seek(0)
    with pytest.raises(ValueError, match=message):
        revcore.load(bad)


@pytest.fixture(scope="module")
def levels():
    X, y = counts()
    # the default box_map, "levels"
    return revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=5,
                                        random_state=0).fit(X, y), X, y


def test_linear_box_map_has_the_box_ends_as_its_knots(fitted):
    clf = fitted[0]
    boxed = np.flatnonzero(clf.boxed_)
    np.testing.assert_array_equal(clf.box_feature_, np.repeat(boxed, 2))
    np.testing.assert_array_equal(clf.box_knot_, np.column_stack(
        [clf.lower_[boxed], clf.upper_[boxed]]).ravel())
    np.testing.assert_array_equal(clf.box_cdf_, np.tile([0.0, 1.0], len(boxed)))


def test_box_maps_each_level_through_its_share_of_the_training_rows(levels):
    clf, X, _ = levels
    for j in np.flatnonzero(clf.boxed_):
        mine = clf.box_feature_ == j
        knots, cdf = clf.box_knot_[mine], clf.box_cdf_[mine]
        np.testing.assert_array_equal(knots, np.arange(clf.lower_[j], clf.upper_[j] + 1))
        # each unit cell weighs its training count plus one half
        weights = np.bincount((X[:, j] - clf.lower_[j]).astype(int),
                              minlength=len(knots) - 1) + 0.5
        np.testing.assert_allclose(np.diff(cdf), weights / weights.sum(), rtol=1e-12)
    # so the dequantised training values spread evenly: their images F(x + u) are close
    # to uniform on [0, 1] (the piles flattened), and w = Q(F) to Q's distribution
    rng = np.random.default_rng(5)
    w = clf._boxed(X + rng.random(X.shape) * clf.discrete_)[0][:, clf.boxed_]
    f = (tukey_quantile_inverse(w) - 1e-3) / (1 - 2e-3)
    for column in f.T:
        assert np.abs(np.sort(column) - np.linspace(0, 1, len(column))).max() < 0.05


def test_wide_integer_features_are_dequantised_but_not_boxed():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    X = np.column_stack([rng.integers(300, 1700, 500), rng.normal(y, 1.0, 500)]).astype(float)
    clf = revcore.InvertibleClassifier(n_blocks=1, max_iter=3, random_state=0).fit(X, y)
    assert clf.discrete_[0] and not clf.boxed_[0]  # 1400 levels, no pile-up at an edge
    assert np.isfinite(clf.score_samples([[2000.0, 0.0]])).all()  # no box: no zero density


def test_box_map_parameter_is_validated():
    X, y = counts(100)
    with pytest.raises(ValueError, match="box_map must be 'linear' or 'levels', got 'cdf'"):
        revcore.InvertibleClassifier(box_map="cdf").fit(X, y)


def test_dequantize_parameter_is_validated():
    X, y = counts(40)
    with pytest.raises(ValueError, match="dequantize must be 'auto', True or False"):
        revcore.InvertibleClassifier(dequantize="yes").fit(X, y)
    with pytest.raises(ValueError, match="logit must be 'auto', True or False"):
        revcore.InvertibleClassifier(logit=None).fit(X, y)


def test_discrete_features_left_out_of_the_flow_have_their_level_density():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    rare = np.where(rng.random(400) < 0.03, 2.0, 0.0)  # near-constant: 0 in ~97% of rows
    X = np.column_stack([rng.normal(y, 1.0, 400), rng.normal(-y, 1.0, 400), rare])
    clf = revcore.InvertibleClassifier(n_blocks=1, max_iter=5, random_state=0).fit(X, y)
    assert not clf.active_[2] and clf.discrete_[2]
    np.testing.assert_array_equal(clf.level_feature_, [2, 2, 2])
    np.testing.assert_array_equal(clf.level_value_, [0.0, 1.0, 2.0])
    counts = np.array([(rare == v).sum() for v in (0, 1, 2)]) + 0.5
    z = counts.sum() + 1.0  # the two tails beyond the range weigh one half each
    np.testing.assert_allclose(clf.level_log_prob_, np.log(counts / z))
    # score_samples adds the level's log-probability; predictions ignore it
    a, b = X[:5].copy(), X[:5].copy()
    a[:, 2], b[:, 2] = 0.0, 2.0
    np.testing.assert_allclose(clf.score_samples(a) - clf.score_samples(b),
                               np.log(counts[0] / counts[2]))
    np.testing.assert_array_equal(clf.predict_proba(a), clf.predict_proba(b))
    b[0, 2] = 7.0  # five levels beyond the range: 0.5 * 2^-5 / z
    np.testing.assert_allclose(clf.score_samples(b)[0] - clf.score_samples(a)[0],
                               np.log(0.5 * 2.0**-5 / counts[0]))
    draws = clf.generate(np.zeros(20000, dtype=int), random_state=1, discrete=True)[:, 2]
    expected = np.r_[counts, 0.5] / z  # 0, 1, 2 and the upper tail's mass
    observed = [np.mean(draws == v) for v in (0, 1, 2)] + [np.mean(draws > 2)]
    np.testing.assert_allclose(observed, expected, atol=0.005)
    assert np.mean(draws < 0) == pytest.approx(0.5 / z, abs=0.005)
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    contents = dict(np.load(buffer))
    loaded = revcore.load(io.BytesIO(_npz(contents)))
    np.testing.assert_array_equal(loaded.score_samples(a), clf.score_samples(a))
    contents["level_feature_"] = np.array([0, 0, 0])
    with pytest.raises(ValueError, match="level_feature_ must name discrete_ features"):
        revcore.load(io.BytesIO(_npz(contents)))


def _npz(contents: dict) -> bytes:
    out = io.BytesIO()
    np.savez(out, **contents)
    return out.getvalue()


def test_an_edge_without_a_pile_is_not_a_bound():
    # Counts piled at 0 with a thin upper tail: 0 bounds the box, the largest count seen
    # does not, so a larger count later still has a density.
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1], 300)
    X = np.column_stack([rng.poisson(0.6 + 0.4 * y), rng.normal(size=600)])
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=5,
                                       random_state=0).fit(X, y)
    top = X[:, 0].max()
    assert (X[:, 0] == top).sum() < 10 and clf.boxed_[0]
    assert clf.lower_[0] == 0 and clf.upper_[0] == 2 * (top + 1)
    beyond = np.array([[top + 2, 0.0], [0.0, 0.0]])
    assert np.all(np.isfinite(clf.score_samples(beyond)))
