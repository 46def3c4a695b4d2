"""The audit's plots: detection curves against sklearn, the suspects grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve

from mlrkit.errors import InvalidInputError
from mlrkit.viz.audit import plot_detection_curves, plot_suspects


def test_detection_curves_are_sklearns_and_skip_unjudged_pairs() -> None:
    rng = np.random.default_rng(0)
    is_error = rng.random((40, 5)) < 0.1
    by_score = rng.random((40, 5)) + is_error  # informative
    by_chance = rng.random((40, 5))
    by_chance[0, :] = np.nan  # not judged
    ax = plot_detection_curves({"scores": by_score, "chance": by_chance}, is_error)
    lines = ax.get_lines()
    kept = ~np.isnan(by_chance.ravel())
    for line, values, mask in ((lines[0], by_score.ravel(), slice(None)),
                               (lines[1], by_chance.ravel(), kept)):  # fmt: skip
        precision, recall, _ = precision_recall_curve(is_error.ravel()[mask], values[mask])
        np.testing.assert_allclose(line.get_xdata(), recall)
        np.testing.assert_allclose(line.get_ydata(), precision)
    ap = average_precision_score(is_error.ravel(), by_score.ravel())
    assert ax.get_legend().get_texts()[0].get_text() == f"scores (AP {ap:.2f})"
    assert lines[2].get_ydata()[0] == pytest.approx(is_error.mean())
    plt.close("all")
    with pytest.raises(InvalidInputError, match="no error"):
        plot_detection_curves({"s": by_score}, np.zeros((40, 5), bool))
    with pytest.raises(InvalidInputError, match="entries"):
        plot_detection_curves({"s": by_score[:3]}, is_error)


def test_suspects_grid_draws_each_image_with_its_map() -> None:
    images = [np.full((16, 16, 3), i * 40, dtype=np.uint8) for i in range(5)]
    maps = [np.eye(4), None, np.ones((4, 4)), None, np.eye(4)]
    axes = plot_suspects(images, [f"s{i}" for i in range(5)], maps, ncols=3)
    assert [ax.get_title() for ax in axes] == ["s0", "s1", "s2", "s3", "s4"]
    assert [len(ax.images) for ax in axes] == [2, 1, 2, 1, 2]
    assert axes[0].images[1].get_array().shape == (16, 16)  # upsampled to the image
    hidden = axes[0].figure.axes[5]
    assert not hidden.axison
    plt.close("all")
    with pytest.raises(InvalidInputError, match="one of each"):
        plot_suspects(images, ["a"], None)
