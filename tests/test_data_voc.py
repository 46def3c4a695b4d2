"""VOC loader: class order, difficult policies and their split defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import VOCDetection

from mlrkit.data import (
    VOC_CLASSES,
    AnnotationError,
    DatasetError,
    EmptyDatasetError,
    MissingFileError,
    UnknownClassError,
    VOCMultiLabel,
)
from mlrkit.data.errors import DatasetWarning

# image id -> objects (name, difficult)
OBJECTS = {
    "000001": [("dog", False), ("person", False), ("person", True)],
    "000002": [("car", True), ("bus", False)],          # car only as difficult
    "000003": [("cat", True), ("cat", True), ("chair", False)],  # cat only as difficult
    "000004": [("tvmonitor", False)],
}  # fmt: skip
SPLITS = {"trainval": ["000001", "000002", "000003"], "test": ["000002", "000003", "000004"]}


def _xml(image_id: str, objects: list[tuple[str, bool]]) -> str:
    body = "".join(
        f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated>"
        f"<difficult>{int(d)}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        for n, d in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>"
        f"<size><width>10</width><height>8</height><depth>3</depth></size>{body}</annotation>"
    )


def _write_voc(root: Path, year: str = "2007") -> Path:
    base = root / "VOCdevkit" / f"VOC{year}"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for image_id, objects in OBJECTS.items():
        (base / "Annotations" / f"{image_id}.xml").write_text(_xml(image_id, objects))
        pixels = np.full((8, 10, 3), int(image_id) * 40, dtype=np.uint8)
        Image.fromarray(pixels).save(base / "JPEGImages" / f"{image_id}.jpg")
    for split, ids in SPLITS.items():
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return base


def _reference(split: str, policy_value: float) -> np.ndarray:
    """Oracle written for clarity: per class, easy object -> 1, else difficult -> policy, else 0."""
    expected = np.zeros((len(SPLITS[split]), 20))
    for row, image_id in enumerate(SPLITS[split]):
        for k, name in enumerate(VOC_CLASSES):
            flags = [d for n, d in OBJECTS[image_id] if n == name]
            if any(not d for d in flags):
                expected[row, k] = 1
            elif flags:
                expected[row, k] = policy_value
    return expected


def test_classes_are_the_twenty_voc_classes_in_order() -> None:
    assert len(VOC_CLASSES) == 20 and list(VOC_CLASSES) == sorted(VOC_CLASSES)


@pytest.mark.parametrize(("policy", "value"), [("positive", 1), ("negative", 0), ("ignore", -1)])
def test_difficult_policies(tmp_path: Path, policy: str, value: float) -> None:
    _write_voc(tmp_path)
    for split in SPLITS:
        dataset = VOCMultiLabel(tmp_path, split=split, difficult=policy)
        assert dataset.difficult == policy
        np.testing.assert_array_equal(dataset.targets.numpy(), _reference(split, value))


def test_default_policy_resolves_by_split(tmp_path: Path) -> None:
    _write_voc(tmp_path)
    train, test = VOCMultiLabel(tmp_path), VOCMultiLabel(tmp_path, split="test")
    assert train.difficult == "positive" and test.difficult == "ignore"
    np.testing.assert_array_equal(train.targets.numpy(), _reference("trainval", 1))
    np.testing.assert_array_equal(test.targets.numpy(), _reference("test", -1))
    car = VOC_CLASSES.index("car")
    assert train.targets[1, car] == 1 and test.targets[0, car] == -1


def test_items_and_alternative_roots(tmp_path: Path) -> None:
    base = _write_voc(tmp_path, year="2012")
    for root in (tmp_path, tmp_path / "VOCdevkit", base):
        dataset = VOCMultiLabel(root, year="2012", split="test")
        assert dataset.image_ids == tuple(SPLITS["test"])
    image, target = dataset[2]
    assert image.shape == (3, 8, 10) and image.dtype == torch.float32
    assert target[VOC_CLASSES.index("tvmonitor")] == 1 and target.sum() == 1


def test_agrees_with_torchvision_voc_detection(tmp_path: Path) -> None:
    """Independent oracle: torchvision's own VOCDetection reads the same tree."""
    _write_voc(tmp_path)
    ours = VOCMultiLabel(tmp_path, split="trainval", difficult="negative")
    theirs = VOCDetection(str(tmp_path), year="2007", image_set="trainval")
    for i in range(len(theirs)):
        objects = theirs[i][1]["annotation"]["object"]
        names = {o["name"] for o in objects if o["difficult"] == "0"}
        assert {VOC_CLASSES[k] for k in ours.targets[i].nonzero().flatten().tolist()} == names


def test_unknown_policy(tmp_path: Path) -> None:
    _write_voc(tmp_path)
    with pytest.raises(DatasetError, match="difficult='skip'"):
        VOCMultiLabel(tmp_path, difficult="skip")


def test_missing_tree_suggests_download(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="download_voc"):
        VOCMultiLabel(tmp_path)


def test_missing_split_list(tmp_path: Path) -> None:
    _write_voc(tmp_path)
    with pytest.raises(MissingFileError, match=r"ImageSets.Main.val\.txt"):
        VOCMultiLabel(tmp_path, split="val")


def test_empty_split_list(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    (base / "ImageSets" / "Main" / "val.txt").write_text("\n")
    with pytest.raises(EmptyDatasetError, match=r"val\.txt is empty"):
        VOCMultiLabel(tmp_path, split="val")


def test_missing_xml_names_it(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    (base / "Annotations" / "000002.xml").unlink()
    with pytest.raises(MissingFileError, match=r"000002\.xml.*re-extract"):
        VOCMultiLabel(tmp_path)


def test_malformed_xml_names_it(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    (base / "Annotations" / "000003.xml").write_text("<annotation><object><name>cat</name>")
    with pytest.raises(AnnotationError, match=r"Malformed XML in .*000003\.xml"):
        VOCMultiLabel(tmp_path)


def test_unknown_class_in_xml(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    (base / "Annotations" / "000001.xml").write_text(_xml("000001", [("unicorn", False)]))
    with pytest.raises(UnknownClassError, match=r"000001\.xml.*'unicorn'.*aeroplane"):
        VOCMultiLabel(tmp_path)


def test_missing_and_corrupt_jpeg(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    dataset = VOCMultiLabel(tmp_path)
    (base / "JPEGImages" / "000001.jpg").unlink()
    with pytest.raises(MissingFileError, match=r"000001\.jpg"):
        dataset[0]
    (base / "JPEGImages" / "000002.jpg").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"000002\.jpg.*corrupt"):
        dataset[1]


def test_repeated_ids_in_split_list_are_kept_once_with_a_warning(tmp_path: Path) -> None:
    base = _write_voc(tmp_path)
    listed = ["000001", "000002", "000001", "000003", "000002 ", "000001"]
    (base / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(listed) + "\n")
    with pytest.warns(
        DatasetWarning,
        match=r"trainval\.txt: dropped 3 repeated line\(s\).*: 000001, 000002 \(2 in all\)",
    ):
        dataset = VOCMultiLabel(tmp_path, difficult="ignore")
    assert dataset.image_ids == tuple(SPLITS["trainval"]) and len(dataset) == 3
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference("trainval", -1))
