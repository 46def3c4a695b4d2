"""Plots: each takes ``ax=None`` and returns the Axes it drew on (matplotlib / seaborn)."""

from mlrkit.viz.ablation import ablation_figure, plot_ablation
from mlrkit.viz.attention import (
    pick_attention_examples,
    plot_attention,
    plot_attention_examples,
    plot_attention_grid,
    upsample_attention,
)
from mlrkit.viz.data import (
    centroid_cosine,
    label_cooccurrence,
    plot_centroid_cosine_vs_cooccurrence,
    plot_cooccurrence,
)
from mlrkit.viz.embedding import class_palette, plot_embedding, plot_embeddings_side_by_side
from mlrkit.viz.metrics import plot_per_class_ap, plot_pr_curves, plot_threshold_sweep
from mlrkit.viz.samples import plot_sample_grid
from mlrkit.viz.training import plot_training_curves

__all__ = [
    "ablation_figure",
    "centroid_cosine",
    "class_palette",
    "label_cooccurrence",
    "pick_attention_examples",
    "plot_ablation",
    "plot_attention",
    "plot_attention_examples",
    "plot_attention_grid",
    "plot_centroid_cosine_vs_cooccurrence",
    "plot_cooccurrence",
    "plot_embedding",
    "plot_embeddings_side_by_side",
    "plot_per_class_ap",
    "plot_pr_curves",
    "plot_sample_grid",
    "plot_threshold_sweep",
    "plot_training_curves",
    "upsample_attention",
]
