"""The harder embedded regime (``digits-hard``): determinism, documented statistics, occluders,
and the options that travel from the preset to the generator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlrkit.cli import main
from mlrkit.config import apply_overrides
from mlrkit.data import (
    SCENE_VARIANTS,
    DatasetError,
    ensure_digit_scenes,
    make_digit_scenes,
    scene_options,
)
from mlrkit.data.digit_render import Style, compose_scene
from mlrkit.errors import ConfigError, InvalidInputError
from mlrkit.presets import preset
from mlrkit.train.recipe import check_config, prepare_data

HARD = SCENE_VARIANTS["hard"]


def _load(root: Path, split: str) -> dict:
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hard")
    make_digit_scenes(root, **scene_options("hard", n_train=800, n_val=20))
    return root


def test_same_seed_same_bytes_other_seed_other_scenes(tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        make_digit_scenes(tmp_path / name, **scene_options("hard", seed=seed, n_train=6, n_val=3))
    read = lambda name: [p.read_bytes() for p in sorted((tmp_path / name).rglob("*.jpg"))]  # noqa: E731
    assert read("a") == read("b")
    assert read("a") != read("c")


def test_digit_counts_and_pair_lifts_are_as_documented(hard: Path) -> None:
    coco = _load(hard, "train")
    images = len(coco["images"])
    per_image = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=images + 1)[1:]
    # P(2..5 digits) = .3 .3 .2 .1 and P(1) = .1: mean 2.9, sd 1.14; within 4 standard errors.
    probs = np.asarray(HARD["count_probs"])
    counts = np.arange(1, len(probs) + 1)
    mean = float(probs @ counts)
    sd = math.sqrt(float(probs @ counts**2) - mean**2)
    assert mean == pytest.approx(2.9)
    assert abs(per_image.mean() - mean) < 4 * sd / math.sqrt(images)
    assert set(per_image) <= set(counts)
    sizes = [a["bbox"][3] for a in coco["annotations"]]  # inked height <= the drawn height
    assert max(sizes) <= HARD["digit_size"][1]
    # The confusable pairs co-occur about twice as often as chance (docs/datasets.md).
    labels = np.zeros((images, 10), bool)
    for a in coco["annotations"]:
        labels[a["image_id"] - 1, a["category_id"] - 1] = True
    for a, b in HARD["pairs"]:
        lift = (labels[:, a] & labels[:, b]).mean() / (labels[:, a].mean() * labels[:, b].mean())
        assert lift > 1.5, (a, b, lift)


def test_an_occluded_digit_carries_an_opaque_bar_of_the_stated_size() -> None:
    # Without noise and clutter an occluder is the only constant band across a digit's box.
    style = Style(64, (16, 22), 0.3, clutter=0, noise=0.0, occlusion=1.0, distractors=0)
    digits = load_digits()
    pool = {c: np.flatnonzero(digits.target == c) for c in range(10)}
    rng = np.random.default_rng(0)
    for _ in range(20):
        pixels, (ann,) = compose_scene(rng, digits.images, pool, [int(rng.integers(10))], style)
        x, y, w, h = ann["bbox"]
        box = pixels[y : y + h, x : x + w].astype(int)  # (h, w, 3)
        rows = (box == box[:, :1]).all(axis=(1, 2))  # rows of one colour across the box
        cols = (box == box[:1, :]).all(axis=(0, 2))
        band = max(_longest_run(rows) / h, _longest_run(cols) / w)
        assert 0.25 - 1 / min(w, h) <= band, (band, w, h)


def _longest_run(flags: np.ndarray) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def test_a_folder_made_with_other_options_is_refused_not_regenerated(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_digit_scenes(root, n_train=4, n_val=2)
    stamp = (root / "annotations" / "instances_val.json").stat().st_mtime_ns
    ensure_digit_scenes(root, n_train=4, n_val=2)
    ensure_digit_scenes(root)  # no options asked: whatever is there is used
    with pytest.raises(DatasetError, match=r"other options \(digit_size: \[16, 28\] there"):
        ensure_digit_scenes(root, **scene_options("hard", n_train=4, n_val=2))
    assert (root / "annotations" / "instances_val.json").stat().st_mtime_ns == stamp


def test_a_folder_from_before_the_options_were_recorded_counts_as_standard(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_digit_scenes(root, n_train=4, n_val=2)
    (root / ".mlrkit-digit-scenes").write_text('{"seed": 0, "n_train": 4, "n_val": 2}')
    stamp = (root / "annotations" / "instances_val.json").stat().st_mtime_ns
    ensure_digit_scenes(root, n_train=4, n_val=2)
    assert (root / "annotations" / "instances_val.json").stat().st_mtime_ns == stamp


def test_the_preset_generates_the_hard_variant(tmp_path: Path) -> None:
    cfg = apply_overrides(
        preset("digits-hard"),
        [f"data.root={tmp_path / 'h'}", 'data.generate={"n_train": 5, "n_val": 2}'],
    )
    assert cfg.data.generate == {"variant": "hard", "n_train": 5, "n_val": 2}
    prepare_data(cfg.data)
    marker = json.loads((tmp_path / "h" / ".mlrkit-digit-scenes").read_text())
    assert marker["digit_size"] == list(HARD["digit_size"]) and marker["n_train"] == 5


def test_bad_generator_options_fail_as_config_errors() -> None:
    with pytest.raises(ConfigError, match="data.generate: unknown digit-scene option.*occluson"):
        check_config(apply_overrides(preset("digits"), ['data.generate={"occluson": 0.5}']))
    with pytest.raises(ConfigError, match="unknown digit-scene variant 'extreme'"):
        check_config(apply_overrides(preset("digits"), ['data.generate={"variant": "extreme"}']))
    with pytest.raises(InvalidInputError, match="count_probs"):
        make_digit_scenes("unused", count_probs=(0.5, 0.6))


def test_cli_generates_the_hard_variant(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "h"
    argv = ["generate", "--root", str(root), "--variant", "hard", "--n-train", "5", "--n-val", "2"]
    assert main(argv) == 0
    assert "(hard)" in capsys.readouterr().out
    assert json.loads((root / ".mlrkit-digit-scenes").read_text())["noise"] == HARD["noise"]
    assert main(["generate", "--root", str(root), "--variant", "extreme"]) == 2
    assert "unknown digit-scene variant" in capsys.readouterr().err
