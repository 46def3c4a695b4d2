"""The explore-only inputs of :func:`~mlrkit.explore.separation_report`: its labels (no class
may be named like the report's last row) and its stratified sample.

Above ``sample`` rows :func:`stratified_rows` picks a seeded subsample that keeps each class's
share. The labels, groups, ``present`` and vectors themselves are checked by
:mod:`mlrkit.inputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import as_labels, is_count

OVERALL = "overall"  # the name of a report's last row, so no class may have it


def as_report_labels(
    labels: Any, num_rows: int, classes: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """:func:`mlrkit.inputs.as_labels` (codes over the classes present, their names), refusing
    a class named :data:`OVERALL`."""
    codes, names = as_labels(labels, num_rows, classes)
    if OVERALL in names:
        raise InvalidInputError(
            f"a class is named {OVERALL!r}, the name of the report's last row; rename it."
        )
    return codes, names


def check_sample(sample: int | None) -> None:
    """Fail unless ``sample`` is a positive number of rows or None."""
    if sample is not None and not is_count(sample):
        raise InvalidInputError(
            f"`sample` must be a positive number of rows or None (use every row), got {sample!r}."
        )


def stratified_rows(codes: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """Sorted indices of about ``sample`` rows, stratified by class, seeded.

    Quotas by the largest remainder (each within one row of ``sample * n_c / M``), raised to
    ``min(2, n_c)``; the rows this adds are taken back from the classes furthest above their
    exact share, so the total is ``sample`` unless the minimums alone exceed it.
    """
    counts = np.bincount(codes)
    exact = sample * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: sample - int(quota.sum())]] += 1
    floor = np.minimum(2, counts)
    quota = np.maximum(quota, floor)
    for _ in range(int(quota.sum()) - sample):
        spare = np.flatnonzero(quota > floor)
        if not len(spare):
            break
        quota[spare[np.argmax((quota - exact)[spare])]] -= 1
    rng = np.random.default_rng(seed)
    by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    kept = [
        rng.choice(rows, size=int(q), replace=False)
        for rows, q in zip(by_class, quota, strict=True)
    ]
    return np.sort(np.concatenate(kept))
