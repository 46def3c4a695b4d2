"""The ablation figure (mlrkit.viz.ablation): what it draws is the frame's mean and std over seeds,
each seed is shown, and a measure has one y-axis in every preset."""

from __future__ import annotations

import matplotlib.pyplot as plt  # conftest.py selects the Agg backend
import numpy as np
import pandas as pd
import pytest

from mlrkit.errors import InvalidInputError
from mlrkit.viz import ablation_figure, plot_ablation
from mlrkit.viz.ablation import MEAN_GID, SEED_GID

LABELS = ("bce", "asl", "disc")


@pytest.fixture
def frame() -> pd.DataFrame:
    """Two presets on different scales, three seeds per loss; bce has no projection output."""
    rng = np.random.default_rng(1)
    centre = {"easy": 95.0, "hard": 75.0}
    return pd.DataFrame(
        [{"preset": p, "label": name, "seed": s, "mAP": centre[p] + rng.normal(0, 2),
          "features_presence_auroc": rng.uniform(0.7, 0.99),
          "features_silhouette": rng.uniform(0.1, 0.7),
          "embedding_silhouette": np.nan if name == "bce" else rng.uniform(0.3, 0.95)}
         for p in ("easy", "hard") for name in LABELS for s in range(3)]
    )  # fmt: skip


def _drawn(ax: plt.Axes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The means, the lower and the upper ends of the error bars on ``ax``, per label."""
    (container,) = ax.containers
    line, _, (bars,) = container.lines
    assert line.get_gid() == MEAN_GID
    # one segment per label, an empty one where there is no bar (NaN mean or std)
    ends = np.array([(s[0][1], s[1][1]) if len(s) else (np.nan, np.nan)
                     for s in bars.get_segments()])  # fmt: skip
    assert len(ends) == len(line.get_ydata())
    return np.asarray(line.get_ydata(), dtype=float), ends[:, 0], ends[:, 1]


def test_the_dots_and_bars_are_the_mean_and_sample_std_over_seeds(frame: pd.DataFrame) -> None:
    one = frame[frame.preset == "hard"]
    ax = plot_ablation(one, "mAP")
    stats = one.groupby("label", sort=False)["mAP"].agg(["mean", "std"])  # pandas: ddof=1
    means, low, high = _drawn(ax)
    np.testing.assert_allclose(means, stats["mean"].to_numpy())
    np.testing.assert_allclose(high - low, 2 * stats["std"].to_numpy())
    np.testing.assert_allclose((high + low) / 2, stats["mean"].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)  # first-seen order
    plt.close("all")


def test_every_seed_is_a_point_beside_its_label(frame: pd.DataFrame) -> None:
    one = frame[frame.preset == "easy"]
    ax = plot_ablation(one, "mAP")
    (seeds,) = [c for c in ax.collections if c.get_gid() == SEED_GID]
    points = seeds.get_offsets()
    assert len(points) == len(one)
    for i, label in enumerate(LABELS):
        near = np.abs(points[:, 0] - i) < 0.5
        assert sorted(points[near, 1]) == pytest.approx(sorted(one[one.label == label]["mAP"]))
    plt.close("all")


def test_a_loss_without_the_measure_says_n_a(frame: pd.DataFrame) -> None:
    ax = plot_ablation(frame[frame.preset == "easy"], "embedding_silhouette")
    assert [t.get_text() for t in ax.texts] == ["n/a"]  # bce has no projection: said, not blank
    means, _, _ = _drawn(ax)
    assert np.isnan(means[0]) and not np.isnan(means[1:]).any()
    plt.close("all")


def test_a_single_seed_is_a_dot_without_a_bar(frame: pd.DataFrame) -> None:
    one = frame[frame.preset == "easy"]
    sweep = pd.DataFrame([{"preset": "easy", "label": "disc@2", "seed": 0, "mAP": 90.0}])
    ax = plot_ablation(pd.concat([one, sweep]), "mAP")
    means, low, high = _drawn(ax)
    assert means[-1] == pytest.approx(90.0)
    assert np.isnan(high[-1] - low[-1])  # no spread to draw from one seed
    plt.close("all")


def test_the_figure_gives_a_measure_one_axis_in_every_preset(frame: pd.DataFrame) -> None:
    measures = ("mAP", "embedding_silhouette")
    figure = ablation_figure(frame, measures)
    grid = np.array(figure.axes[: 2 * len(measures)]).reshape(2, len(measures))
    for col, measure in enumerate(measures):
        limits = {ax.get_ylim() for ax in grid[:, col]}
        assert len(limits) == 1, f"{measure}: one y-axis per measure, got {limits}"
        (low, high) = limits.pop()
        values = frame[measure].dropna()
        assert low < values.min() and high > values.max()  # every seed of every preset shows
        for row, preset in enumerate(("easy", "hard")):
            assert grid[row, col].get_title().startswith(f"{preset}: ")
            one = frame[frame.preset == preset]
            stats = one.groupby("label", sort=False)[measure].agg(["mean", "std"])
            means, low_ends, high_ends = _drawn(grid[row, col])
            np.testing.assert_allclose(means, stats["mean"].to_numpy())
            np.testing.assert_allclose(high_ends - low_ends, 2 * stats["std"].to_numpy())
            assert low < np.nanmin(low_ends) and high > np.nanmax(high_ends)
    title = figure.get_suptitle()
    assert "mean ± 1 std over 3 seeds" in title and "each seed" in title
    plt.close("all")


def test_the_default_measures_keep_the_command_line_call_working(frame: pd.DataFrame) -> None:
    figure = ablation_figure(frame)  # as mlrkit.cli.ablation calls it
    assert len(figure.axes) == 2 * 4
    plt.close("all")


def test_wrong_input_is_refused_with_what_to_do(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="one preset"):
        plot_ablation(frame, "mAP")
    with pytest.raises(InvalidInputError, match="no column 'CP'"):
        plot_ablation(frame[frame.preset == "easy"], "CP")
    with pytest.raises(InvalidInputError, match="no column 'CP'"):
        ablation_figure(frame, ("mAP", "CP"))
