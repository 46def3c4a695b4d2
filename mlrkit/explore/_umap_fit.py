"""The umap-learn computations behind :func:`~mlrkit.explore.umap_embed`: kNN graph and fit.

:func:`knn_graph` builds each row's k nearest neighbours, exact below
:data:`EXACT_KNN_MAX_ROWS` rows (or the ``exact_below`` it is given) and pynndescent's
approximate graph from there;
:func:`fit_umap` runs UMAP on that precomputed graph. umap-learn is imported inside them, so
a result read from the cache never imports it. ``umap_cache`` calls them through its own
module-level names (``_knn_graph``, ``_fit_umap``), which tests replace to count or forbid
the computations.

Two switches say what they print: ``verbose`` turns on umap-learn's and pynndescent's own log
(time stamps, the ``UMAP(...)`` repr with the kNN arrays, "completed n / N epochs": about 30
lines per fit), ``bar`` only umap-learn's tqdm bar over the layout epochs ("Epochs
completed"). umap-learn ties its bar to ``verbose`` unless ``tqdm_kwds`` says otherwise, so
:func:`fit_umap` passes ``tqdm_kwds={"disable": not bar}``.
"""

from __future__ import annotations

import warnings

import numpy as np

ANGULAR = frozenset({"cosine", "correlation"})  # umap-learn's angular random-projection trees
EXACT_KNN_MAX_ROWS = 4096  # below this, exact kNN (umap-learn's own small-data threshold)


def knn_graph(
    x: np.ndarray,
    n_neighbors: int,
    metric: str,
    seed: int | None,
    *,
    n_jobs: int,
    verbose: bool,
    exact_below: int = EXACT_KNN_MAX_ROWS,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``(M, k)`` int32 indices and float32 distances of each row's k nearest (self first).

    Exact below ``exact_below`` rows (sklearn's pairwise distances, ranked by umap-learn's own
    ``nearest_neighbors(metric="precomputed")``, as ``UMAP.fit`` does for small data);
    pynndescent's approximate graph otherwise, with umap-learn's settings.
    """
    from sklearn.metrics import pairwise_distances
    from sklearn.utils import check_random_state
    from umap.umap_ import nearest_neighbors

    random_state = check_random_state(seed)
    if x.shape[0] < exact_below:
        dmat = pairwise_distances(x, metric=metric)  # (M, M)
        indices, distances, _ = nearest_neighbors(
            dmat, n_neighbors, "precomputed", {}, False, random_state, verbose=verbose
        )
        method = "exact"
    else:
        indices, distances, _ = nearest_neighbors(
            x,
            n_neighbors,
            metric,
            {},
            metric in ANGULAR,
            random_state,
            low_memory=True,
            use_pynndescent=True,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        method = "nndescent"
    return (
        np.ascontiguousarray(indices, dtype=np.int32),
        np.ascontiguousarray(distances, dtype=np.float32),
        method,
    )


def fit_umap(
    x: np.ndarray,
    indices: np.ndarray,
    distances: np.ndarray,
    *,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    seed: int | None,
    n_epochs: int | None,
    n_jobs: int,
    verbose: bool,
    bar: bool = False,
) -> np.ndarray:
    """``UMAP.fit_transform`` on the precomputed kNN graph; ``(M, 2)`` float32.

    ``verbose`` prints umap-learn's log, ``bar`` its epoch bar alone (either shows the bar).
    """
    import umap

    model = umap.UMAP(
        n_neighbors=n_neighbors,
        n_components=2,
        metric=metric,
        min_dist=min_dist,
        n_epochs=n_epochs,
        random_state=seed,
        n_jobs=n_jobs,
        verbose=verbose,
        tqdm_kwds={"disable": not (bar or verbose)},
        # copies: UMAP marks disconnected neighbours in place (index -1, distance inf)
        precomputed_knn=(indices.copy(), distances.copy(), None),
    )
    with warnings.catch_warnings():
        # no search index is passed on purpose: mlrkit never transforms (see umap_cache)
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        coords = model.fit_transform(x)
    return np.ascontiguousarray(coords, dtype=np.float32)
