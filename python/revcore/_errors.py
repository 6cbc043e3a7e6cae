"""The exception and warning classes that revcore raises.

scikit-learn compatibility without importing scikit-learn
----------------------------------------------------------
:class:`NotFittedError` and :class:`DataConversionWarning` mirror scikit-learn's classes of
the same names (same bases: ``ValueError`` and ``AttributeError``; ``UserWarning``), so code
that catches the builtin bases works whether or not scikit-learn is installed. Code that
catches scikit-learn's own classes (``except sklearn.exceptions.NotFittedError``, as
scikit-learn's estimator checks do) needs an instance of them, and ``except`` matches by
real inheritance only (``__subclasscheck__`` is not consulted). revcore does not import
scikit-learn, so it cannot inherit from it statically. Instead, revcore raises (and warns)
through :func:`sklearn_compatible`, which, at the moment of raising, looks whether
``sklearn.exceptions`` is already imported:

- not imported: the plain revcore class is raised. No code in the process can name
  scikit-learn's class without having imported it, so nothing can be trying to catch it;
- imported: a subclass of both revcore's class and scikit-learn's (created once, cached)
  is raised. It has the same name, module and message, so it is caught by
  ``except revcore.NotFittedError`` and by ``except sklearn.exceptions.NotFittedError``
  alike, and warning filters on either category apply.

Both pickle as revcore's class and are rebuilt by the same rule in the process that
unpickles them. Test with ``isinstance``, never ``type(error) is NotFittedError``.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

__all__ = [
    "DataConversionWarning",
    "LinAlgWarning",
    "NotFittedError",
    "NotInvertibleError",
    "sklearn_compatible",
]


class NotInvertibleError(ValueError):
    """A network, layer or target that cannot be inverted exactly.

    Attributes
    ----------
    layer : int or None
        Index of the offending layer, when one is to blame.
    reason : str
        Why the inverse does not exist or cannot be trusted.
    rows, columns : tuple of int
        For targets outside an activation's range: the distinct rows (samples) and columns
        (units) of the offending elements, in increasing order.

    Examples
    --------
    >>> error = NotInvertibleError("layer 2 is singular", layer=2)
    >>> error.layer, error.reason
    (2, 'layer 2 is singular')
    """

    def __init__(
        self,
        message: str,
        *,
        layer: int | None = None,
        reason: str = "",
        rows: tuple[int, ...] = (),
        columns: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.layer = layer
        self.reason = reason or message
        self.rows = rows
        self.columns = columns


class LinAlgWarning(RuntimeWarning):
    """A factorization met an exactly singular matrix (as scipy.linalg.LinAlgWarning)."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError``; when
    scikit-learn is imported, what revcore raises is also an instance of scikit-learn's class
    (see the module's notes).

    Examples
    --------
    >>> import revcore
    >>> try:
    ...     revcore.InvertibleClassifier().predict([[0.0, 1.0]])
    ... except revcore.NotFittedError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    This InvertibleClassifier instance is not fitted yet. Call 'fit' ...
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self).__qualname__, self.args, dict(vars(self)))


class DataConversionWarning(UserWarning):
    """Input was converted to the form an estimator needs (for example a column-vector y
    flattened to 1-D), as scikit-learn's ``DataConversionWarning``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self).__qualname__, self.args, dict(vars(self)))


_MIRRORED: dict[str, type] = {
    "NotFittedError": NotFittedError,
    "DataConversionWarning": DataConversionWarning,
}
_TWINS: dict[str, type] = {}

_T = TypeVar("_T", bound=type)


def sklearn_compatible(cls: _T) -> _T:
    """The class to raise or warn with in place of revcore's ``cls`` (one of
    :class:`NotFittedError` and :class:`DataConversionWarning`): ``cls`` itself while
    ``sklearn.exceptions`` is not imported, else a cached subclass of both ``cls`` and
    scikit-learn's class of the same name.

    Examples
    --------
    >>> error = sklearn_compatible(NotFittedError)("not fitted")
    >>> isinstance(error, NotFittedError) and isinstance(error, ValueError)
    True
    """
    name = cls.__name__
    if _MIRRORED.get(name) is not cls:
        raise TypeError(f"{cls!r} has no scikit-learn counterpart")
    exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(exceptions, name, None)
    if not isinstance(theirs, type):
        return cls
    twin = _TWINS.get(name)
    if twin is None or not issubclass(twin, theirs):  # first use, or scikit-learn reloaded
        twin = type(name, (cls, theirs), {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        })
        _TWINS[name] = twin
    return twin  # type: ignore[return-value]


def _rebuild(name: str, args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """Unpickle a NotFittedError or DataConversionWarning by the rule of the current
    process (with scikit-learn's class as a base when scikit-learn is imported here)."""
    instance = sklearn_compatible(_MIRRORED[name])(*args)
    vars(instance).update(state)
    return instance
