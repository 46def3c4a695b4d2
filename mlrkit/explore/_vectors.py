"""The ``(M, D)`` vector checks of the explore functions: tensors or arrays in, numpy out.

Both explore entry points take one row per (image, class) pair and turn it into a numpy array
with :func:`to_numpy`, then check it their own way, because they compute on different things:

- :func:`as_nonzero_vectors` (:func:`~mlrkit.explore.separation_report`) keeps the input's
  dtype (the measures normalise and compute in float64 themselves), checks finiteness in
  float64 row chunks (never a full float64 copy), and refuses all-zero rows, which have no
  cosine direction.
- :func:`as_float32_vectors` (:func:`~mlrkit.explore.umap_embed`) returns the float32
  C-contiguous array that UMAP computes on and the cache key hashes, and checks finiteness
  after that conversion (a float64 beyond float32's range becomes inf).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlrkit._arrays import to_numpy
from mlrkit.errors import InvalidInputError

_CHECK_ROWS = 65536  # rows validated at a time (a float64 copy of only these)


def as_nonzero_vectors(vectors: Any) -> np.ndarray:
    """``(M, D)`` numeric array, finite, without an all-zero row (checked in row chunks)."""
    v = to_numpy(vectors, "vectors")
    if v.ndim != 2:
        raise InvalidInputError(
            f"`vectors` must have shape (M, D), one row per (image, class) pair, got shape "
            f"{v.shape}. Stack the rows into a matrix (a single vector is vectors[None, :])."
        )
    if v.shape[0] == 0 or v.shape[1] == 0:
        raise InvalidInputError(
            f"`vectors` is empty (shape {v.shape}); there is nothing to measure."
        )
    if v.dtype.kind not in "fiu":
        raise InvalidInputError(
            f"`vectors` must hold numbers, got dtype {v.dtype}; convert it with "
            "np.asarray(vectors, dtype=np.float32)."
        )
    bad = zero = 0
    first_bad = first_zero = -1
    for lo in range(0, v.shape[0], _CHECK_ROWS):
        chunk = v[lo : lo + _CHECK_ROWS].astype(np.float64)
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            bad += int((~finite).sum())
            first_bad = first_bad if first_bad >= 0 else lo + int(np.argmin(finite))
        norm = np.linalg.norm(np.where(finite[:, None], chunk, 1.0), axis=1)
        if (norm == 0).any():
            zero += int((norm == 0).sum())
            first_zero = first_zero if first_zero >= 0 else lo + int(np.argmax(norm == 0))
    if bad:
        raise InvalidInputError(
            f"`vectors` has {bad} row(s) holding NaN or inf (first at row {first_bad}); "
            "check the model outputs for a diverged run, or drop those rows first."
        )
    if zero:
        raise InvalidInputError(
            f"`vectors` has {zero} all-zero row(s) (first at row {first_zero}): a zero vector "
            "has no direction, so its cosine to anything is undefined. Drop them first, e.g. "
            "keep = np.linalg.norm(vectors, axis=1) > 0, with the same mask on labels and groups."
        )
    return v


def as_float32_vectors(vectors: Any) -> np.ndarray:
    """``vectors`` as a finite ``(M, D)`` float32 C-contiguous array, or InvalidInputError."""
    if isinstance(vectors, torch.Tensor):
        t = vectors.detach()
        if t.is_complex() or t.dtype == torch.bool:
            raise InvalidInputError(
                f"`vectors` must hold real numbers, got a tensor of {t.dtype}. "
                "Pass the float features (e.g. ClassEmbeddings.vectors)."
            )
        vectors = t.to(torch.float32)  # on its own device: a CUDA tensor crosses as float32
    a = to_numpy(vectors, "vectors")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise InvalidInputError(
            f"`vectors` must hold real numbers, got dtype {a.dtype}. "
            "Pass the float features (e.g. ClassEmbeddings.vectors)."
        )
    if a.ndim != 2:
        raise InvalidInputError(
            f"`vectors` must have shape (M, D) (rows x features), got shape {a.shape}. "
            + (
                "Reshape one vector per row: vectors.reshape(-1, 1) for scalars, "
                "vectors[None] for a single vector."
                if a.ndim == 1
                else "Flatten the extra dimensions: vectors.reshape(len(vectors), -1)."
            )
        )
    if a.shape[1] == 0:
        raise InvalidInputError(
            f"`vectors` has shape {a.shape}: no feature column. Pass at least one feature per row."
        )
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: caught below
        x = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        bad = ~finite
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"`vectors` holds {int(bad.sum())} NaN or infinite value(s) (after conversion to "
            f"float32), in {int(bad.any(axis=1).sum())} row(s), the first at row {row}, column "
            f"{col}. UMAP needs finite vectors: drop those rows or check the model for a "
            "diverged run."
        )
    return x
