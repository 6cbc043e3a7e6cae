"""The estimator validation layer (revcore._estimator, the error classes of revcore._errors),
without scikit-learn: messages, no modification of the input, dtypes, read-only inputs, the
not-fitted protocol, and the scikit-learn-compatible error classes."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import revcore
from revcore._errors import DataConversionWarning, NotFittedError, sklearn_compatible
from revcore._estimator import check_is_fitted, is_fitted, validate_features, validate_targets

NAME = "Model"


def features(X, **kwargs):
    return validate_features(X, estimator_name=NAME, **kwargs)


def targets(y, n_samples=None, **kwargs):
    return validate_targets(y, len(y) if n_samples is None else n_samples,
                            estimator_name=NAME, **kwargs)


# -- validate_features: what is accepted ----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("source", [np.int64, np.int32, np.uint8, np.bool_, np.float16,
                                    np.float32, np.float64, np.longdouble])
def test_features_become_the_requested_float_dtype(source, dtype):
    X = (np.arange(6).reshape(3, 2) % 2).astype(source)
    before = X.copy()
    out = features(X, dtype=dtype)
    assert out.dtype == dtype and out.shape == (3, 2)
    np.testing.assert_array_equal(out, before.astype(dtype))
    np.testing.assert_array_equal(X, before)
    if np.dtype(source) != np.dtype(dtype):
        assert not np.shares_memory(out, X)  # converted: a private copy


def test_features_already_right_are_not_copied_unless_asked():
    X = np.arange(6.0).reshape(3, 2)
    assert features(X) is X
    out = features(X, copy=True)
    assert not np.shares_memory(out, X) and out.flags.writeable
    out[0, 0] = 99
    assert X[0, 0] == 0


def test_features_lists_and_object_numbers():
    np.testing.assert_array_equal(features([[1, 2], [3, 4.5]]), [[1, 2], [3, 4.5]])
    X = np.array([[1, 2.5], [np.int8(3), np.float32(4)]], dtype=object)
    out = features(X)
    assert out.dtype == np.float64 and out[0, 1] == 2.5
    assert X.dtype == object


def test_features_read_only_array_and_memmap(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    X.flags.writeable = False
    assert features(X) is X
    assert features(X, copy=True).flags.writeable
    assert features(X, dtype=np.float32).flags.writeable
    path = tmp_path / "X.dat"
    np.arange(12.0).reshape(4, 3).tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=(4, 3))
    out = features(mapped, n_features_in=3)
    np.testing.assert_array_equal(out, np.arange(12.0).reshape(4, 3))
    assert features(mapped, dtype=np.float32).dtype == np.float32


def test_features_non_contiguous_views():
    X = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(features(X[:, ::2]), X[:, ::2])
    np.testing.assert_array_equal(features(X.T), X.T)


def test_features_nan_allowed_on_request_but_never_infinity():
    X = np.array([[np.nan, 1.0], [2.0, 3.0]])
    assert np.isnan(features(X, allow_nan=True)[0, 0])
    X[1, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        features(X, allow_nan=True)


# -- validate_features: what is refused, and how --------------------------------------------


@pytest.mark.parametrize("X, message", [
    (np.array([[np.nan, 1.0]]), "^Input X contains NaN.$"),
    (np.array([[np.inf, 1.0]]), (r"^Input X contains infinity or a value too large for "
                                 r"dtype\('float64'\).$")),
    (np.array([[-np.inf, np.nan]]), "^Input X contains NaN.$"),
    (np.arange(3.0), (r"^Expected a 2-D array .* got a 1-D array of shape \(3,\) instead. "
                      r"Reshape your data either using X.reshape\(-1, 1\) if it has a single "
                      r"feature or X.reshape\(1, -1\) if it holds a single sample.$")),
    (np.float64(1.0), "got a scalar instead"),
    (np.zeros((2, 2, 2)), r"Found array with dim 3 \(shape=\(2, 2, 2\)\)"),
    (np.empty((0, 3)), (r"^Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum "
                        r"of 1 is required by Model.$")),
    (np.empty((3, 0)), (r"^Found array with 0 feature\(s\) \(shape=\(3, 0\)\) while a minimum "
                        r"of 1 is required by Model.$")),
    (np.ones((2, 2), complex), "^Complex data not supported"),
    (np.array([[1, 2j]], dtype=object), "^Complex data not supported"),
    (np.array([["a", "b"]]), "needs numeric X, got strings"),
    (np.array([[1.0, "2.5"]], dtype=object), "needs numeric X, got strings"),
    (np.array([[b"1", b"2"]]), "needs numeric X, got strings"),
])
def test_features_refused_with_value_error(X, message):
    with pytest.raises(ValueError, match=message):
        features(X)


def test_features_value_too_large_for_float32():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflowing cast warns nothing
        with pytest.raises(ValueError, match=r"infinity or a value too large for "
                                             r"dtype\('float32'\)"):
            features(np.array([[1e300, 1.0]]), dtype=np.float32)


def test_features_wrong_number_of_features():
    with pytest.raises(ValueError, match="^X has 3 features, but Model is expecting 4 "
                                         "features as input.$"):
        features(np.ones((2, 3)), n_features_in=4)
    features(np.ones((2, 4)), n_features_in=4)


def test_features_objects_that_are_not_numbers():
    X = np.array([[1.0, {"a": 1}]], dtype=object)
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        features(X)
    with pytest.raises(TypeError, match="must hold real numbers"):
        features(np.array([["2020-01-01"]], dtype="datetime64[D]"))


def test_features_sparse_refused_without_scipy_by_duck_typing():
    class FakeSparse:
        nnz = 1
        shape = (2, 2)

        def toarray(self):
            return np.eye(2)

    with pytest.raises(TypeError, match="Model does not support sparse input"):
        features(FakeSparse())


def test_features_scipy_sparse_refused():
    sparse = pytest.importorskip("scipy.sparse")
    for make in (sparse.csr_matrix, sparse.csr_array, sparse.coo_array):
        with pytest.raises(TypeError, match=r"does not support sparse input: X is a sparse "
                                            r"\w+, but dense data is required. Use "
                                            r"X.toarray\(\)"):
            features(make(np.eye(3)))


def test_features_input_name_and_bad_dtype_request():
    with pytest.raises(ValueError, match="Input outputs contains NaN"):
        features([[np.nan]], input_name="outputs")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        features([[1]], dtype=np.int64)


def object_array(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


# -- validate_targets -----------------------------------------------------------------------


@pytest.mark.parametrize("y, classes, index", [
    ([2, 0, 2, 1], [0, 1, 2], [2, 0, 2, 1]),
    (np.array([3.0, -1.0, 3.0]), [-1.0, 3.0], [1, 0, 1]),
    (["b", "a", "b"], ["a", "b"], [1, 0, 1]),
    (np.array(["b", "a", "b"], dtype=object), ["a", "b"], [1, 0, 1]),
    (np.array([True, False, True]), [False, True], [1, 0, 1]),
    (np.array([1, 0, 1], dtype=object), [0, 1], [1, 0, 1]),
    (np.array([b"y", b"x"]), [b"x", b"y"], [1, 0]),
])
def test_targets_of_any_label_type(y, classes, index):
    found, y_index = targets(y)
    assert found.tolist() == classes
    assert y_index.tolist() == index and y_index.dtype == np.intp
    np.testing.assert_array_equal(found[y_index], np.asarray(y))


def test_targets_column_vector_flattened_with_a_warning():
    y = np.array([[1], [0], [1]])
    before = y.copy()
    with pytest.warns(DataConversionWarning, match="^A column-vector y was passed when a 1d "
                                                   r"array was expected. Please change the "
                                                   r"shape of y to \(n_samples,\)"):
        classes, y_index = targets(y)
    assert classes.tolist() == [0, 1] and y_index.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(y, before)


def test_targets_are_not_modified():
    y = np.array([2.0, 1.0, 2.0])
    y.flags.writeable = False
    targets(y)
    np.testing.assert_array_equal(y, [2.0, 1.0, 2.0])


@pytest.mark.parametrize("y, message", [
    (None, "^Model requires y to be passed, but the target y is None.$"),
    (np.zeros((3, 2)), r"^y should be a 1d array, got an array of shape \(3, 2\) instead."),
    (np.float64(1.0), r"^y should be a 1d array, got an array of shape \(\) instead."),
    (np.array([0.0, np.nan, 1.0]), "^Input y contains NaN.$"),
    (np.array([0.0, np.inf, 1.0]), "^Input y contains infinity"),
    (np.array([0.0, 0.5, 1.0]), "^Unknown label type: continuous. .*such as 0.5"),
    (np.array([0.1, 0.2, 0.3], dtype=object), "^Unknown label type: continuous"),
    (np.array([0, 1, 2]) + 1j, "^Complex data not supported"),
    (np.array([1, 1j, 2], dtype=object), "^Complex data not supported"),
    (np.array([1, "a", 2], dtype=object), r"^Mix of label input types \(string and number\)"),
    (object_array([(1,), (2,), (1,)]), "^Unknown label type: y holds tuple objects"),
    (np.array([None, 1, 2], dtype=object), "^Unknown label type: y holds NoneType"),
    (np.array(["2020", "2021"], dtype="datetime64[Y]"), "^Unknown label type"),
    (np.ones(4), (r"needs samples of at least 2 classes in the data, but the data contains "
                  r"only one class: \[1.0\].$")),
])
def test_targets_refused(y, message):
    with pytest.raises(ValueError, match=message):
        targets(y, 3 if y is None or np.ndim(y) != 1 else None)


def test_targets_length_and_class_count():
    with pytest.raises(ValueError, match="^Found input variables with inconsistent numbers "
                                         "of samples: X has 4 and y has 3.$"):
        targets([0, 1, 0], 4)
    with pytest.raises(ValueError, match="y is empty"):
        targets([], 0)
    with pytest.raises(ValueError, match="at least 3 classes .* only 2 classes"):
        targets([0, 1, 0], min_classes=3)
    assert targets([5], min_classes=1)[0].tolist() == [5]


def test_targets_sparse_refused_without_scipy_by_duck_typing():
    class FakeSparse:
        nnz = 1

        def todense(self):
            return np.ones((3, 1))

    with pytest.raises(TypeError, match="does not support sparse input: y is a sparse"):
        targets(FakeSparse(), 3)


# -- fitted state ---------------------------------------------------------------------------


def test_check_is_fitted_by_attributes_and_by_method():
    class Plain:
        def __init__(self):
            self.alpha = 1.0  # a parameter: not fitted state
            self.__dunder__ = 0

    model = Plain()
    assert not is_fitted(model)
    with pytest.raises(NotFittedError, match="^This Plain instance is not fitted yet. Call "
                                             "'fit' with appropriate arguments before using "
                                             "this estimator.$"):
        check_is_fitted(model)
    model.coef_ = np.zeros(2)
    check_is_fitted(model)

    class Custom:
        fitted = False

        def __sklearn_is_fitted__(self):
            return self.fitted

    custom = Custom()
    custom.coef_ = 1  # the method has the last word
    assert not is_fitted(custom)
    custom.fitted = True
    check_is_fitted(custom)


CALLS = {
    "predict": lambda clf, X: clf.predict(X),
    "predict_proba": lambda clf, X: clf.predict_proba(X),
    "decision_function": lambda clf, X: clf.decision_function(X),
    "score": lambda clf, X: clf.score(X, [0, 1, 0, 1]),
    "encode": lambda clf, X: clf.encode(X),
    "decode": lambda clf, X: clf.decode(X),
    "generate": lambda clf, X: clf.generate([0, 1]),
    "counterfactual": lambda clf, X: clf.counterfactual(X, 1),
    "predict_log_proba": lambda clf, X: clf.predict_log_proba(X),
    "score_samples": lambda clf, X: clf.score_samples(X),
    "sample": lambda clf, X: clf.sample(3),
    "check": lambda clf, X: clf.check(),
}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_unfitted_classifier_raises_not_fitted_error(method):
    clf = revcore.InvertibleClassifier()
    with pytest.raises(revcore.NotFittedError, match="This InvertibleClassifier instance is "
                                                     "not fitted yet"):
        CALLS[method](clf, np.ones((4, 3)))
    # and it is not fitted by the failed call: no attribute was set
    assert not is_fitted(clf)


# -- the classifier's protocol on data the current model accepts ----------------------------


def small_problem(n=40, n_features=4):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    return rng.normal(size=(n, n_features)) + y[:, None], y


def test_fit_returns_self_leaves_inputs_and_parameters_alone(tmp_path):
    X, y = small_problem()
    X.flags.writeable = False
    y.flags.writeable = False
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=2, random_state=0)
    params = copy.deepcopy(clf.get_params())
    assert clf.fit(X, y) is clf
    assert clf.get_params() == params
    np.testing.assert_array_equal(X, small_problem()[0])
    path = tmp_path / "X.dat"
    X.tofile(path)
    mapped = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    assert clf.fit(mapped, y) is clf
    assert clf.predict(mapped).shape == (len(X),)
    assert clf.n_features_in_ == 4


def test_classifier_string_labels_and_column_y():
    X, y = small_problem()
    names = np.array(["cat", "dog", "eel"])[y]
    clf = revcore.InvertibleClassifier(n_blocks=1, hidden_width=8, max_iter=2, random_state=0).fit(X, names)
    assert clf.classes_.tolist() == ["cat", "dog", "eel"]
    assert set(clf.predict(X)) <= {"cat", "dog", "eel"}
    with pytest.warns(revcore.DataConversionWarning):
        clf.fit(X, y[:, None])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, y + 0.5)


# -- the error classes ----------------------------------------------------------------------


def test_error_classes_mirror_scikit_learns_bases():
    assert issubclass(revcore.NotFittedError, ValueError)
    assert issubclass(revcore.NotFittedError, AttributeError)
    assert issubclass(revcore.DataConversionWarning, UserWarning)
    with pytest.raises(TypeError, match="no scikit-learn counterpart"):
        sklearn_compatible(ValueError)


def fake_sklearn_exceptions() -> types.ModuleType:
    module = types.ModuleType("sklearn.exceptions")

    class NotFittedError(ValueError, AttributeError):
        pass

    class DataConversionWarning(UserWarning):
        pass

    module.NotFittedError = NotFittedError  # type: ignore[attr-defined]
    module.DataConversionWarning = DataConversionWarning  # type: ignore[attr-defined]
    return module


def test_plain_classes_while_scikit_learn_is_not_imported(monkeypatch):
    monkeypatch.delitem(sys.modules, "sklearn.exceptions", raising=False)
    assert sklearn_compatible(NotFittedError) is NotFittedError
    assert sklearn_compatible(DataConversionWarning) is DataConversionWarning
    error = pickle.loads(pickle.dumps(NotFittedError("not fitted")))
    assert type(error) is NotFittedError and error.args == ("not fitted",)


def test_twin_classes_once_scikit_learn_is_imported(monkeypatch):
    theirs = fake_sklearn_exceptions()
    monkeypatch.setitem(sys.modules, "sklearn.exceptions", theirs)
    twin = sklearn_compatible(NotFittedError)
    assert twin is sklearn_compatible(NotFittedError)  # cached
    assert issubclass(twin, NotFittedError) and issubclass(twin, theirs.NotFittedError)
    assert twin.__name__ == "NotFittedError" and twin.__module__ == NotFittedError.__module__
    with pytest.raises(theirs.NotFittedError):
        check_is_fitted(object())
    error = twin("message")
    error.note = "kept"
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, theirs.NotFittedError) and again.args == ("message",)
    assert again.note == "kept"
    # a filter on either category applies to the warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.simplefilter("always", theirs.DataConversionWarning)
        targets(np.array([[0], [1]]))
    assert len(caught) == 1 and "DataConversionWarning('A column-vector y" in str(caught[0])
    # a reloaded scikit-learn gets a new twin
    monkeypatch.setitem(sys.modules, "sklearn.exceptions", fake_sklearn_exceptions())
    assert sklearn_compatible(NotFittedError) is not twin


SUBPROCESS = """
import pickle, sys
import revcore
assert "sklearn" not in sys.modules
try:
    revcore.InvertibleClassifier().predict([[1.0]])
except revcore.NotFittedError as error:
    assert type(error) is revcore.NotFittedError, type(error).__mro__
    before = pickle.dumps(error)
try:
    import sklearn.exceptions
except ImportError:
    print("no scikit-learn")
    raise SystemExit
for make in (lambda: revcore.InvertibleClassifier().predict([[1.0]]),
             lambda: pickle.loads(before).with_traceback(None)):
    try:
        raise make()
    except sklearn.exceptions.NotFittedError as error:
        assert isinstance(error, revcore.NotFittedError)
print("ok")
"""


def test_not_fitted_error_in_a_fresh_interpreter():
    # The rule that matters: revcore's class until scikit-learn is imported, scikit-learn's
    # too from then on, with no import of scikit-learn by revcore.
    out = subprocess.run([sys.executable, "-c", SUBPROCESS], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] in ("ok", "no scikit-learn"), out.stdout
