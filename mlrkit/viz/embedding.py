"""Scatter plots of 2-D class embeddings (UMAP coordinates), coloured by class.

Each function takes ``ax=None`` (or ``axes=None``), draws, and returns the Axes, as umap-learn's
``umap.plot`` does; nothing is shown or saved here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes

from mlrkit.errors import InvalidInputError

__all__ = ["class_palette", "plot_embedding", "plot_embeddings_side_by_side"]


def class_palette(classes: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """One distinct colour per class name: ``tab10`` up to 10 classes, ``husl`` beyond."""
    colours = sns.color_palette("tab10" if len(classes) <= 10 else "husl", len(classes))
    return dict(zip(classes, colours, strict=True))


def plot_embedding(
    coords: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    ax: Axes | None = None,
    *,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    point_size: float | None = None,
    legend: bool = True,
) -> Axes:
    """Scatter ``coords (M, 2)`` coloured by ``labels (M,)`` (class names), one legend entry each.

    Args:
        coords: ``(M, 2)`` coordinates, e.g. :func:`mlrkit.explore.umap_embed`'s.
        labels: class name of each row.
        ax: where to draw (default: a new figure).
        classes: legend order and colours (default: sorted unique labels).
        title: Axes title; say which space the points come from.
        point_size: marker area (default: smaller for more points).
        legend: draw the legend outside the Axes, on the right.
    """
    coords = np.asarray(coords)
    labels = np.asarray(labels).astype(str)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise InvalidInputError(
            f"plot_embedding needs coords (M, 2) and labels (M,); got {coords.shape} and "
            f"{labels.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    names = list(classes) if classes is not None else sorted(set(labels))
    palette = class_palette(names)
    size = (
        point_size if point_size is not None else float(np.clip(20000 / max(len(coords), 1), 2, 30))
    )
    # Shuffled draw order, so the last class drawn does not hide the others.
    order = np.random.default_rng(0).permutation(len(coords))
    colours = np.array([palette.get(name, (0.5, 0.5, 0.5)) for name in labels])
    ax.scatter(coords[order, 0], coords[order, 1], c=colours[order], s=size, linewidths=0)
    if legend:
        handles = [
            plt.Line2D([], [], marker="o", linestyle="", color=palette[n], label=n) for n in names
        ]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def plot_embeddings_side_by_side(
    panels: Mapping[str, tuple[np.ndarray, Sequence[str] | np.ndarray]],
    axes: Sequence[Axes] | None = None,
    *,
    classes: Sequence[str] | None = None,
    suptitle: str | None = None,
    share_limits: bool = False,
) -> list[Axes]:
    """One :func:`plot_embedding` panel per run, one legend, the same colour for each class.

    Each panel keeps its own limits by default: panels of separate UMAP fits (one per run or
    space, as :func:`mlrkit.explore.umap_embed` makes them) have unrelated coordinates, so a
    shared frame would only shrink a compact panel into a corner of a wide one. Share the
    limits only for coordinates of one fit (or of one linear projection) split into panels.

    Args:
        panels: ``{run name: (coords (M, 2), labels (M,))}``.
        axes: one Axes per panel (default: a new row of subplots).
        classes: legend order and colours, shared by every panel.
        suptitle: figure title; say which space the points come from and what to see.
        share_limits: give every panel the limits of all the points together (padded by 3 %);
            False (the default): each panel its own (matplotlib's autoscaling).
    """
    if not panels:
        raise InvalidInputError("plot_embeddings_side_by_side needs at least one panel")
    if axes is None:
        _, created = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 1.5, 5), squeeze=False)
        axes = list(created[0])
    if len(axes) != len(panels):
        raise InvalidInputError(f"got {len(axes)} axes for {len(panels)} panels")
    names = (
        list(classes)
        if classes is not None
        else sorted({str(x) for _, labels in panels.values() for x in labels})
    )
    last = len(panels) - 1
    for i, (ax, (name, (coords, labels))) in enumerate(zip(axes, panels.items(), strict=True)):
        plot_embedding(coords, labels, ax, classes=names, title=name, legend=i == last)
    if share_limits:
        everything = np.concatenate([np.asarray(c) for c, _ in panels.values()])
        low, high = everything.min(axis=0), everything.max(axis=0)
        pad = 0.03 * (high - low)
        for ax in axes:
            ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
            ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
    if suptitle:
        axes[0].figure.suptitle(suptitle)
    return list(axes)
