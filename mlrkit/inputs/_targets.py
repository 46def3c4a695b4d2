"""Scores and targets, ``(N, K)``: the inputs of every metric and metric plot."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs._common import to_numpy

ScoresKind = Literal["logits", "probabilities"]
SCORE_KINDS: tuple[str, ...] = ("logits", "probabilities")
TargetsKind = Literal["binary", "signed"]
TARGET_KINDS: tuple[str, ...] = ("binary", "signed")
_ENCODINGS = {  # what each value means, for messages
    "binary": "1 (present), 0 (absent) or -1 (ignore)",
    "signed": "1 (present), -1 (absent) or 0 (difficult: ignored)",
}


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim == 1:
        return a[:, None]  # one class: (N,) -> (N, 1)
    if a.ndim != 2:
        raise InvalidInputError(
            f"`{name}` must have shape (N, K) (samples x classes), got shape {a.shape}. "
            "Flatten extra dimensions or stack the batches first."
        )
    return a


def as_scores(scores: Any) -> np.ndarray:
    """Return scores as a float32 or float64 numpy array of shape (N, K); reject NaN.

    ``(N,)`` is one class, ``(N, 1)``; integers become float64, float16 float32.
    """
    a = _as_2d(to_numpy(scores, "scores"), "scores")
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    elif a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    nan = np.isnan(a)
    if nan.any():
        raise InvalidInputError(
            f"`scores` holds {int(nan.sum())} NaN value(s) (first at sample, class "
            f"{tuple(int(i) for i in np.argwhere(nan)[0])}); metrics cannot rank NaN. "
            "Check the model outputs for a diverged run."
        )
    return a


def check_scores_are(scores_are: str) -> None:
    """Fail unless `scores_are` names one of the supported kinds (no guessing)."""
    if scores_are not in SCORE_KINDS:
        raise InvalidInputError(
            f"scores_are={scores_are!r} is not one of {SCORE_KINDS}: say whether the scores are "
            "raw logits (pass 'logits') or sigmoid outputs (pass 'probabilities')."
        )


def check_targets_are(targets_are: str) -> None:
    """Fail unless `targets_are` names one of the supported target encodings."""
    if targets_are not in TARGET_KINDS:
        raise InvalidInputError(
            f"targets_are={targets_are!r} is not one of {TARGET_KINDS}: pass 'binary' for "
            f"mlrkit's encoding, {_ENCODINGS['binary']}, or 'signed' for ML-GCN's, "
            f"{_ENCODINGS['signed']}."
        )


def signed_to_binary(targets: np.ndarray) -> np.ndarray:
    """ML-GCN's signed targets in mlrkit's encoding: 1 -> 1, -1 -> 0, 0 -> -1 (int8).

    ``t_binary = [t = 1] - [t = 0]`` for a matrix ``t`` already checked to hold only 1, -1, 0.
    """
    return (targets == 1).view(np.int8) - (targets == 0).view(np.int8)


def _raise_if_unconverted(has_ignored: bool, has_absent: bool, targets_are: str) -> None:
    """Raise when the (converted) targets have ignored entries but not a single negative.

    That is the signature of targets given in the other encoding: signed targets read as binary
    (every -1 = negative becomes "ignore"), or binary ones read as signed (every 0 = negative
    becomes "difficult"). Either way no negative would remain and every AP would be 1.0.
    """
    if not has_ignored or has_absent:
        return
    if targets_are == "binary":
        raise InvalidInputError(
            "`targets` contain -1 but no 0: mlrkit reads 1 = positive, 0 = negative, -1 = "
            "ignore, so every negative would be ignored (and every AP would be 1.0). If -1 "
            "means negative here (ML-GCN's encoding: 1 / -1 / 0 = difficult), pass "
            "targets_are='signed'; if the split really has no negative, there is nothing to "
            "rank the positives against."
        )
    raise InvalidInputError(
        "targets_are='signed' but `targets` contain 0 and no -1: ML-GCN's encoding reads 1 = "
        "positive, -1 = negative, 0 = difficult (ignored), so every 0 would be ignored and no "
        "negative would remain (every AP would be 1.0). If 0 means negative here (mlrkit's "
        "encoding: 1 / 0 / -1 = ignore), pass targets_are='binary' (the default)."
    )


def check_target_encoding(targets: np.ndarray, targets_are: str) -> None:
    """Fail on converted int8 targets holding -1 (ignore) but no 0 (absent) at all.

    For a matrix gathered batch by batch (one batch may lack negatives); :func:`as_targets`
    runs the same check itself unless told not to.
    """
    _raise_if_unconverted(bool((targets < 0).any()), bool((targets == 0).any()), targets_are)


def _invalid_targets(a: np.ndarray, targets_are: str) -> InvalidInputError:
    """The error for targets holding values outside {1, 0, -1} (found values listed)."""
    try:
        bad = ~((a == 1) | (a == 0) | (a == -1))
        found = np.unique(a[bad])[:5].tolist()
    except (TypeError, ValueError):  # pragma: no cover - values that do not even compare
        found = [f"values of dtype {a.dtype}"]
    return InvalidInputError(
        f"`targets` must hold {_ENCODINGS[targets_are]} with targets_are={targets_are!r}; "
        f"found {found}. Binarise soft or smoothed labels before evaluating."
    )


def as_targets(
    targets: Any, targets_are: TargetsKind = "binary", *, check_encoding: bool = True
) -> np.ndarray:
    """Return targets as an int8 numpy array of shape (N, K) in mlrkit's {1, 0, -1} encoding.

    Validation is one cast, one comparison and a few reductions: ``t = int8(a)`` must give back
    ``a`` exactly (no fraction, NaN or out-of-range value) and lie in [-1, 1].

    Args:
        targets: ``(N, K)`` (or ``(N,)``) tensor or array of integers, floats or bools.
        targets_are: ``"binary"`` (1 present, 0 absent, -1 ignore: kept as is) or
            ``"signed"`` (1 present, -1 absent, 0 difficult: converted by
            :func:`signed_to_binary`).
        check_encoding: also reject a matrix that, once converted, has ignored entries but no
            negative (targets in the other encoding); see :func:`check_target_encoding`.

    Raises:
        InvalidInputError: on values outside the encoding, or targets in the other encoding.

    Example:
        >>> as_targets([[1, -1], [-1, 0]], targets_are="signed").tolist()
        [[1, 0], [0, -1]]
    """
    check_targets_are(targets_are)
    a = _as_2d(to_numpy(targets, "targets"), "targets")
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN / overflow: caught just below
            t = a.astype(np.int8)
    except (TypeError, ValueError) as err:  # e.g. strings
        raise _invalid_targets(a, targets_are) from err
    if t.size == 0:
        return t
    low, high = int(t.min()), int(t.max())
    if low < -1 or high > 1 or (a.dtype != np.int8 and not np.equal(t, a).all()):
        raise _invalid_targets(a, targets_are)
    has_minus_one, has_zero = low == -1, np.count_nonzero(t) < t.size
    if targets_are == "signed":
        t, has_ignored, has_absent = signed_to_binary(t), has_zero, has_minus_one
    else:
        has_ignored, has_absent = has_minus_one, has_zero
    if check_encoding:
        _raise_if_unconverted(has_ignored, has_absent, targets_are)
    return t


def as_pair(
    scores: Any, targets: Any, targets_are: TargetsKind = "binary"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (scores, targets) pair: same shape (N, K), at least one sample.

    Targets come back in mlrkit's encoding (see :func:`as_targets` for ``targets_are``).
    """
    s, t = as_scores(scores), as_targets(targets, targets_are)
    if s.shape != t.shape:
        raise InvalidInputError(
            f"`scores` has shape {s.shape} but `targets` has shape {t.shape}; "
            "both must be (N, K) with the same samples and classes in the same order."
        )
    if s.shape[0] == 0:
        raise InvalidInputError("No samples to evaluate: `scores` and `targets` have N = 0 rows.")
    return s, t
