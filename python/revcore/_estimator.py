"""Input validation for revcore's estimators, following scikit-learn's conventions.

The checks and messages are those scikit-learn's estimator checks expect
(``sklearn.utils.estimator_checks``), written without importing scikit-learn:

- :func:`check_is_fitted` raises :class:`~revcore.NotFittedError`;
- :func:`validate_features` turns X into a 2-D float array or refuses it (sparse, complex,
  strings, non-numeric objects, NaN/inf, wrong shape, wrong number of features);
- :func:`validate_targets` turns class labels y into ``(classes, y_index)`` or refuses them
  (missing, multi-output, continuous, NaN/inf, one class, length not that of X).

Neither function modifies its input: when a conversion is needed it works on a new array.

Examples
--------
>>> import numpy as np
>>> from revcore._estimator import validate_features, validate_targets
>>> X = validate_features([[1, 2], [3, 4], [5, 6]], estimator_name="Model")
>>> X.dtype, X.shape
(dtype('float64'), (3, 2))
>>> classes, y_index = validate_targets(["b", "a", "b"], len(X), estimator_name="Model")
>>> classes.tolist(), y_index.tolist()
(['a', 'b'], [1, 0, 1])
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._errors import DataConversionWarning, NotFittedError, sklearn_compatible

__all__ = ["check_is_fitted", "validate_features", "validate_targets"]


# -- fitted state ---------------------------------------------------------------------------


def is_fitted(estimator: Any) -> bool:
    """Whether ``estimator`` has been fitted, by scikit-learn's rule: its
    ``__sklearn_is_fitted__()`` when it defines one, else whether it has an instance
    attribute whose name ends with an underscore (``classes_``, ``n_features_in_``...)."""
    method = getattr(estimator, "__sklearn_is_fitted__", None)
    if method is not None:
        return bool(method())
    return any(name.endswith("_") and not name.startswith("__")
               for name in getattr(estimator, "__dict__", {}))


def check_is_fitted(estimator: Any) -> None:
    """Raise :class:`~revcore.NotFittedError` unless ``estimator`` is fitted (see
    :func:`is_fitted`).

    The error is also an instance of ``sklearn.exceptions.NotFittedError`` when scikit-learn
    is imported (see :mod:`revcore._errors`).
    """
    if not is_fitted(estimator):
        raise sklearn_compatible(NotFittedError)(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


# -- features -------------------------------------------------------------------------------


def _is_sparse(data: Any) -> bool:
    """Whether data is a sparse matrix or array (scipy's, or one that quacks like them).

    scipy.sparse is consulted only when it is already imported: a scipy sparse object cannot
    exist otherwise, and revcore imports no optional dependency.
    """
    scipy_sparse = sys.modules.get("scipy.sparse")
    if scipy_sparse is not None and scipy_sparse.issparse(data):
        return True
    return (not isinstance(data, np.ndarray) and hasattr(data, "nnz")
            and (hasattr(data, "toarray") or hasattr(data, "todense")))


def _refuse_sparse(data: Any, estimator_name: str, input_name: str) -> None:
    if _is_sparse(data):
        raise TypeError(
            f"{estimator_name} does not support sparse input: {input_name} is a sparse "
            f"{type(data).__name__}, but dense data is required. Use "
            f"{input_name}.toarray() to convert it to a dense numpy array."
        )


def _describe_non_finite(array: np.ndarray, input_name: str, allow_nan: bool) -> str | None:
    """The message refusing array's NaN or infinite values, or None when it has none."""
    if array.dtype.kind != "f":
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    nan = np.isnan(array)
    if not allow_nan and nan.any():
        return f"Input {input_name} contains NaN."
    if (finite | nan).all():
        return None  # only NaN, and allowed
    return (f"Input {input_name} contains infinity or a value too large for "
            f"{array.dtype!r}.")


def _refuse_strings(estimator_name: str, input_name: str, dtype: np.dtype) -> None:
    raise ValueError(
        f"{estimator_name} needs numeric {input_name}, got strings (dtype {dtype}). Convert "
        "the data to numbers explicitly first (for example one-hot encode categorical "
        "features)."
    )


def validate_features(
    X: Any,
    *,
    estimator_name: str,
    dtype: DTypeLike = np.float64,
    n_features_in: int | None = None,
    allow_nan: bool = False,
    input_name: str = "X",
    copy: bool = False,
) -> np.ndarray:
    """X as a 2-D array of ``dtype`` (float32 or float64), or a ValueError/TypeError in the
    form scikit-learn's estimator checks expect.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Numbers: a numpy array of any real dtype (bool and integers included), a read-only
        array or memmap, nested lists, or an object array holding numbers.
    estimator_name : str
        Named in the messages ("... while a minimum of 1 is required by <name>").
    dtype : float32 or float64
        The dtype of the result.
    n_features_in : int, optional
        The number of features seen in ``fit``; X must have as many. None when fitting.
    allow_nan : bool
        Accept NaN (infinities are refused all the same).
    input_name : str
        The argument's name in the messages.
    copy : bool
        Always return a new array. Otherwise X's own memory is returned when it is already a
        2-D array of ``dtype`` (then possibly read-only: callers must not write into it),
        and a new array whenever a conversion was needed.

    Raises
    ------
    TypeError
        Sparse input; objects that are not numbers.
    ValueError
        Complex numbers, strings, NaN or infinity, not 2-D, no samples, no features, or a
        number of features other than ``n_features_in``.
    """
    target = np.dtype(dtype)
    if target not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    _refuse_sparse(X, estimator_name, input_name)

    array = np.asarray(X)
    kind = array.dtype.kind
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: {input_name} has dtype {array.dtype}. "
            f"{estimator_name} works on real numbers; pass the real part or the modulus."
        )
    if kind in "US":
        _refuse_strings(estimator_name, input_name, array.dtype)
    if kind not in "biufO":
        raise TypeError(f"{input_name} must hold real numbers, got dtype {array.dtype}")

    if array.ndim != 2:
        if array.ndim == 0:
            raise ValueError(
                f"Expected a 2-D array (n_samples, n_features) for {input_name}, got a scalar "
                f"instead: {input_name}={X!r}."
            )
        if array.ndim == 1:
            raise ValueError(
                f"Expected a 2-D array (n_samples, n_features) for {input_name}, got a 1-D "
                f"array of shape {array.shape} instead. Reshape your data either using "
                f"{input_name}.reshape(-1, 1) if it has a single feature or "
                f"{input_name}.reshape(1, -1) if it holds a single sample."
            )
        raise ValueError(
            f"Found array with dim {array.ndim} (shape={array.shape}). {estimator_name} "
            "expected a 2-D array (n_samples, n_features)."
        )
    n_samples, n_features = array.shape
    if n_samples < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is "
            f"required by {estimator_name}."
        )
    if n_features < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is "
            f"required by {estimator_name}."
        )
    if n_features_in is not None and n_features != n_features_in:
        raise ValueError(
            f"{input_name} has {n_features} features, but {estimator_name} is expecting "
            f"{n_features_in} features as input."
        )

    if kind == "O":
        if any(isinstance(value, (str, bytes)) for value in array.flat):
            _refuse_strings(estimator_name, input_name, array.dtype)
        if any(isinstance(value, complex) for value in array.flat):
            raise ValueError(
                f"Complex data not supported: {input_name} holds complex numbers. "
                f"{estimator_name} works on real numbers."
            )
        try:
            converted = array.astype(target)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{input_name} must hold real numbers: {error}") from error
    else:
        with np.errstate(over="ignore"):  # a value too large for dtype is refused below
            converted = array.astype(target, copy=copy)

    message = _describe_non_finite(converted, input_name, allow_nan)
    if message is not None:
        raise ValueError(message)
    return converted


# -- targets --------------------------------------------------------------------------------


def _check_labels(labels: np.ndarray, estimator_name: str, input_name: str) -> None:
    """ValueError unless the 1-D labels are class labels: all strings, or all numbers that
    are whole (no NaN, infinity, continuous values or complex numbers)."""
    kind = labels.dtype.kind
    if kind in "USbiu":
        return
    if kind == "O":
        strings = sum(isinstance(value, str) for value in labels)
        if strings == len(labels) or (strings == 0 and all(isinstance(value, bytes)
                                                           for value in labels)):
            return
        numbers_ = sum(isinstance(value, numbers.Number) for value in labels)
        if (strings or any(isinstance(value, bytes) for value in labels)) and numbers_:
            raise ValueError(
                f"Mix of label input types (string and number) in {input_name}: "
                f"{estimator_name} needs labels of one type."
            )
        if numbers_ == len(labels):
            if any(isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real)
                   for value in labels):
                raise ValueError(f"Complex data not supported: {input_name} holds complex "
                                 "numbers.")
            labels = labels.astype(np.float64)
            kind = "f"
        else:
            others = [type(value).__name__ for value in labels
                      if not isinstance(value, (str, bytes, numbers.Number))]
            what = f"{others[0]} objects" if others else "str and bytes mixed"
            raise ValueError(
                f"Unknown label type: {input_name} holds {what}; "
                f"{estimator_name} takes labels that are all numbers or all strings."
            )
    if kind == "c":
        raise ValueError(f"Complex data not supported: {input_name} has dtype "
                         f"{labels.dtype}.")
    if kind != "f":
        raise ValueError(f"Unknown label type: {input_name} has dtype {labels.dtype}; "
                         f"{estimator_name} takes labels that are numbers or strings.")
    message = _describe_non_finite(labels, input_name, allow_nan=False)
    if message is not None:
        raise ValueError(message)
    fractional = labels != np.round(labels)
    if fractional.any():
        raise ValueError(
            f"Unknown label type: continuous. {estimator_name} is a classifier: {input_name} "
            f"must hold discrete class labels, but it holds non-integer values such as "
            f"{float(labels[fractional][0])!r} (a regression target?)."
        )


def validate_targets(
    y: Any,
    n_samples: int,
    *,
    estimator_name: str,
    min_classes: int = 2,
    input_name: str = "y",
) -> tuple[np.ndarray, np.ndarray]:
    """The classes and each sample's class index for class labels y.

    Parameters
    ----------
    y : array_like, shape (n_samples,)
        Labels: integers, bools, strings, or objects that are all numbers or all strings;
        floats if they are whole numbers. A column vector (n_samples, 1) is flattened with
        a :class:`~revcore.DataConversionWarning`, as scikit-learn does.
    n_samples : int
        The number of samples of X; y must have as many labels.
    estimator_name : str
        Named in the messages.
    min_classes : int
        The fewest distinct classes accepted.
    input_name : str
        The argument's name in the messages.

    Returns
    -------
    classes : ndarray, shape (n_classes,)
        The distinct labels, sorted (``classes_``), of y's dtype.
    y_index : ndarray of intp, shape (n_samples,)
        Each sample's label as an index into ``classes``.

    Raises
    ------
    TypeError
        Sparse y.
    ValueError
        y None, not 1-D, of another length than X, NaN or infinity, continuous values
        ("Unknown label type: continuous"), complex numbers, other objects, or fewer than
        ``min_classes`` classes.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    _refuse_sparse(y, estimator_name, input_name)
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        warnings.warn(
            sklearn_compatible(DataConversionWarning)(
                f"A column-vector {input_name} was passed when a 1d array was expected. "
                f"Please change the shape of {input_name} to (n_samples,), for example "
                "using ravel()."
            ),
            stacklevel=3,
        )
        labels = labels[:, 0]
    elif labels.ndim != 1:
        raise ValueError(
            f"{input_name} should be a 1d array, got an array of shape {labels.shape} "
            f"instead. {estimator_name} takes one label per sample (no multi-output or "
            "multilabel targets)."
        )
    if len(labels) != n_samples:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has "
            f"{n_samples} and {input_name} has {len(labels)}."
        )
    if len(labels) == 0:
        raise ValueError(f"{estimator_name} needs samples of at least {min_classes} "
                         f"classes, but {input_name} is empty.")
    _check_labels(labels, estimator_name, input_name)
    classes, y_index = np.unique(labels, return_inverse=True)
    if len(classes) < min_classes:
        found = ("only one class" if len(classes) == 1
                 else f"only {len(classes)} classes")
        raise ValueError(
            f"{estimator_name} needs samples of at least {min_classes} classes in the data, "
            f"but the data contains {found}: {classes.tolist()!r}."
        )
    return classes, y_index.reshape(-1).astype(np.intp, copy=False)
