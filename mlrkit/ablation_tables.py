"""The ablation's results read as tables: which rows, mean and spread over seeds, paired
differences.

The results (:func:`mlrkit.ablation.run_ablation`, or a ``results.csv`` it wrote) hold one row
per run with its parameters as columns. :func:`main_runs` keeps the main ablation (every setup
at its default ``disc_weight``), :func:`lambda_table` the lambda sweep; both select by the
``disc_weight`` column, never by a label. :func:`summarize_ablation` and
:func:`paired_differences` group by ``(preset, label)`` and by seed, and
:func:`format_summary` writes ``mean ± std``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.ablation import (
    CONTROL_LABEL,
    SCORE_COLUMNS,
    SEPARATION_COLUMNS,
    default_disc_weight,
)
from mlrkit.explore import SPACES

__all__ = [
    "PAIRS", "format_summary", "lambda_table", "main_runs", "paired_differences",
    "summarize_ablation",
]  # fmt: skip


def main_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the main ablation: every setup at its default ``disc_weight`` (or without
    one); the lambda sweep's other weights are left out."""
    default = results["loss"].map(default_disc_weight)
    weight = results["disc_weight"]
    return results[weight.isna() | (weight == default)]


def lambda_table(results: pd.DataFrame, loss: str = "disc-contrastive") -> pd.DataFrame:
    """The sweep's rows of ``results``: those of ``loss`` at a preset and seed where it ran with
    more than one ``disc_weight``, sorted by weight."""
    rows = results[(results["loss"] == loss) & results["disc_weight"].notna()]
    swept = rows.groupby(["preset", "seed"])["disc_weight"].transform("nunique") > 1
    return rows[swept].sort_values(["preset", "seed", "disc_weight"]).reset_index(drop=True)


def summarize_ablation(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) over seeds per (preset, label).

    Returns:
        Indexed by ``(preset, label)`` in first-seen order, columns ``(measure, "mean" | "std")``
        for the scores, ``best_mAP``, ``start_mAP`` and the separation columns present in
        ``results``, plus ``("seeds", "n")`` and ``("epochs", "n")``; the std is NaN for a
        single seed.
    """
    candidates = [*SCORE_COLUMNS, "best_mAP", "start_mAP"] + [
        f"{s}_{c}" for s in SPACES for c in SEPARATION_COLUMNS
    ]
    measures = [m for m in candidates if m in results]
    grouped = results.groupby(["preset", "label"], sort=False)
    summary = grouped[measures].agg(["mean", "std"])
    summary[("seeds", "n")] = grouped["seed"].count()
    if "epochs" in results:
        summary[("epochs", "n")] = grouped["epochs"].first()
    return summary


# (method, reference): each difference has one cause (docs/ablation.md)
PAIRS: tuple[tuple[str, str], ...] = (
    ("disc-contrastive", "asl"),
    ("disc-center", "asl"),
    ("sadcl", CONTROL_LABEL),
    ("asl", "bce"),
)


def paired_differences(
    results: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] = PAIRS,
    measures: Sequence[str] = ("mAP", "best_mAP", "CF1", "OF1"),
) -> pd.DataFrame:
    """``method - reference`` per preset and seed (same data, same seed), then over seeds.

    Returns:
        One row per (preset, method, reference) with both labels present: ``seeds`` (the seeds
        both have) and, per measure, ``<m>_diff_mean``, ``<m>_diff_std`` (ddof=1) and
        ``<m>_diff_min`` / ``<m>_diff_max`` over those seeds.
    """
    rows = []
    for preset_name, group in results.groupby("preset", sort=False):
        by_label = {label: g.set_index("seed") for label, g in group.groupby("label")}
        for method, reference in pairs:
            if method not in by_label or reference not in by_label:
                continue
            a, b = by_label[method], by_label[reference]
            seeds = sorted(set(a.index) & set(b.index))
            row: dict[str, Any] = {
                "preset": preset_name, "method": method, "reference": reference,
                "seeds": len(seeds),
            }  # fmt: skip
            for m in measures:
                diff = (a.loc[seeds, m] - b.loc[seeds, m]).to_numpy(dtype=float)
                row |= {
                    f"{m}_diff_mean": diff.mean(),
                    f"{m}_diff_std": diff.std(ddof=1) if len(diff) > 1 else math.nan,
                    f"{m}_diff_min": diff.min(),
                    f"{m}_diff_max": diff.max(),
                }
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """``mean ± std`` strings of ``measures`` (default: the scores the summary has; 2 decimals
    for percentages, 3 for the rest)."""
    if measures is None:
        measures = [m for m in SCORE_COLUMNS if (m, "mean") in summary]
    cells = {}
    for m in measures:
        digits = 2 if m in (*SCORE_COLUMNS, "best_mAP", "start_mAP") else 3
        mean, std = summary[(m, "mean")], summary[(m, "std")]
        cells[m] = [
            "n/a" if np.isnan(a) else f"{a:.{digits}f} ± {b:.{digits}f}" if not np.isnan(b)
            else f"{a:.{digits}f}"
            for a, b in zip(mean, std, strict=True)
        ]  # fmt: skip
    frame = pd.DataFrame(cells, index=summary.index)
    frame["seeds"] = summary[("seeds", "n")]
    return frame
