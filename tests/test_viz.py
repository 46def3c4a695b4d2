"""Every plot renders with Agg, draws its artists and returns its Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mlrkit.errors import InvalidInputError
from mlrkit.viz import plot_embedding, plot_embeddings_side_by_side


def _points(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array(["one", "two", "three"])[rng.integers(0, 3, n)]
    return rng.normal(size=(n, 2)) * (seed + 1), labels


def test_embedding_scatter_colours_by_class_with_a_legend() -> None:
    coords, labels = _points(0)
    ax = plot_embedding(coords, labels, title="projection output")
    (points,) = ax.collections
    assert points.get_offsets().shape == (60, 2)
    colours = {tuple(c) for c in points.get_facecolors()}
    assert len(colours) == 3  # one colour per class
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["one", "three", "two"]
    assert ax.get_title() == "projection output"
    plt.close("all")


def test_side_by_side_panels_keep_their_own_limits_and_one_legend() -> None:
    panels = {"bce": _points(0), "variant A": _points(3)}  # the second spread 4 times wider
    axes = plot_embeddings_side_by_side(panels, classes=["one", "two", "three"], suptitle="x")
    assert [ax.get_title() for ax in axes] == ["bce", "variant A"]
    for ax, (coords, _) in zip(axes, panels.values(), strict=True):
        (low, high), span = ax.get_xlim(), np.ptp(coords[:, 0])
        assert low < coords[:, 0].min() and high > coords[:, 0].max()  # every point shown
        assert high - low < 1.5 * span  # and framed on its own points, not on all of them
    assert axes[0].get_legend() is None and axes[1].get_legend() is not None
    assert axes[0].figure.get_suptitle() == "x"
    plt.close("all")


def test_side_by_side_panels_can_share_limits() -> None:
    panels = {"bce": _points(0), "variant A": _points(3)}
    axes = plot_embeddings_side_by_side(panels, classes=["one", "two", "three"], share_limits=True)
    assert axes[0].get_xlim() == axes[1].get_xlim() and axes[0].get_ylim() == axes[1].get_ylim()
    everything = np.concatenate([panels["bce"][0], panels["variant A"][0]])
    low, high = axes[0].get_xlim()
    assert low < everything[:, 0].min() and high > everything[:, 0].max()
    plt.close("all")


def test_bad_shapes_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"coords \(M, 2\)"):
        plot_embedding(np.zeros((5, 3)), ["a"] * 5)
    with pytest.raises(InvalidInputError, match="at least one panel"):
        plot_embeddings_side_by_side({})
