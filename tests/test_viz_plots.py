"""The metric, data, training and attention plots: right artists, right numbers, named errors."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import QuadMesh
from PIL import Image
from sklearn.metrics import precision_recall_curve
from torchvision.transforms import v2

import mlrkit.viz
from mlrkit.data import MultiLabelDataset
from mlrkit.errors import InvalidInputError
from mlrkit.metrics import MetricsWarning, average_precision, threshold_metrics
from mlrkit.train.rundir import RunDir
from mlrkit.viz import (
    label_cooccurrence,
    pick_attention_examples,
    plot_attention,
    plot_attention_examples,
    plot_attention_grid,
    plot_centroid_cosine_vs_cooccurrence,
    plot_cooccurrence,
    plot_per_class_ap,
    plot_pr_curves,
    plot_sample_grid,
    plot_threshold_sweep,
    plot_training_curves,
)

CLASSES = ["ant", "bee", "cat", "dog", "eel"]


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _scores_targets(n: int = 40, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits loosely following targets, with a few ignored (-1) entries."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.35).astype(np.int64)
    targets[0] = 1  # every class has a positive
    targets[1] = 0  # ... and a negative
    scores = rng.normal(size=(n, k)) + 1.5 * targets
    targets[rng.random((n, k)) < 0.05] = -1
    targets[0] = 1
    targets[1] = 0
    return scores, targets


def _mesh(ax: plt.Axes) -> np.ma.MaskedArray:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return np.ma.asarray(mesh.get_array())


# ---------------------------------------------------------------- metrics


def test_per_class_ap_bars_are_100x_average_precision_with_the_map_line() -> None:
    scores, targets = _scores_targets()
    ap = average_precision(scores, targets) * 100
    ax = plot_per_class_ap(scores, targets, CLASSES)
    assert len(ax.patches) == len(CLASSES)
    names = [t.get_text() for t in ax.get_yticklabels()]
    widths = {name: bar.get_width() for name, bar in zip(names, ax.patches, strict=True)}
    assert widths == pytest.approx(dict(zip(CLASSES, ap, strict=True)))
    assert names == [CLASSES[k] for k in np.argsort(-ap)]  # sorted, best on top
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("mAP")]
    assert line.get_xdata()[0] == pytest.approx(ap.mean())
    assert "mAP" in ax.get_title()

    unsorted = plot_per_class_ap(scores, targets, CLASSES, sort=False)
    assert [t.get_text() for t in unsorted.get_yticklabels()] == CLASSES
    assert [b.get_width() for b in unsorted.patches] == pytest.approx(ap)


def test_per_class_ap_marks_a_class_without_positives() -> None:
    scores, targets = _scores_targets()
    targets[:, 2] = np.where(targets[:, 2] == 1, 0, targets[:, 2])
    with pytest.warns(MetricsWarning, match="cat"):
        ax = plot_per_class_ap(scores, targets, CLASSES)
    assert len(ax.patches) == 5 and ax.patches[-1].get_width() == 0
    assert "no positive" in [t.get_text() for t in ax.texts]


def test_pr_curves_are_sklearns_on_the_rows_not_ignored() -> None:
    scores, targets = _scores_targets()
    ap = average_precision(scores, targets)
    ax = plot_pr_curves(scores, targets, CLASSES)
    lines = ax.get_lines()
    assert len(lines) == len(CLASSES)
    for k, line in enumerate(lines):
        valid = targets[:, k] >= 0
        precision, recall, _ = precision_recall_curve(targets[valid, k], scores[valid, k])
        np.testing.assert_array_equal(line.get_xdata(), recall)
        np.testing.assert_array_equal(line.get_ydata(), precision)
        assert line.get_label() == f"{CLASSES[k]} (AP {ap[k] * 100:.1f})"
    chosen = plot_pr_curves(scores, targets, CLASSES, which=["eel", "bee"])
    assert [ln.get_label().split()[0] for ln in chosen.get_lines()] == ["eel", "bee"]


def test_pr_curves_default_to_the_ten_lowest_ap_classes_beyond_ten() -> None:
    scores, targets = _scores_targets(n=60, k=12, seed=1)
    names = [f"c{k}" for k in range(12)]
    ap = average_precision(scores, targets)
    ax = plot_pr_curves(scores, targets, names)
    drawn = [ln.get_label().split()[0] for ln in ax.get_lines()]
    assert drawn == [names[k] for k in np.argsort(ap)[:10]]
    assert "lowest AP" in ax.get_title()


def test_threshold_sweep_lines_are_threshold_metrics_at_each_threshold() -> None:
    scores, targets = _scores_targets()
    cuts = np.array([0.7, 0.2, 0.5])
    ax = plot_threshold_sweep(scores, targets, thresholds=cuts)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    for key in ("CF1", "OF1", "CP", "CR"):
        np.testing.assert_array_equal(lines[key].get_xdata(), np.sort(cuts))
        expected = [
            100 * threshold_metrics(scores, targets, scores_are="logits", threshold=t)[key]
            for t in np.sort(cuts)
        ]
        np.testing.assert_allclose(lines[key].get_ydata(), expected)
    assert lines["CP"].get_linestyle() == "--" and lines["CF1"].get_linestyle() == "-"
    at_half = threshold_metrics(scores, targets, scores_are="logits")
    marker = next(ln for label, ln in lines.items() if label.startswith("CF1 at 0.5"))
    assert marker.get_ydata()[0] == pytest.approx(100 * at_half["CF1"])
    assert any("test split" in t.get_text() for t in ax.texts)
    # probabilities at the same thresholds give the same curves
    probs = plot_threshold_sweep(
        1 / (1 + np.exp(-scores)), targets, scores_are="probabilities", thresholds=cuts
    )
    other = {ln.get_label(): ln for ln in probs.get_lines()}
    np.testing.assert_allclose(other["CF1"].get_ydata(), lines["CF1"].get_ydata())


def test_metric_plots_name_their_bad_arguments() -> None:
    scores, targets = _scores_targets()
    with pytest.raises(InvalidInputError, match="`classes`"):
        plot_per_class_ap(scores, targets, CLASSES[:3])
    with pytest.raises(InvalidInputError, match="scores_are"):
        plot_per_class_ap(scores, targets, CLASSES, scores_are="sigmoid")
    with pytest.raises(InvalidInputError, match="`targets`"):
        plot_per_class_ap(scores, targets[:, :3], CLASSES)
    with pytest.raises(InvalidInputError, match="`which`"):
        plot_pr_curves(scores, targets, CLASSES, which=["zebra"])
    with pytest.raises(InvalidInputError, match="`thresholds`"):
        plot_threshold_sweep(scores, targets, thresholds=[0.0, 0.5])
    with pytest.raises(InvalidInputError, match="`thresholds`"):
        plot_threshold_sweep(scores, targets, thresholds=[])


# ---------------------------------------------------------------- data


def _double_loop(targets: np.ndarray) -> np.ndarray:
    n, k = targets.shape
    counts = np.zeros((k, k), dtype=np.int64)
    for i in range(n):
        for a in range(k):
            for b in range(k):
                counts[a, b] += int(targets[i, a] == 1 and targets[i, b] == 1)
    return counts


def test_cooccurrence_counts_images_with_both_and_ignores_minus_one() -> None:
    _, targets = _scores_targets()
    frame = label_cooccurrence(torch.as_tensor(targets, dtype=torch.float32), CLASSES)
    assert list(frame.index) == CLASSES and list(frame.columns) == CLASSES
    np.testing.assert_array_equal(frame.to_numpy(), _double_loop(targets))
    np.testing.assert_array_equal(np.diag(frame.to_numpy()), (targets == 1).sum(axis=0))


def test_cooccurrence_heatmaps_show_counts_or_lift_with_the_diagonal_masked() -> None:
    _, targets = _scores_targets()
    counts = _double_loop(targets)
    ax = plot_cooccurrence(targets, CLASSES, normalize="count")
    shown = _mesh(ax)
    np.testing.assert_array_equal(shown.filled(-1).reshape(5, 5), counts)
    assert "co-occurrence" in ax.get_title()

    ax = plot_cooccurrence(targets, CLASSES)  # lift
    shown = _mesh(ax).reshape(5, 5)
    mask = np.ma.getmaskarray(shown)
    assert mask.diagonal().all() and not mask[~np.eye(5, dtype=bool)].any()
    p = (targets == 1).mean(axis=0)
    joint = counts / len(targets)
    lift = joint / np.outer(p, p)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(shown.data[off], lift[off])
    assert "lift" in ax.get_title()


def test_centroid_cosine_next_to_lift_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(50, 8))
    labels = rng.integers(0, 5, 50)
    labels[:5] = np.arange(5)
    _, targets = _scores_targets()
    cos_ax, lift_ax = plot_centroid_cosine_vs_cooccurrence(vectors, labels, targets, CLASSES)
    z = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    mu = np.stack([z[labels == c].mean(axis=0) for c in range(5)])
    m = mu / np.linalg.norm(mu, axis=1, keepdims=True)
    expected = m @ m.T
    shown = _mesh(cos_ax).reshape(5, 5)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(shown.data[off], expected[off])
    assert np.ma.getmaskarray(shown).diagonal().all()
    assert "cosine" in cos_ax.get_title() and "lift" in lift_ax.get_title()
    lift = _mesh(lift_ax).reshape(5, 5)
    np.testing.assert_allclose(lift.data, _mesh(plot_cooccurrence(targets, CLASSES)).reshape(5, 5))
    # names as labels give the same matrix
    by_name = plot_centroid_cosine_vs_cooccurrence(
        vectors, np.array(CLASSES)[labels], targets, CLASSES
    )
    np.testing.assert_allclose(_mesh(by_name[0]).reshape(5, 5).data[off], expected[off])


def test_data_plots_name_their_bad_arguments() -> None:
    _, targets = _scores_targets()
    with pytest.raises(InvalidInputError, match="`classes`"):
        label_cooccurrence(targets, CLASSES[:2])
    with pytest.raises(InvalidInputError, match="`targets`"):
        label_cooccurrence(targets * 2, CLASSES)
    with pytest.raises(InvalidInputError, match="normalize"):
        plot_cooccurrence(targets, CLASSES, normalize="pmi")
    vectors = np.ones((4, 3))
    with pytest.raises(InvalidInputError, match="`labels`"):
        plot_centroid_cosine_vs_cooccurrence(vectors, [0, 1, 9, 2], targets, CLASSES)
    with pytest.raises(InvalidInputError, match="`labels`"):
        plot_centroid_cosine_vs_cooccurrence(vectors, [0, 1], targets, CLASSES)
    with pytest.raises(InvalidInputError, match="`vectors`"):
        plot_centroid_cosine_vs_cooccurrence(np.zeros((4, 3)), [0, 1, 2, 3], targets, CLASSES)


def _image_dataset(tmp_path: Path) -> MultiLabelDataset:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    targets = torch.tensor(
        [[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, -1], [0, 0, 1], [1, 0, 0]], dtype=torch.float32
    )
    return MultiLabelDataset(paths, targets, ["ant", "bee", "cat"])


def _texts(ax: plt.Axes) -> list[tuple[str, str]]:
    return [(t.get_text().strip(), t.get_color()) for t in ax.texts]


def test_sample_grid_shows_images_true_labels_and_coloured_predictions(tmp_path: Path) -> None:
    dataset = _image_dataset(tmp_path)
    predicted = np.array(
        [[0.9, 0.6, 0.1], [0.1, 0.7, 0.2], [0.0, 0.0, 0.0], [0.8, 0.2, 0.9], [0, 0, 1], [1, 0, 0]]
    )
    axes = plot_sample_grid(dataset, [0, 1, 3, 2, 4], predicted=predicted, ncols=2)
    assert len(axes) == 5
    assert all(len(ax.images) == 1 for ax in axes)
    assert axes[0].images[0].get_array().shape == (12, 16, 3)
    np.testing.assert_array_equal(
        axes[0].images[0].get_array(), np.asarray(Image.open(dataset.paths[0]))
    )
    assert [ax.get_title() for ax in axes] == [
        "#0: ant", "#1: bee, cat", "#3: ant, bee, cat?", "#2: (no label)", "#4: cat",
    ]  # fmt: skip
    assert _texts(axes[0]) == [("pred:", "black"), ("ant", "tab:green"), ("bee", "tab:red")]
    assert _texts(axes[1]) == [("pred:", "black"), ("bee", "tab:green")]
    assert _texts(axes[2])[1:] == [("ant", "tab:green"), ("cat", "tab:red")]  # cat ignored
    assert _texts(axes[3])[1:] == [("(none)", "grey")]
    figure_axes = axes[0].figure.axes
    assert len(figure_axes) == 6 and not figure_axes[-1].axison  # the spare panel is hidden

    plain = plot_sample_grid(dataset, max_images=4)
    assert len(plain) == 4 and all(len(ax.texts) == 0 for ax in plain)


class _InMemory:
    """A dataset without paths whose items are normalised tensors."""

    def __init__(self) -> None:
        self.classes = ("ant", "bee")
        self.targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        self.paths: list[Path] = []
        self.transform = v2.Compose([v2.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])
        self.raw = torch.rand(2, 3, 8, 10, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.raw[i]), self.targets[i]


def test_sample_grid_denormalises_items_without_paths() -> None:
    dataset = _InMemory()
    (ax,) = plot_sample_grid(dataset, [1])
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown, dataset.raw[1].permute(1, 2, 0).numpy(), atol=1e-6)
    assert ax.get_title() == "#1: bee"


def test_sample_grid_names_its_bad_arguments(tmp_path: Path) -> None:
    dataset = _image_dataset(tmp_path)
    with pytest.raises(InvalidInputError, match="`indices`"):
        plot_sample_grid(dataset, [0, 6])
    with pytest.raises(InvalidInputError, match="`predicted`"):
        plot_sample_grid(dataset, [0], predicted=np.zeros((6, 2)))
    with pytest.raises(InvalidInputError, match="`predicted`"):
        plot_sample_grid(dataset, [0], predicted=np.full((6, 3), 2.0))
    with pytest.raises(InvalidInputError, match="`classes`"):
        plot_sample_grid(dataset, [0], classes=["a"])
    with pytest.raises(InvalidInputError, match="`axes`"):
        _, axes = plt.subplots(1, 2)
        plot_sample_grid(dataset, [0, 1, 2], axes=list(axes))


# ---------------------------------------------------------------- training


def _write_history(run_dir: Path) -> list[dict]:
    rows = []
    for epoch in range(1, 7):
        stage = 1 if epoch <= 3 else 2
        row = {"epoch": epoch, "stage": stage, "loss": 2.0 / epoch, "cls": 1.0 / epoch, "lr": 0.1}
        if stage == 2:
            row |= {"sscl": 0.5 / epoch, "pscl": 0.4 / epoch}
        if epoch % 2 == 0:
            row |= {"val_mAP": 0.1 * epoch, "val_CF1": 0.05 * epoch, "val_OF1": 0.06 * epoch}
            row |= {"ema_val_mAP": 0.11 * epoch}
        rows.append(row)
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_training_curves_read_metrics_jsonl_and_mark_the_stage_change(tmp_path: Path) -> None:
    rows = _write_history(tmp_path / "run")
    loss_ax, metric_ax = plot_training_curves(RunDir(tmp_path / "run").history())
    losses = {ln.get_label(): ln for ln in loss_ax.get_lines()}
    assert set(losses) == {
        "loss (weighted total)",
        "cls (unweighted)",
        "sscl (unweighted)",
        "pscl (unweighted)",
        "SADCL stage 2 starts",
    }
    np.testing.assert_allclose(
        losses["loss (weighted total)"].get_ydata(), [r["loss"] for r in rows]
    )
    np.testing.assert_array_equal(losses["sscl (unweighted)"].get_xdata(), [4, 5, 6])
    assert loss_ax.get_yscale() == "log"
    metrics = {ln.get_label(): ln for ln in metric_ax.get_lines()}
    assert {"val_mAP", "val_CF1", "val_OF1", "ema_val_mAP"} < set(metrics)
    np.testing.assert_array_equal(metrics["val_mAP"].get_xdata(), [2, 4, 6])
    np.testing.assert_allclose(metrics["val_mAP"].get_ydata(), [20, 40, 60])
    for ax in (loss_ax, metric_ax):
        (stage,) = [ln for ln in ax.get_lines() if ln.get_label() == "SADCL stage 2 starts"]
        assert stage.get_xdata()[0] == pytest.approx(3.5)
    # the rows themselves, without a stage change: no stage line
    one_stage = [{**r, "stage": 1} for r in rows]
    axes = plot_training_curves(one_stage)
    assert not any(ln.get_label() == "SADCL stage 2 starts" for ln in axes[0].get_lines())


def test_training_curves_name_their_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"`history` is a path .*Run.load\(path\).history"):
        plot_training_curves(tmp_path)
    with pytest.raises(InvalidInputError, match="`history` holds no epoch rows"):
        plot_training_curves([])
    with pytest.raises(InvalidInputError, match="every row needs an 'epoch'"):
        plot_training_curves([{"loss": 1.0}])
    with pytest.raises(InvalidInputError, match="`axes`"):
        plot_training_curves([{"epoch": 1, "loss": 1.0}], axes=[plt.gca()])


# ---------------------------------------------------------------- attention


def _attention() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    logits = torch.randn(3, 6, 8, generator=torch.Generator().manual_seed(1))
    return image, logits.flatten(1).softmax(-1).view(3, 6, 8)


def test_attention_overlay_is_the_upsampled_map_over_the_image() -> None:
    image, attention = _attention()
    ax = plot_attention(image, attention, ["ant", "bee", "cat"], "bee", alpha=0.4)
    picture, heat = ax.images
    assert picture.get_array().shape == (24, 32, 3)
    assert heat.get_array().shape == (24, 32)
    expected = torch.nn.functional.interpolate(
        attention[None, 1:2], size=(24, 32), mode="bilinear", align_corners=False
    )[0, 0]
    np.testing.assert_allclose(heat.get_array(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(picture.get_array(), image.permute(1, 2, 0).numpy(), rtol=1e-6)
    assert heat.get_alpha() == 0.4 and "bee" in ax.get_title()

    uint8 = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    by_index = plot_attention(uint8, attention.numpy(), ["ant", "bee", "cat"], 2)
    assert by_index.images[0].get_array().shape == (24, 32, 3) and "cat" in by_index.get_title()


def test_attention_grid_draws_one_panel_per_class() -> None:
    image, attention = _attention()
    axes = plot_attention_grid(image, attention, ["ant", "bee", "cat"], ["cat", "ant"])
    assert [ax.get_title() for ax in axes] == ["attention of cat", "attention of ant"]
    assert all(len(ax.images) == 2 for ax in axes)


def test_attention_plots_name_their_bad_arguments() -> None:
    image, attention = _attention()
    names = ["ant", "bee", "cat"]
    with pytest.raises(InvalidInputError, match="`image`"):
        plot_attention(image * 4 - 2, attention, names, 0)  # still normalised
    with pytest.raises(InvalidInputError, match="`image`"):
        plot_attention(image[None], attention, names, 0)
    with pytest.raises(InvalidInputError, match=r"`attention`.*attention\[i\]"):
        plot_attention(image, attention[None], names, 0)
    with pytest.raises(InvalidInputError, match="`classes`"):
        plot_attention(image, attention, names[:2], 0)
    with pytest.raises(InvalidInputError, match="`which`"):
        plot_attention(image, attention, names, "dog")
    with pytest.raises(InvalidInputError, match="`which`"):
        plot_attention(image, attention, names, 3)
    with pytest.raises(InvalidInputError, match="`alpha`"):
        plot_attention(image, attention, names, 0, alpha=2)
    with pytest.raises(InvalidInputError, match="`which`"):
        plot_attention_grid(image, attention, names, [])


def _examples() -> tuple[list[np.ndarray], torch.Tensor, np.ndarray]:
    """Three uint8 images, their (3, 3, 6, 8) maps and targets with two classes each."""
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)]
    logits = torch.randn(3, 3, 6, 8, generator=torch.Generator().manual_seed(3))
    attention = logits.flatten(2).softmax(-1).view(3, 3, 6, 8)
    targets = np.array([[1, 0, 1], [1, 1, 0], [-1, 1, 1]])
    return images, attention, targets


def test_pick_attention_examples_takes_the_largest_shared_label_count() -> None:
    targets = np.array(
        [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, -1]]
    )  # label counts 1, 2, 3, 2, 4, 2
    assert pick_attention_examples(targets, n=1) == [4]  # the one image with 4
    assert pick_attention_examples(targets, n=2) == [1, 3]  # 4 and 3 are too rare: 2
    assert pick_attention_examples(targets, n=3) == [1, 3, 5]  # -1 is not present
    assert pick_attention_examples(targets, n=1, labels=(1, 2)) == [1]  # the most labels first
    with pytest.raises(InvalidInputError, match=r"images per count: \{2: 3, 3: 1, 4: 1\}"):
        pick_attention_examples(targets, n=4)
    with pytest.raises(InvalidInputError, match="`labels`"):
        pick_attention_examples(targets, labels=(3, 2))
    with pytest.raises(InvalidInputError, match="`n`"):
        pick_attention_examples(targets, n=0)


def test_attention_examples_draw_each_image_and_its_classes_on_one_colour_scale() -> None:
    images, attention, targets = _examples()
    names = ["ant", "bee", "cat"]
    grid = plot_attention_examples(images, attention, targets, names)
    assert grid.shape == (3, 3)  # image + its two maps, no empty cell
    assert [ax.get_title() for ax in grid[:, 0]] == ["ant, cat", "ant, bee", "bee, cat"]
    assert [ax.get_title() for ax in grid[2, 1:]] == ["map of bee", "map of cat"]
    np.testing.assert_allclose(grid[0, 0].images[0].get_array(), images[0] / 255.0)
    expected = {  # (row, column) -> (image, class): the present classes in class order
        (0, 1): (0, 0), (0, 2): (0, 2), (1, 1): (1, 0), (1, 2): (1, 1), (2, 1): (2, 1),
        (2, 2): (2, 2),
    }  # fmt: skip
    heats = []
    for (r, c), (i, k) in expected.items():
        grey, heat = grid[r, c].images
        assert grey.get_array().shape == (24, 32) and grey.get_cmap().name == "gray"
        up = torch.nn.functional.interpolate(
            attention[i : i + 1, k : k + 1], size=(24, 32), mode="bilinear", align_corners=False
        )[0, 0].numpy()
        np.testing.assert_allclose(heat.get_array(), up, rtol=1e-6)
        assert heat.get_cmap().name == "inferno"  # perceptually uniform, not jet
        heats.append(heat)
    # one colour scale for every map, from 0 to the largest value shown, with its colour bar
    top = max(float(h.get_array().max()) for h in heats)
    assert {h.norm.vmin for h in heats} == {0.0} and {h.norm.vmax for h in heats} == {top}
    colour_bar = grid[0, 0].figure.axes[-1]
    assert colour_bar not in grid.ravel() and "attention" in colour_bar.get_ylabel()


def test_attention_examples_name_their_bad_arguments() -> None:
    images, attention, targets = _examples()
    names = ["ant", "bee", "cat"]
    uneven = targets.copy()
    uneven[1] = [1, 1, 1]
    with pytest.raises(InvalidInputError, match=r"same number.*\[2, 3, 2\].*pick_attention"):
        plot_attention_examples(images, attention, uneven, names)
    with pytest.raises(InvalidInputError, match="same number"):
        plot_attention_examples(images, attention, np.zeros((3, 3), int), names)
    with pytest.raises(InvalidInputError, match=r"`attention`.*\(B, K, h, w\)"):
        plot_attention_examples(images, attention[0], targets, names)
    with pytest.raises(InvalidInputError, match="`targets`"):
        plot_attention_examples(images, attention, targets[:, :2], names)
    with pytest.raises(InvalidInputError, match="`classes`"):
        plot_attention_examples(images, attention, targets, names[:2])
    with pytest.raises(InvalidInputError, match=r"`axes` must be a \(3, 3\) grid"):
        plot_attention_examples(images, attention, targets, names, plt.subplots(3, 2)[1])
    with pytest.raises(InvalidInputError, match="`alpha`"):
        plot_attention_examples(images, attention, targets, names, alpha=-0.1)


def test_no_plot_warns_on_clean_inputs() -> None:
    scores, targets = _scores_targets()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_per_class_ap(scores, targets, CLASSES)
        plot_pr_curves(scores, targets, CLASSES)
        plot_threshold_sweep(scores, targets)
        plot_cooccurrence(targets, CLASSES)


def test_the_plots_are_exported_by_mlrkit_viz() -> None:
    for module in ("attention", "data", "metrics", "training"):
        for name in getattr(mlrkit.viz, module).__all__:
            assert name in mlrkit.viz.__all__ and getattr(mlrkit.viz, name) is not None
