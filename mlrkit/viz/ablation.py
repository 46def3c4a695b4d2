"""The loss ablation's results: mean +/- std over seeds per loss, with every seed shown.

Input: the table of :func:`mlrkit.ablation.run_ablation` (one row per run; columns ``preset``,
``label``, ``seed`` and the measures).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

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


def plot_ablation(results: pd.DataFrame, measure: str = "mAP", ax: Axes | None = None) -> Axes:
    """One measure per loss label: a bar at the seed mean, a line of +/- 1 std, a dot per seed.

    Args:
        results: one row per run with ``label``, ``seed`` and ``measure`` (one preset: the
            presets' scales differ, see :func:`ablation_figure`).
        measure: the column to plot.
        ax: where to draw (default: a new figure).

    Returns:
        The Axes. Labels keep their first-seen order; a label whose measure is NaN for every
        seed (``bce`` has no projection output) shows as "n/a".
    """
    if measure not in results:
        raise InvalidInputError(
            f"no column {measure!r} in the ablation results; columns: {list(results.columns)}"
        )
    if results["preset"].nunique() > 1:
        raise InvalidInputError(
            "plot_ablation draws one preset; select one (results[results.preset == name]) or "
            "use ablation_figure for all of them"
        )
    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).add_subplot()
    order = list(dict.fromkeys(results["label"]))
    sns.barplot(
        results, x="label", y=measure, order=order, errorbar="sd", color="#9ecae1",
        capsize=0.2, err_kws={"linewidth": 1.2}, ax=ax,
    )  # fmt: skip
    sns.stripplot(
        results, x="label", y=measure, order=order, color="#08306b", size=4, jitter=0.15, ax=ax
    )
    for i, label in enumerate(order):
        if results.loc[results["label"] == label, measure].isna().all():
            ax.text(i, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center", color="0.4")
    values = results[measure].dropna()
    if len(values) and values.min() > 0 and measure in PERCENT:
        span = values.max() - values.min()
        ax.set_ylim(max(0.0, values.min() - max(span, 0.5) * 1.5), min(100.0, values.max() + span))
    ax.set_xlabel("")
    ax.set_ylabel(MEASURE_TITLES.get(measure, measure))
    ax.tick_params(axis="x", rotation=30)
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
    """A grid of :func:`plot_ablation`: one row per preset, one column per measure."""
    presets = list(dict.fromkeys(results["preset"]))
    figure, axes = plt.subplots(
        len(presets), len(measures), figsize=(4.2 * len(measures), 3.4 * len(presets)),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for row, name in zip(axes, presets, strict=True):
        for ax, measure in zip(row, measures, strict=True):
            plot_ablation(results[results["preset"] == name], measure, ax=ax)
            ax.set_title(f"{name}: {MEASURE_TITLES.get(measure, measure)}", fontsize=10)
    n = results.groupby(["preset", "label"])["seed"].count()
    figure.suptitle(f"bars: mean over seeds ({n.min()}-{n.max()} per bar), lines: +/- 1 std")
    return figure
