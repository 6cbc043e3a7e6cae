"""What :meth:`Network.check` and a failed inverse report: per-layer verdicts and errors.

Examples
--------
>>> from revcore._report import InvertibilityReport, LayerReport
>>> line = LayerReport(0, (2, 2), "tanh", 1.5, 0.7, True, "")
>>> report = InvertibilityReport([line], condition_threshold=1e4)
>>> report.ok, report[0].verdict
(True, 'invertible')
>>> print(report)
layer        shape  activation  cond (1-norm)  verdict
    0          2x2  tanh                  1.5  invertible
every layer is invertible (condition threshold 1e+04)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._errors import NotInvertibleError

__all__ = ["InvertibilityReport", "LayerReport", "target_error"]


class LayerReport(NamedTuple):
    """What check() found about one layer."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, kept for the public API
    shape: tuple[int, int]
    activation: str
    condition_estimate: float | None
    smallest_pivot: float | None
    invertible: bool
    reason: str
    out_of_range: int | None = None
    error_bound: float | None = None
    """A-priori relative error of this layer's solve alone: 3 cond * 2 n eps."""
    rows: tuple[int, ...] = ()
    """Samples (rows of the targets) with elements outside the activation's range."""
    columns: tuple[int, ...] = ()
    """Units (columns) with elements outside the activation's range."""
    note: str = ""
    """How the layer is inverted (for kinds other than dense), shown after the verdict."""

    @property
    def verdict(self) -> str:
        return "invertible" if self.invertible else "NOT INVERTIBLE"


class InvertibilityReport(Sequence[LayerReport]):
    """Per-layer invertibility verdicts of a network; print it for a table.

    ``report.ok`` is True when every layer is invertible (and, if targets were given, every
    target can be inverted); ``report[i]`` is the LayerReport of layer i.
    """

    def __init__(self, layers: list[LayerReport], condition_threshold: float) -> None:
        self.layers = layers
        self.condition_threshold = condition_threshold

    @property
    def ok(self) -> bool:
        return all(r.invertible for r in self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: Any) -> Any:
        return self.layers[index]

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers)

    def __str__(self) -> str:
        header = f"{'layer':>5}  {'shape':>11}  {'activation':<10}  {'cond (1-norm)':>13}  verdict"
        lines = [header]
        for r in self.layers:
            cond = "-" if r.condition_estimate is None else f"{r.condition_estimate:.3g}"
            shape = f"{r.shape[0]}x{r.shape[1]}"
            verdict = r.verdict + (f": {r.reason}" if r.reason else "") + (
                f" ({r.note})" if r.note else "")
            lines.append(f"{r.index:>5}  {shape:>11}  {r.activation:<10}  {cond:>13}  {verdict}")
        summary = "every layer is invertible" if self.ok else "the network is NOT invertible"
        lines.append(f"{summary} (condition threshold {self.condition_threshold:.3g})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<InvertibilityReport ok={self.ok} layers={len(self.layers)}>\n{self}"



def target_error(layers: Sequence[Any], failure: tuple[str, int], values: np.ndarray,
                 single: bool) -> NotInvertibleError:
    """The NotInvertibleError for targets that layer ``failure[1]`` cannot invert:
    ``failure[0]`` is "out_of_range" (outside its range) or "not_finite" (the solve
    overflowed). ``values`` are that layer's targets, or its overflowed result."""
    kind, index = failure
    layer = layers[index]
    if kind == "out_of_range":
        mask = layer.out_of_range(values)
        lo, hi = layer.range()
        what = "the targets" if index == len(layers) - 1 else (
            f"the targets that layer {index + 1}'s inverse hands down")
        reason = (f"{int(mask.sum())} of {values.size} of {what} lie outside the open range "
                  f"({lo:g}, {hi:g}) of {layer.label}")
    else:
        mask = ~np.isfinite(values)
        reason = (f"solving its linear system overflowed ({int(mask.sum())} values are not "
                  "finite)")
    rows, columns = np.nonzero(mask)
    r, c = int(rows[0]), int(columns[0])
    place = f"column {c}" if single else f"row {r}, column {c}"
    reason += f"; the first at {place} is {float(values[r, c])!r}"
    unique_rows = tuple(int(i) for i in np.unique(rows))
    unique_columns = tuple(int(i) for i in np.unique(columns))
    if not single:
        reason += f"; rows {_abbreviate(unique_rows)}"
    reason += f"; columns {_abbreviate(unique_columns)}"
    return NotInvertibleError(
        f"layer {index} ({layer.label}) cannot be inverted: {reason}",
        layer=index, reason=reason, rows=() if single else unique_rows,
        columns=unique_columns,
    )


def _abbreviate(items: tuple[int, ...], limit: int = 10) -> str:
    """The items in brackets, only the first ``limit`` of them when there are more."""
    if len(items) <= limit:
        return "[" + ", ".join(map(str, items)) + "]"
    return "[" + ", ".join(map(str, items[:limit])) + f", ... ({len(items)} in all)]"
