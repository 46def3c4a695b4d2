"""UMAP with mlrkit's disk cache: first call vs cached call, at a split's size.

Problem: 20,000 x 256 float32 rows around 40 random cluster centres (cosine metric, umap-learn's
defaults otherwise: n_neighbors=15, min_dist=0.1, 200 epochs from 10,000 rows on). numba's code
is compiled first by a warm-up call on a small array (4096 rows, enough to take pynndescent's
path too); then the first call (kNN graph, layout and trustworthiness on 5000 rows) and the
cached call (hash of the data, one ``.npz`` read) are timed, each in a fresh temporary cache.
With ``--large``, the first call on 200,000 x 256 rows follows (minutes on a 2-core CPU).
Targets: first call <= 60 s, cached call <= 1 s (at 20,000 rows).

Run: ``.venv/bin/python benchmarks/bench_umap.py [--large] [--seed N]``
(``--seed`` makes the runs reproducible but single-threaded, hence slower.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import mlrkit.explore.umap_cache as umap_cache
from mlrkit.explore.umap_cache import UmapResult, umap_embed

DIM, CLUSTERS, DATA_SEED = 256, 40, 0
FIRST_TARGET_S, CACHED_TARGET_S = 60.0, 1.0


def make_rows(rows: int) -> np.ndarray:
    """``(rows, 256)`` float32 around 40 cluster centres (noise at 0.7 of the centres' scale)."""
    rng = np.random.default_rng(DATA_SEED)
    centres = rng.normal(size=(CLUSTERS, DIM))
    labels = rng.integers(0, CLUSTERS, size=rows)
    return (centres[labels] + 0.7 * rng.normal(size=(rows, DIM))).astype(np.float32)


def timed(x: np.ndarray, cache_dir: Path, seed: int | None) -> tuple[float, UmapResult]:
    start = time.perf_counter()
    result = umap_embed(x, seed=seed, cache_dir=cache_dir)
    return time.perf_counter() - start, result


def verdict(seconds: float, target: float) -> str:
    return f"{'met' if seconds <= target else 'NOT met'} (target <= {target:g} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also time 200,000 x 256 (minutes)")
    parser.add_argument("--seed", type=int, default=None, help="UMAP seed (single-threaded)")
    args = parser.parse_args()
    threads = "parallel" if args.seed is None else "single-threaded"
    print(f"CPU cores: {os.cpu_count()}; seed: {args.seed} ({threads})")

    start = time.perf_counter()
    warm = make_rows(umap_cache._EXACT_KNN_MAX_ROWS)
    umap_embed(warm, n_epochs=5, seed=args.seed, cache_dir=None)
    warm_s = time.perf_counter() - start
    print(f"warm-up (import + numba compilation, {len(warm)} rows): {warm_s:.1f} s")

    x = make_rows(20_000)
    with tempfile.TemporaryDirectory() as tmp:
        first_s, first = timed(x, Path(tmp), args.seed)
        cached_s, cached = timed(x, Path(tmp), args.seed)
        assert cached.cached and not first.cached
        assert np.array_equal(cached.coords, first.coords)
    print(f"{'20,000 x 256':<14} {'time (s)':>9}")
    print(f"{'first call':<14} {first_s:>9.2f}  {verdict(first_s, FIRST_TARGET_S)}")
    print(f"{'cached call':<14} {cached_s:>9.3f}  {verdict(cached_s, CACHED_TARGET_S)}")
    print(f"first / cached: {first_s / cached_s:.0f}x")
    print(
        f"trustworthiness: {first.trustworthiness:.4f} (k={first.params['trust_neighbors']}, "
        f"{first.params['trust_rows']} rows, kNN {first.params['knn']})"
    )

    if args.large:
        x = make_rows(200_000)
        with tempfile.TemporaryDirectory() as tmp:
            large_s, large = timed(x, Path(tmp), args.seed)
            cached_s, _ = timed(x, Path(tmp), args.seed)
        print(
            f"200,000 x 256: first call {large_s:.1f} s, cached call {cached_s:.2f} s, "
            f"trustworthiness {large.trustworthiness:.4f}"
        )
    else:
        print("200,000 x 256: skipped (pass --large; it takes minutes)")


if __name__ == "__main__":
    main()
