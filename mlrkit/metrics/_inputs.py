"""Input handling shared by every metric: tensors or arrays in, validated numpy arrays out.

Scores keep their precision: float32 stays float32 (its order is exactly the order of the same
values in float64, so ranking float32 natively is exact), float64 stays float64, and float16 /
bfloat16 are widened to float32 (exact). Nothing is ever narrowed, because narrowing (e.g. fp16
sigmoids) creates ties that change AP.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

ScoresKind = Literal["logits", "probabilities"]
SCORE_KINDS: tuple[str, ...] = ("logits", "probabilities")


class MetricsWarning(UserWarning):
    """Warned when a metric leaves classes out (e.g. a class without any positive)."""


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # widening is exact; numpy has no bfloat16
        return x.cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise TypeError(
            f"`{name}` must be a torch tensor or a numpy array, got {type(x).__name__}."
        ) from err


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim == 1:
        return a[:, None]  # one class: (N,) -> (N, 1)
    if a.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape (N, K) (samples x classes), got shape {a.shape}. "
            "Flatten extra dimensions or stack the batches first."
        )
    return a


def as_scores(scores: Any) -> np.ndarray:
    """Return scores as a float32 or float64 numpy array of shape (N, K); reject NaN."""
    a = _as_2d(_to_numpy(scores, "scores"), "scores")
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    elif a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    nan = np.isnan(a)
    if nan.any():
        raise ValueError(
            f"`scores` holds {int(nan.sum())} NaN value(s) (first at sample, class "
            f"{tuple(int(i) for i in np.argwhere(nan)[0])}); metrics cannot rank NaN. "
            "Check the model outputs for a diverged run."
        )
    return a


def as_targets(targets: Any) -> np.ndarray:
    """Return targets as an int8 numpy array of shape (N, K) with values in {1, 0, -1}."""
    a = _as_2d(_to_numpy(targets, "targets"), "targets")
    if a.dtype == np.bool_:
        return a.astype(np.int8)
    bad = ~((a == 1) | (a == 0) | (a == -1))
    if bad.any():
        found = np.unique(a[bad])[:5].tolist()
        raise ValueError(
            f"`targets` must hold 1 (present), 0 (absent) or -1 (ignore); found {found}. "
            "Binarise soft or smoothed labels before evaluating."
        )
    return a.astype(np.int8)


def as_pair(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (scores, targets) pair: same shape (N, K), at least one sample."""
    s, t = as_scores(scores), as_targets(targets)
    if s.shape != t.shape:
        raise ValueError(
            f"`scores` has shape {s.shape} but `targets` has shape {t.shape}; "
            "both must be (N, K) with the same samples and classes in the same order."
        )
    if s.shape[0] == 0:
        raise ValueError("No samples to evaluate: `scores` and `targets` have N = 0 rows.")
    return s, t


def check_scores_are(scores_are: str) -> None:
    """Fail unless `scores_are` names one of the supported kinds (no guessing)."""
    if scores_are not in SCORE_KINDS:
        raise ValueError(
            f"scores_are={scores_are!r} is not one of {SCORE_KINDS}: say whether the scores are "
            "raw logits (pass 'logits') or sigmoid outputs (pass 'probabilities')."
        )


def class_names(classes: Sequence[str] | None, num_classes: int) -> list[str]:
    """Class names for messages and tables; indices when no names are given."""
    if classes is None:
        return [f"class {k}" for k in range(num_classes)]
    names = [str(c) for c in classes]
    if len(names) != num_classes:
        raise ValueError(
            f"Got {len(names)} class names for {num_classes} score columns; pass the dataset's "
            "`.classes` in the order of the model outputs."
        )
    return names


def warn_left_out(mask: np.ndarray, names: list[str], what: str) -> None:
    """Warn naming the classes (True in `mask`) left out of `what`."""
    if mask.any():
        left = [names[k] for k in np.flatnonzero(mask)]
        shown = ", ".join(left[:20]) + (f", ... ({len(left)} in all)" if len(left) > 20 else "")
        warnings.warn(
            f"{len(left)} class(es) without any positive target left out of {what}: {shown}.",
            MetricsWarning,
            stacklevel=3,
        )
