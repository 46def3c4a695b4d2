"""Multi-label loader for a user's own images listed in a CSV file.

Two layouts are accepted (``image`` may also be called ``path``, ``file``, ``filename`` or
``image_path``; paths are relative to ``image_root``, by default the CSV's folder)::

    image,labels                      image,cat,dog,car
    photos/a.jpg,cat|dog              photos/a.jpg,1,1,0
    photos/b.jpg,                     photos/b.jpg,0,0,0

With a ``labels`` column, class names are separated by ``|`` and an empty cell means no class;
any other column is metadata and is not read.
Otherwise every other column is a class holding 0 or 1 (-1 = ignore is accepted too). The class
list is ``classes`` when given (its order fixes the target columns; an unknown name is an error
naming the row), else the sorted set of names found (labels layout) or the column order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from mlrkit.data.errors import (
    AnnotationError,
    EmptyDatasetError,
    MissingFileError,
    UnknownClassError,
)
from mlrkit.data.images import MultiLabelDataset, Transform

__all__ = ["PATH_COLUMNS", "CsvMultiLabel"]

PATH_COLUMNS: tuple[str, ...] = ("image", "path", "file", "filename", "image_path")
LABEL_SEPARATOR = "|"


def _read_csv(csv_file: Path) -> pd.DataFrame:
    if not csv_file.is_file():
        raise MissingFileError(f"CSV file not found: {csv_file}. Check the csv_file path.")
    try:
        frame = pd.read_csv(csv_file, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise AnnotationError(
            f"Cannot parse {csv_file} as CSV ({error}). Expected a header line such as "
            "'image,labels' and one row per image."
        ) from error
    if frame.empty:
        raise EmptyDatasetError(f"{csv_file} lists no image; add one row per image.")
    return frame


def _path_column(frame: pd.DataFrame, csv_file: Path) -> str:
    for name in PATH_COLUMNS:
        if name in frame.columns:
            return name
    raise AnnotationError(
        f"{csv_file} has no image-path column; name one of {', '.join(PATH_COLUMNS)} "
        f"(found columns: {', '.join(map(str, frame.columns))})."
    )


def _unknown(csv_file: Path, row: int, name: str, known: Sequence[str]) -> UnknownClassError:
    # row + 2: one for the header line, one because people count lines from 1.
    return UnknownClassError(
        f"{csv_file}, line {row + 2}: unknown class {name!r}; known classes: {', '.join(known)}. "
        "Fix the label or pass the full class list as classes=[...]."
    )


class CsvMultiLabel(MultiLabelDataset):
    """Multi-label dataset from a CSV file (layouts in the module docstring).

    Args:
        csv_file: the CSV file.
        image_root: folder the image paths are relative to (default: the CSV's folder).
        classes: class names in target order; default: sorted names found, or the column order.
        transform: applied to the PIL image; ``None`` gives a float tensor in [0, 1].

    Attributes:
        classes: the K class names.
        targets: ``(N, K)`` float tensor in {1, 0, -1}.
    """

    def __init__(
        self,
        csv_file: str | Path,
        image_root: str | Path | None = None,
        classes: Sequence[str] | None = None,
        transform: Transform | None = None,
    ) -> None:
        csv_file = Path(csv_file)
        frame = _read_csv(csv_file)
        path_column = _path_column(frame, csv_file)
        if "labels" in frame.columns:
            names, targets = self._from_label_lists(frame["labels"], csv_file, classes)
        else:
            names, targets = self._from_columns(frame.drop(columns=path_column), csv_file, classes)
        root = Path(image_root) if image_root is not None else csv_file.parent
        paths = [root / p.strip() for p in frame[path_column]]
        super().__init__(paths, targets, names, transform, root_hint="image_root")

    @staticmethod
    def _from_label_lists(
        cells: pd.Series, csv_file: Path, classes: Sequence[str] | None
    ) -> tuple[list[str], torch.Tensor]:
        rows = [
            [n.strip() for n in cell.split(LABEL_SEPARATOR) if n.strip()] for cell in cells
        ]  # fmt: skip
        names = list(classes) if classes is not None else sorted({n for r in rows for n in r})
        if not names:
            raise EmptyDatasetError(
                f"{csv_file} names no class at all; fill the 'labels' column ('cat|dog') or pass "
                "classes=[...]."
            )
        column = {name: k for k, name in enumerate(names)}
        targets = torch.zeros(len(rows), len(names))  # (N, K)
        for i, row in enumerate(rows):
            for name in row:
                if name not in column:
                    raise _unknown(csv_file, i, name, names)
                targets[i, column[name]] = 1.0
        return names, targets

    @staticmethod
    def _from_columns(
        frame: pd.DataFrame, csv_file: Path, classes: Sequence[str] | None
    ) -> tuple[list[str], torch.Tensor]:
        found = [str(c) for c in frame.columns]
        if not found:
            raise AnnotationError(
                f"{csv_file} has an image column but no labels: add a 'labels' column "
                "('cat|dog') or one 0/1 column per class."
            )
        names = list(classes) if classes is not None else found
        extra = [c for c in found if c not in names]
        if extra:
            raise UnknownClassError(
                f"{csv_file}: column {extra[0]!r} is not a known class; known classes: "
                f"{', '.join(names)}. Rename or drop the column, or pass the full classes=[...]."
            )
        absent = [n for n in names if n not in found]
        if absent:
            raise AnnotationError(
                f"{csv_file} has no column for class {absent[0]!r}; add a 0/1 column for each of "
                f"{', '.join(names)}, or leave it out of classes=[...]."
            )
        targets = torch.zeros(len(frame), len(names))  # (N, K)
        for name in found:
            values = frame[name].str.strip()
            bad = ~values.isin(["0", "1", "-1"])
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0])
                raise AnnotationError(
                    f"{csv_file}, line {row + 2}, column {name!r}: value {values.iloc[row]!r} is "
                    "not 0, 1 or -1. Class columns hold 0/1 (or -1 to ignore)."
                )
            targets[:, names.index(name)] = torch.tensor(values.astype(float).to_numpy())
        return names, targets
