"""The explorer's input checks: its embeddings (rows to show, the same rows in every view) and
their 2-D coordinates (given, or UMAP's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.explore.embeddings import ClassEmbeddings


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
