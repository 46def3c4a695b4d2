"""Plots of a label audit: how well each suspicion finds the planted errors, and the suspects.

:func:`plot_detection_curves` draws one precision-recall curve per suspicion (the pairs ranked
by suspicion, an error being a hit), with its average precision in the legend and the error
rate as the line of a random ranking. :func:`plot_suspects` shows the most suspect (image,
class) pairs, each image under the attention map of the class in question when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from sklearn.metrics import average_precision_score, precision_recall_curve

from mlrkit.errors import InvalidInputError
from mlrkit.viz.attention import upsample_attention

__all__ = ["plot_audit_bench", "plot_detection_curves", "plot_suspects"]


def plot_detection_curves(
    suspicions: Mapping[str, Any], is_error: Any, ax: Axes | None = None
) -> Axes:
    """Precision-recall curves of error detection, one per suspicion.

    Args:
        suspicions: name -> suspicion per (image, class) pair (any shape, the same as
            ``is_error``); NaN entries (pairs not judged) are left out of that curve.
        is_error: bool, True where the given label is wrong.
        ax: where to draw (default: a new figure).

    Returns:
        The Axes: one line per suspicion (label ``"name (AP 0.xx)"``) and a dotted line at the
        error rate, the precision of a random ranking.

    Raises:
        InvalidInputError: no suspicion, shapes that differ, or no error (nothing to find).
    """
    truth = np.asarray(is_error, dtype=bool).ravel()
    if not suspicions:
        raise InvalidInputError("plot_detection_curves needs at least one suspicion")
    if not truth.any():
        raise InvalidInputError("is_error holds no error: there is no curve to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, values in suspicions.items():
        score = np.asarray(values, dtype=float).ravel()
        if score.shape != truth.shape:
            raise InvalidInputError(
                f"suspicion {name!r} has {score.size} entries, is_error {truth.size}"
            )
        kept = ~np.isnan(score)
        precision, recall, _ = precision_recall_curve(truth[kept], score[kept])
        ap = average_precision_score(truth[kept], score[kept])
        ax.step(recall, precision, where="post", label=f"{name} (AP {ap:.2f})")
    ax.axhline(truth.mean(), color="0.5", ls=":", label=f"random ({truth.mean():.3f})")
    ax.set(xlabel="recall (errors found)", ylabel="precision (suspects that are errors)",
           xlim=(0, 1), ylim=(0, 1.02), title="Finding the wrong labels")  # fmt: skip
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_suspects(
    images: Sequence[Any],
    titles: Sequence[str],
    maps: Sequence[Any | None] | None = None,
    *,
    ncols: int = 4,
    axes: Sequence[Axes] | None = None,
    alpha: float = 0.5,
) -> list[Axes]:
    """A grid of suspect (image, class) pairs: each image, under the attention map of the
    suspect class when given, titled (e.g. ``"seven: given 1, p 0.03"``).

    Args:
        images: ``(H, W, 3)`` uint8 (or float in [0, 1]) arrays, one per suspect.
        titles: one title per suspect.
        maps: ``(h, w)`` attention of the suspect class per image (None: the image alone).
        ncols: panels per row of a new figure.
        axes: Axes to draw in (at least one per image; the rest are hidden).
        alpha: opacity of the map.

    Returns:
        The Axes holding an image, in order.

    Raises:
        InvalidInputError: lengths that differ, ``ncols`` below 1, or too few ``axes``.
    """
    maps = [None] * len(images) if maps is None else list(maps)
    if not len(images) == len(titles) == len(maps):
        raise InvalidInputError(
            f"{len(images)} images, {len(titles)} titles and {len(maps)} maps: give one of "
            "each per suspect"
        )
    if ncols < 1:
        raise InvalidInputError(f"ncols must be >= 1, got {ncols}")
    if axes is None:
        rows = max(1, -(-len(images) // ncols))
        _, grid = plt.subplots(rows, ncols, figsize=(2.6 * ncols, 2.8 * rows), squeeze=False)
        axes = list(grid.ravel())
    if len(axes) < len(images):
        raise InvalidInputError(f"{len(images)} suspects but only {len(axes)} axes")
    for ax in axes[len(images) :]:
        ax.axis("off")
    drawn = []
    for ax, image, title, heat in zip(axes, images, titles, maps, strict=False):
        picture = np.asarray(image)
        ax.imshow(picture)
        if heat is not None:
            up = upsample_attention(heat, picture.shape[:2])
            ax.imshow(up, cmap="magma", alpha=alpha, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize="small")
        drawn.append(ax)
    return drawn


def plot_audit_bench(results: Any, axes: Sequence[Axes] | None = None) -> list[Axes]:
    """The audit benchmark: detection ROC AUC by scores, by features and combined, per run
    label, one panel per noise level; dots are the means over seeds, bars one standard
    deviation (``ddof=1``), faint points the seeds. All panels share the y-axis.

    Args:
        results: :func:`mlrkit.audit.audit_bench`'s table (``level``, ``label``,
            ``scores_auroc``, ``features_auroc``, ``combined_auroc``).
        axes: one Axes per noise level (default: a new figure).

    Returns:
        The Axes, one per level in the table's order.
    """
    import pandas as pd

    frame = pd.DataFrame(results)
    levels = list(dict.fromkeys(frame["level"]))
    if axes is None:
        _, grid = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4.2), sharey=True,
                               squeeze=False)  # fmt: skip
        axes = list(grid[0])
    methods = [m for m in ("scores", "features", "combined") if f"{m}_auroc" in frame]
    for ax, level in zip(axes, levels, strict=False):
        rows = frame[frame["level"] == level]
        labels = list(dict.fromkeys(rows["label"]))
        for offset, method in zip(np.linspace(-0.2, 0.2, len(methods)), methods, strict=True):
            column = f"{method}_auroc"
            stats = rows.groupby("label", sort=False)[column].agg(["mean", "std"]).loc[labels]
            x = np.arange(len(labels)) + offset
            bar = ax.errorbar(x, stats["mean"], yerr=stats["std"].fillna(0), fmt="o",
                              capsize=3, label=method)  # fmt: skip
            seeds = rows.assign(x=rows["label"].map({n: i for i, n in enumerate(labels)}) + offset)
            ax.scatter(seeds["x"], seeds[column], s=10, alpha=0.3, color=bar[0].get_color())
        ax.axhline(0.5, color="0.5", ls=":", lw=1)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_title(f"noise level {level:g}: finding the planted errors")
        ax.set_ylabel("ROC AUC (0.5 = chance)")
        ax.legend(title="suspicion from", fontsize="small")
    return list(axes)
