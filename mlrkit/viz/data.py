"""Plots of the labels: co-occurrence, and class centroids against co-occurrence.

Co-occurrence counts images, not objects: ``C[a, b]`` is the number of images that show both a
and b (``C[a, a]`` the number that show a), with -1 (ignore) counted as absent. The *lift*
``P(a, b) / (P(a) P(b))`` with ``P`` a fraction of all N images is 1 for classes that occur
independently, above 1 for classes seen together more often than chance (the digit scenes'
summary reports the same lift for its planted pairs).

Sample images are in :mod:`mlrkit.viz.samples`. Each plot takes ``ax=None`` (or
``axes=None``), draws, and returns the Axes; nothing is shown or saved here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import (
    as_nonzero_vectors,
    as_targets,
    class_centroids,
    class_names,
    label_codes,
    to_numpy,
    unit_rows,
)

__all__ = [
    "centroid_cosine",
    "label_cooccurrence",
    "plot_centroid_cosine_vs_cooccurrence",
    "plot_cooccurrence",
]

Normalize = Literal["count", "lift"]
MAX_ANNOTATED = 12  # heatmaps print their values up to this many classes


# ---------------------------------------------------------------- inputs


def _present(targets: Any, classes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """``(N, K)`` bool, True where the target is 1 (0 and -1 are absent), and the K names."""
    t = as_targets(targets, check_encoding=False)  # -1 is simply "not present" here
    names = class_names(classes, t.shape[1], "columns of `targets`")
    return t == 1, names


def _check_normalize(normalize: str) -> None:
    if normalize not in ("count", "lift"):
        raise InvalidInputError(
            f"normalize={normalize!r} must be 'count' (images showing both classes) or 'lift' "
            "(P(a, b) / (P(a) P(b)), 1 = independent)."
        )


# ---------------------------------------------------------------- co-occurrence


def label_cooccurrence(targets: Any, classes: Sequence[str]) -> pd.DataFrame:
    """How many images show both classes of each pair.

    Args:
        targets: ``(N, K)`` tensor or array in {1, 0, -1} (e.g. a dataset's ``.targets``);
            -1 (ignore) counts as absent.
        classes: the K class names, in column order.

    Returns:
        ``(K, K)`` int64 DataFrame indexed and headed by the class names: entry ``[a, b]`` is the
        number of images with both a and b, the diagonal the number of images with a.

    Raises:
        InvalidInputError: on targets outside {1, 0, -1}, a bad shape, or a wrong number of
            class names.

    Example:
        >>> label_cooccurrence([[1, 1], [1, 0], [-1, 1]], ["cat", "dog"]).to_numpy().tolist()
        [[2, 1], [1, 2]]
    """
    present, names = _present(targets, classes)
    counts = present.T.astype(np.int64) @ present.astype(np.int64)  # (K, K)
    index = pd.Index(names, name="class")
    return pd.DataFrame(counts, index=index, columns=pd.Index(names, name="with"))


def _lift(counts: np.ndarray, num_images: int) -> np.ndarray:
    """``P(a, b) / (P(a) P(b)) = C[a, b] N / (C[a, a] C[b, b])``; NaN where a class is absent."""
    freq = np.diag(counts).astype(np.float64)
    denominator = np.outer(freq, freq)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, counts * float(num_images) / denominator, np.nan)


def _heatmap(
    ax: Axes,
    values: np.ndarray,
    names: list[str],
    *,
    mask: np.ndarray,
    fmt: str,
    cbar_label: str,
    **style: Any,
) -> None:
    frame = pd.DataFrame(values, index=names, columns=names)
    small = len(names) <= MAX_ANNOTATED
    with warnings.catch_warnings():  # seaborn 0.13 calls Colormap.set_bad, which newer
        # matplotlib marks as pending deprecation: noise for the caller, nothing to act on
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(
            frame,
            mask=mask,
            ax=ax,
            annot=small,
            fmt=fmt,
            annot_kws={"fontsize": "x-small"},
            square=True,
            cbar_kws={"label": cbar_label, "shrink": 0.8},
            xticklabels=True,
            yticklabels=True,
            **style,
        )


def plot_cooccurrence(
    targets: Any,
    classes: Sequence[str],
    ax: Axes | None = None,
    *,
    normalize: Normalize = "lift",
) -> Axes:
    """Heatmap of the label co-occurrence: image counts, or the lift with its diagonal masked.

    Args:
        targets: ``(N, K)`` in {1, 0, -1}; -1 counts as absent.
        classes: the K class names, in column order.
        ax: where to draw (default: a new figure).
        normalize: ``"count"`` (images showing both classes; the diagonal is the class
            frequency) or ``"lift"`` (``P(a, b) / (P(a) P(b))``, diverging around 1; the
            diagonal, ``1 / P(a)``, says nothing about pairs and is masked, as is every pair
            with a class that never occurs).

    Returns:
        The Axes, holding seaborn's heatmap (its ``QuadMesh`` in ``ax.collections[0]``).

    Raises:
        InvalidInputError: on bad targets, a wrong number of class names, or a bad
            ``normalize``.
    """
    _check_normalize(normalize)
    counts = label_cooccurrence(targets, classes)
    names = list(counts.index)
    c = counts.to_numpy()
    num_images = len(to_numpy(targets, "targets"))
    if ax is None:
        side = max(4.0, 0.45 * len(names) + 2.0)
        _, ax = plt.subplots(figsize=(side + 1.0, side))
    if normalize == "count":
        _heatmap(
            ax,
            c,
            names,
            mask=np.zeros_like(c, dtype=bool),
            fmt="d",
            cbar_label="images",
            cmap="rocket_r",
        )
        ax.set_title(f"Label co-occurrence (images with both, of {num_images})")
    else:
        lift = _lift(c, num_images)
        mask = np.eye(len(names), dtype=bool) | np.isnan(lift)
        _heatmap(ax, lift, names, mask=mask, fmt=".2f", cbar_label="lift", **_lift_style(lift))
        ax.set_title("Label co-occurrence lift P(a,b) / (P(a) P(b))")
    return ax


def _lift_style(lift: np.ndarray) -> dict[str, Any]:
    """A diverging colour map centred on 1 (independence), symmetric on 1 +- span."""
    off = lift[~np.eye(len(lift), dtype=bool) & ~np.isnan(lift)]
    span = max(float(np.abs(off - 1.0).max()) if off.size else 1.0, 0.5)
    return {"cmap": "vlag", "center": 1.0, "vmin": max(0.0, 1.0 - span), "vmax": 1.0 + span}


# ---------------------------------------------------------------- centroids vs co-occurrence


def centroid_cosine(vectors: Any, labels: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Cosine between the class centroids of L2-normalised rows.

    Every row ``z`` is scaled to unit length, ``mu_c`` is the mean of the rows of class c, and
    the entry ``[a, b]`` is ``mu_a . mu_b / (||mu_a|| ||mu_b||)``: the ``inter_cos`` geometry of
    :func:`mlrkit.explore.separation_report`, computed by the same
    :func:`mlrkit.inputs.class_centroids`.

    Args:
        vectors: ``(M, D)`` one row per (image, class) pair.
        labels: ``(M,)`` the class of each row: an index into ``classes`` or a class name.
        classes: the K class names.

    Returns:
        ``(K, K)`` float64 DataFrame indexed and headed by the names; NaN for a class without
        any row (or whose centroid is the origin).

    Raises:
        InvalidInputError: on bad shapes, NaN, inf or all-zero rows, labels that are not
            class indices or names, or a class name given twice.
    """
    v = as_nonzero_vectors(vectors)
    names = class_names(classes)
    codes = label_codes(labels, len(v), names)
    direction = class_centroids(unit_rows(v), codes, len(names)).direction
    return pd.DataFrame(direction @ direction.T, index=names, columns=names)


def plot_centroid_cosine_vs_cooccurrence(
    vectors: Any,
    labels: Any,
    targets: Any,
    classes: Sequence[str],
    axes: Sequence[Axes] | None = None,
) -> list[Axes]:
    """The class-centroid cosine matrix next to the label co-occurrence lift.

    Do classes that appear together end up with close centroids? The left heatmap is
    :func:`centroid_cosine` of ``vectors`` (diverging around 0, on [-1, 1]), the right one the
    lift of :func:`plot_cooccurrence`; both mask the diagonal and list the classes in the same
    order, so a cell compares with the same cell on the other side.

    Args:
        vectors: ``(M, D)`` one row per (image, class) pair (e.g.
            :class:`mlrkit.explore.ClassEmbeddings`'s ``vectors``).
        labels: ``(M,)`` class index or name of each row.
        targets: ``(N, K)`` in {1, 0, -1} of the images (-1 counts as absent).
        classes: the K class names.
        axes: two Axes (default: a new row of two).

    Returns:
        ``[cosine Axes, lift Axes]``.

    Raises:
        InvalidInputError: on bad vectors, labels or targets, a wrong number of class names, or
            a number of ``axes`` other than two.
    """
    cosine = centroid_cosine(vectors, labels, classes)
    present, names = _present(targets, classes)
    if axes is None:
        side = max(4.0, 0.45 * len(names) + 2.0)
        _, created = plt.subplots(1, 2, figsize=(2 * side + 2.0, side))
        axes = list(created)
    if len(axes) != 2:
        raise InvalidInputError(f"`axes` must hold two Axes (cosine, lift), got {len(axes)}.")
    values = cosine.to_numpy()
    diagonal = np.eye(len(names), dtype=bool)
    _heatmap(
        axes[0],
        values,
        names,
        mask=diagonal | np.isnan(values),
        fmt=".2f",
        cbar_label="cosine",
        cmap="vlag",
        center=0.0,
        vmin=-1.0,
        vmax=1.0,
    )
    axes[0].set_title("Class-centroid cosine (L2-normalised rows)")
    plot_cooccurrence(present.astype(np.int8), names, axes[1], normalize="lift")
    return list(axes)
