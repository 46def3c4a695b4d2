"""Planted label errors in the embedded digit scenes, with the truth kept beside them.

``make_digit_scenes(root, label_noise={"missing": 0.05, "spurious": 0.05, "swapped": 0.05})``
plants three kinds of label errors in the training split (``noise_splits`` picks others) and keeps
the truth, so a label-audit method can be scored against it. The images are drawn exactly as
without noise (byte-identical files): the errors come from a random stream of their own,
``np.random.default_rng([seed, split_index + 1, 1])``, with a fixed number of draws per scene.

The kinds, and what each rate counts (every rate in [0, 0.5]; a kind left out is 0):

- ``missing``: a drawn digit's label is removed (all its annotations in the scene). The rate is
  per drawn (image, class) label, except that one label of each scene, picked at random, is never
  removed: a scene left without labels would be dropped by the COCO loader, and the error would
  never reach training. Expected count: ``missing * (labels - images)``.
- ``swapped``: a drawn digit is labelled as its *confusable partner* instead (its annotations get
  the partner's category), when the partner is not drawn in the scene. The confusable partners
  are the generator's ``pairs`` (default 1&7, 3&8, 0&6, 4&9; ``SCENE_VARIANTS["hard"]`` has 3&8,
  5&6, 4&9, 1&7). The rate is per drawn label whose partner is not drawn. A label is missing or
  swapped, never both (one uniform draw per label decides: below ``missing`` it is removed,
  between ``missing`` and ``missing + swapped`` swapped). A swap changes two labels, listed as two
  rows: the drawn class (given 0, clean 1) and the partner (given 1, clean 0).
- ``spurious``: a label is added for a class that is neither drawn nor already given. The rate is
  per image (at most one spurious label per scene). Half of them (where possible) are the
  confusable partner of a drawn digit; the rest a class drawn uniformly among the absent ones.
  The added annotation copies the box and ``source_index`` of the drawn digit it is put on.

The folder then holds, per noisy split (``train`` here)::

    annotations/instances_train.json        the given (noisy) labels: what the loader serves
    annotations/instances_train_clean.json  the same scenes with the clean labels (COCO format)
    annotations/label_errors_train.csv      one row per (image, class) label that differs

Every annotation still carries the ``source_index`` of the digit it sits on, which reveals the
clean class: an audit method must read only the images and ``category_id``. The given file's
``info`` records the rates (``"label_noise"``), as does the folder's marker file.
:func:`label_errors` reads the error list back, checked against both annotation files.
"""

from __future__ import annotations

import csv
import io
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.data.coco import load_coco
from mlrkit.data.errors import DatasetError
from mlrkit.errors import InvalidInputError

__all__ = [
    "ERROR_COLUMNS",
    "NOISE_KINDS",
    "check_label_noise",
    "error_table",
    "label_errors",
    "plant_label_errors",
]

NOISE_KINDS: tuple[str, ...] = ("missing", "spurious", "swapped")
MAX_RATE = 0.5
# The columns of annotations/label_errors_<split>.csv, in order.
ERROR_COLUMNS: tuple[str, ...] = (
    "image_id", "file_name", "class", "kind", "given", "clean", "confused_with",
)  # fmt: skip
_SPLITS = ("train", "val")
_EXAMPLE = '{"missing": 0.05, "spurious": 0.05, "swapped": 0.05}'


def check_label_noise(
    label_noise: Mapping[str, float] | None, noise_splits: Sequence[str] = ("train",)
) -> tuple[dict[str, float] | None, tuple[str, ...]]:
    """Check and normalise :func:`~mlrkit.data.make_digit_scenes`' noise options.

    Returns:
        ``(rates, splits)``: ``rates`` maps every kind of :data:`NOISE_KINDS` to a float (a kind
        left out is 0), or is ``None`` for no noise (``None``, ``{}`` or all rates 0); ``splits``
        is ``("train",)`` when there is no noise, so equal settings compare equal.

    Raises:
        InvalidInputError: not a mapping, an unknown kind, a rate that is not a number in
            [0, 0.5], or ``noise_splits`` not a non-empty list of ``train`` / ``val``.
    """
    if isinstance(noise_splits, str) or not isinstance(noise_splits, Sequence):
        raise InvalidInputError(
            f"noise_splits must be a list of split names such as ['train'], got {noise_splits!r}"
        )
    unknown = [s for s in noise_splits if s not in _SPLITS]
    if unknown or not noise_splits:
        raise InvalidInputError(
            f"noise_splits {list(noise_splits)!r} must name one or both of 'train' and 'val'"
        )
    if label_noise is None:
        return None, ("train",)
    if not isinstance(label_noise, Mapping):
        raise InvalidInputError(
            f"label_noise must map kinds to rates, e.g. {_EXAMPLE}, got {label_noise!r}"
        )
    rates = {}
    for kind, rate in label_noise.items():
        if kind not in NOISE_KINDS:
            raise InvalidInputError(
                f"unknown label_noise kind {kind!r}; use {', '.join(NOISE_KINDS)} (e.g. {_EXAMPLE})"
            )
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise InvalidInputError(
                f"label_noise[{kind!r}] must be a number in [0, {MAX_RATE}], got {rate!r}; "
                "write it as a number, e.g. 0.05"
            )
        if not 0 <= float(rate) <= MAX_RATE:  # NaN fails too
            raise InvalidInputError(
                f"label_noise[{kind!r}] = {rate} is outside [0, {MAX_RATE}]; use a rate from 0 "
                f"(none) to {MAX_RATE} (half of the labels it applies to)"
            )
        rates[kind] = float(rate)
    full = {kind: rates.get(kind, 0.0) for kind in NOISE_KINDS}
    if not any(full.values()):
        return None, ("train",)
    return full, tuple(s for s in _SPLITS if s in noise_splits)


def plant_label_errors(
    rng: np.random.Generator,
    annotations: list[dict[str, Any]],
    partner: Mapping[int, int],
    rates: Mapping[str, float],
) -> tuple[list[dict[str, Any]], list[tuple[int, str, int, int, int | None]]]:
    """Plant the label errors of one scene (the rules of the module doc).

    Args:
        rng: the noise stream (never the drawing one); ``labels + 5`` draws per scene, whatever
            the rates.
        annotations: the scene's clean annotations (``category_id`` = class index + 1).
        partner: class index -> its confusable partner.
        rates: the normalised rates of :func:`check_label_noise`.

    Returns:
        The given annotations (without ``id``) and the errors as ``(class, kind, given, clean,
        confused_with)`` tuples, class indices 0-based, sorted by class.
    """
    drawn = list(dict.fromkeys(a["category_id"] - 1 for a in annotations))  # distinct, in order
    protected = drawn[int(rng.integers(len(drawn)))]
    draws = rng.random(len(drawn))
    missing, swapped = rates["missing"], rates["swapped"]
    given: dict[int, int | None] = {}  # drawn class -> given class (None: removed)
    taken = set(drawn)  # classes drawn or given
    errors: list[tuple[int, str, int, int, int | None]] = []
    for cls, u in zip(drawn, draws, strict=True):
        if u < missing:
            if cls != protected:
                given[cls] = None
                errors.append((cls, "missing", 0, 1, None))
        elif u < missing + swapped and partner.get(cls) is not None and partner[cls] not in taken:
            other = partner[cls]
            given[cls] = other
            taken.add(other)
            errors += [(cls, "swapped", 0, 1, other), (other, "swapped", 1, 0, cls)]
    result = []
    for ann in annotations:
        cls = ann["category_id"] - 1
        if cls in given and given[cls] is None:
            continue
        result.append(ann | {"category_id": given.get(cls, cls) + 1})
    add, half, pick, anchor = rng.random(4)
    absent = [c for c in range(10) if c not in taken]
    # (absent partner, the drawn digit it is the partner of), one per absent partner
    candidates = list({partner[c]: c for c in reversed(drawn) if partner.get(c) in absent}.items())
    if add < rates["spurious"] and absent:
        on: int | None
        if half < 0.5 and candidates:
            cls, on = candidates[int(pick * len(candidates))]
        else:
            cls, on = absent[int(pick * len(absent))], None
        host = on if on is not None else drawn[int(anchor * len(drawn))]
        source = next(a for a in annotations if a["category_id"] - 1 == host)
        result.append(source | {"category_id": cls + 1})
        errors.append((cls, "spurious", 1, 0, on))
    return result, sorted(errors)


def error_table(
    rows: list[tuple[int, str, int, str, int, int, int | None]], classes: Sequence[str]
) -> str:
    """The text of ``label_errors_<split>.csv`` (header :data:`ERROR_COLUMNS`).

    Args:
        rows: ``(image_id, file_name, class, kind, given, clean, confused_with)`` with class
            indices (``confused_with`` ``None`` where there is none).
        classes: the class names, written in place of the indices ("" for ``None``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ERROR_COLUMNS)
    for image_id, file_name, cls, kind, given, clean, other in rows:
        other_name = "" if other is None else classes[other]
        writer.writerow([image_id, file_name, classes[cls], kind, given, clean, other_name])
    return out.getvalue()


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = {
        "index": "int64", "image_id": "int64", "file_name": "object", "class": "object",
        "class_index": "int64", "kind": "object", "given": "int64", "clean": "int64",
        "confused_with": "object",
    }  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(columns)).astype(columns)
    others = [row["confused_with"] for row in rows]
    frame["confused_with"] = pd.Series(others, index=frame.index, dtype=object)  # None, not NaN
    return frame


def _labels(coco: dict[str, Any], column: dict[int, int]) -> dict[int, set[int]]:
    """Image id -> the set of class indices its annotations give."""
    labels: dict[int, set[int]] = {image["id"]: set() for image in coco["images"]}
    for ann in coco["annotations"]:
        labels[ann["image_id"]].add(column[ann["category_id"]])
    return labels


def label_errors(root: str | Path, split: str = "train") -> pd.DataFrame:
    """The label errors planted in ``split`` of the digit scenes in ``root`` (module doc).

    Read from ``annotations/label_errors_<split>.csv`` and checked against the given and clean
    annotation files: the same images in both, and the listed (image, class) pairs exactly where
    their labels differ.

    Returns:
        One row per (image, class) label that differs: ``index`` (the image's row in the
        dataset's ``targets``, images in id order), ``image_id``, ``file_name``, ``class`` (its
        name), ``class_index`` (its column in ``targets``), ``kind`` (missing, spurious,
        swapped), ``given`` and ``clean`` (1 or 0: the label in the served and the clean
        annotations) and ``confused_with`` (for ``swapped``: the other class of the swap; for a
        spurious partner: the drawn digit it was put on; else ``None``). Empty (same columns)
        for a split generated without noise.

    Raises:
        DatasetError: the split's annotations are missing or invalid, the error list or the
            clean labels are missing although the annotations say noise was planted, or they do
            not match the split (other images, an unknown file name or class, a listed pair
            whose labels do not differ, or a difference that is not listed).
    """
    folder = Path(root) / "annotations"
    given_file = folder / f"instances_{split}.json"
    clean_file = folder / f"instances_{split}_clean.json"
    errors_file = folder / f"label_errors_{split}.csv"
    given = load_coco(given_file).dataset
    info = given.get("info")
    declared = isinstance(info, dict) and bool(info.get("label_noise"))
    present = [p.name for p in (clean_file, errors_file) if p.is_file()]
    if not present and not declared:
        return _frame([])
    if len(present) < 2:
        missing = [p.name for p in (clean_file, errors_file) if p.name not in present]
        raise DatasetError(
            f"{folder} lacks {' and '.join(missing)}, the truth about the label noise of split "
            f"{split!r}; regenerate the dataset (make_digit_scenes with the same label_noise)."
        )
    clean = load_coco(clean_file).dataset
    images = sorted((image["id"], image["file_name"]) for image in given["images"])
    clean_images = sorted((image["id"], image["file_name"]) for image in clean["images"])
    if images != clean_images:
        raise DatasetError(
            f"{clean_file} does not match {given_file}: {len(clean_images)} images against "
            f"{len(images)} (or other file names); regenerate the dataset."
        )
    categories = sorted(given["categories"], key=lambda c: c["id"])
    column = {c["id"]: k for k, c in enumerate(categories)}
    names = [c["name"] for c in categories]
    given_labels, clean_labels = _labels(given, column), _labels(clean, column)
    index = {image_id: i for i, (image_id, _) in enumerate(images)}
    by_name = dict((name, image_id) for image_id, name in images)
    try:
        table = pd.read_csv(errors_file, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {errors_file}: {err}; regenerate the dataset.") from None
    if tuple(table.columns) != ERROR_COLUMNS:
        raise DatasetError(
            f"{errors_file} has columns {list(table.columns)}, expected {list(ERROR_COLUMNS)}; "
            "regenerate the dataset."
        )
    rows, listed = [], set()
    for number, entry in enumerate(table.to_dict("records"), start=2):  # line 1: the header
        where = f"{errors_file}, line {number}"
        image_id = by_name.get(entry["file_name"])
        if image_id is None or str(image_id) != entry["image_id"]:
            raise DatasetError(
                f"{where}: image {entry['image_id']} {entry['file_name']!r} is not an image of "
                f"split {split!r} in {given_file}; the list belongs to another dataset."
            )
        if entry["class"] not in names or entry["confused_with"] not in ("", *names):
            raise DatasetError(
                f"{where}: unknown class {entry['class']!r} or {entry['confused_with']!r}; "
                f"expected one of {names}."
            )
        if entry["kind"] not in NOISE_KINDS:
            raise DatasetError(
                f"{where}: unknown kind {entry['kind']!r}; expected one of {list(NOISE_KINDS)}."
            )
        cls = names.index(entry["class"])
        if (image_id, cls) in listed:
            raise DatasetError(f"{where}: {entry['class']} in image {image_id} is listed twice.")
        is_given = int(cls in given_labels[image_id])
        is_clean = int(cls in clean_labels[image_id])
        stated = (entry["given"], entry["clean"])
        if stated != (str(is_given), str(is_clean)) or is_given == is_clean:
            raise DatasetError(
                f"{where}: lists {entry['class']} in image {image_id} as given {entry['given']}, "
                f"clean {entry['clean']}, but the annotations say {is_given}, {is_clean}; the "
                "list belongs to another dataset."
            )
        listed.add((image_id, cls))
        rows.append(
            {"index": index[image_id], "image_id": image_id, "file_name": entry["file_name"],
             "class": entry["class"], "class_index": cls, "kind": entry["kind"],
             "given": is_given, "clean": is_clean, "confused_with": entry["confused_with"] or None}
        )  # fmt: skip
    differ = {(i, c) for i in given_labels for c in given_labels[i] ^ clean_labels[i]}
    if differ - listed:
        image_id, cls = min(differ - listed)
        raise DatasetError(
            f"{errors_file} does not list {len(differ - listed)} label(s) where {given_file} and "
            f"{clean_file.name} differ (first: {names[cls]} in image {image_id}); regenerate "
            "the dataset."
        )
    return _frame(rows)
