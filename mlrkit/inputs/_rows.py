"""The ``(M,)`` per-row inputs of a feature space: labels, groups (image ids), ``present``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs._common import class_names, to_numpy


def _as_rows(x: Any, name: str, num_rows: int, meaning: str, fix: str = "") -> np.ndarray:
    """``x`` as an ``(M,)`` array, one entry per row of `vectors`."""
    a = to_numpy(x, name)
    if a.ndim != 1 or len(a) != num_rows:
        raise InvalidInputError(
            f"`{name}` must have shape (M,) = ({num_rows},), {meaning}, got shape {a.shape}{fix}."
        )
    return a


def _labels_are_names(a: np.ndarray) -> bool:
    """True for class-name strings, False for integer indices; anything else is refused."""
    if a.dtype.kind in "iu":
        return False
    if a.dtype.kind in "US" or (a.dtype.kind == "O" and all(isinstance(x, str) for x in a)):
        return True
    raise InvalidInputError(
        f"`labels` must be integer class indices or class-name strings, got dtype "
        f"{a.dtype}; cast float labels with labels.astype(int)."
    )


def label_codes(labels: Any, num_rows: int, classes: Sequence[str]) -> np.ndarray:
    """The class of each row as an index into ``classes``: ``(M,)`` int64 in 0..K-1.

    Args:
        labels: ``(M,)`` integer indices into ``classes`` (kept as they are) or class names
            (looked up).
        num_rows: M, the number of rows of the vectors the labels go with.
        classes: the K class names (checked by :func:`class_names`).

    Raises:
        InvalidInputError: on a wrong shape, a negative index or one beyond ``classes``, a name
            not in ``classes``, or labels that are neither integers nor strings.

    Example:
        >>> label_codes(["dog", "cat", "dog"], 3, ["cat", "dog"]).tolist()
        [1, 0, 1]
    """
    names = class_names(classes)
    a = _as_rows(labels, "labels", num_rows, "one class per row of `vectors`")
    if not _labels_are_names(a):
        if a.size and int(a.min()) < 0:
            raise InvalidInputError(
                f"integer `labels` must be class indices >= 0, found {int(a.min())}."
            )
        if a.size and int(a.max()) >= len(names):
            raise InvalidInputError(
                f"integer `labels` go up to {int(a.max())} but `classes` names only {len(names)} "
                f"classes (0..{len(names) - 1}); pass one name per class index."
            )
        return a.astype(np.int64)
    found, inverse = np.unique(a.astype(str), return_inverse=True)
    lookup = {n: k for k, n in enumerate(names)}
    unknown = [n for n in found.tolist() if n not in lookup]
    if unknown:
        raise InvalidInputError(
            f"`labels` holds {unknown[:5]}, not names in `classes` ({names}); pass class "
            "indices or names."
        )
    return np.array([lookup[n] for n in found.tolist()], dtype=np.int64)[inverse.reshape(-1)]


def as_labels(
    labels: Any, num_rows: int, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Class codes ``(M,)`` int64 in 0..K-1 over the K classes present, and their names.

    Integer labels index ``classes`` (default names ``"0"``, ``"1"``, ...); the classes without
    any row are dropped and the codes renumbered in label order. String labels name their
    classes themselves (so ``classes`` must be None) and are coded in sorted name order.

    Raises:
        InvalidInputError: as :func:`label_codes`, or on ``classes`` given with string labels.

    Example:
        >>> codes, names = as_labels([3, 1, 3], 3, ["a", "b", "c", "d"])
        >>> codes.tolist(), names
        ([1, 0, 1], ['b', 'd'])
    """
    a = _as_rows(labels, "labels", num_rows, "one class per row of `vectors`")
    if _labels_are_names(a):
        if classes is not None:
            raise InvalidInputError(
                "`classes` names integer labels; these `labels` are strings and already name "
                "their classes. Drop `classes`."
            )
        found, codes = np.unique(a.astype(str), return_inverse=True)
        return codes.reshape(-1).astype(np.int64), found.tolist()
    if classes is None:
        classes = [str(k) for k in range(int(a.max()) + 1 if a.size else 0)]
    names = class_names(classes)
    present, codes = np.unique(label_codes(a, num_rows, names), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), [names[k] for k in present.tolist()]


def _row_codes(a: np.ndarray, name: str, what: str) -> np.ndarray:
    """``(M,)`` int64 codes ``0 .. n - 1`` of the distinct values of ``a`` (sorted order)."""
    try:
        _, codes = np.unique(a, return_inverse=True)
    except TypeError as err:
        raise InvalidInputError(
            f"`{name}` must hold comparable {what} (all integers or all strings)."
        ) from err
    return codes.reshape(-1).astype(np.int64)


def as_groups(groups: Any, num_rows: int) -> np.ndarray:
    """Group (image) codes ``(M,)`` int64; every row its own group when ``groups`` is None."""
    if groups is None:
        return np.arange(num_rows, dtype=np.int64)
    a = _as_rows(
        groups,
        "groups",
        num_rows,
        "the image of each row of `vectors`",
        "; pass None to make every row its own group",
    )
    return _row_codes(a, "groups", "image ids")


def as_blocks(blocks: Any, num_rows: int) -> np.ndarray:
    """Block (e.g. class) codes ``(M,)`` int64 of the rows of `vectors`, from any comparable
    ids (a kNN searches within a block)."""
    a = _as_rows(
        blocks,
        "blocks",
        num_rows,
        "the block (e.g. class) of each row of `vectors`",
        "; pass None to search all rows",
    )
    return _row_codes(a, "blocks", "ids")


def as_present(present: Any, num_rows: int) -> np.ndarray:
    """``(M,)`` bool from ``present`` (bool or 0/1); at least one row must be present.

    NaN, -1 (mlrkit's "ignore") and fractions are refused: an ignored pair is neither present
    nor absent, so its rows must be dropped from every input instead.
    """
    a = _as_rows(
        present,
        "present",
        num_rows,
        "one flag per row of `vectors`",
        "; pass None when every row is a present pair",
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
