"""scikit-learn's estimator checks (``parametrize_with_checks``) on InvertibleClassifier.

Every input, target and protocol check passes for real. The few checks that the current
model fails for its own limits are listed in OLD_MODEL_LIMITS with the reason; the
maximum-likelihood rewrite removes both limits, and then the table (and the test-only
subclass below) is deleted: with xfail_strict, a listed check that starts passing fails.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")  # estimator tags, expected_failed_checks
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

import revcore

# Few epochs: the checks test the protocol, not the fit (the whole suite runs in seconds).
FAST = {"epochs": 10, "random_state": 0}

CLASSES_VS_FEATURES = (
    "the square logit network refuses more classes than features (the check fits "
    "make_blobs' 3 classes in 2 features, or several classes in 1 feature)"
)
BINARY_DECISION = (
    "decision_function returns both logits, shape (n_samples, 2), for two classes "
    "instead of one score per sample, shape (n_samples,)"
)
OLD_MODEL_LIMITS = {
    "check_estimators_overwrite_params": CLASSES_VS_FEATURES,
    "check_estimators_fit_returns_self": CLASSES_VS_FEATURES,
    "check_readonly_memmap_input": CLASSES_VS_FEATURES,
    "check_fit2d_1feature": CLASSES_VS_FEATURES,
    "check_classifiers_train": f"{BINARY_DECISION}; then {CLASSES_VS_FEATURES}",
    "check_classifiers_classes": f"{BINARY_DECISION}; then {CLASSES_VS_FEATURES}",
    "check_decision_proba_consistency": BINARY_DECISION,
}


def expected_failed_checks(estimator: object) -> dict[str, str]:
    return OLD_MODEL_LIMITS


with warnings.catch_warnings():
    # revcore does not depend on scikit-learn, so its estimator cannot inherit BaseEstimator;
    # it implements the protocol (get_params, set_params, __sklearn_tags__) itself.
    warnings.filterwarnings("ignore", "Estimator .* does not inherit", UserWarning)
    sklearn_checks = parametrize_with_checks(
        [revcore.InvertibleClassifier(**FAST)],
        expected_failed_checks=expected_failed_checks,
    )


@sklearn_checks
def test_sklearn_estimator_check(estimator, check):
    check(estimator)


class _BinaryScore(revcore.InvertibleClassifier):
    """The classifier with scikit-learn's binary decision_function (one score per sample):
    test-only, to show what the listed failures are due to."""

    def _logits(self, X):
        outputs = self.encode(X)  # checks that it is fitted
        return outputs[:, : len(self.classes_)]

    def decision_function(self, X):
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        logits = self._logits(X)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X):
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]


def _messages(error: BaseException | None) -> str:
    """The messages of error and of the errors it was raised from."""
    found = []
    while error is not None:
        found.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(found)


def test_expected_failures_are_only_the_old_models_limits():
    # With the binary score fixed, a check fails only where the model refuses more classes
    # than features: the table hides no input, target or protocol failure.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(_BinaryScore(**FAST), on_fail=None)
    failed = {}
    for result in results:
        if result["status"] == "failed":
            failed.setdefault(result["check_name"], []).append(result["exception"])
    assert failed, "no check fails any more: delete OLD_MODEL_LIMITS and this test"
    for name, errors in failed.items():
        assert OLD_MODEL_LIMITS.get(name, "").endswith(CLASSES_VS_FEATURES), name
        for error in errors:
            assert re.search(r"\d+ classes but only \d+ features", _messages(error)), (
                name, _messages(error))
    # and the checks listed for the binary score alone pass once it is fixed
    for name, reason in OLD_MODEL_LIMITS.items():
        if reason == BINARY_DECISION:
            assert name not in failed, name
