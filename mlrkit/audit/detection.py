"""How well a suspicion finds known label errors: ROC AUC, average precision, precision@k and
recall@k, overall and per kind of error (for planted errors, whose truth is known)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import is_count, to_numpy
from mlrkit.metrics import average_precision

__all__ = ["OVERALL", "detection_report"]

OVERALL = "overall"


def _as_flags(is_error: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = to_numpy(is_error, "is_error")
    if a.shape != shape:
        raise InvalidInputError(
            f"`is_error` has shape {a.shape} but `suspicion` has shape {shape}; pass one flag "
            "per scored entry, in the same order."
        )
    if a.dtype.kind == "b":
        return a.reshape(-1)
    if a.dtype.kind not in "iuf" or ((a != 0) & (a != 1)).any():
        raise InvalidInputError("`is_error` must be boolean or 0/1 (1 = a known label error).")
    return (a == 1).reshape(-1)


def _as_kinds(kinds: Any, error: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The kind of each error entry, in row-major order: ``(number of errors,)`` strings."""
    a = to_numpy(kinds, "kinds")
    num_errors = int(error.sum())
    if a.shape == shape or (a.ndim == 1 and a.size == error.size and error.size != num_errors):
        return a.reshape(-1)[error].astype(str)
    if a.ndim == 1 and len(a) == num_errors:
        return a.astype(str)
    raise InvalidInputError(
        f"`kinds` has shape {a.shape}: pass one kind per entry (shape {shape}, read at the "
        f"errors only) or one per error ({num_errors}, in row-major order of the errors)."
    )


def _auroc(s: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney ROC AUC with tie-averaged ranks (as ``sklearn.metrics.roc_auc_score``)."""
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    rank = (np.cumsum(counts) - counts + (counts + 1) / 2.0)[inverse.reshape(-1)]
    return float((rank[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def _top(s: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    """Precision and recall among the ``k`` most suspicious entries, ties shared.

    With ``t`` the k-th largest suspicion, ``a`` entries above it (``e_a`` errors) and ``b``
    at it (``e_b`` errors), the expected errors in the top k under a random order of the tied
    entries are ``hits = e_a + (k - a) e_b / b``; precision ``hits / k``, recall ``hits / P``.
    A ``k`` beyond the entries takes them all.
    """
    n, pos = len(s), int(y.sum())
    if n == 0:
        return float("nan"), float("nan")
    k = min(k, n)
    t = np.partition(s, n - k)[n - k]
    above, at = s > t, s == t
    hits = y[above].sum() + (k - above.sum()) * y[at].sum() / at.sum()
    return float(hits / k), float(hits / pos) if pos else float("nan")


def _row(s: np.ndarray, y: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    scored = ~np.isnan(s)
    s, y = s[scored], y[scored]
    row = {
        "n": len(s),
        "errors": int(y.sum()),
        "excluded": int((~scored).sum()),
        "auroc": _auroc(s, y),
        "average_precision": (
            float(average_precision(s[:, None], y[:, None].astype(np.int8))[0])
            if y.any()
            else float("nan")
        ),
    }
    for k in ks:
        row[f"precision@{k}"], row[f"recall@{k}"] = _top(s, y, k)
    return row


def detection_report(
    suspicion: Any,
    is_error: Any,
    *,
    kinds: Any | None = None,
    ks: Sequence[int] = (50, 100, 500),
) -> pd.DataFrame:
    """How well ``suspicion`` ranks the known errors above the other entries.

    Entries whose suspicion is NaN (unscored, e.g. ignored labels) are left out everywhere and
    counted in ``excluded``. Over the scored entries, with ``P`` errors and ``N`` others:

    - ``auroc``: ``P(s_error > s_other) + P(s_error = s_other) / 2`` over all (error, other)
      pairs, from tie-averaged ranks ``(R - P (P + 1) / 2) / (P N)``; equal to
      ``sklearn.metrics.roc_auc_score``. 0.5 = chance.
    - ``average_precision``: tie-aware, non-interpolated AP of the errors
      (:func:`mlrkit.metrics.average_precision`, equal to sklearn's
      ``average_precision_score``); chance = ``P / (P + N)``.
    - ``precision@k`` / ``recall@k``: the share of the k most suspicious entries that are
      errors, and the share of the errors among them; entries tied at the k-th suspicion count
      in proportion (the mean over random orders of the ties). A k beyond the entries scored
      takes them all.

    Rows: ``"overall"`` (every error against every other entry), then one per kind (in sorted
    order): that kind's errors against every entry that is not an error (errors of other kinds
    left out).

    Args:
        suspicion: float array or tensor, any shape (e.g. ``(N, K)``, or flat); NaN = unscored.
        is_error: same shape, bool or 0/1: whether the entry's label is a known error.
        kinds: None, or the kind of each error (e.g. ``"missing"``, ``"spurious"``,
            ``"swapped"``): either an array of the shape of ``suspicion`` (read at the errors
            only) or one kind per error, in row-major (flattened) order of the errors.
        ks: the cut-offs of ``precision@k`` and ``recall@k``, each ``>= 1``.

    Returns:
        A DataFrame indexed by ``"overall"`` then the kinds (index name ``"errors"``), with
        the columns ``n`` (entries scored), ``errors`` (errors scored), ``excluded`` (NaN
        suspicions left out), ``auroc``, ``average_precision``, then ``precision@k`` and
        ``recall@k`` for each k. NaN where undefined (AUROC without errors or without other
        entries, AP and recall without errors).

    Raises:
        InvalidInputError: on shapes that differ, flags that are not 0/1, kinds of the wrong
            length, a suspicion that is not real, or a ``k`` that is not a whole number >= 1.

    Example:
        >>> r = detection_report([0.9, 0.8, 0.1, 0.3, np.nan], [1, 0, 0, 1, 0], ks=(2,))
        >>> r.loc["overall", ["n", "excluded", "auroc", "precision@2"]].tolist()
        [4.0, 1.0, 0.75, 0.5]
    """
    s = to_numpy(suspicion, "suspicion")
    if s.dtype.kind not in "biuf":
        raise InvalidInputError(f"`suspicion` must hold real numbers, got dtype {s.dtype}.")
    ks = tuple(ks)
    bad = [k for k in ks if not is_count(k)]
    if bad or not ks:
        raise InvalidInputError(
            f"ks={ks!r}: each cut-off must be a whole number >= 1, e.g. ks=(50, 100, 500)."
        )
    error = _as_flags(is_error, s.shape)
    flat = s.astype(np.float64).reshape(-1)
    rows = {OVERALL: _row(flat, error, ks)}
    if kinds is not None:
        kind = np.full(error.shape, "", dtype=object)
        kind[error] = _as_kinds(kinds, error, s.shape)
        for name in sorted(set(kind[error].tolist())):
            use = ~error | (kind == name)
            rows[name] = _row(flat[use], error[use], ks)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "errors"
    return frame.astype({"n": np.int64, "errors": np.int64, "excluded": np.int64})
