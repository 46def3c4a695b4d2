"""COCO loader: category-id order with gaps, crowd presence, unannotated policy, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlrkit.data import (
    AnnotationError,
    CocoMultiLabel,
    DatasetError,
    EmptyDatasetError,
    ImageFileError,
    MissingFileError,
)

# Real-style ids with gaps, listed out of order: ascending id order is person, car, toothbrush.
CATEGORIES = [
    {"id": 90, "name": "toothbrush"},
    {"id": 1, "name": "person"},
    {"id": 3, "name": "car"},
]
IMAGES = [10, 20, 30, 40, 50]  # 40 and 50 have no annotation
ANNOTATIONS = [
    (10, 1, 0), (10, 1, 0), (10, 90, 0),  # person twice + toothbrush
    (20, 3, 1),                           # car, only as a crowd annotation
    (30, 1, 0), (30, 3, 0),
]  # fmt: skip


def _write_jpeg(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)


def _write_coco(root: Path, images: list[int] = IMAGES, annotations: list = ANNOTATIONS) -> Path:
    for image_id in images:
        _write_jpeg(root / "images" / f"{image_id:012d}.jpg", image_id)
    coco = {
        "images": [
            {"id": i, "file_name": f"{i:012d}.jpg", "width": 16, "height": 12} for i in images
        ],
        "annotations": [
            {"id": k + 1, "image_id": i, "category_id": c, "iscrowd": crowd, "bbox": [0, 0, 4, 4]}
            for k, (i, c, crowd) in enumerate(annotations)
        ],
        "categories": CATEGORIES,
    }
    path = root / "annotations" / "instances.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return path


def _reference_targets(image_ids: list[int]) -> np.ndarray:
    """Slow oracle: loop over the raw annotation tuples."""
    order = sorted(c["id"] for c in CATEGORIES)
    expected = np.zeros((len(image_ids), len(order)))
    for row, image_id in enumerate(image_ids):
        for i, c, _ in ANNOTATIONS:
            if i == image_id:
                expected[row, order.index(c)] = 1
    return expected


def test_classes_follow_ascending_category_id(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path))
    assert dataset.classes == ("person", "car", "toothbrush")
    assert dataset.category_ids == (1, 3, 90)


def test_targets_count_crowd_and_drop_unannotated_with_warning(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="dropped 2 of 5 images"):
        dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path))
    assert dataset.image_ids == (10, 20, 30)
    assert dataset.num_unannotated == 2
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference_targets([10, 20, 30]))
    assert dataset.targets[1].tolist() == [0.0, 1.0, 0.0]  # the crowd-only car counts


def test_keep_unannotated_gives_all_negative_rows(tmp_path: Path) -> None:
    dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path), keep_unannotated=True)
    assert dataset.image_ids == tuple(IMAGES) and dataset.num_unannotated == 2
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference_targets(IMAGES))
    assert dataset.targets[3:].abs().sum() == 0


def test_item_is_float_image_and_target(tmp_path: Path) -> None:
    dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path), keep_unannotated=True)
    image, target = dataset[2]
    assert image.dtype == torch.float32 and image.shape == (3, 12, 16)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert target.dtype == torch.float32 and target.tolist() == [1.0, 1.0, 0.0]
    dataset.transform = lambda im: torch.full((1,), float(im.size[0]))
    assert dataset[0][0].item() == 16.0


def test_errors_derive_from_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="instances_train2014.json"):
        CocoMultiLabel(tmp_path, tmp_path / "annotations" / "instances_train2014.json")


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = _write_coco(tmp_path)
    path.write_text(path.read_text()[:-20])  # truncated download
    with pytest.raises(AnnotationError, match=r"Malformed JSON in .*instances\.json.*re-download"):
        CocoMultiLabel(tmp_path / "images", path)


def test_not_an_instances_file(tmp_path: Path) -> None:
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(AnnotationError, match="categories"):
        CocoMultiLabel(tmp_path, path)


def test_entry_without_required_key(tmp_path: Path) -> None:
    path = tmp_path / "instances.json"
    images = [{"id": 1}]  # no file_name
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATEGORIES}))
    with pytest.raises(AnnotationError, match=r"instances\.json.*'file_name'"):
        CocoMultiLabel(tmp_path, path)


def test_unknown_category_id(tmp_path: Path) -> None:
    path = _write_coco(tmp_path, annotations=[*ANNOTATIONS, (10, 77, 0)])
    with pytest.raises(AnnotationError, match="category_id 77"):
        CocoMultiLabel(tmp_path / "images", path)


def test_empty_after_dropping_unannotated(tmp_path: Path) -> None:
    path = _write_coco(tmp_path, images=[40, 50], annotations=[])
    with pytest.raises(EmptyDatasetError, match="keep_unannotated=True"):
        CocoMultiLabel(tmp_path / "images", path)


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="image_dir"):
        CocoMultiLabel(tmp_path / "nowhere", _write_coco(tmp_path), keep_unannotated=True)


def test_missing_image_file_names_it_and_the_fix(tmp_path: Path) -> None:
    dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path), keep_unannotated=True)
    (tmp_path / "images" / "000000000020.jpg").unlink()
    with pytest.raises(MissingFileError, match=r"000000000020\.jpg.*image_dir"):
        dataset[1]


def test_truncated_jpeg_names_it_and_the_fix(tmp_path: Path) -> None:
    dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path), keep_unannotated=True)
    path = tmp_path / "images" / "000000000010.jpg"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ImageFileError, match=r"000000000010\.jpg.*truncated.*re-download"):
        dataset[0]


def test_corrupt_jpeg_names_it(tmp_path: Path) -> None:
    dataset = CocoMultiLabel(tmp_path / "images", _write_coco(tmp_path), keep_unannotated=True)
    (tmp_path / "images" / "000000000030.jpg").write_bytes(b"\xff\xd8 not really a jpeg" * 4)
    with pytest.raises(ImageFileError, match=r"000000000030\.jpg.*remove it"):
        dataset[2]


def _rewrite(path: Path, section: str, value: object) -> Path:
    """Replace one section of the annotation file written by ``_write_coco``."""
    coco = json.loads(path.read_text())
    coco[section] = value
    path.write_text(json.dumps(coco))
    return path


def test_duplicate_image_ids_are_refused_not_merged(tmp_path: Path) -> None:
    path = _write_coco(tmp_path)
    images = json.loads(path.read_text())["images"]
    images[1]["id"] = 10  # 000000000020.jpg now claims image 10 too: one file would be dropped
    _rewrite(path, "images", images)
    with pytest.raises(
        AnnotationError, match=r"instances\.json: ids listed more than once in 'images': 10 \(1 in"
    ):
        CocoMultiLabel(tmp_path / "images", path)


def test_many_duplicate_image_ids_show_the_first_few_and_the_count(tmp_path: Path) -> None:
    path = _write_coco(tmp_path)
    images = [{"id": i % 7, "file_name": f"{i}.jpg"} for i in range(14)]
    _rewrite(path, "images", images)
    with pytest.raises(AnnotationError, match=r"'images': 0, 1, 2, 3, 4, \.\.\. \(7 in all\)"):
        CocoMultiLabel(tmp_path / "images", path)


def test_duplicate_category_ids_are_refused_not_merged(tmp_path: Path) -> None:
    path = _rewrite(_write_coco(tmp_path), "categories", [*CATEGORIES, {"id": 3, "name": "bus"}])
    with pytest.raises(
        AnnotationError, match=r"instances\.json: ids listed more than once in 'categories': 3 "
    ):
        CocoMultiLabel(tmp_path / "images", path)


def test_category_without_name_names_its_id_and_the_key(tmp_path: Path) -> None:
    path = _rewrite(_write_coco(tmp_path), "categories", [*CATEGORIES[:2], {"id": 3}])
    with pytest.raises(AnnotationError, match=r"instances\.json: category id 3 has no 'name'"):
        CocoMultiLabel(tmp_path / "images", path)


def test_images_as_a_dict_is_named_plainly(tmp_path: Path) -> None:
    path = _write_coco(tmp_path)
    images = {str(image["id"]): image for image in json.loads(path.read_text())["images"]}
    _rewrite(path, "images", images)
    with pytest.raises(
        AnnotationError, match=r"instances\.json: 'images' must be a list of objects, got dict"
    ):
        CocoMultiLabel(tmp_path / "images", path)


def test_json_with_byte_order_mark_loads_like_without(tmp_path: Path) -> None:
    path = _write_coco(tmp_path)
    with_bom = path.with_name("instances_bom.json")
    with_bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as Notepad saves "UTF-8"
    plain = CocoMultiLabel(tmp_path / "images", path, keep_unannotated=True)
    bom = CocoMultiLabel(tmp_path / "images", with_bom, keep_unannotated=True)
    assert bom.classes == plain.classes and bom.image_ids == plain.image_ids
    assert bom.paths == plain.paths
    np.testing.assert_array_equal(bom.targets.numpy(), plain.targets.numpy())
    np.testing.assert_array_equal(bom.targets.numpy(), _reference_targets(IMAGES))


def test_duplicate_category_names_are_refused_with_both_ids(tmp_path: Path) -> None:
    path = _rewrite(_write_coco(tmp_path), "categories", [*CATEGORIES, {"id": 5, "name": "car"}])
    with pytest.raises(
        AnnotationError, match=r"instances\.json: category name 'car' is used by ids 3 and 5\."
    ):
        CocoMultiLabel(tmp_path / "images", path)


def _set(path: Path, section: str, index: int, key: str, value: object) -> Path:
    """Set one field of one entry of the annotation file written by ``_write_coco``."""
    entries = json.loads(path.read_text())[section]
    entries[index][key] = value
    return _rewrite(path, section, entries)


@pytest.mark.parametrize(
    ("section", "index", "key", "value", "match"),
    [
        ("images", 0, "id", "10", r"image at index 0 has 'id' \"10\" \(a string\); it must be an"
         r" integer"),
        ("images", 1, "file_name", None, r"image id 20 \(index 1\) has 'file_name' null; it must"
         r" be the image's file name"),
        ("annotations", 2, "category_id", "90", r"annotation id 3 \(index 2\) has 'category_id' "
         r"\"90\" \(a string\); it must be an integer .*the id of an entry of 'categories'"),
        ("categories", 2, "id", "3", r"category at index 2 has 'id' \"3\" \(a string\); it must "
         r"be an integer"),
    ],
    ids=["string-image-id", "null-file-name", "string-category-id", "string-id-in-categories"],
)  # fmt: skip
def test_a_field_of_the_wrong_type_names_the_file_the_entry_and_the_type(
    tmp_path: Path, section: str, index: int, key: str, value: object, match: str
) -> None:
    path = _set(_write_coco(tmp_path), section, index, key, value)
    with pytest.raises(AnnotationError, match=rf"instances\.json: {match}") as info:
        CocoMultiLabel(tmp_path / "images", path)
    assert "\n" not in str(info.value)  # one line on the command line
