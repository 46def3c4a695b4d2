"""The float32 pass of :func:`mlrkit.metrics.cosine_topk`: each row's best candidates, with a
bound on the ones it let go (the definition is in :mod:`mlrkit.metrics.neighbors`, the exact
ranking in :mod:`mlrkit.metrics._exact`).

Every pair of rows is multiplied once, in float32:

1. **Tiles.** The rows are cut into tiles of consecutive rows; each tile is multiplied with
   itself (``Z_T Z_T^T``) and every row keeps its ``L`` best candidates there (``topk`` of
   ``L + 1``), its *floor* being the best one it let go.
2. **Panels.** Each tile is cut into panels of consecutive rows; a panel is multiplied with
   every row after its tile (``Z[lo:hi] Z[e:]^T``). A value enters a row's buffer only when it
   beats the row's floor: one comparison pass for the panel's rows (along the panel's rows),
   one for the later rows (along its columns), each read back 8 bytes of mask at a time. With
   floors from a whole tile, few values beat them (on the order of ``L`` per row and panel
   early on, fewer as the floors rise), so the cost is the matrix product plus those passes;
   a ``topk`` of every panel row costs several times more.
3. **Buffers.** A row's buffer holds up to ``2L`` values; when full it keeps its ``L`` best
   and its floor rises to the best value dropped (a row offered more than ``L`` values at once
   is merged by a sort instead).

Invariant (what :func:`mlrkit.metrics._exact.exact_neighbors` relies on): a candidate a row has
not kept has a float32 value ``<=`` the row's floor; a floor of -inf means nothing was dropped.
"""

from __future__ import annotations

import numpy as np
import torch

from ._exact import Groups

MAX_TILE_ROWS = 8192  # a (tile, tile) float32 product: 256 MiB


class Buffers:
    """Each row's candidates so far (float32 value, index) and its floor."""

    def __init__(self, n: int, keep: int) -> None:
        self.keep, self.capacity = keep, 2 * keep
        self.value = np.full((n, self.capacity), -np.inf, dtype=np.float32)
        self.index = np.full((n, self.capacity), -1, dtype=np.int64)
        self.fill = np.zeros(n, dtype=np.int64)  # slots in use: values beyond are -inf
        self.floor = np.full(n, -np.inf, dtype=np.float32)

    def compact(self, rows: np.ndarray) -> None:
        """Keep the ``L`` best of each row's buffer; the floor rises to the best dropped."""
        if len(rows):
            self._keep_best(rows, self.value[rows], self.index[rows])

    def merge(self, lo: int, hi: int, value: np.ndarray, index: np.ndarray) -> None:
        """Rows ``lo..hi-1`` keep the ``L`` best of their buffer and new candidates ``(R, c)``
        (each offered once, no better than a candidate not offered when ``c > L``: the one
        then dropped raises the floor above every candidate not offered)."""
        value = np.concatenate([self.value[lo:hi], value], axis=1)
        index = np.concatenate([self.index[lo:hi], index], axis=1)
        self._keep_best(slice(lo, hi), value, index)

    def _keep_best(self, rows: np.ndarray | slice, value: np.ndarray, index: np.ndarray) -> None:
        """Store the ``L`` best of ``value (R, c)`` as the buffers of ``rows``, raising their
        floors to the best value dropped."""
        drop = value.shape[1] - self.keep
        pick = np.argpartition(value, drop, axis=1)
        dropped = np.take_along_axis(value, pick[:, :drop], axis=1).max(axis=1)
        self.floor[rows] = np.maximum(self.floor[rows], dropped)
        kept = pick[:, drop:]
        self.value[rows, : self.keep] = np.take_along_axis(value, kept, axis=1)
        self.index[rows, : self.keep] = np.take_along_axis(index, kept, axis=1)
        self.value[rows, self.keep :], self.index[rows, self.keep :] = -np.inf, -1
        self.fill[rows] = self.keep

    def add(self, rows: np.ndarray, index: np.ndarray, value: np.ndarray) -> None:
        """Offer candidate ``index[h]`` with ``value[h]`` to row ``rows[h]`` (each pair once)."""
        entries = self._sorted(rows, index, value)
        uniq, count = np.unique(entries[0], return_counts=True)
        over = uniq[self.fill[uniq] + count > self.capacity]
        if len(over):
            self.compact(over)
            entries = self._sorted(*entries)  # again against the risen floors
            uniq, count = np.unique(entries[0], return_counts=True)
            big = self.fill[uniq] + count > self.capacity
            if big.any():
                inside = np.isin(entries[0], uniq[big])
                self._merge_crowded(uniq[big], *(e[inside] for e in entries))
                entries = tuple(e[~inside] for e in entries)
                uniq, count = uniq[~big], count[~big]
        rows, index, value = entries
        first = np.repeat(np.cumsum(count) - count, count)
        slot = self.fill[rows] + np.arange(len(rows)) - first
        self.value[rows, slot], self.index[rows, slot] = value, index
        self.fill[uniq] += count

    def _sorted(
        self, rows: np.ndarray, index: np.ndarray, value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries that beat their row's floor, sorted by row."""
        keep = value > self.floor[rows]
        rows, index, value = rows[keep], index[keep], value[keep]
        order = np.argsort(rows, kind="stable")
        return rows[order], index[order], value[order]

    def _merge_crowded(
        self, uniq: np.ndarray, rows: np.ndarray, index: np.ndarray, value: np.ndarray
    ) -> None:
        """Rows with more new entries than room: keep the ``L`` best of buffer and entries."""
        held = self.index[uniq] >= 0
        all_rows = np.r_[np.repeat(uniq, held.sum(axis=1)), rows]
        all_index = np.r_[self.index[uniq][held], index]
        all_value = np.r_[self.value[uniq][held], value]
        order = np.lexsort((-all_value, all_rows))
        all_rows, all_index, all_value = all_rows[order], all_index[order], all_value[order]
        first = np.flatnonzero(np.r_[True, all_rows[1:] != all_rows[:-1]])
        rank = np.arange(len(all_rows)) - np.repeat(first, np.diff(np.r_[first, len(all_rows)]))
        out = rank == self.keep  # the best value dropped
        self.floor[all_rows[out]] = np.maximum(self.floor[all_rows[out]], all_value[out])
        self.value[uniq], self.index[uniq], self.fill[uniq] = -np.inf, -1, self.keep
        kept = rank < self.keep
        self.value[all_rows[kept], rank[kept]] = all_value[kept]
        self.index[all_rows[kept], rank[kept]] = all_index[kept]


def _top(values: np.ndarray, count: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest of each row of ``values (R, C)`` (all of them when ``C <= count``)
    and their indices ``base + column``; -1 where the value is -inf (not a candidate)."""
    value, pos = torch.topk(torch.from_numpy(values), min(count, values.shape[1]), dim=1)
    value, index = value.numpy(), pos.numpy() + base
    index[value == -np.inf] = -1
    return value, index


def _hits(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a sparse 2-D bool mask, reading it 8 bytes at a time."""
    flat = mask.reshape(-1)
    whole = flat.size // 8 * 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    where = np.r_[(words[:, None] * 8 + np.arange(8)).reshape(-1), np.arange(whole, flat.size)]
    where = where[flat[where]]
    return np.divmod(where, mask.shape[1])


def candidates(z32: np.ndarray, groups: Groups, keep: int, panel_rows: int) -> Buffers:
    """Each row's ``keep`` best candidates by float32 similarity, and its floor."""
    n = len(z32)
    tile = min(n, max(panel_rows, min(8 * panel_rows, MAX_TILE_ROWS)))
    panel_rows = min(panel_rows, tile)
    buffers = Buffers(n, keep)
    for a in range(0, n, tile):
        e = min(a + tile, n)
        block = z32[a:e] @ z32[a:e].T
        groups.exclude(block, a, a)
        buffers.merge(a, e, *_top(block, keep + 1, a))
    for a in range(0, n, tile):
        e = min(a + tile, n)
        if e == n:
            break
        for lo in range(a, e, panel_rows):
            hi = min(lo + panel_rows, e)
            rows = np.arange(lo, hi)
            buffers.compact(rows[buffers.fill[lo:hi] > keep])  # raise their floors first
            panel = z32[lo:hi] @ z32[e:].T  # (b, n - e)
            groups.exclude(panel, lo, e)
            r, c = _hits(panel > buffers.floor[lo:hi, None])  # for the panel's rows
            buffers.add(lo + r, e + c, panel[r, c])
            r, c = _hits(panel > buffers.floor[None, e:])  # for the later rows
            buffers.add(e + c, lo + r, panel[r, c])
    buffers.compact(np.flatnonzero(buffers.fill > keep))
    return buffers
