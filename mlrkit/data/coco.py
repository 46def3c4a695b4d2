"""COCO-format multi-label loader (COCO-2014 and the embedded digit scenes).

Label protocol (the COCO conventions of ``docs/evaluation.md``): classes in ascending category-id
order (COCO-2014 ids run 1 ... 90 with gaps for 80 classes); a class is present (1) when the image
has at least one annotation of it, crowd annotations included; otherwise 0. Images without any
annotation are dropped by default (COCO-2014: 82,081 train / 40,137 val kept of 82,783 / 40,504),
counted in ``num_unannotated`` and reported with a warning; ``keep_unannotated=True`` keeps them
as all-negative rows.

The annotation file is checked before use: every entry must carry the keys the loader reads, ids
must be integers, ``file_name`` and category names non-empty strings, image and category ids
unique, and category names unique (two classes with one name would break every per-class
table); anything else is refused with an :class:`~mlrkit.data.errors.AnnotationError` naming
the file and the entry rather than silently merged or left to fail later with a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from pycocotools.coco import COCO

from mlrkit.data.errors import AnnotationError, DatasetWarning, EmptyDatasetError, MissingFileError
from mlrkit.data.images import MultiLabelDataset, Transform

__all__ = ["CocoMultiLabel", "load_coco"]

# Per section of the file: the name of one entry, and the keys the loader (or pycocotools) reads.
_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "images": ("image", ("id", "file_name")),
    "annotations": ("annotation", ("id", "image_id", "category_id")),
    "categories": ("category", ("id", "name")),
}
_SHOWN = 5  # ids quoted in a message; the count covers the rest

# The type each field read by the loader must hold, checked before pycocotools indexes the file:
# a string id sorts against an int one with a TypeError, a string category_id matches no
# category, and a null file_name only fails when the path is built.
_INTEGER = 'an integer (a JSON number such as 42, not "42")'
_FILE_NAME = "the image's file name relative to the image folder, a non-empty string"
# Per section: (key, whether it holds an integer (else a non-empty string), what it must be).
_FIELDS: dict[str, tuple[tuple[str, bool, str], ...]] = {
    "images": (("id", True, _INTEGER), ("file_name", False, _FILE_NAME)),
    "annotations": (
        ("image_id", True, f"{_INTEGER}, the id of an entry of 'images'"),
        ("category_id", True, f"{_INTEGER}, the id of an entry of 'categories'"),
    ),
    "categories": (("id", True, _INTEGER), ("name", False, "the class name, a non-empty string")),
}
_JSON_KINDS = {
    str: "a string",
    bool: "a boolean",
    float: "a decimal number",
    list: "an array",
    dict: "an object",
}


def load_coco(annotation_file: str | Path) -> COCO:
    """Load a COCO annotation file into ``pycocotools.coco.COCO`` with clear errors.

    The file is checked before pycocotools indexes it, because its index is a dict keyed by id:
    two images (or categories) sharing an id would silently collapse into one. A leading UTF-8
    byte-order mark, as some editors write, is accepted. pycocotools prints while indexing; that
    output is captured so the library stays silent.

    Args:
        annotation_file: COCO instances JSON.

    Returns:
        The indexed ``COCO`` object.

    Raises:
        MissingFileError: the file does not exist.
        AnnotationError: malformed JSON, not a COCO instances file, an entry without a required
            key, an id that is not an integer, a ``file_name`` or category name that is not a
            non-empty string, an image or category id listed twice, or a category name used by
            two ids.
    """
    path = Path(annotation_file)
    if not path.is_file():
        raise MissingFileError(
            f"Annotation file not found: {path}. For COCO-2014 it is "
            "annotations/instances_{train,val}2014.json (mlrkit.data.download_coco2014); for the "
            "embedded dataset run mlrkit.data.make_digit_scenes(root)."
        )
    try:
        # utf-8-sig also reads plain UTF-8; with "utf-8", json.load refuses a byte-order mark.
        with open(path, encoding="utf-8-sig") as f:
            dataset = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnnotationError(
            f"Malformed JSON in {path} ({error}). The file is truncated or corrupt: re-download or "
            "regenerate it."
        ) from error
    missing = [k for k in _SECTIONS if not isinstance(dataset, dict) or k not in dataset]
    if missing:
        raise AnnotationError(
            f"{path} is not a COCO instances file (missing keys {missing}); pass an "
            "instances_*.json file, not a captions or keypoints file."
        )
    try:
        _check_entries(path, dataset)
        coco = COCO()
        coco.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
    except (KeyError, TypeError) as error:  # e.g. an id that is a list: unhashable
        raise AnnotationError(
            f"{path} is not a valid COCO instances file ({type(error).__name__}: {error}); "
            "re-download or regenerate it."
        ) from error
    return coco


def _check_entries(path: Path, dataset: dict[str, Any]) -> None:
    """Refuse the entries that pycocotools would crash on or silently merge.

    Args:
        path: the annotation file, quoted in messages.
        dataset: its parsed JSON, holding the three sections of ``_SECTIONS``.

    Raises:
        AnnotationError: a section is not a list of objects, an entry lacks a required key, a
            field holds the wrong type (see ``_FIELDS``), an image or category id is listed
            twice, or two categories share a name.
    """
    for section, (entry_name, keys) in _SECTIONS.items():
        entries = dataset[section]
        if not isinstance(entries, list):
            raise AnnotationError(
                f"{path}: {section!r} must be a list of objects, got {type(entries).__name__}; "
                "re-download or regenerate the file."
            )
        bad = next((i for i, entry in enumerate(entries) if not isinstance(entry, dict)), None)
        if bad is not None:
            raise AnnotationError(
                f"{path}: {section!r} must be a list of objects, got a "
                f"{type(entries[bad]).__name__} at index {bad}; re-download or regenerate the file."
            )
        for key in keys:
            lacking = [i for i, entry in enumerate(entries) if key not in entry]
            if lacking:
                first = entries[lacking[0]]
                where = f"id {first['id']}" if "id" in first else f"at index {lacking[0]}"
                raise AnnotationError(
                    f"{path}: {entry_name} {where} has no {key!r} ({len(lacking)} such entries in "
                    f"{section!r}); add it, or re-download or regenerate the file."
                )
    _check_types(path, dataset)
    for section, lost in (("images", "an image file"), ("categories", "a class")):
        counts = Counter(entry["id"] for entry in dataset[section])
        repeated = [i for i, n in counts.items() if n > 1]  # Counter keeps first-seen order
        if repeated:
            shown = ", ".join(map(str, repeated[:_SHOWN])) + (
                ", ..." if len(repeated) > _SHOWN else ""
            )
            raise AnnotationError(
                f"{path}: ids listed more than once in {section!r}: {shown} ({len(repeated)} in "
                f"all). Ids must be unique: entries sharing an id would merge and {lost} would "
                "be lost. Fix or regenerate the file."
            )
    _check_category_names(path, dataset["categories"])


def _check_types(path: Path, dataset: dict[str, Any]) -> None:
    """Refuse a field of the wrong type (``_FIELDS``), naming the first entry and the count.

    Raises:
        AnnotationError: an id that is not an integer (booleans and decimals included), or a
            ``file_name`` or category name that is not a non-empty string.
    """
    for section, fields in _FIELDS.items():
        entry_name = _SECTIONS[section][0]
        entries = dataset[section]
        for key, integer, must in fields:
            bad = [i for i, entry in enumerate(entries) if not _valid(entry[key], integer)]
            if bad:
                first = entries[bad[0]]
                value = first[key]
                # the entry's own id names it, unless that id is the faulty value
                where = (
                    f"id {first['id']} (index {bad[0]})"
                    if key != "id" and _valid(first.get("id"), True)
                    else f"at index {bad[0]}"
                )
                kind = "" if value is None else f" ({_JSON_KINDS.get(type(value), 'a number')})"
                raise AnnotationError(
                    f"{path}: {entry_name} {where} has {key!r} {json.dumps(value)[:80]}{kind}; it "
                    f"must be {must} ({len(bad)} such entries in {section!r}). Fix or regenerate "
                    "the file."
                )


def _valid(value: object, integer: bool) -> bool:
    if integer:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str) and value != ""


def _check_category_names(path: Path, categories: list[dict[str, Any]]) -> None:
    """Refuse two categories with one name: they would load as two same-named classes.

    Raises:
        AnnotationError: a name used by several ids (the first such name, its ids and the
            count of such names).
    """
    ids: dict[str, list[int]] = {}
    for category in categories:
        ids.setdefault(category["name"], []).append(category["id"])
    shared = {name: owners for name, owners in ids.items() if len(owners) > 1}
    if shared:
        name, owners = next(iter(shared.items()))
        listed = ", ".join(map(str, owners[:-1])) + f" and {owners[-1]}"
        others = f" ({len(shared)} names used more than once in all)" if len(shared) > 1 else ""
        raise AnnotationError(
            f"{path}: category name {name!r} is used by ids {listed}{others}. Two classes with "
            "one name break every per-class table (metrics, separation, plots): rename one of "
            "them, or give their annotations one category id."
        )


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
                DatasetWarning,
                stacklevel=2,
            )
        self.image_ids: tuple[int, ...] = tuple(image_ids)
        self.keep_unannotated = keep_unannotated
        paths = [image_dir / coco.imgs[i]["file_name"] for i in image_ids]
        super().__init__(paths, targets, classes, transform, root_hint="image_dir")
