"""``(M, D)`` vectors, one row per (image, class) pair, and their cosine geometry."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from mlrkit.errors import InvalidInputError
from mlrkit.inputs._common import to_numpy

_CHECK_ROWS = 65536  # vector rows validated at a time (a float64 copy of only these)


def as_nonzero_vectors(vectors: Any) -> np.ndarray:
    """``(M, D)`` numeric array, finite, without an all-zero row (checked in row chunks).

    The dtype is kept (a tensor as :func:`to_numpy` gives it); at most ``65536`` rows are
    copied to float64 at a time for the checks.
    """
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
    """``vectors`` as a finite ``(M, D)`` float32 C-contiguous array, or InvalidInputError.

    A tensor is converted to float32 on its own device, so a CUDA tensor crosses to the CPU
    at half the size of float64; finiteness is checked after the conversion.
    """
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


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` in float64 with every row scaled to length 1.

    The rows must be nonzero (see :func:`as_nonzero_vectors`); the input is never modified.
    """
    z = vectors.astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return z


class ClassCentroids(NamedTuple):
    """The class centroids of unit rows (see :func:`class_centroids`)."""

    mean: np.ndarray
    """``(K, D)`` ``mu_c``, the mean of the rows of class c (NaN for a class without a row)."""
    norm: np.ndarray
    """``(K,)`` ``||mu_c||``, the mean cosine of the class's rows to ``m_c``; NaN where
    ``mu_c`` is NaN or the origin (no direction)."""
    direction: np.ndarray
    """``(K, D)`` ``m_c = mu_c / ||mu_c||``, NaN rows where ``norm`` is NaN."""


def class_centroids(unit: np.ndarray, codes: np.ndarray, num_classes: int) -> ClassCentroids:
    """The centroid of each class of unit rows, its length and its direction.

    ``mu_c = (1 / n_c) sum_{i: y_i = c} z_i`` and ``m_c = mu_c / ||mu_c||``, in float64. The
    cosine between two class directions is ``m_a . m_b``; since the rows are unit vectors,
    ``||mu_c||`` is the mean cosine between the rows of class c and ``m_c``.

    Args:
        unit: ``(M, D)`` rows of length 1 (:func:`unit_rows`).
        codes: ``(M,)`` the class of each row in 0..K-1 (:func:`label_codes`, :func:`as_labels`).
        num_classes: K; a class without a row gets NaN everywhere.

    Raises:
        InvalidInputError: on codes of another length than ``unit`` or outside 0..K-1.

    Example:
        >>> c = class_centroids(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 0]), 2)
        >>> c.norm.round(4).tolist(), c.direction[0].round(4).tolist()
        ([0.7071, nan], [0.7071, 0.7071])
    """
    if unit.ndim != 2 or codes.shape != (len(unit),):
        raise InvalidInputError(
            f"`codes` must have shape (M,) = ({len(unit)},), one class per row of the (M, D) "
            f"unit rows, got {codes.shape} for rows of shape {unit.shape}."
        )
    if len(codes) and (codes.min() < 0 or codes.max() >= num_classes):
        raise InvalidInputError(
            f"`codes` must lie in 0..{num_classes - 1}, found {int(codes.min())}.."
            f"{int(codes.max())}."
        )
    counts = np.bincount(codes, minlength=num_classes)
    onehot = np.zeros((len(unit), num_classes))  # (M, K)
    onehot[np.arange(len(unit)), codes] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):  # classes without a row: 0 / 0
        mean = onehot.T @ unit / counts[:, None]  # (K, D)
        norm = np.linalg.norm(mean, axis=1)
        norm[norm == 0] = np.nan  # a centroid at the origin has no direction
        direction = mean / norm[:, None]
    return ClassCentroids(mean, norm, direction)
