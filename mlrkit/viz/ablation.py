"""The loss ablation's results: mean +/- std over seeds per loss, with every seed shown.

Input: the table of :func:`mlrkit.ablation.run_ablation` (one row per run; columns ``preset``,
``label``, ``seed`` and the measures).

Each loss is a dot at its seed mean with an error bar of one sample standard deviation
(``ddof=1``, as :func:`mlrkit.ablation_tables.summarize_ablation`), and each seed a faint grey
point beside it. :func:`ablation_figure` gives a measure the same y-axis in every preset, so a
column of panels reads on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mlrkit.errors import InvalidInputError

__all__ = ["ablation_figure", "plot_ablation"]

MEASURE_TITLES = {
    "mAP": "val mAP (%)",
    "CF1": "val CF1 (%)",
    "OF1": "val OF1 (%)",
    "features_silhouette": "silhouette, class features",
    "embedding_silhouette": "silhouette, projection output",
    "features_knn_precision_at_1": "1-NN precision, class features",
    "embedding_knn_precision_at_1": "1-NN precision, projection output",
    "features_inter_cos": "inter-centroid cosine, class features",
    "embedding_inter_cos": "inter-centroid cosine, projection output",
    "features_presence_auroc": "presence AUROC, class features",
    "embedding_presence_auroc": "presence AUROC, projection output",
    "best_mAP": "best-epoch val mAP (%)",
}
PERCENT = ("mAP", "best_mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")
MEAN_COLOUR, SEED_COLOUR = "#08306b", "0.55"
# gids of what plot_ablation draws, so that tests and readers can find them on the Axes
MEAN_GID, SEED_GID = "ablation-mean", "ablation-seeds"


def _check(results: pd.DataFrame, measure: str) -> None:
    missing = [c for c in ("preset", "label", "seed", measure) if c not in results]
    if missing:
        raise InvalidInputError(
            f"no column {missing[0]!r} in the ablation results; columns: {list(results.columns)}"
        )


def _seed_stats(results: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Mean, sample std and count of ``measure`` per label, labels in first-seen order."""
    order = list(dict.fromkeys(results["label"]))
    grouped = results.groupby("label", sort=False)[measure]
    return grouped.agg(["mean", "std", "count"]).reindex(order)


def _limits(results: pd.DataFrame, measure: str) -> tuple[float, float] | None:
    """y-limits that hold every seed and every mean +/- std of ``measure``, in every preset."""
    lows, highs = [results[measure].to_numpy(dtype=float)], [results[measure].to_numpy(dtype=float)]
    for _, group in results.groupby("preset", sort=False):
        stats = _seed_stats(group, measure)
        spread = stats["std"].fillna(0.0)
        lows.append((stats["mean"] - spread).to_numpy(dtype=float))
        highs.append((stats["mean"] + spread).to_numpy(dtype=float))
    low, high = np.concatenate(lows), np.concatenate(highs)
    if np.isnan(low).all():
        return None
    low_value, high_value = float(np.nanmin(low)), float(np.nanmax(high))
    span = high_value - low_value
    pad = 0.08 * span if span > 0 else (0.5 if measure in PERCENT else 0.05)
    return low_value - pad, high_value + pad


def plot_ablation(
    results: pd.DataFrame,
    measure: str = "mAP",
    ax: Axes | None = None,
    *,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """One measure per loss label: a dot at the seed mean, an error bar of +/- 1 std
    (``ddof=1``), and a faint grey point per seed.

    Args:
        results: one row per run with ``preset``, ``label``, ``seed`` and ``measure`` (one
            preset: the presets' scales differ, see :func:`ablation_figure`).
        measure: the column to plot.
        ax: where to draw (default: a new figure).
        ylim: the y-limits (default: matplotlib's); :func:`ablation_figure` passes the same
            limits to every preset of a measure.

    Returns:
        The Axes. Labels keep their first-seen order, at x = 0, 1, ... The means and their
        error bars are ``ax.containers[0]`` (an ``ErrorbarContainer``; its line of means has
        gid ``"ablation-mean"``), the seeds the scatter with gid ``"ablation-seeds"``. A label
        with one seed has a dot and no bar; a label whose measure is NaN for every seed (``bce``
        has no projection output) shows as "n/a".
    """
    _check(results, measure)
    if results["preset"].nunique() > 1:
        raise InvalidInputError(
            "plot_ablation draws one preset; select one (results[results.preset == name]) or "
            "use ablation_figure for all of them"
        )
    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).add_subplot()
    stats = _seed_stats(results, measure)
    order = list(stats.index)
    xs, ys = [], []
    for i, label in enumerate(order):
        values = results.loc[results["label"] == label, measure].dropna().to_numpy(dtype=float)
        offsets = np.linspace(0.14, 0.3, len(values)) if len(values) > 1 else np.full(1, 0.22)
        xs += list(i + offsets[: len(values)])
        ys += list(values)
        if not len(values):
            ax.text(i, 0.04, "n/a", transform=ax.get_xaxis_transform(), ha="center", color="0.4")
    ax.scatter(xs, ys, s=14, color=SEED_COLOUR, alpha=0.6, linewidths=0, zorder=2,
               label="each seed", gid=SEED_GID)  # fmt: skip
    bars = ax.errorbar(
        np.arange(len(order)), stats["mean"].to_numpy(dtype=float),
        yerr=stats["std"].to_numpy(dtype=float), fmt="o", color=MEAN_COLOUR, markersize=6,
        capsize=4, elinewidth=1.4, zorder=3, label="mean ± 1 std over seeds",
    )  # fmt: skip
    bars.lines[0].set_gid(MEAN_GID)  # the means; bars.lines[2][0] holds the error bars
    ax.set_xticks(np.arange(len(order)), order, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(order) - 0.4)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("")
    ax.set_ylabel(MEASURE_TITLES.get(measure, measure))
    return ax


def ablation_figure(
    results: pd.DataFrame,
    measures: Sequence[str] = (
        "mAP",
        "features_presence_auroc",
        "features_silhouette",
        "embedding_silhouette",
    ),
) -> Figure:
    """A grid of :func:`plot_ablation`: one row per preset, one column per measure, and one
    y-axis per measure (the same limits in every preset, so a column reads on one scale)."""
    for measure in measures:
        _check(results, measure)
    presets = list(dict.fromkeys(results["preset"]))
    figure, axes = plt.subplots(
        len(presets), len(measures), figsize=(4.2 * len(measures), 3.6 * len(presets) + 0.6),
        squeeze=False, sharey="col", layout="constrained",
    )  # fmt: skip
    for col, measure in enumerate(measures):
        limits = _limits(results, measure)
        for row, name in enumerate(presets):
            ax = axes[row, col]
            plot_ablation(results[results["preset"] == name], measure, ax=ax, ylim=limits)
            ax.set_title(f"{name}: {MEASURE_TITLES.get(measure, measure)}", fontsize=10)
            ax.tick_params(axis="y", labelleft=True)
    n = results.groupby(["preset", "label"])["seed"].count()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    figure.suptitle(
        "The loss ablation, per preset (rows) and measure (columns)\n"
        f"dot and bar: mean ± 1 std over {seeds} seeds per loss; grey points: each seed; "
        "each measure on one y-axis in every preset",
        fontsize=11,
    )
    handles = [
        Line2D([], [], color=MEAN_COLOUR, marker="o", linestyle="-", label="mean ± 1 std"),
        Line2D([], [], color=SEED_COLOUR, marker="o", linestyle="", alpha=0.6, label="each seed"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return figure
