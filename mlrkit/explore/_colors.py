"""The explorer's colourings: one column of the frame turned into a colour per row.

:func:`coloring` reads a column of an explorer's frame and returns a :class:`Coloring`, which
says the colour of every row in both the widget (jupyter-scatter's ``color(...)`` arguments and
the data column it reads) and the static picture (:meth:`Coloring.rgba`), so both draw the same
colours:

- ``"class"``: one colour per class (:func:`mlrkit.viz.embedding.class_palette`);
- ``"correct"``: correct (green), wrong (red), ignored (grey: a target of -1);
- ``"score"``: viridis from 0 to 1;
- any other column: floats (and integers with more than :data:`MAX_CATEGORIES` distinct values)
  on viridis from their smallest to their largest value, a missing number drawn in the lowest
  colour; booleans, strings, categories and integers with few values as categories, one colour
  each, a missing value grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.errors import InvalidInputError

COLOR_BY: tuple[str, ...] = ("class", "score", "correct")
"""The colourings every explorer has; :meth:`Explorer.color` also takes any other column."""

OUTCOMES: tuple[str, ...] = ("correct", "wrong", "ignored")
OUTCOME_COLORS = {"correct": "#2ca02c", "wrong": "#d62728", "ignored": "#aaaaaa"}
MISSING, MISSING_COLOR = "missing", "#aaaaaa"
SCORE_MAP = "viridis"
MAX_CATEGORIES = 20  # more distinct values than this: numbers are continuous, text is refused
HIDDEN = ("x", "y", "path", "class_index")  # coordinates, file paths and the class's number


def hex_color(rgb: Sequence[float]) -> str:
    """``#rrggbb`` of an RGB(A) triple of floats in [0, 1]."""
    return "#" + "".join(f"{round(float(c) * 255):02x}" for c in rgb[:3])


@dataclass
class Coloring:
    """The colour of every row: by category (``palette``) or by value (``cmap`` over ``norm``).

    Attributes:
        by: the column's name.
        values: what jupyter-scatter reads: a categorical of category names, or float32 values.
        palette: category name to ``#rrggbb``, for a categorical colouring; else None.
        cmap: the matplotlib colour map of a continuous colouring; else None.
        norm: ``(low, high)``: the values drawn in the map's first and last colour.
    """

    by: str
    values: Any
    palette: dict[str, str] | None = None
    cmap: str | None = None
    norm: tuple[float, float] = (0.0, 1.0)

    @property
    def categorical(self) -> bool:
        return self.palette is not None

    def rgba(self) -> np.ndarray:
        """``(M, 4)`` RGBA floats, one row per frame row."""
        import matplotlib
        from matplotlib.colors import to_rgba_array

        if self.palette is not None:
            table = to_rgba_array(list(self.palette.values()))
            lookup = np.array([list(self.palette).index(c) for c in self.values.categories])
            return table[lookup[np.asarray(self.values.codes)]]
        low, high = self.norm
        scaled = (np.asarray(self.values, dtype=np.float64) - low) / (high - low)
        return matplotlib.colormaps[self.cmap](np.clip(scaled, 0.0, 1.0))

    def jscatter_kwargs(self) -> dict[str, Any]:
        """The arguments of ``jscatter.Scatter.color`` (its data column named :attr:`by`)."""
        if self.palette is not None:
            return {"by": self.by, "map": dict(self.palette)}
        return {"by": self.by, "map": self.cmap, "norm": self.norm}


def color_columns(frame: pd.DataFrame) -> list[str]:
    """The columns :func:`coloring` takes: :data:`COLOR_BY` first, then the frame's others."""
    extra = [
        str(c)
        for c in frame.columns
        if str(c) not in COLOR_BY and str(c) not in HIDDEN and _kind(frame[c]) is not None
    ]
    return [c for c in COLOR_BY if c in frame.columns] + extra


def coloring(frame: pd.DataFrame, by: str, classes: Sequence[str]) -> Coloring:
    """How to colour ``frame``'s rows by its column ``by`` (see the module's docstring).

    Raises:
        InvalidInputError: ``by`` is not one of :func:`color_columns` (one line naming them).
    """
    valid = color_columns(frame)
    if not isinstance(by, str) or by not in valid:
        raise InvalidInputError(
            f"cannot colour by {by!r}: not a column of the explorer's frame that holds numbers, "
            f"booleans or at most {MAX_CATEGORIES} categories; use one of {', '.join(valid)}"
        )
    column = frame[by]
    if by == "class":
        from mlrkit.viz.embedding import class_palette

        names = list(classes)
        codes = frame["class_index"].to_numpy()
        palette = {name: hex_color(rgb) for name, rgb in class_palette(names).items()}
        return Coloring(by, pd.Categorical.from_codes(codes, categories=names), palette)
    if by == "correct":
        outcome = np.full(len(frame), 2, dtype=np.int8)  # ignored
        known = column.notna().to_numpy()
        right = column.fillna(False).to_numpy(dtype=bool)
        outcome[known & right] = 0
        outcome[known & ~right] = 1
        values = pd.Categorical.from_codes(outcome, categories=list(OUTCOMES))
        return Coloring(by, values, dict(OUTCOME_COLORS))
    if by == "score":
        return Coloring(by, column.to_numpy(dtype=np.float32), cmap=SCORE_MAP, norm=(0.0, 1.0))
    if _kind(column) == "values":
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        high = high if high > low else low + 1.0
        values = np.where(np.isfinite(values), values, low).astype(np.float32)
        return Coloring(by, values, cmap=SCORE_MAP, norm=(low, high))
    return _categories(column)


def _kind(column: pd.Series) -> str | None:
    """``"values"`` (continuous), ``"categories"``, or None (not a colouring)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return "categories" if len(column.cat.categories) <= MAX_CATEGORIES else None
    if pd.api.types.is_bool_dtype(column):
        return "categories"
    if pd.api.types.is_float_dtype(column):
        return "values"
    if pd.api.types.is_integer_dtype(column):
        return "values" if column.nunique() > MAX_CATEGORIES else "categories"
    if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
        return "categories" if column.nunique() <= MAX_CATEGORIES else None
    return None


def _categories(column: pd.Series) -> Coloring:
    from mlrkit.viz.embedding import class_palette

    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [str(c) for c in column.cat.categories]
    else:
        unique = column.dropna().unique().tolist()
        try:
            names = [str(v) for v in sorted(unique)]
        except TypeError:  # mixed types: by their text
            names = sorted({str(v) for v in unique})
    text = column.astype(object).where(column.notna(), MISSING).astype(str)
    palette = {name: hex_color(rgb) for name, rgb in class_palette(names).items()}
    if (text == MISSING).any() and MISSING not in palette:
        palette[MISSING] = MISSING_COLOR
    return Coloring(str(column.name), pd.Categorical(text, categories=list(palette)), palette)
