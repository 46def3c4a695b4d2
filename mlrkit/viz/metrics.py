"""Plots of evaluation results: per-class AP, precision-recall curves, a threshold sweep.

Every number comes from :mod:`mlrkit.metrics` (AP from :func:`~mlrkit.metrics.average_precision`,
CP / CR / CF1 / OF1 from :func:`~mlrkit.metrics.threshold_metrics`); the precision-recall curves
themselves are sklearn's :func:`~sklearn.metrics.precision_recall_curve` on the rows whose target
is not ignored. Targets use mlrkit's encoding, 1 = present, 0 = absent, -1 = ignore.

Each function takes ``ax=None``, draws, and returns the Axes; nothing is shown or saved here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from sklearn.metrics import precision_recall_curve

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import as_pair, check_scores_are, class_names
from mlrkit.metrics import average_precision, mean_average_precision, threshold_metrics
from mlrkit.viz.embedding import class_palette

__all__ = ["plot_per_class_ap", "plot_pr_curves", "plot_threshold_sweep"]

MAX_PR_CLASSES = 10  # classes drawn by default by plot_pr_curves
DEFAULT_THRESHOLDS = np.linspace(0.05, 0.95, 19)
SWEEP_KEYS = ("CF1", "OF1", "CP", "CR")  # solid, solid, dashed, dashed
TEST_SPLIT_NOTE = (
    "Report metrics at the fixed threshold 0.5; never tune the threshold on the test split."
)


def plot_per_class_ap(
    scores: Any,
    targets: Any,
    classes: Sequence[str],
    ax: Axes | None = None,
    *,
    scores_are: str = "logits",
    sort: bool = True,
) -> Axes:
    """Horizontal bars of every class's AP (x100), with the mAP as a vertical line.

    AP depends only on the order of the scores, so logits and probabilities give the same bars;
    ``scores_are`` is checked so that a caller states what the scores are. A class without a
    positive target has no AP: its bar has length 0 and is marked "no positive", and it is left
    out of the mAP (with :func:`~mlrkit.metrics.mean_average_precision`'s warning naming it).

    Args:
        scores: ``(N, K)`` tensor or array of logits or probabilities.
        targets: ``(N, K)`` in {1, 0, -1}; -1 entries take no part.
        classes: the K class names, in score-column order.
        ax: where to draw (default: a new figure, taller for more classes).
        scores_are: ``"logits"`` or ``"probabilities"``.
        sort: best AP at the top (default); ``False`` keeps the class order, first at the top.

    Returns:
        The Axes, with one bar per class (``ax.patches``, K of them).

    Raises:
        InvalidInputError: on bad shapes, NaN scores, bad target values, a wrong number of
            class names or an unknown ``scores_are``.
    """
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets)
    names = class_names(classes, s.shape[1])
    ap = average_precision(s, t) * 100.0  # (K,)
    mean_ap = mean_average_precision(s, t, classes=names) * 100.0
    order = np.arange(len(names))
    if sort:
        order = np.argsort(-np.nan_to_num(ap, nan=-1.0), kind="stable")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(names) + 1.2)))
    width = np.nan_to_num(ap[order], nan=0.0)
    palette = class_palette(names)
    ax.barh(
        np.arange(len(order)), width, color=[palette[names[k]] for k in order], edgecolor="none"
    )
    for y, k in enumerate(order):
        label = "no positive" if np.isnan(ap[k]) else f"{ap[k]:.1f}"
        ax.text(width[y] + 0.5, y, label, va="center", fontsize="small")
    ax.set_yticks(np.arange(len(order)), [names[k] for k in order])
    ax.set_ylim(len(order) - 0.5, -0.5)  # first row at the top
    ax.set_xlim(0, 108)
    if not np.isnan(mean_ap):
        ax.axvline(mean_ap, color="black", linestyle="--", label=f"mAP = {mean_ap:.1f}")
        ax.legend(loc="lower right")
    ax.set_xlabel("AP (x100)")
    ax.set_title(f"Per-class average precision (mAP = {mean_ap:.1f})")
    return ax


def _pr_classes(
    which: Sequence[str] | None, names: list[str], ap: np.ndarray
) -> tuple[list[int], str]:
    """Column indices of the classes to draw, and the words for the title."""
    has = ~np.isnan(ap)
    if which is None:
        ranked = [k for k in np.argsort(np.nan_to_num(ap, nan=np.inf), kind="stable") if has[k]]
        if len(names) <= MAX_PR_CLASSES:
            return sorted(ranked), "every class"
        return ranked[:MAX_PR_CLASSES], f"the {MAX_PR_CLASSES} classes with the lowest AP"
    if isinstance(which, str):
        which = [which]
    chosen = []
    for name in which:
        if name not in names:
            raise InvalidInputError(
                f"`which` names {name!r}, which is not a class; choose among {names}."
            )
        k = names.index(name)
        if not has[k]:
            raise InvalidInputError(
                f"`which` names {name!r}, which has no positive target (among the rows not "
                "ignored): it has no precision-recall curve."
            )
        chosen.append(k)
    if not chosen:
        raise InvalidInputError("`which` is empty; name at least one class (or pass None).")
    return chosen, "the chosen classes"


def plot_pr_curves(
    scores: Any,
    targets: Any,
    classes: Sequence[str],
    ax: Axes | None = None,
    *,
    which: Sequence[str] | None = None,
) -> Axes:
    """Precision-recall curves, one per class, with each class's AP in the legend.

    Each curve is sklearn's :func:`~sklearn.metrics.precision_recall_curve` of one class on the
    rows where its target is not -1, drawn as a step function (recall on x, precision on y);
    the AP in the legend is :func:`~mlrkit.metrics.average_precision`'s, the area under that
    step curve.

    Args:
        scores: ``(N, K)`` tensor or array of logits or probabilities (only the order matters).
        targets: ``(N, K)`` in {1, 0, -1}; -1 entries take no part.
        classes: the K class names, in score-column order.
        ax: where to draw (default: a new figure).
        which: class names to draw. Default: every class when K <= 10, else the 10 classes with
            the lowest AP; classes without a positive target are skipped.

    Returns:
        The Axes, with one line per class drawn (``ax.get_lines()``), in ``which`` order.

    Raises:
        InvalidInputError: on bad shapes or values, a wrong number of class names, or ``which``
            naming an unknown class or one without a positive target.
    """
    s, t = as_pair(scores, targets)
    names = class_names(classes, s.shape[1])
    ap = average_precision(s, t)
    chosen, what = _pr_classes(which, names, ap)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    palette = class_palette(names)
    for k in chosen:
        valid = t[:, k] >= 0
        precision, recall, _ = precision_recall_curve(t[valid, k], s[valid, k])
        ax.plot(
            recall,
            precision,
            drawstyle="steps-post",
            color=palette[names[k]],
            label=f"{names[k]} (AP {ap[k] * 100:.1f})",
        )
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall curves of {what}")
    if chosen:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax


def plot_threshold_sweep(
    scores: Any,
    targets: Any,
    ax: Axes | None = None,
    *,
    scores_are: str = "logits",
    thresholds: Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
) -> Axes:
    """CF1 and OF1 (solid) and CP and CR (dashed), x100, against the decision threshold.

    Every point is :func:`~mlrkit.metrics.threshold_metrics` at that threshold (on the
    probability scale; logits are compared with ``logit(threshold)``). The default threshold 0.5
    is marked; this plot shows how sensitive the numbers are to the threshold, and a threshold
    read off it must not be tuned on the test split (a note on the Axes says so).

    Args:
        scores: ``(N, K)`` tensor or array.
        targets: ``(N, K)`` in {1, 0, -1}; -1 entries take no part.
        ax: where to draw (default: a new figure).
        scores_are: ``"logits"`` or ``"probabilities"``.
        thresholds: ``(T,)`` thresholds strictly between 0 and 1 (drawn in increasing order).

    Returns:
        The Axes, with the lines labelled ``"CF1"``, ``"OF1"``, ``"CP"``, ``"CR"`` (y-data x100,
        x-data the sorted thresholds) and markers at 0.5.

    Raises:
        InvalidInputError: on bad scores or targets, an unknown ``scores_are``, probabilities
            outside [0, 1], or ``thresholds`` empty, not 1-D, or outside (0, 1).
    """
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets)
    try:
        cuts = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"`thresholds` must be numbers, got {thresholds!r}.") from err
    if cuts.ndim != 1 or len(cuts) == 0:
        raise InvalidInputError(
            f"`thresholds` must be a non-empty 1-D sequence, got shape {cuts.shape}."
        )
    if not ((cuts > 0) & (cuts < 1)).all():
        raise InvalidInputError(
            f"`thresholds` must lie strictly between 0 and 1 (probability scale), got "
            f"[{cuts.min():.4g}, {cuts.max():.4g}]."
        )
    cuts = np.sort(cuts)
    rows = [threshold_metrics(s, t, scores_are=scores_are, threshold=float(c)) for c in cuts]
    at_half = threshold_metrics(s, t, scores_are=scores_are, threshold=0.5)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = dict(zip(SWEEP_KEYS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for key in SWEEP_KEYS:
        ax.plot(
            cuts,
            [100.0 * row[key] for row in rows],
            linestyle="-" if key.endswith("F1") else "--",
            color=colours.get(key),
            label=key,
        )
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    for key in ("CF1", "OF1"):
        ax.plot(
            [0.5],
            [100.0 * at_half[key]],
            marker="o",
            color=colours.get(key),
            linestyle="",
            label=f"{key} at 0.5 = {100.0 * at_half[key]:.1f}",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("threshold (probability)")
    ax.set_ylabel("x100")
    ax.set_title("Threshold metrics vs decision threshold (default 0.5 marked)")
    ax.legend(loc="best", ncols=2, fontsize="small")
    ax.annotate(
        TEST_SPLIT_NOTE,
        xy=(0.5, -0.16),
        xycoords="axes fraction",
        ha="center",
        va="top",
        fontsize="small",
        style="italic",
    )
    return ax
