"""UMAP coordinates of a split's vectors, computed once and read back from a disk cache.

:func:`umap_embed` maps ``(M, D)`` vectors to ``(M, 2)`` coordinates with umap-learn and
stores them under ``cache_dir``, named by a sha256 key of the data and of every parameter, so
that re-running a notebook cell with the same inputs reads the coordinates back (milliseconds)
instead of recomputing them (tens of seconds), and any change of a data value or a parameter
gives another key, hence a fresh computation. Two files per embedding:

- ``knn-<key>.npz``: the k-nearest-neighbour graph (``indices`` and ``distances``, ``(M, k)``),
  which depends only on the data, ``n_neighbors``, ``metric`` and ``seed``. It is computed by
  mlrkit and handed to ``umap.UMAP(precomputed_knn=...)``, so a sweep over ``min_dist`` or
  ``n_epochs`` builds the graph once. Below 4096 rows the graph is exact (all pairwise
  distances, as umap-learn itself does for small data); from 4096 rows on it is pynndescent's
  approximate graph, with the settings umap-learn would use.
- ``<key>.npz``: the coordinates, their trustworthiness and the parameters (as JSON).

Files are written to a temporary name in the same folder and renamed (``os.replace``), so a
crash or a concurrent run never leaves a half-written file under a cache name; an unreadable
or mismatching file is treated as absent and rewritten, and so is a coordinates file holding
NaN or infinite values, with a warning naming it.

Things to know about UMAP itself:

- **Seed and speed.** With ``seed=None`` the graph and the layout use every core and the result
  changes from run to run (the cache then keeps the first one). A ``seed`` makes the result
  reproducible but single-threaded: umap-learn sets ``n_jobs=1`` whenever ``random_state`` is
  given, so on a multi-core machine a seeded run is slower.
- **No transform.** ``UMAP.transform`` of new points depends on the batch they arrive in: the
  same point gets other coordinates when transformed alone or with other rows (umap-learn
  issues 566 and 611). mlrkit therefore embeds a whole split at once and never transforms;
  to compare, embed the split once and reuse the cache. (No search index is kept either,
  which is why umap-learn could not transform these fits anyway.)
- **Compilation.** umap-learn and pynndescent are numba code: the first call in a process
  compiles it, about 40 s on a 2-core CPU (numba's on-disk cache shortens later processes).
  A cached result needs no compilation, nor even the import of umap.

The trustworthiness (:func:`sklearn.manifold.trustworthiness`, ``n_neighbors=5``, in the
embedding's ``metric``) says how far the 2-D neighbours are true neighbours in the input space:
1 = every 2-D neighbour is among the nearest in the input, about 0.5 = random. It is computed on
at most 5000 rows (a seeded subsample above that), since it costs ``O(rows^2)``.

This module holds the public API, the parameter checks and the trustworthiness; the cache files
(keys, atomic ``.npz`` reads and writes) are in :mod:`mlrkit.explore._cache`, the kNN graph and
the UMAP fit in :mod:`mlrkit.explore._umap_fit`, the vector check in :mod:`mlrkit.inputs`
(:func:`~mlrkit.inputs.as_float32_vectors`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from importlib.metadata import version
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Final

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.explore._cache import cache_key, data_digest, load_npz, save_npz
from mlrkit.explore._umap_fit import EXACT_KNN_MAX_ROWS as _EXACT_KNN_MAX_ROWS
from mlrkit.explore._umap_fit import fit_umap as _fit_umap  # module names: tests replace them
from mlrkit.explore._umap_fit import knn_graph as _knn_graph
from mlrkit.inputs import as_float32_vectors

_log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CACHE", "METRICS", "UmapResult", "default_cache_dir", "umap_embed"]

METRICS: tuple[str, ...] = (
    "cosine",
    "correlation",
    "euclidean",
    "manhattan",
    "chebyshev",
    "braycurtis",
    "canberra",
)
"""Metrics :func:`umap_embed` accepts: parameter-free ones that umap-learn, pynndescent and
sklearn's ``pairwise_distances`` (for the exact graph and the trustworthiness) all know."""

TRUST_NEIGHBORS: Final = 5  # sklearn.manifold.trustworthiness's default
TRUST_MAX_ROWS: Final = 5000
_CACHE_FORMAT: Final = 1  # bump when the content or the computation of a cache file changes


class _DefaultCache:
    """The type of :data:`DEFAULT_CACHE`: resolved by :func:`default_cache_dir` at call time."""

    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


DEFAULT_CACHE: Final = _DefaultCache()
"""``cache_dir``'s default: :func:`default_cache_dir`, read when :func:`umap_embed` is called
(so setting ``MLRKIT_CACHE`` after the import still counts)."""


def default_cache_dir() -> Path:
    """The default UMAP cache folder: ``$MLRKIT_CACHE/umap``, else ``~/.cache/mlrkit/umap``."""
    root = os.environ.get("MLRKIT_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "mlrkit"
    return base / "umap"


@dataclass
class UmapResult:
    """The 2-D embedding of a set of vectors.

    Attributes:
        coords: ``(M, 2)`` float32; row ``i`` is the input's row ``i``.
        trustworthiness: sklearn's trustworthiness of ``coords`` against the input (float32
            vectors, ``params["metric"]``, ``params["trust_neighbors"]`` neighbours), on the
            ``params["trust_rows"]`` rows of a subsample seeded with ``params["trust_seed"]``
            when ``M > 5000``, else on all rows.
        params: every parameter that made the coordinates: the arguments, the library versions,
            the data's shape and sha256, how the kNN graph was built (``"exact"`` or
            ``"nndescent"``) and the trustworthiness settings.
        cached: True when the coordinates were read from the cache, not computed.
        path: the cache file of the coordinates; None with ``cache_dir=None``, or when writing
            it failed (a warning says why).
    """

    coords: np.ndarray
    trustworthiness: float
    params: dict[str, Any]
    cached: bool
    path: Path | None


def umap_embed(
    vectors: Any,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = None,
    cache_dir: str | os.PathLike[str] | _DefaultCache | None = DEFAULT_CACHE,
    *,
    n_epochs: int | None = None,
    progress: bool = False,
    verbose: bool = False,
) -> UmapResult:
    """UMAP coordinates of ``vectors``, read from the disk cache when computed before.

    The cache key is the sha256 of the data (the bytes of the float32 C-contiguous array and its
    shape) and of every parameter (``n_neighbors``, ``min_dist``, ``metric``, ``seed``,
    ``n_epochs``, the umap-learn and pynndescent versions): the same call again returns the
    stored coordinates with ``cached=True`` without importing umap; changing one data value or
    one parameter computes anew. The kNN graph is cached on its own (it depends only on the
    data, ``n_neighbors``, ``metric`` and ``seed``), so a sweep over ``min_dist`` or
    ``n_epochs`` computes it once. See the module docstring for the files.

    A ``seed`` makes the result reproducible but single-threaded (umap-learn sets ``n_jobs=1``
    when ``random_state`` is given), hence slower; without one, every core is used and each
    fresh computation differs (the cache then pins the first). New points are never
    ``transform``-ed, because umap-learn's transform depends on the batch the points come in
    (umap-learn issues 566 and 611): embed a whole split at once and reuse the cache. The
    first computation in a process compiles umap-learn's numba code (about 40 s on a 2-core
    CPU).

    Args:
        vectors: ``(M, D)`` float tensor (CPU or CUDA) or array, finite, with
            ``M >= n_neighbors + 2``; computed on in float32.
        n_neighbors: neighbours per point of the kNN graph (>= 2): larger = more global
            structure.
        min_dist: in ``[0, 1]``: how tightly UMAP packs neighbours in 2-D (0 = tight clumps).
        metric: the input-space distance, one of :data:`METRICS`; the trustworthiness uses it
            too.
        seed: None (parallel, not reproducible) or an int in ``[0, 2**32)`` (reproducible,
            single-threaded); also seeds the trustworthiness subsample (0 when None).
        cache_dir: the cache folder (created if missing); :data:`DEFAULT_CACHE` =
            :func:`default_cache_dir`; None computes every time and writes nothing.
        n_epochs: optimisation epochs (>= 1); None = umap-learn's default (500 below 10,000
            rows, 200 from there).
        progress: show umap-learn's epoch bar (tqdm, "Epochs completed") while it computes,
            and log which files were read or written (INFO records of this module's logger,
            ``mlrkit.explore.umap_cache``; the command line shows them on stdout); False =
            silent.
        verbose: also print umap-learn's and pynndescent's own log (time stamps, the
            ``UMAP(...)`` repr with its kNN arrays, "completed n / N epochs": some 30 lines
            per computation), for debugging a fit; False = at most the bar.

    Returns:
        The :class:`UmapResult`: ``coords`` ``(M, 2)`` float32, ``trustworthiness``,
        ``params``, ``cached`` and ``path``.

    Raises:
        InvalidInputError: on vectors that are not ``(M, D)``, not real numbers, not finite or
            too few rows, on a parameter out of range, or on a ``cache_dir`` that cannot be
            created.

    Warns:
        UserWarning: a cached coordinates file holds NaN or infinite values (it is recomputed
            and overwritten), or a cache file could not be written.

    Example (not run here: it takes seconds)::

        result = umap_embed(embeddings.vectors, n_neighbors=30, seed=0)
        plot_embedding(result.coords, ...)  # result.cached is True on a re-run
    """
    x = as_float32_vectors(vectors)
    n_neighbors, min_dist, seed, n_epochs = _check_params(
        x, n_neighbors, min_dist, metric, seed, n_epochs
    )
    folder = _cache_folder(cache_dir)
    data_sha256 = data_digest(x)
    versions = {"umap_learn": version("umap-learn"), "pynndescent": version("pynndescent")}
    knn_params = {
        "format": _CACHE_FORMAT,
        "data_sha256": data_sha256,
        "n_neighbors": n_neighbors,
        "metric": metric,
        "seed": seed,
        **versions,
    }
    keyed = {**knn_params, "min_dist": min_dist, "n_epochs": n_epochs}
    path = None if folder is None else folder / f"{cache_key(keyed)}.npz"

    if path is not None:
        hit = load_npz(path, keyed, rows=x.shape[0], finite=("coords", "trustworthiness"))
        if hit is not None:
            if progress:
                _log.info("umap_embed: coordinates read from %s", path)
            return UmapResult(
                coords=hit["coords"],
                trustworthiness=float(hit["trustworthiness"]),
                params=hit["params"],
                cached=True,
                path=path,
            )

    n_jobs = -1 if seed is None else 1  # what umap-learn would force; said here, not warned
    knn_path = None if folder is None else folder / f"knn-{cache_key(knn_params)}.npz"
    knn = None if knn_path is None else load_npz(knn_path, knn_params, rows=x.shape[0])
    if knn is not None:
        indices, distances = knn["indices"], knn["distances"]
        knn_method = knn["params"]["knn"]
        if progress:
            _log.info("umap_embed: kNN graph read from %s", knn_path)
    else:
        indices, distances, knn_method = _knn_graph(
            x,
            n_neighbors,
            metric,
            seed,
            n_jobs=n_jobs,
            verbose=verbose,
            exact_below=_EXACT_KNN_MAX_ROWS,  # read here, at call time: tests lower it
        )
        if knn_path is not None:
            written = save_npz(
                knn_path,
                indices=indices,
                distances=distances,
                params=np.array(json.dumps({**knn_params, "knn": knn_method})),
            )
            if progress and written:
                _log.info("umap_embed: kNN graph written to %s", knn_path)

    coords = _fit_umap(
        x,
        indices,
        distances,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        seed=seed,
        n_epochs=n_epochs,
        n_jobs=n_jobs,
        verbose=verbose,
        bar=progress,
    )
    trust, trust_params = _trustworthiness(x, coords, metric, seed)
    params = {
        **keyed,
        "rows": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "n_components": 2,
        "n_jobs": n_jobs,
        "knn": knn_method,
        **trust_params,
    }
    if path is not None:
        written = save_npz(
            path,
            coords=coords,
            trustworthiness=np.float64(trust),
            params=np.array(json.dumps(params)),
        )
        if not written:
            path = None
        elif progress:
            _log.info("umap_embed: coordinates written to %s", path)
    return UmapResult(coords=coords, trustworthiness=trust, params=params, cached=False, path=path)


# ---------------------------------------------------------------------------------------------
# parameters and quality


def _check_params(
    x: np.ndarray,
    n_neighbors: Any,
    min_dist: Any,
    metric: Any,
    seed: Any,
    n_epochs: Any,
) -> tuple[int, float, int | None, int | None]:
    """Validate the parameters; return them as plain Python numbers (stable in the key)."""
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, Integral) or n_neighbors < 2:
        raise InvalidInputError(
            f"`n_neighbors` must be an int >= 2, got {n_neighbors!r}. "
            "UMAP's usual values are 5 to 50 (15 by default)."
        )
    n_neighbors = int(n_neighbors)
    rows = x.shape[0]
    if rows < n_neighbors + 2:
        raise InvalidInputError(
            f"`vectors` has {rows} row(s); n_neighbors={n_neighbors} needs at least "
            f"{n_neighbors + 2} (n_neighbors + 2). Pass more rows or a smaller n_neighbors "
            f"(at most {max(rows - 2, 0)} for these rows)."
        )
    if (
        isinstance(min_dist, bool)
        or not isinstance(min_dist, Real)
        or not (0.0 <= float(min_dist) <= 1.0)
    ):
        raise InvalidInputError(
            f"`min_dist` must be a number in [0, 1] (at most UMAP's spread, 1), got {min_dist!r}. "
            "Use 0 to 0.5 for tight to loose clusters (0.1 by default)."
        )
    if not isinstance(metric, str) or metric not in METRICS:
        raise InvalidInputError(
            f"`metric` must be one of {', '.join(METRICS)}; got {metric!r}. "
            "Use 'cosine' for network features (the default)."
        )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**32
    ):
        raise InvalidInputError(
            f"`seed` must be None or an int in [0, 2**32), got {seed!r}. "
            "Pass e.g. seed=0 for a reproducible (single-threaded) embedding."
        )
    if n_epochs is not None and (
        isinstance(n_epochs, bool) or not isinstance(n_epochs, Integral) or n_epochs < 1
    ):
        raise InvalidInputError(
            f"`n_epochs` must be None (umap-learn's default) or an int >= 1, got {n_epochs!r}."
        )
    return (
        n_neighbors,
        float(min_dist),
        None if seed is None else int(seed),
        None if n_epochs is None else int(n_epochs),
    )


def _cache_folder(cache_dir: Any) -> Path | None:
    """The cache folder, created; None when caching is off."""
    if cache_dir is None:
        return None
    folder = default_cache_dir() if isinstance(cache_dir, _DefaultCache) else Path(cache_dir)
    folder = folder.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInputError(
            f"`cache_dir` {str(folder)!r} cannot be used as a folder ({err.strerror or err}). "
            "Pass a writable folder, set MLRKIT_CACHE, or pass cache_dir=None to not cache."
        ) from err
    return folder


def _trustworthiness(
    x: np.ndarray, coords: np.ndarray, metric: str, seed: int | None
) -> tuple[float, dict[str, Any]]:
    """sklearn's trustworthiness on at most :data:`TRUST_MAX_ROWS` rows (seeded subsample)."""
    from sklearn.manifold import trustworthiness

    rows = x.shape[0]
    trust_seed = 0 if seed is None else seed
    if rows > TRUST_MAX_ROWS:
        pick = np.sort(np.random.default_rng(trust_seed).choice(rows, TRUST_MAX_ROWS, False))
        x, coords = x[pick], coords[pick]
    k = min(TRUST_NEIGHBORS, math.ceil(len(x) / 2) - 1)  # sklearn needs k < rows / 2
    value = float(trustworthiness(x, coords, n_neighbors=k, metric=metric))
    return value, {"trust_neighbors": k, "trust_rows": len(x), "trust_seed": trust_seed}
