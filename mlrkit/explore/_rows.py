"""The per-row inputs of :func:`~mlrkit.explore.separation_report` and its stratified sample.

Labels become class codes ``0..K-1`` over the classes present (with their names), groups become
image codes (every row its own group without them), ``present`` becomes a boolean mask (which
rows are present pairs, when the rows are every pair of a split), and above ``sample`` rows
:func:`stratified_rows` picks a seeded subsample that keeps each class's share. The vectors
themselves are checked in :mod:`mlrkit.explore._vectors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit._arrays import to_numpy
from mlrkit.errors import InvalidInputError

OVERALL = "overall"  # the name of a report's last row, so no class may have it


def as_labels(
    labels: Any, num_rows: int, classes: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Class codes ``(M,)`` in 0..K-1 over the classes present, and their K names."""
    a = to_numpy(labels, "labels")
    if a.ndim != 1 or len(a) != num_rows:
        raise InvalidInputError(
            f"`labels` must have shape (M,) = ({num_rows},), one class per row of `vectors`, "
            f"got shape {a.shape}."
        )
    if a.dtype.kind in "iu":
        low, high = int(a.min()), int(a.max())
        if low < 0:
            raise InvalidInputError(f"integer `labels` must be class indices >= 0, found {low}.")
        if classes is None:
            every = [str(k) for k in range(high + 1)]
        else:
            every = [str(c) for c in classes]
            if high >= len(every):
                raise InvalidInputError(
                    f"integer `labels` go up to {high} but `classes` names only {len(every)} "
                    f"classes (0..{len(every) - 1}); pass one name per class index."
                )
        present, codes = np.unique(a, return_inverse=True)
        found = [every[k] for k in present.tolist()]
    elif a.dtype.kind in "US" or (a.dtype.kind == "O" and all(isinstance(x, str) for x in a)):
        if classes is not None:
            raise InvalidInputError(
                "`classes` names integer labels; these `labels` are strings and already name "
                "their classes. Drop `classes`."
            )
        present, codes = np.unique(a.astype(str), return_inverse=True)
        found = present.tolist()
    else:
        raise InvalidInputError(
            f"`labels` must be integer class indices or class-name strings, got dtype "
            f"{a.dtype}; cast float labels with labels.astype(int)."
        )
    if OVERALL in found:
        raise InvalidInputError(
            f"a class is named {OVERALL!r}, the name of the report's last row; rename it."
        )
    if len(set(found)) != len(found):
        raise InvalidInputError(f"`classes` repeats a name among {found}; give each class its own.")
    return codes.astype(np.int64), found


def as_groups(groups: Any, num_rows: int) -> np.ndarray:
    """Group codes ``(M,)``; every row its own group when ``groups`` is None."""
    if groups is None:
        return np.arange(num_rows, dtype=np.int64)
    a = to_numpy(groups, "groups")
    if a.ndim != 1 or len(a) != num_rows:
        raise InvalidInputError(
            f"`groups` must have shape (M,) = ({num_rows},), the image of each row of "
            f"`vectors`, got shape {a.shape}; pass None to make every row its own group."
        )
    try:
        _, codes = np.unique(a, return_inverse=True)
    except TypeError as err:
        raise InvalidInputError(
            "`groups` must hold comparable image ids (all integers or all strings)."
        ) from err
    return codes.astype(np.int64)


def as_present(present: Any, num_rows: int) -> np.ndarray:
    """``(M,)`` bool from ``present`` (bool or 0/1); at least one row must be present."""
    a = to_numpy(present, "present")
    if a.ndim != 1 or len(a) != num_rows:
        raise InvalidInputError(
            f"`present` must have shape (M,) = ({num_rows},), one flag per row of `vectors`, "
            f"got shape {a.shape}; pass None when every row is a present pair."
        )
    if a.dtype.kind == "b":
        mask = a
    elif a.dtype.kind in "iuf":
        bad = (a != 0) & (a != 1)  # NaN is neither, so it lands here too
        if bad.any():
            raise InvalidInputError(
                f"`present` must be boolean or 0/1, found {int(bad.sum())} other value(s) "
                f"(first {a[bad][0].item()!r}); for mlrkit targets pass target == 1 and drop the "
                "ignored rows (target -1) from every input."
            )
        mask = a == 1
    else:
        raise InvalidInputError(
            f"`present` must be boolean or 0/1, got dtype {a.dtype}; pass a bool array."
        )
    if not mask.any():
        raise InvalidInputError(
            "`present` marks no row as present: the measures need the present (image, class) "
            "pairs, and presence_auroc needs them for each class's direction."
        )
    return mask


def check_sample(sample: int | None) -> None:
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1
    ):
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
