"""``build_dataset``: one entry point from a (kind, root, split) triple to a dataset.

Layouts (``root`` per kind)::

    digits  root/{train,val}/*.jpg + root/annotations/instances_{train,val}.json
    coco    root/{train,val}2014/*.jpg + root/annotations/instances_{train,val}2014.json
    voc     root/VOCdevkit/VOC<year>/...                 (split: train, val, trainval, test)
    csv     root/<split>.csv, or root is the CSV file itself
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from mlrkit.data.coco import CocoMultiLabel
from mlrkit.data.csvfile import CsvMultiLabel
from mlrkit.data.errors import DatasetError, MissingFileError
from mlrkit.data.images import MultiLabelDataset, Transform
from mlrkit.data.voc import VOCMultiLabel

__all__ = ["DATASET_KINDS", "build_dataset", "policy_options"]

DATASET_KINDS: tuple[str, ...] = ("digits", "coco", "voc", "csv")

# The loader behind each kind and the arguments build_dataset fills in itself (not policies).
_LOADERS: dict[str, tuple[type, tuple[str, ...]]] = {
    "digits": (CocoMultiLabel, ("image_dir", "annotation_file", "transform")),
    "coco": (CocoMultiLabel, ("image_dir", "annotation_file", "transform")),
    "voc": (VOCMultiLabel, ("root", "split", "transform")),
    "csv": (CsvMultiLabel, ("csv_file", "transform")),
}


def policy_options(kind: str) -> tuple[str, ...]:
    """The policy keywords ``build_dataset`` accepts for ``kind`` (e.g. VOC's ``difficult``).

    Raises:
        DatasetError: unknown ``kind``.
    """
    if kind not in _LOADERS:
        raise DatasetError(f"Unknown dataset kind {kind!r}; use one of {', '.join(DATASET_KINDS)}.")
    loader, filled = _LOADERS[kind]
    names = [n for n in inspect.signature(loader.__init__).parameters if n not in ("self", *filled)]
    return tuple(names + (["year"] if kind == "coco" else []))


def build_dataset(
    kind: str,
    root: str | Path,
    split: str,
    transform: Transform | None = None,
    **policy: Any,
) -> MultiLabelDataset:
    """Build the dataset of ``kind`` for ``split`` under ``root`` (layouts in the module doc).

    Args:
        kind: "digits", "coco", "voc" or "csv".
        root: dataset folder (for "csv" also the CSV file itself).
        split: "train" / "val" (digits, coco), a VOC split list name, or a CSV stem.
        transform: image transform (see ``train_transform`` / ``eval_transform``).
        **policy: forwarded to the loader: ``keep_unannotated`` (digits, coco), ``year`` (coco:
            "2014" by default; voc: "2007"), ``difficult`` (voc), ``image_root``, ``classes``
            (csv).

    Returns:
        The dataset; items are ``(image (3, H, W), target (K,))``.
    """
    root = Path(root)
    if kind == "digits":
        if not (root / "annotations").is_dir():
            raise MissingFileError(
                f"No embedded dataset in {root} (no annotations/ folder). Generate one into a new "
                "or empty folder (python -m mlrkit generate --root DIR, or "
                "mlrkit.data.make_digit_scenes(DIR)), or, for your own images, use kind 'coco', "
                "'voc' or 'csv'."
            )
        annotation_file = root / "annotations" / f"instances_{split}.json"
        return CocoMultiLabel(root / split, annotation_file, transform=transform, **policy)
    if kind == "coco":
        year = str(policy.pop("year", "2014"))
        name = f"{split}{year}"
        annotation_file = root / "annotations" / f"instances_{name}.json"
        return CocoMultiLabel(root / name, annotation_file, transform=transform, **policy)
    if kind == "voc":
        return VOCMultiLabel(root, split=split, transform=transform, **policy)
    if kind == "csv":
        csv_file = root if root.suffix.lower() == ".csv" else root / f"{split}.csv"
        return CsvMultiLabel(csv_file, transform=transform, **policy)
    raise DatasetError(f"Unknown dataset kind {kind!r}; use one of {', '.join(DATASET_KINDS)}.")
