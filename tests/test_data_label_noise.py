"""Planted label errors in the digit scenes: rates, the kept truth, determinism, refusals."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrkit.config import apply_overrides
from mlrkit.data import (
    DEFAULT_PAIRS,
    DIGIT_CLASSES,
    CocoMultiLabel,
    DatasetError,
    build_dataset,
    ensure_digit_scenes,
    label_errors,
    make_digit_scenes,
)
from mlrkit.errors import ConfigError, InvalidInputError
from mlrkit.presets import preset
from mlrkit.train import check_config
from mlrkit.train.recipe import prepare_data

RATES = {"missing": 0.1, "spurious": 0.1, "swapped": 0.1}
N_TRAIN, N_VAL, SEED = 1500, 40, 5
PARTNER = {a: b for a, b in DEFAULT_PAIRS} | {b: a for a, b in DEFAULT_PAIRS}


def _hashes(root: Path, pattern: str = "**/*") -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same scenes with and without noise."""
    base = tmp_path_factory.mktemp("noise")
    make_digit_scenes(base / "noisy", seed=SEED, n_train=N_TRAIN, n_val=N_VAL, label_noise=RATES)
    make_digit_scenes(base / "clean", seed=SEED, n_train=N_TRAIN, n_val=N_VAL)
    return base / "noisy", base / "clean"


def _targets(root: Path, stem: str, split: str = "train") -> np.ndarray:
    annotations = root / "annotations" / f"instances_{stem}.json"
    return CocoMultiLabel(root / split, annotations).targets.numpy().astype(int)  # (N, K)


def _within_4_standard_errors(count: int, n: int, rate: float) -> None:
    expected, se = n * rate, math.sqrt(n * rate * (1 - rate))
    assert abs(count - expected) <= 4 * se, (count, n, rate, expected, se)


def test_counts_match_the_rates(folders: tuple[Path, Path]) -> None:
    noisy, _ = folders
    clean = _targets(noisy, "train_clean")
    errors = label_errors(noisy, "train")
    assert set(errors["kind"]) == {"missing", "spurious", "swapped"}
    # missing: per drawn label, all but one label of each image
    _within_4_standard_errors(
        int((errors["kind"] == "missing").sum()), int(clean.sum()) - len(clean), RATES["missing"]
    )
    # swapped: per drawn label whose partner is not drawn (one row each for the two classes)
    eligible = sum(int(row[c] and not row[PARTNER[c]]) for row in clean for c in PARTNER)
    swaps = errors[(errors["kind"] == "swapped") & (errors["clean"] == 1)]
    assert len(swaps) * 2 == int((errors["kind"] == "swapped").sum())
    _within_4_standard_errors(len(swaps), eligible, RATES["swapped"])
    for row in swaps.itertuples():
        assert row.confused_with == DIGIT_CLASSES[PARTNER[row.class_index]]
    # spurious: per image, at most one each
    spurious = errors[errors["kind"] == "spurious"]
    assert spurious["index"].is_unique and (spurious["clean"] == 0).all()
    _within_4_standard_errors(len(spurious), len(clean), RATES["spurious"])


def test_half_the_spurious_labels_are_a_drawn_digits_partner(folders: tuple[Path, Path]) -> None:
    noisy, _ = folders
    clean, given = _targets(noisy, "train_clean"), _targets(noisy, "train")
    spurious = label_errors(noisy, "train").query("kind == 'spurious'")
    could, partnered = 0, 0
    for row in spurious.itertuples():
        before = given[row.index].copy()
        before[row.class_index] = 0
        taken = clean[row.index] | before
        drawn = np.flatnonzero(clean[row.index])
        if any(c in PARTNER and not taken[PARTNER[c]] for c in drawn):
            could += 1
            partnered += row.confused_with is not None
        if row.confused_with is not None:
            host = DIGIT_CLASSES.index(row.confused_with)
            assert clean[row.index, host] == 1 and PARTNER[host] == row.class_index
    assert could > 50
    _within_4_standard_errors(partnered, could, 0.5)


def test_clean_and_given_labels_differ_exactly_at_the_listed_pairs(
    folders: tuple[Path, Path],
) -> None:
    noisy, _ = folders
    clean, given = _targets(noisy, "train_clean"), _targets(noisy, "train")
    errors = label_errors(noisy, "train")
    rows, cols = np.nonzero(clean != given)
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == set(
        zip(errors["index"], errors["class_index"], strict=True)
    )
    assert len(errors) == len(rows)
    assert (given[errors["index"], errors["class_index"]] == errors["given"]).all()
    assert (clean[errors["index"], errors["class_index"]] == errors["clean"]).all()
    assert (errors["class"] == [DIGIT_CLASSES[c] for c in errors["class_index"]]).all()
    assert list(errors.columns) == [
        "index", "image_id", "file_name", "class", "class_index", "kind", "given", "clean",
        "confused_with",
    ]  # fmt: skip
    # what training reads is the given labels; every image keeps at least one
    served = build_dataset("digits", noisy, "train").targets.numpy().astype(int)
    assert (served == given).all() and len(served) == N_TRAIN and served.sum(1).min() >= 1


def test_images_are_the_same_with_and_without_noise(folders: tuple[Path, Path]) -> None:
    noisy, clean = folders
    assert _hashes(noisy, "train/*.jpg") == _hashes(clean, "train/*.jpg")
    assert len(_hashes(noisy, "train/*.jpg")) == N_TRAIN
    # the kept clean labels are the annotations of the noise-free folder
    kept = json.loads((noisy / "annotations" / "instances_train_clean.json").read_text())
    plain = json.loads((clean / "annotations" / "instances_train.json").read_text())
    assert kept["annotations"] == plain["annotations"] and kept["images"] == plain["images"]
    given = json.loads((noisy / "annotations" / "instances_train.json").read_text())
    for anns in (kept["annotations"], given["annotations"]):
        assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    # a planted annotation sits on a drawn digit: its box and source digit are one of the scene's
    boxes = {(a["image_id"], tuple(a["bbox"]), a["source_index"]) for a in kept["annotations"]}
    assert all(
        (a["image_id"], tuple(a["bbox"]), a["source_index"]) in boxes for a in given["annotations"]
    )


def test_val_is_untouched_by_default(folders: tuple[Path, Path]) -> None:
    noisy, clean = folders
    assert _hashes(noisy, "val/*") == _hashes(clean, "val/*")
    assert _hashes(noisy, "annotations/*val*") == _hashes(clean, "annotations/*val*")
    assert sorted(p.name for p in (noisy / "annotations").iterdir()) == [
        "instances_train.json", "instances_train_clean.json", "instances_val.json",
        "label_errors_train.csv",
    ]  # fmt: skip
    empty = label_errors(noisy, "val")
    assert empty.empty and list(empty.columns) == list(label_errors(noisy, "train").columns)
    assert label_errors(clean, "train").empty
    marker = json.loads((noisy / ".mlrkit-digit-scenes").read_text())
    assert marker["label_noise"] == RATES and marker["noise_splits"] == ["train"]
    given = json.loads((noisy / "annotations" / "instances_train.json").read_text())
    assert given["info"]["label_noise"] == RATES


def test_same_seed_gives_the_same_bytes_and_noise_splits_picks_the_splits(tmp_path: Path) -> None:
    options = {"n_train": 60, "n_val": 30, "label_noise": {"missing": 0.3, "swapped": 0.3}}
    make_digit_scenes(tmp_path / "a", seed=1, **options)
    make_digit_scenes(tmp_path / "b", seed=1, **options)
    make_digit_scenes(tmp_path / "c", seed=2, **options)
    a, b, c = (_hashes(tmp_path / name) for name in "abc")
    assert a == b and "annotations/label_errors_train.csv" in a
    assert a["annotations/label_errors_train.csv"] != c["annotations/label_errors_train.csv"]
    assert set(label_errors(tmp_path / "a")["kind"]) == {"missing", "swapped"}
    both = tmp_path / "both"
    make_digit_scenes(both, seed=1, noise_splits=["train", "val"], **options)
    assert not label_errors(both, "val").empty
    assert label_errors(both, "train").equals(label_errors(tmp_path / "a", "train"))


@pytest.mark.parametrize(
    ("label_noise", "noise_splits", "message"),
    [
        ({"missing": 0.7}, ("train",), r"label_noise\['missing'\] = 0.7 is outside \[0, 0.5\]"),
        ({"spurious": -0.1}, ("train",), r"-0.1 is outside \[0, 0.5\]"),
        ({"swapped": float("nan")}, ("train",), r"nan is outside"),
        ({"missing": "0.1"}, ("train",), r"must be a number in \[0, 0.5\], got '0.1'"),
        ({"missing": True}, ("train",), r"must be a number .* got True"),
        ({"mising": 0.1}, ("train",), r"unknown label_noise kind 'mising'; use missing, spurious"),
        (0.1, ("train",), r"label_noise must map kinds to rates, e\.g\. .* got 0.1"),
        ({"missing": 0.1}, ("test",), r"noise_splits \['test'\] must name one or both"),
        ({"missing": 0.1}, "train", r"noise_splits must be a list"),
    ],
)
def test_bad_rates_are_refused(
    tmp_path: Path, label_noise: object, noise_splits: object, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        make_digit_scenes(
            tmp_path / "d", n_train=2, n_val=1, label_noise=label_noise, noise_splits=noise_splits
        )
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "d").exists()


def test_data_generate_reaches_the_generator_and_is_checked(tmp_path: Path) -> None:
    generate = {"n_train": 40, "n_val": 4, "label_noise": {"missing": 0.2, "spurious": 0.2}}
    cfg = apply_overrides(
        preset("digits"), [f"data.root={tmp_path / 'd'}", f"data.generate={json.dumps(generate)}"]
    )
    check_config(cfg)
    prepare_data(cfg.data)
    assert set(label_errors(tmp_path / "d")["kind"]) == {"missing", "spurious"}
    bad = apply_overrides(cfg, ['data.generate={"label_noise": {"missing": 0.9}}'])
    with pytest.raises(ConfigError, match=r"data.generate: label_noise\['missing'\] = 0.9"):
        check_config(bad)


def test_ensure_treats_other_rates_as_other_data(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ensure_digit_scenes(root, n_train=20, n_val=4, label_noise={"missing": 0.2})
    # the same rates, written out in full: the same data
    ensure_digit_scenes(
        root, n_train=20, n_val=4, label_noise={"missing": 0.2, "spurious": 0, "swapped": 0.0}
    )
    for other in ({"missing": 0.3}, None):
        with pytest.raises(DatasetError, match="label_noise"):
            ensure_digit_scenes(root, n_train=20, n_val=4, label_noise=other)
    plain = tmp_path / "plain"
    ensure_digit_scenes(plain, n_train=20, n_val=4)
    ensure_digit_scenes(plain, n_train=20, n_val=4, label_noise={})  # {} is no noise
    with pytest.raises(DatasetError, match="label_noise"):
        ensure_digit_scenes(plain, n_train=20, n_val=4, label_noise={"swapped": 0.1})


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    make_digit_scenes(root, seed=3, n_train=50, n_val=5, label_noise=RATES)
    assert not label_errors(root).empty
    return root


def _one_line_error(root: Path, match: str) -> None:
    with pytest.raises(DatasetError, match=match) as caught:
        label_errors(root, "train")
    assert "\n" not in str(caught.value)


def test_an_error_list_of_other_images_is_refused(small: Path) -> None:
    errors_file = small / "annotations" / "label_errors_train.csv"
    table = pd.read_csv(errors_file, dtype=str, keep_default_na=False)
    table.loc[0, "file_name"] = "999999.jpg"
    table.to_csv(errors_file, index=False)
    _one_line_error(small, r"line 2: image .* '999999.jpg' is not an image of split 'train'")


def test_a_clean_file_with_another_image_count_is_refused(small: Path) -> None:
    clean_file = small / "annotations" / "instances_train_clean.json"
    clean = json.loads(clean_file.read_text())
    clean["images"] = clean["images"][:-1]
    clean["annotations"] = [a for a in clean["annotations"] if a["image_id"] != 50]
    clean_file.write_text(json.dumps(clean))
    _one_line_error(small, "49 images against 50")


def test_an_error_list_of_another_seed_is_refused(small: Path, tmp_path: Path) -> None:
    make_digit_scenes(tmp_path / "other", seed=4, n_train=50, n_val=5, label_noise=RATES)
    name = "annotations/label_errors_train.csv"
    shutil.copy(tmp_path / "other" / name, small / name)
    _one_line_error(small, "the list belongs to another dataset|does not list")


def test_a_lost_truth_file_is_an_error_not_an_empty_list(small: Path) -> None:
    (small / "annotations" / "label_errors_train.csv").unlink()
    _one_line_error(small, "lacks label_errors_train.csv, the truth about the label noise")
