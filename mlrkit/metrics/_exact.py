"""The exact side of :func:`mlrkit.metrics.cosine_topk`: the quantised unit rows, the bound on
float32 rounding, and the exact ranking of the kept candidates (or of a whole row).

With ``zhat`` the unit rows rounded to multiples of ``2**-26``, every product of two
coordinates is a multiple of ``2**-52`` and every partial sum of a dot product is smaller than
2 in size (``|zhat| <= 1 + sqrt(D) 2**-27``), so float64 holds each of them exactly: a dot
product, a matrix product or an ``einsum`` of quantised rows is exact whatever the order of
summation, the BLAS or the thread count. Ranking: similarity descending, then index ascending.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

QUANTUM_BITS = 26  # coordinates are multiples of 2**-26: every dot product is exact in float64
BUDGET_BYTES = 256 * 2**20  # working memory of one step (a panel, a batch of pairs or rows)
_NORM_ROWS = 16384  # rows normalised at a time (a float64 copy of only these)


def quantised_unit_rows(v: np.ndarray) -> np.ndarray:
    """``(M, D)`` float64: each row scaled to length 1 and rounded to multiples of 2**-26.

    Each row is first scaled by a power of two (exact) so that its largest entry lies in
    [0.5, 1): the norm cannot overflow, and ``z / ||z||`` is bit for bit ``v / ||v||``. A zero
    row stays zero.
    """
    n, d = v.shape
    out = np.empty((n, d))
    for lo in range(0, n, _NORM_ROWS):
        z = v[lo : lo + _NORM_ROWS].astype(np.float64)  # a copy, never the caller's array
        _, exponent = np.frexp(np.abs(z).max(axis=1, keepdims=True))
        z = np.ldexp(z, -exponent)  # by a power of two: exact, and no overflow in the norm
        norm = np.linalg.norm(z, axis=1, keepdims=True)
        np.divide(z, norm, out=z, where=norm > 0)
        np.rint(np.ldexp(z, QUANTUM_BITS), out=z)
        out[lo : lo + _NORM_ROWS] = np.ldexp(z, -QUANTUM_BITS)
    return out


def float32_error(zq: np.ndarray) -> float:
    """A bound ``eps`` on ``|float32 similarity - exact similarity|`` for rows of ``zq``.

    With ``u = 2**-24``: rounding the rows to float32 moves a dot product by at most
    ``2u |a||b|``, and the float32 product itself (any order of summation, with or without
    FMA) by at most ``gamma_D |a||b|``, ``gamma_D = D u / (1 - D u)``; ``|a|, |b| <= r``, the
    largest row norm (1 up to the quantisation). A 10% margin covers the products of ``1 + u``.
    """
    d = zq.shape[1]
    u = 2.0**-24
    if d * u >= 0.5:
        return float("inf")  # no useful float32 bound: every row goes the exact way
    r2 = float((zq**2).sum(axis=1).max(initial=0.0))
    return 1.1 * (d * u / (1 - d * u) + 2 * u) * max(r2, 1.0)


class Groups(NamedTuple):
    """Rows grouped by code (rows of one group are never each other's candidates)."""

    code: np.ndarray  # (n,) int64 in 0..G-1
    order: np.ndarray  # (n,) rows sorted by group, ascending within a group
    start: np.ndarray  # (G,) where each group begins in `order`
    size: np.ndarray  # (G,)

    @classmethod
    def of(cls, code: np.ndarray) -> Groups:
        size = np.bincount(code)
        return cls(code, np.argsort(code, kind="stable"), np.cumsum(size) - size, size)

    def exclude(self, block: np.ndarray, row0: int, col0: int) -> None:
        """Set ``block[r, c]`` (rows ``row0 + r`` against rows ``col0 + c``) to -inf where the
        two rows share a group, a row and itself included."""
        height, width = block.shape
        gi = self.code[row0 : row0 + height]
        size = self.size[gi]
        total = int(size.sum())
        if total > block.size // 8:  # big groups: one comparison pass is cheaper than pairs
            same = gi[:, None] == self.code[None, col0 : col0 + width]
            np.copyto(block, -np.inf, where=same)
            return
        rows = np.repeat(np.arange(height), size)
        offset = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
        cols = self.order[np.repeat(self.start[gi], size) + offset] - col0
        keep = (cols >= 0) & (cols < width)
        block[rows[keep], cols[keep]] = -np.inf


def _place(
    row: np.ndarray, col: np.ndarray, sim: np.ndarray, out_i: np.ndarray, out_s: np.ndarray
) -> None:
    """Write each row's best ``k`` of the scored pairs ``(row, col, sim)`` into the outputs,
    ranked by ``sim`` descending, then ``col`` ascending."""
    k = out_i.shape[1]
    order = np.lexsort((col, -sim, row))
    row, col, sim = row[order], col[order], sim[order]
    first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    rank = np.arange(len(row)) - np.repeat(first, np.diff(np.r_[first, len(row)]))
    keep = rank < k
    out_i[row[keep], rank[keep]] = col[keep]
    out_s[row[keep], rank[keep]] = sim[keep]


def exact_neighbors(
    value: np.ndarray,
    index: np.ndarray,
    floor: np.ndarray,
    zq: np.ndarray,
    groups: Groups,
    k: int,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbours from the kept candidates of the float32 pass.

    Args:
        value, index: ``(n, L)`` each row's kept candidates (float32 value, index; -1 = none).
        floor: ``(n,)`` every candidate a row did not keep has a float32 value ``<= floor``
            (-inf: the row kept all its candidates).
        zq: ``(n, D)`` the quantised unit rows; ``groups``: their groups.
        k: neighbours per row (``k <= L``); ``eps``: :func:`float32_error` of ``zq``.

    Returns:
        ``(n, k)`` int64 indices (-1 pad) and ``(n, k)`` float64 exact similarities (NaN pad).

    A row's exact top k lies among its candidates whose float32 value is at least
    ``cut = min(k-th kept value, 1) - 2 eps``: the k best kept ones are worth at least
    ``min(k-th, 1) - eps`` exactly (after the clip), anything below the cut less than that.
    So a row with ``floor < cut`` is ranked from its kept candidates, rescored exactly; any
    other row (more near-ties than it kept, e.g. many duplicates, or a zero row) is recomputed
    exactly against every row.
    """
    n, d = zq.shape
    order = np.argsort(-value, axis=1, kind="stable")
    value = np.take_along_axis(value, order, axis=1).astype(np.float64)
    index = np.take_along_axis(index, order, axis=1)
    cut = np.minimum(value[:, k - 1], 1.0) - 2 * eps  # -inf with fewer than k kept
    complete = floor == -np.inf  # the row kept all its candidates
    recompute = ~complete & ~(floor < cut)
    take = (index >= 0) & ~recompute[:, None] & ((value >= cut[:, None]) | complete[:, None])

    out_i = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), np.nan)
    row, slot = np.nonzero(take)
    col = index[row, slot]
    sim = np.empty(len(row))
    step = max(1, BUDGET_BYTES // (128 * d))  # two (step, D) float64 gathers: 32 MiB
    for a in range(0, len(row), step):
        sim[a : a + step] = np.einsum("pd,pd->p", zq[row[a : a + step]], zq[col[a : a + step]])
    _place(row, col, np.clip(sim, -1.0, 1.0), out_i, out_s)

    rows = np.flatnonzero(recompute)
    step = max(1, BUDGET_BYTES // (20 * n))  # (R, n) float64, its partitioned copy, masks
    last = min(k, n) - 1
    for a in range(0, len(rows), step):
        r = rows[a : a + step]
        s = np.clip(zq[r] @ zq.T, -1.0, 1.0)  # (R, n), exact
        s[groups.code[r][:, None] == groups.code[None, :]] = -np.inf
        kth = -np.partition(-s, last, axis=1)[:, last]
        hit_r, hit_c = np.nonzero((s >= kth[:, None]) & (s > -np.inf))  # ties at the k-th too
        _place(r[hit_r], hit_c, s[hit_r, hit_c], out_i, out_s)
    return out_i, out_s
