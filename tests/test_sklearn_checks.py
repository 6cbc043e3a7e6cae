"""scikit-learn's estimator checks (``parametrize_with_checks``) on InvertibleClassifier.

Every check runs and must pass: no expected failures are listed.
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("sklearn", minversion="1.6")  # estimator tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import revcore

# A small flow and few epochs: the checks test the protocol and a sane fit, in seconds.
FAST = {"n_blocks": 2, "hidden_width": 16, "max_iter": 60, "random_state": 0}

with warnings.catch_warnings():
    # revcore does not depend on scikit-learn, so its estimator cannot inherit BaseEstimator;
    # it implements the protocol (get_params, set_params, __sklearn_tags__) itself.
    warnings.filterwarnings("ignore", "Estimator .* does not inherit", UserWarning)
    sklearn_checks = parametrize_with_checks([revcore.InvertibleClassifier(**FAST)])


@sklearn_checks
def test_sklearn_estimator_check(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Estimator .* does not inherit", UserWarning)
        check(estimator)
