"""The measures of :func:`~mlrkit.explore.separation_report` that need every pair of rows or
every row: the blocked pass over ``Z Z^T``, the silhouette, NC1 and ``presence_auroc`` (the
nearest neighbour of kNN@1 is :func:`mlrkit.metrics.cosine_topk`'s).

The definitions are in :mod:`mlrkit.explore.separation`'s docstring; everything here computes
and accumulates in float64, in blocks of whole rows so that memory stays ``O(block x N)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrkit.inputs import unit_rows

NC1_RCOND = 1e-6  # pseudo-inverse cut-off of S_B, relative to its largest singular value
# Between-class spread (largest singular value of the centred centroids) below this fraction
# of the rows' size is round-off, not spread: float32 rows resolve about 1e-7 of their size.
NC1_ATOL = 1e-6
BLOCK_ELEMENTS = 2**23  # entries of one (block, N) float64 matrix: 64 MiB
MAX_BLOCK_ROWS = 4096


def pairwise(z: np.ndarray, y: np.ndarray, g: np.ndarray, onehot: np.ndarray) -> dict[str, Any]:
    """Every measure that needs all pairs, in one blocked pass over ``G = Z Z^T``.

    Returns per-row class distance sums ``(N, K)`` (silhouette) and the alignment and
    uniformity sums.
    """
    n, num_classes = onehot.shape
    class_dist = np.empty((n, num_classes))
    align_sum = uniform_sum = 0.0
    align_pairs = 0
    block = int(np.clip(BLOCK_ELEMENTS // n, 1, MAX_BLOCK_ROWS))
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        rows = np.arange(hi - lo)
        gram = z[lo:hi] @ z.T  # (B, N) cosines
        np.clip(gram, -1.0, 1.0, out=gram)
        gram[rows, lo + rows] = 1.0  # a row's distance to itself is exactly 0
        dist = np.subtract(1.0, gram)  # (B, N) cosine distance, ||z_i - z_j||^2 = 2 dist
        class_dist[lo:hi] = dist @ onehot
        other_group = g[lo:hi, None] != g[None, :]  # (B, N)
        positive = other_group & (y[lo:hi, None] == y[None, :])
        align_sum += 2.0 * float(dist.sum(where=positive))
        align_pairs += int(positive.sum())
        np.multiply(dist, -4.0, out=dist)  # -2 ||z_i - z_j||^2
        np.exp(dist, out=dist)
        uniform_sum += float(dist.sum()) - (hi - lo)  # minus the self pairs, exp(0) = 1
    return {
        "class_dist": class_dist,
        "alignment": align_sum / align_pairs if align_pairs else np.nan,
        "uniformity": np.log(uniform_sum / (n * (n - 1))) if n > 1 else np.nan,
    }


def silhouette(class_dist: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sklearn's per-row silhouette from the per-class distance sums; NaN where undefined."""
    n, num_classes = class_dist.shape
    if not 2 <= num_classes <= n - 1:  # sklearn's domain
        return np.full(n, np.nan)
    rows = np.arange(n)
    own = counts[y]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = class_dist[rows, y] / (own - 1)
        mean_to = class_dist / counts[None, :]
        mean_to[rows, y] = np.inf
        b = mean_to.min(axis=1)
        s = (b - a) / np.maximum(a, b)
    s[(own == 1) | ~np.isfinite(s)] = 0.0  # singletons and 0 / 0 (duplicates), as sklearn
    return s


def nc1(z: np.ndarray, y: np.ndarray, mu: np.ndarray) -> float:
    """``tr(S_W S_B^+) / K`` without a ``(D, D)`` matrix.

    ``S_B = B^T B`` with ``B = (mu - mu_G) / sqrt(K)``; from the SVD ``B = U diag(s) V^T`` its
    eigenpairs are ``(s_k^2, v_k)``, so ``tr(S_W S_B^+) = sum_k v_k^T S_W v_k / s_k^2`` over the
    kept ``k``, and ``v_k^T S_W v_k = (1/N) sum_i ((z_i - mu_{y_i}) . v_k)^2``.
    """
    num_classes = len(mu)
    if num_classes < 2:
        return float("nan")
    between = (mu - mu.mean(axis=0)) / np.sqrt(num_classes)
    _, s, vt = np.linalg.svd(between, full_matrices=False)
    eig = s**2  # the nonzero eigenvalues of S_B
    scale = float(np.sqrt((z**2).sum(axis=1).mean()))  # the rows' size (1 for unit rows)
    if s.max() <= NC1_ATOL * scale:
        # every centroid equal up to round-off: no between-class spread to measure in
        return float("nan")
    keep = eig > NC1_RCOND * eig.max()
    v = vt[keep].T  # (D, r)
    resid = z @ v - (mu @ v)[y]  # (N, r): (z_i - mu_{y_i}) . v_k
    within = (resid**2).mean(axis=0)  # v_k^T S_W v_k
    return float((within / eig[keep]).sum() / num_classes)


def presence_auroc(
    v: np.ndarray, y: np.ndarray, present: np.ndarray, num_classes: int
) -> np.ndarray:
    """Per-class ROC AUC of present against absent rows, scored by the cosine to the class
    direction of the present rows; ``(K,)`` float64, NaN where undefined.

    Args:
        v: ``(M, D)`` every row (not normalised; any real dtype).
        y: ``(M,)`` class codes in 0..K-1, or -1 for a row to leave out (its class has no
            present row, so no direction to score against).
        present: ``(M,)`` bool.
        num_classes: K.

    The rows are normalised in blocks, so no float64 copy of all M rows exists. AUROC is the
    Mann-Whitney statistic ``(R_c - P_c (P_c + 1) / 2) / (P_c N_c)`` from tie-averaged ranks
    within each class (one sort by class, then score), which equals sklearn's roc_auc_score.
    """
    num_rows, dim = v.shape
    block = max(1, BLOCK_ELEMENTS // dim)
    sums = np.zeros((num_classes, dim))  # (K, D) sum of the unit present rows per class
    for lo in range(0, num_rows, block):
        take = present[lo : lo + block] & (y[lo : lo + block] >= 0)
        if not take.any():
            continue
        z = unit_rows(v[lo : lo + block][take])
        onehot = np.zeros((len(z), num_classes))
        onehot[np.arange(len(z)), y[lo : lo + block][take]] = 1.0
        sums += onehot.T @ z
    norm = np.linalg.norm(sums, axis=1)
    norm[norm == 0] = np.nan  # present rows that cancel out: no direction, AUROC NaN
    direction = sums / norm[:, None]  # m_c: the direction of the mean is that of the sum

    use = np.flatnonzero(y >= 0)
    score = np.empty(len(use))  # s_i = z_i . m_{y_i}
    for lo in range(0, len(use), block):
        rows = use[lo : lo + block]
        # an elementwise product summed along each row: a row's score depends on that row
        # alone, so duplicated rows tie exactly (a matrix product may round by position)
        score[lo : lo + block] = (unit_rows(v[rows]) * direction[y[rows]]).sum(axis=1)
    cls, pos = y[use], present[use]

    order = np.lexsort((score, cls))  # by class, then by score
    cls, score, pos = cls[order], score[order], pos[order]
    n = len(cls)
    starts = np.flatnonzero(np.r_[True, (cls[1:] != cls[:-1]) | (score[1:] != score[:-1])])
    ends = np.r_[starts[1:], n]
    counts = np.bincount(cls, minlength=num_classes)
    first = np.r_[0, np.cumsum(counts)[:-1]]  # where each class begins in the sorted order
    # tied scores (one run of equal values within a class) share the mean of their ranks
    rank = np.repeat((starts + ends + 1) / 2.0, ends - starts) - first[cls]  # 1-based in class
    num_pos = np.bincount(cls, weights=pos, minlength=num_classes)
    num_neg = counts - num_pos
    rank_sum = np.bincount(cls, weights=rank * pos, minlength=num_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        auroc = (rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg)
    auroc[(num_pos == 0) | (num_neg == 0) | np.isnan(norm)] = np.nan
    return auroc
