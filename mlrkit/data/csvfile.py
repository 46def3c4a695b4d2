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

Every row must have as many fields as the header line (an image without labels still needs its
comma, ``photos/b.jpg,``; quote a field that contains a comma); a row that does not is an error
naming its line, since guessing which field is which would shift paths into labels. Blank lines
and a UTF-8 byte-order mark are ignored. Each image is listed once: a row whose path repeats an
earlier row's (``./a.jpg`` and ``a.jpg`` are the same path) is dropped, keeping the first
occurrence, before any label is read, and a :class:`~mlrkit.data.errors.DatasetWarning` gives the
number of dropped rows, how many of them carry labels that differ from the first occurrence
(a contradiction the loader cannot resolve), and a few of their paths and lines.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from mlrkit.data.errors import (
    AnnotationError,
    DatasetWarning,
    EmptyDatasetError,
    MissingFileError,
    UnknownClassError,
)
from mlrkit.data.images import MultiLabelDataset, Transform

__all__ = ["PATH_COLUMNS", "CsvMultiLabel"]

PATH_COLUMNS: tuple[str, ...] = ("image", "path", "file", "filename", "image_path")
LABEL_SEPARATOR = "|"
_SHOWN = 3  # paths or column names quoted in a message; counts cover the rest


def _read_csv(csv_file: Path) -> tuple[pd.DataFrame, list[int]]:
    """Parse the CSV file strictly: every row has exactly as many fields as the header.

    Args:
        csv_file: the CSV file.

    Returns:
        The rows as strings, one column per header field, and the 1-based line each row starts
        on (quoted fields may span lines, and blank lines are skipped, so it is not row + 2).

    Raises:
        MissingFileError: the file does not exist.
        AnnotationError: not UTF-8 text, no header, a repeated column name, or a row whose field
            count differs from the header's.
        EmptyDatasetError: a header but no row.
    """
    if not csv_file.is_file():
        raise MissingFileError(f"CSV file not found: {csv_file}. Check the csv_file path.")
    header: list[str] | None = None
    records: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig drops the byte-order mark Excel writes; newline="" is what csv.reader needs
        # for quoted fields spanning lines.
        with open(csv_file, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, skipinitialspace=True)
            start = 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if len(record) <= 1 and not "".join(record).strip():
                    continue  # a blank line
                if header is None:
                    header = record
                    _check_header(header, csv_file, line)
                elif len(record) != len(header):
                    raise _malformed(csv_file, line, record, header)
                else:
                    records.append(record)
                    lines.append(line)
    except (csv.Error, UnicodeDecodeError) as error:
        raise AnnotationError(
            f"Cannot parse {csv_file} as CSV ({error}). Expected UTF-8 text with a header line "
            "such as 'image,labels' and one row per image."
        ) from error
    if header is None:
        raise AnnotationError(
            f"{csv_file} is empty; expected a header line such as 'image,labels' and one row per "
            "image."
        )
    if not records:
        raise EmptyDatasetError(f"{csv_file} lists no image; add one row per image.")
    return pd.DataFrame(records, columns=header, dtype=str), lines


def _check_header(header: list[str], csv_file: Path, line: int) -> None:
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise AnnotationError(
            f"{csv_file}, line {line}: the header names column {repeated[0]!r} more than once; "
            "give every column its own name."
        )


def _malformed(csv_file: Path, line: int, record: list[str], header: list[str]) -> AnnotationError:
    hint = (
        'quote a path or label that contains a comma, e.g. "photos/a,b.jpg"'
        if len(record) > len(header)
        else "an image without labels still needs its commas, e.g. 'photos/b.jpg,'"
    )
    names = ",".join(header[:_SHOWN]) + (",..." if len(header) > _SHOWN else "")
    return AnnotationError(
        f"{csv_file}, line {line}: {len(record)} fields, expected {len(header)} as in the header "
        f"({names}); {hint}."
    )


def _path_column(frame: pd.DataFrame, csv_file: Path) -> str:
    for name in PATH_COLUMNS:
        if name in frame.columns:
            return name
    raise AnnotationError(
        f"{csv_file} has no image-path column; name one of {', '.join(PATH_COLUMNS)} "
        f"(found columns: {', '.join(map(str, frame.columns))})."
    )


def _names(cell: str) -> list[str]:
    return [n.strip() for n in cell.split(LABEL_SEPARATOR) if n.strip()]


def _drop_repeated_images(
    frame: pd.DataFrame, lines: list[int], path_column: str, csv_file: Path
) -> tuple[pd.DataFrame, list[int]]:
    """Keep the first row of each image path and warn about the others (module docstring).

    Args:
        frame: the rows as read by :func:`_read_csv`.
        lines: the line each row starts on.
        path_column: the image-path column.
        csv_file: the CSV file, quoted in the warning.

    Returns:
        The rows kept and their lines.
    """
    if "labels" in frame.columns:  # other columns are metadata: they cannot contradict
        labels: list[object] = [frozenset(_names(cell)) for cell in frame["labels"]]
    else:
        values = frame.drop(columns=path_column).itertuples(index=False)
        labels = [tuple(v.strip() for v in row) for row in values]
    first: dict[Path, int] = {}
    repeats: list[tuple[int, int]] = []  # (row dropped, row kept for the same image)
    for i, cell in enumerate(frame[path_column]):
        key = Path(cell.strip())  # the path the row would load, so ./a.jpg repeats a.jpg
        if key in first:
            repeats.append((i, first[key]))
        else:
            first[key] = i
    if not repeats:
        return frame, lines
    contradicting = sum(labels[i] != labels[j] for i, j in repeats)
    # Contradictions first: they are the rows whose labels were lost.
    shown = sorted(repeats, key=lambda r: labels[r[0]] == labels[r[1]])[:_SHOWN]
    examples = ", ".join(
        f"{frame[path_column].iloc[i].strip()!r} (line {lines[i]} repeats line {lines[j]})"
        for i, j in shown
    )
    warnings.warn(
        f"{csv_file}: {len(repeats)} row(s) repeat an image listed on an earlier line and were "
        f"dropped, keeping the first occurrence; {contradicting} of them had labels that differ "
        f"from it. For example {examples}. Remove the repeated rows, or merge their labels into "
        "the first one.",
        DatasetWarning,
        stacklevel=3,
    )
    keep = sorted(first.values())
    return frame.iloc[keep].reset_index(drop=True), [lines[i] for i in keep]


def _unknown(csv_file: Path, line: int, name: str, known: Sequence[str]) -> UnknownClassError:
    return UnknownClassError(
        f"{csv_file}, line {line}: unknown class {name!r}; known classes: {', '.join(known)}. "
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

    Raises:
        MissingFileError: the CSV file does not exist.
        AnnotationError: unparsable file, a row whose field count differs from the header's, no
            image-path column, or a cell that is not a class name or 0/1/-1 (naming its line).
        UnknownClassError: a label or column outside ``classes``.
        EmptyDatasetError: no row, or no class at all.

    Warns:
        DatasetWarning: rows repeating an earlier row's image were dropped (module docstring).
    """

    def __init__(
        self,
        csv_file: str | Path,
        image_root: str | Path | None = None,
        classes: Sequence[str] | None = None,
        transform: Transform | None = None,
    ) -> None:
        csv_file = Path(csv_file)
        frame, lines = _read_csv(csv_file)
        path_column = _path_column(frame, csv_file)
        frame, lines = _drop_repeated_images(frame, lines, path_column, csv_file)
        if "labels" in frame.columns:
            names, targets = self._from_label_lists(frame["labels"], lines, csv_file, classes)
        else:
            labels = frame.drop(columns=path_column)
            names, targets = self._from_columns(labels, lines, csv_file, classes)
        root = Path(image_root) if image_root is not None else csv_file.parent
        paths = [root / p.strip() for p in frame[path_column]]
        super().__init__(paths, targets, names, transform, root_hint="image_root")

    @staticmethod
    def _from_label_lists(
        cells: pd.Series, lines: list[int], csv_file: Path, classes: Sequence[str] | None
    ) -> tuple[list[str], torch.Tensor]:
        rows = [_names(cell) for cell in cells]
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
                    raise _unknown(csv_file, lines[i], name, names)
                targets[i, column[name]] = 1.0
        return names, targets

    @staticmethod
    def _from_columns(
        frame: pd.DataFrame, lines: list[int], csv_file: Path, classes: Sequence[str] | None
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
                    f"{csv_file}, line {lines[row]}, column {name!r}: value "
                    f"{values.iloc[row]!r} is not 0, 1 or -1. Class columns hold 0/1 (or -1 to "
                    "ignore)."
                )
            targets[:, names.index(name)] = torch.tensor(values.astype(float).to_numpy())
        return names, targets
