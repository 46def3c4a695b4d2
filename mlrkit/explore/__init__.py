"""Feature-space exploration: class embeddings in two spaces, separation measures, cached UMAP.

- :func:`extract_embeddings`: one row per (image, class) pair of a run's split, from the head's
  class features (``space="features"``) or the objective's projection (``space="embedding"``,
  where the discriminative loss acts), streamed without the dense ``(N, K, D)`` tensor.
- :func:`separation_report` / :func:`compare_separation`: silhouette, nearest-neighbour
  precision across images, centroid cosines, NC1, alignment and uniformity, per class and
  overall.
- :func:`umap_embed`: UMAP coordinates cached on disk by a hash of the data and parameters, with
  the trustworthiness of the map.
- :class:`Explorer`: a WebGL scatter (jupyter-scatter) of a run's UMAP linked to a panel of
  the selected pairs' images with their attention maps; ``select()`` drives it from code and
  ``static()`` draws the plain plots where no widget frontend exists.
- :func:`explore_runs`: all of it for a list of runs, written to files (``explore`` command).
"""

from mlrkit.explore.embeddings import SPACES, ClassEmbeddings, extract_embeddings
from mlrkit.explore.explorer import COLOR_BY, Explorer, explore_notebook_hint
from mlrkit.explore.report import ExploreSummary, explore_runs
from mlrkit.explore.separation import COLUMNS, compare_separation, separation_report
from mlrkit.explore.umap_cache import UmapResult, umap_embed

__all__ = [
    "COLUMNS",
    "SPACES",
    "COLOR_BY",
    "ClassEmbeddings",
    "Explorer",
    "ExploreSummary",
    "UmapResult",
    "compare_separation",
    "explore_notebook_hint",
    "explore_runs",
    "extract_embeddings",
    "separation_report",
    "umap_embed",
]
