"""The explorer's nearest rows: the k rows of one row's class, from other images, that point most
nearly its way, as :func:`mlrkit.metrics.cosine_topk` ranks them.

:class:`NearestRows` answers one row at a time, lazily, without the top-k of every row: a float64
pass over the row's block (its class, other images) keeps every candidate whose cosine lies
within a margin of the k-th best, and :func:`~mlrkit.metrics.cosine_topk` (``groups`` = image,
``blocks`` = class index) ranks the row against those alone. The answer is the one
``cosine_topk`` gives on all rows: its similarity ``s`` is within ``sqrt(D) 2**-26`` of the
cosine ``c`` (its docstring), so a row of the true top k has ``c >= s - d >= s_k - d >= c_k - 2d``
(``s_k``, ``c_k``: the k-th largest similarity and cosine, ``d`` the bound): the kept rows hold
the true top k, and keeping their order (ascending row index) keeps its ties broken by the lower
index. The margin is twice ``2d`` plus the float64 rounding of ``c``.

Cost of a row: ``O(M_b D)`` for its block of ``M_b`` rows (read in chunks of ``CHUNK_BYTES``),
plus ``cosine_topk`` on the kept rows (about k of them, more only where many rows tie with the
k-th, e.g. duplicates). Memory: the block's row indices and cosines, one chunk in float64 and
the last ``CACHE_ROWS`` answers; never a block's or the whole set's top k.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import cosine_topk

CHUNK_BYTES = 64 * 2**20  # float64 rows read at a time in the cosine pass
CACHE_ROWS = 256  # answers kept (per row; the largest k asked)


def _unit_rows(v: np.ndarray) -> np.ndarray:
    """Float64 copy of ``v`` with rows of length 1 (a zero row stays zero)."""
    z = v.astype(np.float64)
    _, exponent = np.frexp(np.abs(z).max(axis=1, keepdims=True))
    z = np.ldexp(z, -exponent)  # by a power of two: no overflow in the norm
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    np.divide(z, norm, out=z, where=norm > 0)
    return z


class NearestRows:
    """Exact cosine neighbours of single rows, same block (class) and other group (image) only.

    Args:
        vectors: ``(M, D)`` real matrix (kept by reference, never copied whole).
        groups: ``(M,)`` image ids: a row's own image never gives a neighbour.
        blocks: ``(M,)`` class indices: only rows of the same class are candidates.
    """

    def __init__(self, vectors: Any, groups: Any, blocks: Any) -> None:
        self.vectors = np.asarray(vectors)
        self.groups = np.asarray(groups)
        self.blocks = np.asarray(blocks)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, int]] = OrderedDict()

    def of(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ``row``'s at most ``k`` neighbours: int64 row indices and float32 similarities,
        best first (similarity descending, then row index ascending); fewer than ``k`` where
        its class has fewer rows from other images."""
        cached = self._cache.get(row)
        # An answer for a larger k starts with this one; one shorter than its k holds them all.
        if cached is not None and (cached[2] >= k or len(cached[0]) < cached[2]):
            self._cache.move_to_end(row)
            return cached[0][:k], cached[1][:k]
        indices, sims = self._search(row, k)
        self._cache[row] = (indices, sims, k)
        self._cache.move_to_end(row)
        while len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return indices, sims

    def _search(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        candidates = np.flatnonzero(
            (self.blocks == self.blocks[row]) & (self.groups != self.groups[row])
        )
        self._check_finite(np.array([row]), row)
        if len(candidates) > k:
            candidates = self._shortlist(row, candidates, k)
        if len(candidates) == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        # The row first, then its kept candidates in ascending order (ties: the lower index).
        rows = np.concatenate([[row], candidates])
        self._check_finite(candidates, row)
        indices, sims = cosine_topk(
            self.vectors[rows], min(k, len(candidates)),
            groups=self.groups[rows], blocks=self.blocks[rows],
        )  # fmt: skip
        found = indices[0] >= 0
        return rows[indices[0][found]], sims[0][found]

    def _shortlist(self, row: int, candidates: np.ndarray, k: int) -> np.ndarray:
        """The candidates whose cosine with ``row`` may put them in its top ``k`` (ascending)."""
        query = _unit_rows(self.vectors[row : row + 1])[0]
        if not query.any():  # a zero row: similarity 0 with every row, so the lowest indices
            return candidates[:k]
        dim = self.vectors.shape[1]
        step = max(1, CHUNK_BYTES // (8 * dim))
        with np.errstate(invalid="ignore"):  # rows holding NaN or inf give NaN
            cosines = np.concatenate(
                [_unit_rows(self.vectors[candidates[lo : lo + step]]) @ query
                 for lo in range(0, len(candidates), step)]
            )  # fmt: skip
        cosines[np.isnan(cosines)] = np.inf  # a row holding NaN or inf is kept, and reported
        kth = np.partition(cosines, len(cosines) - k)[len(cosines) - k]
        margin = 4 * np.sqrt(dim) * 2.0**-26 + 1e-9  # twice 2d, plus float64 rounding
        return candidates[cosines >= kth - margin]

    def _check_finite(self, rows: np.ndarray, row: int) -> None:
        finite = np.isfinite(self.vectors[rows]).all(axis=1)
        if not finite.all():
            raise InvalidInputError(
                f"the vector of row {rows[np.argmin(finite)]} holds NaN or inf, so no cosine "
                f"ranks row {row}'s neighbours; check the run for divergence"
            )
