"""Threshold metrics: per-class (CP, CR, CF1) and overall (OP, OR, OF1), optionally top-k.

With ``Nt_k`` correct predictions, ``Np_k`` predictions and ``Ng_k`` positives of class k::

    CP = mean_k Nt_k / Np_k      CR = mean_k Nt_k / Ng_k      CF1 = 2 CP CR / (CP + CR)
    OP = sum Nt / sum Np         OR = sum Nt / sum Ng         OF1 = 2 OP OR / (OP + OR)

CF1 is the harmonic mean of CP and CR, *not* sklearn's macro-F1 (the mean of per-class F1s).
A class with ``Np_k = 0`` has precision 0. Class means run over the classes with a positive (the
classes of mAP); the others are named in a warning. Entries with target -1 take no part
(with ``targets_are="signed"``, ML-GCN's encoding, the entries with target 0 take no part).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import TargetsKind, as_pair, check_scores_are, class_names

from ._warnings import warn_left_out

METRIC_KEYS: tuple[str, ...] = ("CP", "CR", "CF1", "OP", "OR", "OF1")


class ClassCounts(NamedTuple):
    """Per-class counts at a threshold, each ``(K,)`` int64."""

    correct: np.ndarray  # Nt: predicted and present
    predicted: np.ndarray  # Np: predicted, among non-ignored entries
    positives: np.ndarray  # Ng: present


def predict(
    scores: np.ndarray,
    *,
    scores_are: str,
    threshold: float = 0.5,
    top_k: int | None = None,
) -> np.ndarray:
    """Binary predictions ``(N, K)``: probability ``>= threshold``, then optionally top-k.

    Logits are compared with ``logit(threshold) = log(t) - log(1 - t)`` in float64 (exactly 0
    for t = 0.5), never squashed through a low-precision sigmoid. With ``top_k``, each image
    keeps only its ``top_k`` highest scores that also pass the threshold; ties at the k-th
    score are broken by class index (lower index first), so the result is deterministic.
    """
    check_scores_are(scores_are)
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError(f"threshold={threshold} must lie strictly between 0 and 1.")
    if scores_are == "probabilities":
        if scores.min() < 0.0 or scores.max() > 1.0:
            raise InvalidInputError(
                f"scores_are='probabilities' but scores span [{scores.min():.4g}, "
                f"{scores.max():.4g}]; pass scores_are='logits' for raw model outputs."
            )
        cut = np.float64(threshold)
    else:
        cut = np.float64(math.log(threshold) - math.log1p(-threshold))
    pred = scores >= cut  # a float64 scalar: the comparison runs in float64, even for float32
    if top_k is None or top_k >= scores.shape[1]:
        return pred
    if top_k < 1:
        raise InvalidInputError(f"top_k={top_k} must be a positive integer (or None).")
    # k-th largest score per image, then keep everything above it and the first ties
    kth = -np.partition(-scores, top_k - 1, axis=1)[:, top_k - 1 : top_k]  # (N, 1)
    above = scores > kth
    tied = scores == kth
    room = top_k - above.sum(axis=1, keepdims=True)  # (N, 1) slots left for tied scores
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return pred & keep


def class_counts(pred: np.ndarray, targets: np.ndarray) -> ClassCounts:
    """Count Nt, Np, Ng per class from ``(N, K)`` predictions and targets in {1, 0, -1}."""
    present, valid = targets == 1, targets >= 0
    return ClassCounts(
        correct=(pred & present).sum(axis=0),
        predicted=(pred & valid).sum(axis=0),
        positives=present.sum(axis=0),
    )


def per_class_precision_recall(counts: ClassCounts) -> tuple[np.ndarray, np.ndarray]:
    """``(K,)`` precision (0 when nothing is predicted) and recall (NaN without a positive)."""
    nt = counts.correct.astype(np.float64)
    precision = np.divide(nt, counts.predicted, out=np.zeros_like(nt), where=counts.predicted > 0)
    recall = np.divide(
        nt, counts.positives, out=np.full_like(nt, np.nan), where=counts.positives > 0
    )
    return precision, recall


def harmonic_mean(a: float, b: float) -> float:
    """``2ab / (a + b)``; 0 when both are 0 (nothing right), NaN if either is NaN."""
    return 2.0 * a * b / (a + b) if a + b > 0 else (float("nan") if math.isnan(a + b) else 0.0)


def metrics_from_counts(
    counts: ClassCounts, classes: Sequence[str] | None = None
) -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 from per-class counts (formulas in the module docstring)."""
    precision, recall = per_class_precision_recall(counts)
    has = counts.positives > 0
    warn_left_out(~has, class_names(classes, len(has)), "CP/CR")
    cp = float(precision[has].mean()) if has.any() else float("nan")
    cr = float(recall[has].mean()) if has.any() else float("nan")
    nt, np_, ng = counts.correct.sum(), counts.predicted.sum(), counts.positives.sum()
    op = float(nt / np_) if np_ > 0 else 0.0
    orec = float(nt / ng) if ng > 0 else float("nan")
    return {
        "CP": cp,
        "CR": cr,
        "CF1": harmonic_mean(cp, cr),
        "OP": op,
        "OR": orec,
        "OF1": harmonic_mean(op, orec),
    }


def threshold_metrics(
    scores: Any,
    targets: Any,
    *,
    scores_are: str,
    threshold: float = 0.5,
    top_k: int | None = None,
    classes: Sequence[str] | None = None,
    targets_are: TargetsKind = "binary",
) -> dict[str, float]:
    """Per-class and overall precision, recall and F1 at a fixed threshold.

    Args:
        scores: ``(N, K)`` tensor or array.
        targets: ``(N, K)`` in {1, 0, -1}; -1 entries are neither predictions nor positives
            (ML-GCN's {1, -1, 0}, where 0 is ignored, with ``targets_are="signed"``).
        scores_are: ``"logits"`` or ``"probabilities"`` (required: no guessing).
        threshold: on the probability scale (0.5 = logit 0); fix it, never tune it on test.
        top_k: e.g. 3 for the "top-3" variants: each image keeps its k best scores that pass.
        classes: names used in warnings.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1). Ignored
            entries without any negative (-1 but no 0 under ``"binary"``: signed targets passed
            unconverted) raise :class:`~mlrkit.errors.InvalidInputError`.

    Returns:
        ``{"CP", "CR", "CF1", "OP", "OR", "OF1"}`` as fractions in [0, 1].
    """
    s, t = as_pair(scores, targets, targets_are)
    pred = predict(s, scores_are=scores_are, threshold=threshold, top_k=top_k)
    return metrics_from_counts(class_counts(pred, t), classes)
