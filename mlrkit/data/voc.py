"""PASCAL VOC multi-label loader for the standard ``VOCdevkit/VOC20xx`` tree.

Expected tree (``root`` is the folder holding ``VOCdevkit``)::

    root/VOCdevkit/VOC2007/Annotations/<id>.xml
    root/VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval,test}.txt
    root/VOCdevkit/VOC2007/JPEGImages/<id>.jpg

Label protocol (the VOC conventions of ``docs/evaluation.md``): 20 classes in the standard
(alphabetical) VOC order. A class with at least one non-difficult object is 1; a class with no
object is 0; a class present *only* through objects marked ``difficult`` follows the
``difficult`` policy:

- ``"positive"``: 1 (the default for training splits: train, val, trainval),
- ``"negative"``: 0,
- ``"ignore"``: -1, left out of losses and metrics (the default for the ``test`` split, the
  protocol of the published VOC2007 numbers).

``difficult=None`` resolves to ``"ignore"`` for ``split == "test"`` and ``"positive"`` otherwise.
The XML is parsed with torchvision's ``VOCDetection.parse_voc_xml``. An image id listed twice in
the split list is kept once, in the order of its first line, with a
:class:`~mlrkit.data.errors.DatasetWarning`, so no image weighs double in training or metrics.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Literal
from xml.etree.ElementTree import ParseError, parse

import torch
from torchvision.datasets import VOCDetection

from mlrkit.data.errors import (
    AnnotationError,
    DatasetError,
    DatasetWarning,
    EmptyDatasetError,
    MissingFileError,
    UnknownClassError,
)
from mlrkit.data.images import MultiLabelDataset, Transform

__all__ = ["VOC_CLASSES", "VOCMultiLabel", "resolve_difficult_policy", "voc_image_labels"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

DifficultPolicy = Literal["positive", "negative", "ignore"]
_POLICY_VALUE = {"positive": 1.0, "negative": 0.0, "ignore": -1.0}
_SHOWN = 5  # repeated ids quoted in the warning; the count covers the rest


def resolve_difficult_policy(difficult: str | None, split: str) -> DifficultPolicy:
    """``None`` -> ``"ignore"`` for the test split, ``"positive"`` for training splits."""
    if difficult is None:
        return "ignore" if split == "test" else "positive"
    if difficult not in _POLICY_VALUE:
        raise DatasetError(
            f"difficult={difficult!r} is not a policy; use one of {sorted(_POLICY_VALUE)} or None."
        )
    return difficult  # type: ignore[return-value]


def voc_image_labels(xml_file: Path) -> list[tuple[str, bool]]:
    """``(class name, difficult)`` of every object in one VOC annotation file.

    Raises:
        MissingFileError: the XML file does not exist.
        AnnotationError: malformed XML or an object without a name.
    """
    if not xml_file.is_file():
        raise MissingFileError(
            f"Annotation file not found: {xml_file}. The split list names this image but its XML "
            "is missing: re-extract the VOC archive (mlrkit.data.download_voc)."
        )
    try:
        tree = VOCDetection.parse_voc_xml(parse(xml_file).getroot())
    except ParseError as error:
        raise AnnotationError(
            f"Malformed XML in {xml_file} ({error}); re-extract the VOC archive or remove the "
            "image id from the split list."
        ) from error
    if "annotation" not in tree:
        raise AnnotationError(f"{xml_file} has no <annotation> root element; re-extract it.")
    objects = tree["annotation"].get("object", [])
    labels = []
    for obj in objects if isinstance(objects, list) else [objects]:
        if not isinstance(obj, dict) or "name" not in obj:
            raise AnnotationError(f"An <object> in {xml_file} has no <name>; fix or re-extract it.")
        labels.append((str(obj["name"]).strip(), str(obj.get("difficult", "0")).strip() == "1"))
    return labels


def _read_split_list(split_file: Path) -> tuple[str, ...]:
    """Image ids of a split list, each once, in the order of their first line.

    Args:
        split_file: an ``ImageSets/Main/<split>.txt`` file; the first word of each line is an id.

    Returns:
        The ids.

    Warns:
        DatasetWarning: some id is listed more than once (its repeats are dropped).
    """
    listed = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    unique = tuple(dict.fromkeys(listed))  # dicts keep insertion order: first line wins
    if len(unique) < len(listed):
        repeated = [i for i, n in Counter(listed).items() if n > 1]
        shown = ", ".join(repeated[:_SHOWN]) + (", ..." if len(repeated) > _SHOWN else "")
        warnings.warn(
            f"{split_file}: dropped {len(listed) - len(unique)} repeated line(s), keeping each "
            f"image once; ids listed more than once: {shown} ({len(repeated)} in all). Remove "
            "the repeated lines.",
            DatasetWarning,
            stacklevel=3,
        )
    return unique


class VOCMultiLabel(MultiLabelDataset):
    """Multi-label view of PASCAL VOC (2007 or 2012) classification/detection annotations.

    Args:
        root: folder holding ``VOCdevkit`` (``root/VOCdevkit/VOC<year>``); ``root/VOC<year>``
            and the year folder itself are accepted too.
        year: "2007" or "2012" (any folder named ``VOC<year>`` works).
        split: name of a list in ``ImageSets/Main`` ("train", "val", "trainval", "test").
        difficult: policy for classes present only as difficult objects, see the module doc;
            ``None`` resolves by split (test: "ignore", otherwise "positive").
        transform: applied to the PIL image; ``None`` gives a float tensor in [0, 1].

    Attributes:
        classes: the 20 VOC class names.
        image_ids: VOC id of each row (e.g. "000005"), each once, in split-list order.
        targets: ``(N, 20)`` float tensor in {1, 0, -1}.
        difficult: the resolved policy.
    """

    def __init__(
        self,
        root: str | Path,
        year: str = "2007",
        split: str = "trainval",
        difficult: DifficultPolicy | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.difficult: DifficultPolicy = resolve_difficult_policy(difficult, split)
        self.year, self.split = str(year), split
        base = self._find_base(Path(root), self.year)
        split_file = base / "ImageSets" / "Main" / f"{split}.txt"
        if not split_file.is_file():
            raise MissingFileError(
                f"Split list not found: {split_file}. Use a split that exists there "
                "(train, val, trainval; test for VOC2007 needs the test archive)."
            )
        self.image_ids: tuple[str, ...] = _read_split_list(split_file)
        if not self.image_ids:
            raise EmptyDatasetError(f"Split list {split_file} is empty; re-extract the archive.")
        column = {name: k for k, name in enumerate(VOC_CLASSES)}
        targets = torch.zeros(len(self.image_ids), len(VOC_CLASSES))  # (N, 20)
        value = _POLICY_VALUE[self.difficult]
        for i, image_id in enumerate(self.image_ids):
            xml_file = base / "Annotations" / f"{image_id}.xml"
            easy, hard = set(), set()
            for name, is_difficult in voc_image_labels(xml_file):
                if name not in column:
                    raise UnknownClassError(
                        f"{xml_file}: unknown VOC class {name!r}; known classes: "
                        f"{', '.join(VOC_CLASSES)}. Fix the <name> of this object."
                    )
                (hard if is_difficult else easy).add(column[name])
            targets[i, sorted(hard - easy)] = value
            targets[i, sorted(easy)] = 1.0
        paths = [base / "JPEGImages" / f"{image_id}.jpg" for image_id in self.image_ids]
        super().__init__(paths, targets, VOC_CLASSES, transform, root_hint="root")

    @staticmethod
    def _find_base(root: Path, year: str) -> Path:
        candidates = [root / "VOCdevkit" / f"VOC{year}", root / f"VOC{year}"]
        if root.name == f"VOC{year}":
            candidates.append(root)
        for base in candidates:
            if (base / "ImageSets" / "Main").is_dir():
                return base
        raise MissingFileError(
            f"No VOC{year} tree under {root}: expected {root / 'VOCdevkit' / f'VOC{year}'} with "
            "Annotations/, ImageSets/Main/ and JPEGImages/. Download it with "
            f"mlrkit.data.download_voc({str(root)!r}, year={year!r})."
        )
