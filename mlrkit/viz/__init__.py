"""Plots: each takes ``ax=None`` and returns the Axes it drew on (matplotlib / seaborn)."""

from mlrkit.viz.embedding import class_palette, plot_embedding, plot_embeddings_side_by_side

__all__ = ["class_palette", "plot_embedding", "plot_embeddings_side_by_side"]
