"""The explorer's input checks: its embeddings (rows to show, the same rows in every view), their
2-D coordinates (given, or UMAP's), and the row, count and view of a neighbour search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.explore.embeddings import ClassEmbeddings
from mlrkit.inputs import is_count


def embedding_list(
    embeddings: ClassEmbeddings | Sequence[ClassEmbeddings],
) -> list[ClassEmbeddings]:
    """The embeddings as a list, each with rows, all describing the same rows in the same order.

    Raises:
        InvalidInputError: none; one without any row; rows that differ between embeddings.
    """
    found = [embeddings] if isinstance(embeddings, ClassEmbeddings) else list(embeddings)
    if not found:
        raise InvalidInputError("Explorer needs at least one ClassEmbeddings")
    for k, emb in enumerate(found):  # else empty arrays fail deep in UMAP or jscatter
        if len(emb.frame) == 0:
            raise InvalidInputError(
                f"nothing to show: embedding {k} (split {emb.split!r} of {emb.source}) has no "
                "(image, class) row: no present (image, class) pair was selected, or every row "
                "was filtered out. Extract with which='all' or from a split with positive "
                "labels, or keep at least one row."
            )
    first = found[0].frame
    for k, other in enumerate(found[1:], start=1):
        frame = other.frame
        same = (
            len(frame) == len(first)
            and np.array_equal(frame["image"].to_numpy(), first["image"].to_numpy())
            and np.array_equal(frame["class_index"].to_numpy(), first["class_index"].to_numpy())
        )
        if not same:
            raise InvalidInputError(
                f"embedding {k} ({len(frame)} rows) does not describe the same (image, "
                f"class) rows in the same order as embedding 0 ({len(first)} rows); linked "
                "views need the same split, the same `which` and the same `max_items`"
            )
    return found


def as_coords(
    coords: Any, embeddings: Sequence[ClassEmbeddings], seed: int | None
) -> list[np.ndarray]:
    """One float32 ``(M, 2)`` array per embedding: ``coords`` checked, or UMAP's when None.

    Raises:
        InvalidInputError: a count or a shape that does not match the embeddings.
    """
    if coords is None:
        from mlrkit.explore.umap_cache import umap_embed

        return [np.asarray(umap_embed(e.vectors, seed=seed).coords, np.float32) for e in embeddings]
    if isinstance(coords, np.ndarray) and coords.ndim == 2:
        coords = [coords]
    out = [np.asarray(c, dtype=np.float32) for c in coords]
    if len(out) != len(embeddings):
        raise InvalidInputError(
            f"got {len(out)} coordinate arrays for {len(embeddings)} embeddings"
        )
    for c, e in zip(out, embeddings, strict=True):
        if c.shape != (len(e.frame), 2):
            raise InvalidInputError(
                f"coords must have shape (M, 2) = ({len(e.frame)}, 2), got {c.shape}"
            )
    return out


def row_of(row: Any, rows: int) -> int:
    """``row`` as an int, when it is an integer (not a bool) in ``[0, rows)``.

    Raises:
        InvalidInputError: anything else (one line, naming the range).
    """
    if isinstance(row, bool) or not isinstance(row, int | np.integer):
        raise InvalidInputError(
            f"row must be an integer row position in [0, {rows}), got {row!r} "
            f"({type(row).__name__})"
        )
    if not 0 <= row < rows:
        raise InvalidInputError(f"row {row} is out of range: rows lie in [0, {rows})")
    return int(row)


def count_of(value: Any, name: str, *, zero: bool = False) -> int:
    """``value`` as an int, when it is a whole number >= 1 (>= 0 with ``zero``), not a bool.

    Raises:
        InvalidInputError: anything else (one line, naming the argument).
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and zero and value == 0:
        return 0
    if not is_count(value):
        least = 0 if zero else 1
        raise InvalidInputError(
            f"{name}={value!r} must be a whole number >= {least} (neighbours to show), e.g. 8"
        )
    return int(value)


def view_of(value: Any, views: int, name: str = "view") -> int:
    """``value`` as an int, when it is the position of one of ``views`` views.

    Raises:
        InvalidInputError: anything else (one line).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (0 <= value < views)
    ):
        raise InvalidInputError(
            f"{name}={value!r} must be a view's position in [0, {views}) (the order of the "
            "embeddings given)"
        )
    return int(value)


def rows_of(indices: Any, rows: int) -> np.ndarray:
    """``indices`` (None or [] for none) as int64 row positions, each in ``[0, rows)``.

    Raises:
        InvalidInputError: indices that are not integers, or one out of range.
    """
    found = np.asarray([] if indices is None else indices)
    if found.size and not np.issubdtype(found.dtype, np.integer):
        raise InvalidInputError(f"select needs integer row indices, got dtype {found.dtype}")
    found = found.astype(np.int64).ravel()
    if found.size and (found.min() < 0 or found.max() >= rows):
        raise InvalidInputError(f"row indices must lie in [0, {rows}); got out of range")
    return found
