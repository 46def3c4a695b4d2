"""build_dataset: each kind reaches the right loader and layout; unknown kinds fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlrkit.data import (
    CocoMultiLabel,
    CsvMultiLabel,
    DatasetError,
    MissingFileError,
    VOCMultiLabel,
    build_dataset,
    eval_transform,
    make_digit_scenes,
)


def test_digits(tmp_path: Path) -> None:
    make_digit_scenes(tmp_path, seed=1, n_train=12, n_val=5)
    transform = eval_transform(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    train = build_dataset("digits", tmp_path, "train", transform=transform)
    val = build_dataset("digits", tmp_path, "val", keep_unannotated=True)
    assert isinstance(train, CocoMultiLabel) and (len(train), len(val)) == (12, 5)
    assert train.classes[0] == "zero" and train[0][0].shape == (3, 32, 32)
    assert val[0][0].shape == (3, 64, 64)


def test_digits_missing_suggests_generator(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="make_digit_scenes"):
        build_dataset("digits", tmp_path, "train")


def test_coco_2014_layout(tmp_path: Path) -> None:
    (tmp_path / "val2014").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "val2014" / "x.jpg")
    (tmp_path / "annotations").mkdir()
    coco = {
        "images": [{"id": 5, "file_name": "x.jpg"}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 18, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    (tmp_path / "annotations" / "instances_val2014.json").write_text(json.dumps(coco))
    dataset = build_dataset("coco", tmp_path, "val")
    assert dataset.classes == ("person", "dog") and dataset.targets.tolist() == [[0.0, 1.0]]
    with pytest.raises(MissingFileError, match="instances_train2014.json"):
        build_dataset("coco", tmp_path, "train")


def test_voc_forwards_policy(tmp_path: Path) -> None:
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (base / sub).mkdir(parents=True)
    (base / "ImageSets/Main/val.txt").write_text("a\n")
    (base / "Annotations/a.xml").write_text(
        "<annotation><object><name>cow</name><difficult>1</difficult></object></annotation>"
    )
    dataset = build_dataset("voc", tmp_path, "val", year="2012", difficult="ignore")
    assert isinstance(dataset, VOCMultiLabel) and dataset.targets[0, 9] == -1
    assert build_dataset("voc", tmp_path, "val", year="2012").targets[0, 9] == 1


def test_csv_by_split_name_or_file(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("image,labels\na.jpg,x|y\n")
    by_split = build_dataset("csv", tmp_path, "train", classes=["y", "x", "z"])
    by_file = build_dataset("csv", tmp_path / "train.csv", "ignored")
    assert isinstance(by_split, CsvMultiLabel) and by_split.targets.tolist() == [[1, 1, 0]]
    assert by_file.classes == ("x", "y")


def test_unknown_kind() -> None:
    with pytest.raises(DatasetError, match="Unknown dataset kind 'imagenet'.*digits, coco"):
        build_dataset("imagenet", ".", "train")
