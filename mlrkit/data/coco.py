"""COCO-format multi-label loader (COCO-2014 and the embedded digit scenes).

Label protocol (METHOD.md section 4): classes in ascending category-id order (COCO-2014 ids run
1 ... 90 with gaps for 80 classes); a class is present (1) when the image has at least one
annotation of it, crowd annotations included; otherwise 0. Images without any annotation are
dropped by default (COCO-2014: 82,081 train / 40,137 val kept of 82,783 / 40,504), counted in
``num_unannotated`` and reported with a warning; ``keep_unannotated=True`` keeps them as
all-negative rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import torch
from pycocotools.coco import COCO

from mlrkit.data.errors import AnnotationError, EmptyDatasetError, MissingFileError
from mlrkit.data.images import MultiLabelDataset, Transform

__all__ = ["CocoMultiLabel", "load_coco"]


def load_coco(annotation_file: str | Path) -> COCO:
    """Load a COCO annotation file into ``pycocotools.coco.COCO`` with clear errors.

    pycocotools prints while indexing; that output is captured so the library stays silent.

    Raises:
        MissingFileError: the file does not exist.
        AnnotationError: malformed JSON, or not a COCO instances file.
    """
    path = Path(annotation_file)
    if not path.is_file():
        raise MissingFileError(
            f"Annotation file not found: {path}. For COCO-2014 it is "
            "annotations/instances_{train,val}2014.json (mlrkit.data.download_coco2014); for the "
            "embedded dataset run mlrkit.data.make_digit_scenes(root)."
        )
    try:
        with open(path, encoding="utf-8") as f:
            dataset = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnnotationError(
            f"Malformed JSON in {path} ({error}). The file is truncated or corrupt: re-download or "
            "regenerate it."
        ) from error
    keys = ("images", "annotations", "categories")
    missing = [k for k in keys if k not in dataset] if isinstance(dataset, dict) else list(keys)
    if missing:
        raise AnnotationError(
            f"{path} is not a COCO instances file (missing keys {missing}); pass an "
            "instances_*.json file, not a captions or keypoints file."
        )
    coco = COCO()
    coco.dataset = dataset
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        unnamed = [image["id"] for image in dataset["images"] if "file_name" not in image]
    except (KeyError, TypeError) as error:
        raise AnnotationError(
            f"{path} is not a valid COCO instances file (an entry lacks the key {error}); "
            "re-download or regenerate it."
        ) from error
    if unnamed:
        raise AnnotationError(
            f"{path}: image {unnamed[0]} has no 'file_name' ({len(unnamed)} such images); "
            "re-download or regenerate the file."
        )
    return coco


class CocoMultiLabel(MultiLabelDataset):
    """Multi-label view of a COCO-format detection dataset.

    Args:
        image_dir: folder holding the images named by ``file_name`` (e.g. ``train2014/``).
        annotation_file: COCO instances JSON (e.g. ``annotations/instances_train2014.json``).
        transform: applied to the PIL image; ``None`` gives a float tensor in [0, 1].
        keep_unannotated: keep images without annotations as all-negative rows (default: drop
            them, count them in ``num_unannotated`` and warn).

    Attributes:
        classes: category names in ascending category-id order, K of them.
        category_ids: the matching COCO category ids.
        image_ids: COCO image id of each row, ascending.
        targets: ``(N, K)`` float tensor in {0, 1}.
        num_unannotated: images without annotations (dropped unless ``keep_unannotated``).
    """

    def __init__(
        self,
        image_dir: str | Path,
        annotation_file: str | Path,
        transform: Transform | None = None,
        keep_unannotated: bool = False,
    ) -> None:
        image_dir = Path(image_dir)
        coco = load_coco(annotation_file)
        if not image_dir.is_dir():
            raise MissingFileError(
                f"Image folder not found: {image_dir} (annotations: {annotation_file}). Check "
                "image_dir, or download/extract the images first."
            )
        self.category_ids: tuple[int, ...] = tuple(sorted(coco.cats))
        column = {cat_id: k for k, cat_id in enumerate(self.category_ids)}
        classes = [coco.cats[cat_id]["name"] for cat_id in self.category_ids]
        all_ids = sorted(coco.imgs)
        unannotated = [i for i in all_ids if not coco.imgToAnns.get(i)]
        self.num_unannotated: int = len(unannotated)
        image_ids = all_ids if keep_unannotated else [i for i in all_ids if coco.imgToAnns.get(i)]
        if not image_ids:
            raise EmptyDatasetError(
                f"No image left in {annotation_file}: {len(all_ids)} images, "
                f"{self.num_unannotated} without annotations. Pass keep_unannotated=True or check "
                "that the annotation file is the instances file of this split."
            )
        row = {image_id: i for i, image_id in enumerate(image_ids)}
        rows, cols = [], []
        for ann in coco.dataset["annotations"]:
            if ann["category_id"] not in column:
                raise AnnotationError(
                    f"Annotation {ann.get('id')} in {annotation_file} uses category_id "
                    f"{ann['category_id']}, which is not in 'categories'; fix the file."
                )
            if ann["image_id"] not in coco.imgs:
                raise AnnotationError(
                    f"Annotation {ann.get('id')} in {annotation_file} refers to image_id "
                    f"{ann['image_id']}, which is not in 'images'; fix the file."
                )
            if ann["image_id"] in row:  # crowd annotations count as presence too
                rows.append(row[ann["image_id"]])
                cols.append(column[ann["category_id"]])
        targets = torch.zeros(len(image_ids), len(classes))  # (N, K)
        # One vectorised write: per-annotation tensor indexing costs seconds at COCO scale.
        targets[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = 1.0
        if self.num_unannotated and not keep_unannotated:
            warnings.warn(
                f"{annotation_file}: dropped {self.num_unannotated} of {len(all_ids)} images "
                "without annotations (keep_unannotated=True keeps them as all-negative rows).",
                stacklevel=2,
            )
        self.image_ids: tuple[int, ...] = tuple(image_ids)
        self.keep_unannotated = keep_unannotated
        paths = [image_dir / coco.imgs[i]["file_name"] for i in image_ids]
        super().__init__(paths, targets, classes, transform, root_hint="image_dir")
