"""Tables for notebooks and reports: one row per class, or one summary row.

Every rate in a table is x100 (percent), as in published results; counts stay counts. The
scale is recorded in ``DataFrame.attrs`` together with the threshold and score kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.inputs import TargetsKind, as_pair, check_scores_are, class_names

from .ranking import average_precision, macro_mean
from .threshold import (
    METRIC_KEYS,
    class_counts,
    metrics_from_counts,
    per_class_precision_recall,
    predict,
)


def _attrs(scores_are: str, threshold: float) -> dict[str, Any]:
    return {"scale": "percent (x100)", "scores_are": scores_are, "threshold": threshold}


def per_class_table(
    scores: Any,
    targets: Any,
    classes: Sequence[str] | None,
    *,
    scores_are: str,
    threshold: float = 0.5,
    targets_are: TargetsKind = "binary",
) -> pd.DataFrame:
    """One row per class: AP, counts, and precision / recall / F1 at ``threshold``.

    Args:
        scores: ``(N, K)`` tensor or array.
        targets: ``(N, K)`` in {1, 0, -1} (or ML-GCN's {1, -1, 0}, see ``targets_are``).
        classes: the K class names (e.g. ``dataset.classes``); None numbers them.
        scores_are: ``"logits"`` or ``"probabilities"``.
        threshold: on the probability scale.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1), as in
            :func:`~mlrkit.metrics.average_precision`. The counts are of the converted targets.

    Returns:
        DataFrame indexed by class name with columns ``AP, positives, negatives, ignored,
        predicted, correct, precision, recall, F1``; AP, precision, recall and F1 are x100,
        ``F1 = 2 P R / (P + R)`` per class; AP and recall are NaN for a class without positives.
    """
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets, targets_are)
    names = class_names(classes, s.shape[1])
    counts = class_counts(predict(s, scores_are=scores_are, threshold=threshold), t)
    precision, recall = per_class_precision_recall(counts)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    f1[np.isnan(recall)] = np.nan
    table = pd.DataFrame(
        {
            "AP": 100.0 * average_precision(s, t),
            "positives": counts.positives,
            "negatives": (t == 0).sum(axis=0),
            "ignored": (t < 0).sum(axis=0),
            "predicted": counts.predicted,
            "correct": counts.correct,
            "precision": 100.0 * precision,
            "recall": 100.0 * recall,
            "F1": 100.0 * f1,
        },
        index=pd.Index(names, name="class"),
    )
    table.attrs.update(_attrs(scores_are, threshold))
    return table


def summary_table(
    scores: Any,
    targets: Any,
    classes: Sequence[str] | None = None,
    *,
    scores_are: str,
    threshold: float = 0.5,
    top_k: int = 3,
    name: str = "all",
    targets_are: TargetsKind = "binary",
) -> pd.DataFrame:
    """One row: ``mAP, CP, CR, CF1, OP, OR, OF1`` and the top-k variants (``CP@3`` ...), x100.

    Args:
        scores: ``(N, K)`` tensor or array.
        targets: ``(N, K)`` in {1, 0, -1} (or ML-GCN's {1, -1, 0}, see ``targets_are``).
        classes: class names, used in warnings about classes left out.
        scores_are: ``"logits"`` or ``"probabilities"``.
        threshold: on the probability scale.
        top_k: k of the top-k variants (3 in the literature).
        name: the row label (e.g. the run name), so several summaries can be concatenated.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1), as in
            :func:`~mlrkit.metrics.average_precision`. The counts are of the converted targets.

    Returns:
        A one-row DataFrame; also ``images`` and ``classes`` counts.
    """
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets, targets_are)
    names = class_names(classes, s.shape[1])
    row: dict[str, float] = {"mAP": macro_mean(average_precision(s, t), names, "mAP")}
    for k, suffix in ((None, ""), (top_k, f"@{top_k}")):
        pred = predict(s, scores_are=scores_are, threshold=threshold, top_k=k)
        metrics = metrics_from_counts(class_counts(pred, t), names)
        row.update({key + suffix: metrics[key] for key in METRIC_KEYS})
    table = pd.DataFrame({key: [100.0 * value] for key, value in row.items()}, index=[name])
    table["images"] = s.shape[0]
    table["classes"] = s.shape[1]
    table.attrs.update(_attrs(scores_are, threshold))
    return table
