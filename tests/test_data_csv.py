"""CSV loader: '|'-separated labels, 0/1 columns, class order, unknown names, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlrkit.data import (
    AnnotationError,
    CsvMultiLabel,
    EmptyDatasetError,
    MissingFileError,
    UnknownClassError,
)
from mlrkit.data.errors import DatasetWarning

ROWS = [("img/a.jpg", ["dog", "cat"]), ("img/b.jpg", []), ("img/c.jpg", ["car"])]


def _images(folder: Path) -> None:
    for k, (path, _) in enumerate(ROWS):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((6, 9, 3), 50 * k, dtype=np.uint8)).save(folder / path)


def _labels_csv(folder: Path, rows: list = ROWS, header: str = "image,labels") -> Path:
    path = folder / "list.csv"
    path.write_text(header + "\n" + "".join(f"{p},{'|'.join(n)}\n" for p, n in rows))
    return path


def _reference(classes: list[str], rows: list = ROWS) -> np.ndarray:
    return np.array([[float(c in names) for c in classes] for _, names in rows])


def test_label_lists_with_inferred_sorted_classes(tmp_path: Path) -> None:
    _images(tmp_path)
    dataset = CsvMultiLabel(_labels_csv(tmp_path))
    assert dataset.classes == ("car", "cat", "dog")
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference(["car", "cat", "dog"]))
    image, target = dataset[0]
    assert image.shape == (3, 6, 9) and target.tolist() == [0.0, 1.0, 1.0]


def test_given_classes_fix_the_column_order(tmp_path: Path) -> None:
    classes = ["dog", "bird", "car", "cat"]
    dataset = CsvMultiLabel(_labels_csv(tmp_path), classes=classes)
    assert dataset.classes == tuple(classes)
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference(classes))


def test_one_column_per_class(tmp_path: Path) -> None:
    _images(tmp_path / "pics")
    path = tmp_path / "onehot.csv"
    path.write_text("path,dog,cat,car\nimg/a.jpg,1,1,0\nimg/b.jpg,0,0,0\nimg/c.jpg,0,-1,1\n")
    dataset = CsvMultiLabel(path, image_root=tmp_path / "pics")
    assert dataset.classes == ("dog", "cat", "car")
    assert dataset.targets.tolist() == [[1, 1, 0], [0, 0, 0], [0, -1, 1]]
    assert dataset[2][0].shape == (3, 6, 9)
    reordered = CsvMultiLabel(path, image_root=tmp_path / "pics", classes=["car", "cat", "dog"])
    assert reordered.targets.tolist() == [[0, 1, 1], [0, 0, 0], [1, -1, 0]]


def test_unknown_class_names_row_file_and_known_classes(tmp_path: Path) -> None:
    path = _labels_csv(tmp_path, rows=[*ROWS, ("img/d.jpg", ["cat", "zebra"])])
    with pytest.raises(UnknownClassError) as info:
        CsvMultiLabel(path, classes=["car", "cat", "dog"])
    message = str(info.value)
    assert "list.csv" in message and "line 5" in message and "'zebra'" in message
    assert "car, cat, dog" in message


def test_unknown_class_column(tmp_path: Path) -> None:
    path = tmp_path / "onehot.csv"
    path.write_text("image,dog,zebra\na.jpg,1,0\n")
    with pytest.raises(UnknownClassError, match=r"onehot\.csv.*'zebra'.*dog"):
        CsvMultiLabel(path, classes=["dog"])


def test_missing_class_column(tmp_path: Path) -> None:
    path = tmp_path / "onehot.csv"
    path.write_text("image,dog\na.jpg,1\n")
    with pytest.raises(AnnotationError, match="no column for class 'cat'"):
        CsvMultiLabel(path, classes=["dog", "cat"])


def test_bad_indicator_value_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "onehot.csv"
    path.write_text("image,dog,cat\na.jpg,1,0\nb.jpg,yes,0\n")
    with pytest.raises(AnnotationError, match=r"onehot\.csv, line 3, column 'dog'.*'yes'"):
        CsvMultiLabel(path)


def test_missing_path_column(tmp_path: Path) -> None:
    path = _labels_csv(tmp_path, header="picture,labels")
    with pytest.raises(AnnotationError, match="no image-path column.*picture"):
        CsvMultiLabel(path)


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"nothing\.csv"):
        CsvMultiLabel(tmp_path / "nothing.csv")


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("image,labels\n")
    with pytest.raises(EmptyDatasetError, match=r"empty\.csv"):
        CsvMultiLabel(path)


def test_missing_image_suggests_image_root(tmp_path: Path) -> None:
    dataset = CsvMultiLabel(_labels_csv(tmp_path))  # no image written
    with pytest.raises(MissingFileError, match=r"a\.jpg.*image_root"):
        dataset[0]


@pytest.mark.parametrize(
    ("body", "line", "found"),
    [
        ("img/a.jpg,cat,dog\nimg/b.jpg,\n", 2, 3),  # pandas made column 1 the index: no error
        ("img/a.jpg,cat\nimg/b.jpg,\nimg/c.jpg,car,extra\n", 4, 3),
        ("img/a.jpg,cat\nimg/b.jpg\n", 3, 1),  # pandas filled the missing cell silently
    ],
)
def test_row_with_wrong_field_count_names_its_line(
    tmp_path: Path, body: str, line: int, found: int
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("image,labels\n" + body)
    with pytest.raises(
        AnnotationError, match=rf"list\.csv, line {line}: {found} fields, expected 2 .*image,labels"
    ):
        CsvMultiLabel(path)


def test_quoted_commas_and_blank_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text('image,labels\n"img/a,1.jpg",cat\n\nimg/b.jpg,\n\nimg/c.jpg,zebra\n')
    with pytest.raises(UnknownClassError, match=r"list\.csv, line 6: unknown class 'zebra'"):
        CsvMultiLabel(path, classes=["cat"])
    path.write_text(path.read_text().replace("zebra", "cat"))
    dataset = CsvMultiLabel(path)
    assert [p.name for p in dataset.paths] == ["a,1.jpg", "b.jpg", "c.jpg"]
    assert dataset.targets.tolist() == [[1.0], [0.0], [1.0]]


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    plain = _labels_csv(tmp_path)
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # as Excel saves "CSV UTF-8"
    dataset = CsvMultiLabel(with_bom)
    assert dataset.classes == ("car", "cat", "dog")
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference(["car", "cat", "dog"]))


def test_repeated_header_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "onehot.csv"
    path.write_text("image,dog,cat,dog\na.jpg,1,0,1\n")  # pandas renamed the second 'dog.1'
    with pytest.raises(AnnotationError, match=r"onehot\.csv, line 1: .*'dog' more than once"):
        CsvMultiLabel(path)


def _first_occurrences(rows: list) -> list:
    """Slow oracle: walk the rows, keep a row only if its normalised path was not seen yet."""
    kept, seen = [], []
    for path, names in rows:
        key = Path(path)
        if key not in seen:
            seen.append(key)
            kept.append((path, names))
    return kept


def test_repeated_images_keep_the_first_row_and_warn(tmp_path: Path) -> None:
    rows = [
        *ROWS,
        ("img/a.jpg", ["cat", "dog"]),  # same labels in another order: a plain repeat
        ("./img/c.jpg", ["cat"]),  # same file as img/c.jpg, different labels
        ("img/b.jpg", []),
        ("img/b.jpg", ["dog"]),  # contradicts the empty first row
    ]
    with pytest.warns(
        DatasetWarning,
        match=r"list\.csv: 4 row\(s\) repeat .*; 2 of them had labels that differ .*"
        r"'\./img/c\.jpg' \(line 6 repeats line 4\), 'img/b\.jpg' \(line 8 repeats line 3\), "
        r"'img/a\.jpg' \(line 5 repeats line 2\)",
    ):
        dataset = CsvMultiLabel(_labels_csv(tmp_path, rows=rows))
    kept = _first_occurrences(rows)
    assert kept == ROWS
    assert dataset.paths == [tmp_path / p for p, _ in kept]
    assert dataset.classes == ("car", "cat", "dog")
    np.testing.assert_array_equal(dataset.targets.numpy(), _reference(["car", "cat", "dog"], kept))


def test_repeated_images_in_class_columns(tmp_path: Path) -> None:
    path = tmp_path / "onehot.csv"
    path.write_text("image,dog,cat\na.jpg,1,0\nb.jpg,0,1\na.jpg,1, 0\na.jpg,0,1\n")
    with pytest.warns(DatasetWarning, match=r"2 row\(s\) repeat .*; 1 of them had labels"):
        dataset = CsvMultiLabel(path)
    assert [p.name for p in dataset.paths] == ["a.jpg", "b.jpg"]
    assert dataset.targets.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_distinct_images_load_without_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        assert len(CsvMultiLabel(_labels_csv(tmp_path))) == len(ROWS)
