"""Feature-space exploration: class embeddings in two spaces, separation measures, cached UMAP.

- :func:`extract_embeddings`: one row per (image, class) pair of a run's split, from the head's
  class features (``space="features"``) or the objective's projection (``space="embedding"``,
  where the discriminative loss acts), streamed without the dense ``(N, K, D)`` tensor.
- :func:`separation_report` / :func:`compare_separation`: silhouette, nearest-neighbour
  precision across images, centroid cosines, NC1, alignment and uniformity, per class and
  overall.
"""

from mlrkit.explore.embeddings import SPACES, ClassEmbeddings, extract_embeddings
from mlrkit.explore.separation import COLUMNS, compare_separation, separation_report

__all__ = [
    "COLUMNS",
    "SPACES",
    "ClassEmbeddings",
    "compare_separation",
    "extract_embeddings",
    "separation_report",
]
