"""The explorer's static picture: its views as matplotlib scatter plots, in its colouring.

:func:`draw` draws on given (or new pyplot) Axes, as :mod:`mlrkit.viz.embedding` does;
:func:`figure` draws on a figure pyplot does not manage (returned from a notebook cell it is shown
once, as a PNG, and never again by the inline backend); :func:`png` renders it. A categorical
colouring gets a legend, a continuous one a colour bar; several views share their limits.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.explore._colors import Coloring

LEGEND_ROWS = 24  # legend entries per column
PICTURE_DPI = 80


def _figsize(views: int) -> tuple[float, float]:
    return (5.0 * views + 2.0, 4.5)


def draw(
    coords: Sequence[np.ndarray], names: Sequence[str], color: Coloring, ax: Any = None
) -> Any:
    """Draw every view on ``ax`` (one Axes for one view, a sequence of Axes for several; default:
    a new pyplot figure). Returns the Axes (one view) or the list of Axes."""
    count = len(coords)
    if ax is None:
        import matplotlib.pyplot as plt

        _, created = plt.subplots(1, count, figsize=_figsize(count), squeeze=False)
        axes = list(created[0])
    elif isinstance(ax, Sequence | np.ndarray):
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
    else:
        axes = [ax]
    if len(axes) != count:
        raise InvalidInputError(f"got {len(axes)} Axes for {count} views")
    _draw_on(axes, coords, names, color)
    return axes[0] if count == 1 else axes


def figure(coords: Sequence[np.ndarray], names: Sequence[str], color: Coloring) -> Any:
    """A matplotlib Figure of every view, not managed by pyplot, that a notebook shows as a PNG.

    IPython shows a Figure as a picture only once matplotlib's inline backend has registered its
    formatter (on the session's first pyplot figure); this one brings its own ``_repr_png_``.
    """
    from matplotlib.figure import Figure

    class Picture(Figure):
        def _repr_png_(self) -> bytes:
            return png(self)

    fig = Picture(figsize=_figsize(len(coords)), layout="constrained")
    _draw_on(list(fig.subplots(1, len(coords), squeeze=False)[0]), coords, names, color)
    # Laid out once, here: with a layout engine every savefig draws the points twice.
    fig.get_layout_engine().execute(fig)
    fig.set_layout_engine(None)
    return fig


def png(fig: Any) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PICTURE_DPI)
    return buffer.getvalue()


def _draw_on(
    axes: list, coords: Sequence[np.ndarray], names: Sequence[str], color: Coloring
) -> None:
    from matplotlib.lines import Line2D

    colours = color.rgba()
    total = len(colours)
    size = float(np.clip(20000 / max(total, 1), 2, 30))
    # Shuffled draw order, so the last category drawn does not hide the others.
    order = np.random.default_rng(0).permutation(total)
    for ax, xy, name in zip(axes, coords, names, strict=True):
        ax.scatter(xy[order, 0], xy[order, 1], c=colours[order], s=size, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
    if len(axes) > 1:
        everything = np.concatenate([np.asarray(xy) for xy in coords])
        low, high = everything.min(axis=0), everything.max(axis=0)
        pad = 0.03 * (high - low)
        for ax in axes:
            ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
            ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
    last = axes[-1]
    if color.palette is not None:
        present = set(np.asarray(color.values.categories)[np.unique(color.values.codes)].tolist())
        handles = [
            Line2D([], [], marker="o", linestyle="", color=colour, label=name)
            for name, colour in color.palette.items()
            if name in present
        ]
        last.legend(
            handles=handles, title=color.by, loc="center left", bbox_to_anchor=(1.0, 0.5),
            frameon=False, ncols=max(1, math.ceil(len(handles) / LEGEND_ROWS)),
        )  # fmt: skip
    else:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        mappable = ScalarMappable(Normalize(*color.norm), color.cmap)
        last.figure.colorbar(mappable, ax=last, label=color.by)
