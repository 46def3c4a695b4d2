"""Feature-space exploration: class embeddings in two spaces, separation measures, cached UMAP.

- :func:`extract_embeddings`: one row per (image, class) pair of a run's split, from the head's
  class features (``space="features"``) or the objective's projection (``space="embedding"``,
  where the discriminative loss acts), streamed without the dense ``(N, K, D)`` tensor.
"""

from mlrkit.explore.embeddings import SPACES, ClassEmbeddings, extract_embeddings

__all__ = ["SPACES", "ClassEmbeddings", "extract_embeddings"]
