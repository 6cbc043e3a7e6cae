"""The exception and warning classes that revcore raises."""

from __future__ import annotations

__all__ = ["LinAlgWarning", "NotInvertibleError"]


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
