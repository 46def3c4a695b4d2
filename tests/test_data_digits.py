"""The embedded digit-scene generator: determinism, disjoint sources, COCO structure, summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlrkit.data import (
    DIGIT_CLASSES,
    CocoMultiLabel,
    DatasetError,
    ensure_digit_scenes,
    is_digit_scenes_root,
    make_digit_scenes,
)
from mlrkit.data.digits import split_source_digits


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("digits")
    return root, make_digit_scenes(root, seed=3, n_train=400, n_val=120)


def _load(root: Path, split: str) -> dict:
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    make_digit_scenes(tmp_path / "a", seed=7, n_train=30, n_val=10)
    make_digit_scenes(tmp_path / "b", seed=7, n_train=30, n_val=10)
    make_digit_scenes(tmp_path / "c", seed=8, n_train=30, n_val=10)
    a, b, c = (_tree_hashes(tmp_path / name) for name in "abc")
    assert len(a) == 30 + 10 + 2 + 1  # scenes, two annotation files, the marker
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_regenerating_smaller_removes_stale_scenes(tmp_path: Path) -> None:
    make_digit_scenes(tmp_path / "a", seed=7, n_train=30, n_val=10)
    make_digit_scenes(tmp_path / "b", seed=7, n_train=40, n_val=12)
    make_digit_scenes(tmp_path / "b", seed=7, n_train=30, n_val=10)
    assert _tree_hashes(tmp_path / "a") == _tree_hashes(tmp_path / "b")


def test_layout_and_coco_structure(scenes: tuple[Path, object]) -> None:
    root, _ = scenes
    for split, count in (("train", 400), ("val", 120)):
        coco = _load(root, split)
        assert [c["id"] for c in coco["categories"]] == list(range(1, 11))
        assert tuple(c["name"] for c in coco["categories"]) == DIGIT_CLASSES
        assert len(coco["images"]) == count
        assert [a["id"] for a in coco["annotations"]] == list(
            range(1, len(coco["annotations"]) + 1)
        )
        assert sorted(p.name for p in (root / split).glob("*.jpg")) == sorted(
            im["file_name"] for im in coco["images"]
        )
        per_image: dict[int, int] = {}
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w > 0 and h > 0
            assert ann["area"] == w * h and ann["iscrowd"] == 0
            per_image[ann["image_id"]] = per_image.get(ann["image_id"], 0) + 1
        assert len(per_image) == count  # every scene holds a digit
        assert set(per_image.values()) == {1, 2, 3, 4}


def test_annotation_matches_source_digit_class(scenes: tuple[Path, object]) -> None:
    root, _ = scenes
    labels = load_digits().target
    for split in ("train", "val"):
        for ann in _load(root, split)["annotations"]:
            assert labels[ann["source_index"]] + 1 == ann["category_id"]


def test_train_and_val_use_disjoint_source_digits(scenes: tuple[Path, object]) -> None:
    root, _ = scenes
    train = {a["source_index"] for a in _load(root, "train")["annotations"]}
    val = {a["source_index"] for a in _load(root, "val")["annotations"]}
    assert train and val and not train & val


def test_source_split_is_per_class_disjoint_and_complete() -> None:
    labels = load_digits().target
    pools = split_source_digits(labels, 0.25, np.random.default_rng(0))
    assert not set(pools["train"]) & set(pools["val"])
    assert len(pools["train"]) + len(pools["val"]) == len(labels)
    for digit in range(10):
        n_val = int((labels[pools["val"]] == digit).sum())
        assert n_val == round(0.25 * int((labels == digit).sum()))


def test_summary_agrees_with_loader_targets(scenes: tuple[Path, object]) -> None:
    root, summary = scenes
    for split in ("train", "val"):
        dataset = CocoMultiLabel(root / split, root / "annotations" / f"instances_{split}.json")
        targets = dataset.targets.numpy()  # (N, K), computed by pycocotools' index
        s = summary.splits[split]
        assert s.images == len(dataset)
        assert s.instances == len(_load(root, split)["annotations"])
        assert s.mean_labels == pytest.approx(targets.sum(1).mean())
        assert list(s.class_frequency.values()) == pytest.approx(targets.mean(0).tolist())
        one, seven = targets[:, 1], targets[:, 7]
        lift = (one * seven).mean() / (one.mean() * seven.mean())
        assert s.pair_lift["one&seven"] == pytest.approx(lift)
    frame = summary.to_frame()
    assert list(frame.columns) == ["train", "val"] and frame.loc["images", "train"] == 400
    assert "freq seven" in str(summary) and "lift three&eight" in str(summary)


def test_documented_pairs_co_occur_more_than_chance(scenes: tuple[Path, object]) -> None:
    root, summary = scenes
    lifts = summary.splits["train"].pair_lift
    assert min(lifts.values()) > 1.5
    targets = CocoMultiLabel(root / "train", root / "annotations" / "instances_train.json").targets
    two, five = targets[:, 2], targets[:, 5]
    control = float((two * five).mean() / (two.mean() * five.mean()))
    assert control < 1.3  # an unpaired couple stays near chance


def test_rejects_digit_size_larger_than_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="digit_size"):
        make_digit_scenes(tmp_path, n_train=1, n_val=1, image_size=32, digit_size=(16, 40))


def test_a_folder_that_is_not_ours_is_never_written_into(tmp_path: Path) -> None:
    user = tmp_path / "photos"
    (user / "train").mkdir(parents=True)
    (user / "train" / "000001.jpg").write_bytes(b"my holiday")
    for make in (
        lambda: make_digit_scenes(user, n_train=3, n_val=2),
        lambda: ensure_digit_scenes(user),
    ):
        with pytest.raises(DatasetError, match="not mlrkit's embedded digit scenes"):
            make()
    assert (user / "train" / "000001.jpg").read_bytes() == b"my holiday"
    assert sorted(p.relative_to(user).as_posix() for p in user.rglob("*")) == [
        "train", "train/000001.jpg",
    ]  # fmt: skip


def test_ensure_generates_missing_or_partial_data_and_leaves_complete_data_alone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "digits"
    make_digit_scenes(root, n_train=4, n_val=2)
    assert is_digit_scenes_root(root)
    stamp = (root / "annotations" / "instances_val.json").stat().st_mtime_ns
    ensure_digit_scenes(root, n_train=4, n_val=2)  # complete and ours: untouched
    assert (root / "annotations" / "instances_val.json").stat().st_mtime_ns == stamp
    (root / "annotations" / "instances_val.json").unlink()  # a partial write of ours
    assert is_digit_scenes_root(root)  # the marker says so
    ensure_digit_scenes(root, n_train=4, n_val=3)  # regenerated
    assert (root / "annotations" / "instances_val.json").is_file()
    assert len(list((root / "val").glob("*.jpg"))) == 3


def _failing_after(monkeypatch: pytest.MonkeyPatch, scenes: int, error: BaseException) -> None:
    """Make the generator's scene composer raise ``error`` after ``scenes`` scenes."""
    import mlrkit.data.digits as digits_module

    real, calls = digits_module.compose_scene, []

    def compose(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > scenes:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(digits_module, "compose_scene", compose)


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_generation_that_fails_midway_leaves_the_earlier_dataset_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    root = tmp_path / "digits"
    make_digit_scenes(root, seed=1, n_train=12, n_val=4)
    before = _tree_hashes(root)
    _failing_after(monkeypatch, 5, error)
    with pytest.raises(type(error)):
        make_digit_scenes(root, seed=2, n_train=20, n_val=6)
    assert _tree_hashes(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]  # no temporary folder left


def test_a_first_generation_that_fails_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_after(monkeypatch, 3, RuntimeError("disk full"))
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_digit_scenes(tmp_path / "digits", n_train=10, n_val=4)
    assert list(tmp_path.iterdir()) == []


def test_regenerating_replaces_the_folder_as_a_whole(tmp_path: Path) -> None:
    root = tmp_path / "digits"
    make_digit_scenes(root, seed=1, n_train=6, n_val=2)
    make_digit_scenes(root, seed=2, n_train=5, n_val=2)
    make_digit_scenes(tmp_path / "fresh", seed=2, n_train=5, n_val=2)
    assert _tree_hashes(root) == _tree_hashes(tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits", "fresh"]


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "digits").write_text("notes")
    with pytest.raises(DatasetError, match="is a file"):
        make_digit_scenes(tmp_path / "digits", n_train=2, n_val=1)
    assert (tmp_path / "digits").read_text() == "notes"
