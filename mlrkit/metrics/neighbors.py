"""Exact cosine k-nearest neighbours over the rows of a matrix: one search for the whole kit.

:func:`cosine_topk` answers, for every row, "which k other rows point most nearly the same
way?", optionally only among rows of the same *block* (e.g. the same class) and never among rows
of the same *group* (e.g. the same image). The separation report's kNN@1 and the label audit's
feature suspicion both use it.

Definition. Row ``v_i`` is scaled to unit length, ``z_i = v_i / ||v_i||`` (a zero row stays the
zero vector), and each coordinate is rounded to a multiple of ``2**-26``:
``zhat_i = round(2**26 z_i) / 2**26``. The similarity of rows i and j is

    ``s_ij = clip(zhat_i . zhat_j, -1, 1)``

computed *exactly*: every product and partial sum is a multiple of ``2**-52`` smaller than 2
in size, which float64 holds exactly whatever the order of summation. So ``s_ij`` is within
``sqrt(D) 2**-26`` of the cosine of the inputs (about ``2.4e-7`` at ``D = 256``, the precision
of float32), ``s_ij = s_ji``, identical rows have bit-identical similarities (ties are real
ties), and the result is the same whatever the chunk size, BLAS or thread count. A zero row has
similarity 0 with every row (as ``sklearn``'s cosine distance of 1).

The candidates of row i are the rows ``j != i`` with ``groups[j] != groups[i]`` (when
``groups`` is given) and ``blocks[j] == blocks[i]`` (when ``blocks`` is given). Its neighbours
are the k candidates with the largest ``s_ij``, **ties broken by the lower index j**, listed by
similarity descending then index ascending. A row with fewer than k candidates lists them all,
then pads with index -1 and similarity NaN.

Cost. Time ``O(M^2 D / 2)`` per block (each pair is multiplied once, in float32 matrix
products of a panel of consecutive rows against the rows after it), plus ``O(M k D)`` to score
the kept candidates exactly. Memory: the quantised rows in float64 and float32 (``12 M D``
bytes), ``(M, 2 (k + 8))`` candidate buffers, and about 256 MiB of working set (the panel rows
are chosen to fit it); never an ``(M, M)`` matrix. The float32 pass keeps ``k + 8`` candidates
per row; a row whose kept candidates do not provably contain its neighbours (more than 8 extra
candidates within twice the float32 rounding of its k-th, e.g. many duplicates of one vector,
or a zero row, whose candidates all tie at 0) is recomputed exactly against its whole block in
float64, which costs about twice its share of the float32 pass. :mod:`mlrkit.metrics._topk`
and :mod:`mlrkit.metrics._exact` say why the two passes give the definition's answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import as_blocks, as_groups, is_count, to_numpy

from ._exact import BUDGET_BYTES, Groups, exact_neighbors, float32_error, quantised_unit_rows
from ._topk import candidates

__all__ = ["cosine_topk"]

EXTRA = 8  # the float32 pass keeps k + EXTRA candidates per row
_CHECK_ROWS = 65536  # rows checked for NaN / inf at a time


def _as_vectors(vectors: Any) -> np.ndarray:
    """``(M, D)`` real array without NaN or inf, dtype kept (checked in row chunks)."""
    v = to_numpy(vectors, "vectors")
    if v.ndim != 2:
        raise InvalidInputError(
            f"`vectors` must have shape (M, D), one row per item, got shape {v.shape}; stack "
            "the rows into a matrix (a single vector is vectors[None, :])."
        )
    if v.dtype.kind not in "fiu":
        raise InvalidInputError(
            f"`vectors` must hold real numbers, got dtype {v.dtype}; convert it with "
            "np.asarray(vectors, dtype=np.float32)."
        )
    if v.shape[1] == 0:
        raise InvalidInputError(
            f"`vectors` has shape {v.shape}: no feature column, so no direction to compare."
        )
    if v.dtype.kind == "f":
        for lo in range(0, len(v), _CHECK_ROWS):
            finite = np.isfinite(v[lo : lo + _CHECK_ROWS]).all(axis=1)
            if not finite.all():
                first = lo + int(np.argmin(finite))
                raise InvalidInputError(
                    f"`vectors` has a row holding NaN or inf (first at row {first}); drop those "
                    "rows first (with the same mask on groups and blocks) or check the model "
                    "for a diverged run."
                )
    return v


def _panel_rows(num_rows: int, chunk_rows: int | None) -> int:
    """Rows per panel: ``chunk_rows``, or as many as fit the budget (a float32 panel and its
    two comparison masks: 6 bytes an entry, 8 with room)."""
    if chunk_rows is not None:
        return int(chunk_rows)
    return int(np.clip(BUDGET_BYTES // (8 * max(num_rows, 1)), 1, max(num_rows, 1)))


def cosine_topk(
    vectors: Any,
    k: int,
    *,
    groups: Any | None = None,
    blocks: Any | None = None,
    chunk_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k most cosine-similar other rows of every row, exactly (see the module docstring).

    ``s_ij = clip(zhat_i . zhat_j, -1, 1)`` with ``zhat`` the unit rows rounded to multiples of
    ``2**-26`` (within ``sqrt(D) 2**-26`` of the cosine); row i's candidates are the rows
    ``j != i`` of another group and the same block; its neighbours are the k candidates with
    the largest ``s_ij``, ties broken by the lower index, sorted by similarity descending then
    index ascending.

    Args:
        vectors: ``(M, D)`` real array or tensor (any device; float64 is not narrowed before
            the quantisation). Zero rows are allowed: similarity 0 with every row.
        k: neighbours per row, ``>= 1``.
        groups: ``(M,)`` ids (e.g. the image of each row); rows sharing an id are never each
            other's neighbours. None: only a row itself is excluded.
        blocks: ``(M,)`` ids (e.g. the class index of each row); only rows sharing the id are
            candidates. None: all rows.
        chunk_rows: rows per panel of the float32 pass (memory ``~8 * chunk_rows * M`` bytes,
            and tiles of ``min(8 * chunk_rows, 8192)`` rows multiplied with themselves);
            None picks the most that fit about 256 MiB. The result does not depend on it.

    Returns:
        ``(indices, similarities)``: ``(M, k)`` int64 row indices into ``vectors`` and
        ``(M, k)`` float32 similarities (the exact values rounded to float32), best first;
        rows with fewer than k candidates end with index -1 and similarity NaN.

    Raises:
        InvalidInputError: on ``vectors`` that are not a real ``(M, D)`` matrix with ``D >= 1``,
            NaN or inf in a row, ``k`` or ``chunk_rows`` that is not a whole number >= 1, or
            ``groups`` / ``blocks`` of another length than the rows.

    Example:
        >>> idx, sim = cosine_topk([[1, 0], [1, 0.1], [0, 1], [1, 0]], 2, groups=[0, 0, 1, 2])
        >>> idx.tolist()
        [[3, 2], [3, 2], [1, 0], [0, 1]]
        >>> sim[0].round(4).tolist()
        [1.0, 0.0]
    """
    if not is_count(k):
        raise InvalidInputError(
            f"k={k!r} must be a whole number >= 1 (the neighbours per row), e.g. k=10."
        )
    if chunk_rows is not None and not is_count(chunk_rows):
        raise InvalidInputError(
            f"chunk_rows={chunk_rows!r} must be a whole number >= 1 (rows per panel), or None "
            "to fit the panel to about 256 MiB."
        )
    k = int(k)
    v = _as_vectors(vectors)
    num_rows = len(v)
    group_codes = as_groups(groups, num_rows)
    block_codes = None if blocks is None else as_blocks(blocks, num_rows)

    indices = np.full((num_rows, k), -1, dtype=np.int64)
    sims = np.full((num_rows, k), np.nan, dtype=np.float32)
    if num_rows == 0:
        return indices, sims
    zq = quantised_unit_rows(v)
    eps = float32_error(zq)
    if block_codes is None:
        parts = [np.arange(num_rows)]
    else:
        order = np.argsort(block_codes, kind="stable")  # each block's rows in ascending order
        parts = np.split(order, np.cumsum(np.bincount(block_codes))[:-1])
    for rows in parts:
        if len(rows) < 2:
            continue  # a lone row has no candidate
        whole = len(rows) == num_rows
        z = zq if whole else zq[rows]
        _, local = np.unique(group_codes[rows], return_inverse=True)
        grouped = Groups.of(local.reshape(-1).astype(np.int64))
        z32 = z.astype(np.float32)
        keep = k + EXTRA
        kept = candidates(z32, grouped, keep, _panel_rows(len(rows), chunk_rows))
        del z32
        idx, sim = exact_neighbors(
            kept.value[:, :keep], kept.index[:, :keep], kept.floor, z, grouped, k, eps
        )
        found = idx >= 0
        indices[rows] = np.where(found, rows[np.where(found, idx, 0)], -1)
        sims[rows] = sim
    return indices, sims
