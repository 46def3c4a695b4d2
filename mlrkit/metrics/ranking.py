"""Ranking metrics: exact, tie-aware average precision and its two named VOC variants.

All classes are computed at once. Each column is sorted once (``np.sort`` on ``(K, N)``); every
quantity then lives on the positives only, ranked per class:

- ``A_i`` = number of valid samples (target 0 or 1) scoring ``>= s_i`` (binary search in the
  sorted column),
- ``B_i`` = number of positives scoring ``>= s_i``.

``B_i / A_i`` is the precision at the threshold ``s_i``; counting *every* sample tied with
``s_i`` is what makes the result tie-aware (one operating point per unique score, as sklearn).
Targets of -1 are placed after every valid sample (their key is NaN) and are never counted.
Targets in ML-GCN's signed encoding are accepted with ``targets_are="signed"`` and converted to
mlrkit's on input (see :func:`mlrkit.inputs.as_targets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from mlrkit.inputs import TargetsKind, as_pair, class_names

from ._warnings import warn_left_out


class _PositiveRanks(NamedTuple):
    rows: np.ndarray  # (M,) class of each positive, grouped by class, best-ranked first
    slot: np.ndarray  # (M,) position of the positive among its class's positives
    at_or_above: np.ndarray  # (M,) A: valid samples scoring >= this positive
    pos_at_or_above: np.ndarray  # (M,) B: positives scoring >= this positive
    num_pos: np.ndarray  # (K,) positives per class


_BLOCK_ROWS = 4096  # samples per block of the transpose: keeps both sides cache-resident


def _ranking_keys(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(K, N)`` keys ``-score`` (ascending key = descending score); NaN where ignored.

    Transposed block by block: a plain ``(N, K) -> (K, N)`` copy is ~8x slower at COCO size.
    """
    num_samples, num_classes = scores.shape
    key = np.empty((num_classes, num_samples), dtype=scores.dtype)  # (K, N)
    ignored = targets < 0
    any_ignored = bool(ignored.any())
    for lo in range(0, num_samples, _BLOCK_ROWS):
        block = key[:, lo : lo + _BLOCK_ROWS]
        np.negative(scores[lo : lo + _BLOCK_ROWS].T, out=block)
        if any_ignored:  # ignored entries sort last and never compare <= anything
            np.copyto(block, np.nan, where=ignored[lo : lo + _BLOCK_ROWS].T)
    return key


def _count_le(sorted_rows: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per query, how many entries of ``sorted_rows[rows[i]]`` are ``<= values[i]``.

    A vectorised branchless binary search (``np.searchsorted`` is 1-D only): the window
    halves on a schedule that does not depend on the data, so all queries move in lockstep,
    ``ceil(log2 N)`` steps of one gather each. NaN entries compare False: never counted.
    """
    n = sorted_rows.shape[1]
    flat = sorted_rows.ravel()
    row_start = rows.astype(np.int64) * n
    base = row_start.copy()  # invariant: the answer lies in [base, base + width]
    width = n
    while width > 1:
        half = width // 2
        base += half * (flat[base + half] <= values)
        width -= half
    return base - row_start + (flat[base] <= values)


def _positive_ranks(scores: np.ndarray, targets: np.ndarray) -> _PositiveRanks:
    """Rank statistics of every positive; see the module docstring."""
    num_classes = scores.shape[1]
    key = _ranking_keys(scores, targets)  # (K, N)
    sorted_key = np.sort(key, axis=1)  # (K, N): the one sort per column

    # positives grouped by class (a stable radix sort of the class ids), laid out as
    # (K, max positives) and sorted per class, so they come best-ranked first
    flat = np.flatnonzero(targets == 1)
    cls = (flat % num_classes).astype(np.int16 if num_classes < 2**15 else np.int64)
    order = np.argsort(cls, kind="stable")
    cls, sample = cls[order].astype(np.int64), (flat // num_classes)[order]
    num_pos = np.bincount(cls, minlength=num_classes)
    start = np.concatenate(([0], np.cumsum(num_pos)[:-1]))
    slot = np.arange(len(cls)) - start[cls]
    width = max(int(num_pos.max(initial=0)), 1)
    pos_key = np.full((num_classes, width), np.nan, dtype=key.dtype)  # (K, max P)
    pos_key[cls, slot] = key[cls, sample]
    pos_key.sort(axis=1)
    values = pos_key[cls, slot]  # same (class, slot) layout, now in rank order

    # B: index of the last positive tied with this one (same class, same score), plus one
    index = np.arange(len(cls))
    run_end = np.ones(len(cls), dtype=bool)
    run_end[:-1] = (cls[1:] != cls[:-1]) | (values[1:] != values[:-1])
    last = np.minimum.accumulate(np.where(run_end, index, len(cls))[::-1])[::-1]
    return _PositiveRanks(
        rows=cls,
        slot=slot,
        at_or_above=_count_le(sorted_key, cls, values),
        pos_at_or_above=last - start[cls] + 1,
        num_pos=num_pos,
    )


def _per_class_mean(ranks: _PositiveRanks, values: np.ndarray) -> np.ndarray:
    """Mean of a per-positive quantity within each class; NaN for a class with no positive."""
    total = np.bincount(ranks.rows, weights=values, minlength=len(ranks.num_pos))
    out = np.full(len(ranks.num_pos), np.nan)
    has = ranks.num_pos > 0
    out[has] = total[has] / ranks.num_pos[has]
    return out


def average_precision(
    scores: Any, targets: Any, *, targets_are: TargetsKind = "binary"
) -> np.ndarray:
    """Non-interpolated, tie-aware average precision of every class.

    ``AP_k = sum_n (R_n - R_{n-1}) P_n`` over the unique score thresholds of class k, in
    decreasing order, i.e. the mean over positives i of ``P(s_i) = B_i / A_i``. Equal, column by
    column, to ``sklearn.metrics.average_precision_score``.

    Args:
        scores: ``(N, K)`` tensor (CPU or CUDA) or array; logits or probabilities (AP depends
            only on the order; rank logits, as sigmoids in low precision saturate into ties).
        targets: ``(N, K)`` with 1 (present), 0 (absent), -1 (ignored: takes no part).
        targets_are: the encoding of ``targets``: ``"binary"`` (mlrkit's, the default) or
            ``"signed"`` (ML-GCN's: 1 present, -1 absent, 0 difficult, ignored), converted on
            input (1 -> 1, -1 -> 0, 0 -> -1). Targets with -1 but no 0 at all raise under
            ``"binary"``: they are signed targets passed unconverted, whose every negative
            would be ignored (and 0 but no -1 under ``"signed"``: binary targets, mirrored).

    Returns:
        ``(K,)`` float64 array; NaN for a class with no positive target.

    Raises:
        InvalidInputError: on bad shapes, NaN scores, target values outside the encoding, or
            targets that look like the other encoding (ignored entries but no negative).

    Example:
        >>> average_precision([[0.9], [0.8], [0.7]], [[1], [0], [1]]).round(4)
        array([0.8333])
    """
    s, t = as_pair(scores, targets, targets_are)
    ranks = _positive_ranks(s, t)
    return _per_class_mean(ranks, ranks.pos_at_or_above / ranks.at_or_above)


def macro_mean(ap: np.ndarray, classes: Sequence[str] | None = None, what: str = "mAP") -> float:
    """Mean of per-class values over the classes that are not NaN; warns naming the others."""
    ap = np.asarray(ap, dtype=np.float64)
    missing = np.isnan(ap)
    warn_left_out(missing, class_names(classes, len(ap)), what)
    return float(ap[~missing].mean()) if (~missing).any() else float("nan")


def mean_average_precision(
    scores: Any,
    targets: Any,
    *,
    classes: Sequence[str] | None = None,
    targets_are: TargetsKind = "binary",
) -> float:
    """Macro mean of :func:`average_precision` over classes with at least one positive.

    ``mAP = (1 / |C+|) sum_{k in C+} AP_k`` with ``C+`` the classes with a positive target.
    Classes left out are named in a :class:`MetricsWarning` (``classes`` gives their names).

    Args:
        scores: ``(N, K)`` tensor or array (logits or probabilities).
        targets: ``(N, K)`` in {1, 0, -1} (or ML-GCN's {1, -1, 0}, see ``targets_are``).
        classes: the K class names, used in the warning about classes left out.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1); see
            :func:`average_precision`.

    Returns:
        A fraction in [0, 1] (tables show it x100); NaN when no class has a positive.
    """
    return macro_mean(average_precision(scores, targets, targets_are=targets_are), classes, "mAP")


def _envelope(ranks: _PositiveRanks) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision at each positive, laid out per class: ``(K, max positives)``.

    ``P_interp(i) = max_{j ranked at or below i} P(s_j)``. Only positives matter: after a
    positive, precision falls until the next positive, so the maximum is always at one.
    Also returns the recall ``B_i / |P_k|`` in the same layout (-1 where there is no positive).
    """
    num_classes, width = len(ranks.num_pos), max(int(ranks.num_pos.max(initial=0)), 1)
    precision = np.zeros((num_classes, width))  # (K, max P); 0 padding never wins a max
    precision[ranks.rows, ranks.slot] = ranks.pos_at_or_above / ranks.at_or_above
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    recall = np.full((num_classes, width), -1.0)
    recall[ranks.rows, ranks.slot] = ranks.pos_at_or_above / ranks.num_pos[ranks.rows]
    return envelope, recall


def voc_interpolated_ap(
    scores: Any, targets: Any, *, targets_are: TargetsKind = "binary"
) -> np.ndarray:
    """VOC-interpolated AP per class: the area under the precision envelope.

    ``AP_k = sum_n (R_n - R_{n-1}) max_{m >= n} P_m``: the convention of the SSGRL, Query2Label
    and SADCL evaluation scripts (``voc_ap`` with ``mpre`` made monotone). Differences to those
    scripts, by design: ties are handled at unique thresholds (the scripts rank tied samples in
    sort order), and targets of -1 are ignored (their VOC script counts labels <= 0 as
    negatives). On tie-free data without -1 the result is the scripts' result.

    Args:
        scores: ``(N, K)`` tensor or array (logits or probabilities).
        targets: ``(N, K)`` in {1, 0, -1} (or ML-GCN's {1, -1, 0}, see ``targets_are``).
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1); see
            :func:`average_precision`.

    Returns:
        ``(K,)`` float64; NaN for a class with no positive. Always ``>=`` :func:`average_precision`.
    """
    s, t = as_pair(scores, targets, targets_are)
    ranks = _positive_ranks(s, t)
    envelope, _ = _envelope(ranks)
    out = envelope.sum(axis=1)
    has = ranks.num_pos > 0
    out[has] /= ranks.num_pos[has]
    out[~has] = np.nan
    return out


def voc07_11point_ap(
    scores: Any, targets: Any, *, targets_are: TargetsKind = "binary"
) -> np.ndarray:
    """VOC2007 11-point AP per class.

    ``AP_k = (1/11) sum_{t in {0, 0.1, ..., 1}} max_{R_n >= t} P_n`` (0 when no operating point
    reaches recall t), with the thresholds of the VOC devkit (``np.arange(0, 1.1, 0.1)``) and the
    same tie and ignore handling as :func:`voc_interpolated_ap`.

    Args:
        scores: ``(N, K)`` tensor or array (logits or probabilities).
        targets: ``(N, K)`` in {1, 0, -1} (or ML-GCN's {1, -1, 0}, see ``targets_are``).
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; converted 1 -> 1, -1 -> 0, 0 -> -1); see
            :func:`average_precision`.

    Returns:
        ``(K,)`` float64; NaN for a class with no positive.
    """
    s, t = as_pair(scores, targets, targets_are)
    ranks = _positive_ranks(s, t)
    envelope, recall = _envelope(ranks)
    rows = np.arange(len(ranks.num_pos))
    ap = np.zeros(len(rows))
    for level in np.arange(0.0, 1.1, 0.1):  # 11 recall levels, all classes at once
        reached = recall >= level  # (K, max P)
        first = reached.argmax(axis=1)
        ap = ap + np.where(reached.any(axis=1), envelope[rows, first], 0.0) / 11.0
    ap[ranks.num_pos == 0] = np.nan
    return ap
