"""Explorer: jscatter views linked to an image panel, driven without a browser."""

from __future__ import annotations

import base64
import io
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import seaborn
from matplotlib.colors import to_rgba_array
from PIL import Image

from mlrkit.errors import InvalidInputError
from mlrkit.explore.embeddings import ClassEmbeddings
from mlrkit.explore.explorer import Explorer

pytest.importorskip("jscatter")

CLASSES = ("cat", "dog", "car")


def _embeddings(tmp_path: Path, space: str = "features", which: str = "all") -> ClassEmbeddings:
    """3 images x 3 classes (which="all") or their positive pairs only (which="present")."""
    targets = np.array([[1, 1, 0], [0, 1, -1], [1, 0, 1]])
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        path = tmp_path / f"img{i}.png"
        if not path.exists():
            Image.new("RGB", (40, 30), colour).save(path)
        paths.append(str(path))
    image, klass = np.divmod(np.arange(9), 3)
    target = targets[image, klass]
    keep = target == 1 if which == "present" else np.ones(9, bool)
    image, klass, target = image[keep], klass[keep], target[keep]
    score = np.linspace(0.05, 0.95, len(image)).astype(np.float32)
    predicted = score >= 0.5
    correct = pd.array(predicted == (target == 1), dtype="boolean")
    correct[target == -1] = pd.NA
    frame = pd.DataFrame(
        {
            "image": image,
            "path": [paths[i] for i in image],
            "class": pd.Categorical.from_codes(klass, categories=list(CLASSES)),
            "class_index": klass,
            "target": target,
            "score": score,
            "predicted": predicted,
            "correct": correct,
        }
    )
    vectors = np.random.default_rng(0).normal(size=(len(frame), 4)).astype(np.float32)
    return ClassEmbeddings(frame, vectors, space, CLASSES, tmp_path / "best.pt", "val")


def _coords(n: int, shift: float = 0.0) -> np.ndarray:
    return np.stack([np.arange(n, dtype=float) + shift, np.arange(n, dtype=float) ** 0.5], 1)


def _is_png(data: bytes) -> bool:
    return Image.open(io.BytesIO(data)).format == "PNG"


def test_select_fills_panel_items_and_thumbnails(tmp_path: Path) -> None:
    emb = _embeddings(tmp_path)
    explorer = Explorer(emb, _coords(9))
    explorer.select([0, 2])
    items = explorer.panel_items()
    assert [it["row"] for it in items] == [0, 2]
    assert [Path(it["path"]).name for it in items] == ["img0.png", "img0.png"]
    assert [it["class"] for it in items] == ["cat", "car"]
    assert [it["labels"] for it in items] == [["cat", "dog"], ["cat", "dog"]]
    assert [it["score"] for it in items] == pytest.approx(emb.frame["score"].iloc[[0, 2]])
    assert [it["correct"] for it in items] == [False, True]  # 0.05 on a positive; 0.275 on a 0
    np.testing.assert_array_equal(explorer.selected, [0, 2])
    images = [cell.children[0] for cell in explorer.panel.children[1].children]
    assert len(images) == 2
    assert all(_is_png(image.value) for image in images)
    assert "2 selected" in explorer.panel.children[0].value


def test_label_set_of_present_only_frame_and_ignored_target(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path, which="present"), _coords(5))
    explorer.select([4])  # image 2: cat and car
    (item,) = explorer.panel_items()
    assert item["class"] == "car" and item["labels"] == ["cat", "car"]
    full = Explorer(_embeddings(tmp_path), _coords(9))
    full.select([5])  # image 1, car: ignored target
    assert full.panel_items()[0]["correct"] is None
    assert full.panel_items()[0]["labels"] == ["dog"]


def test_frontend_selection_updates_panel_and_max_images(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9), max_panel_images=3)
    box = explorer.widget(fallback=False)  # pytest is no IPython kernel: build it anyway
    assert explorer.widget(fallback=False) is box
    explorer.scatters[0].widget.selection = np.array([1, 4, 6, 7, 8], dtype=np.uint32)
    np.testing.assert_array_equal(explorer.selected, [1, 4, 6, 7, 8])
    assert [it["row"] for it in explorer.panel_items()] == [1, 4, 6]
    assert len(explorer.panel.children[1].children) == 3
    assert "first 3 of 5 selected" in explorer.panel.children[0].value
    explorer.select([])
    assert explorer.panel_items() == [] and len(explorer.panel.children[1].children) == 0


def test_color_encodings(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    scatter = explorer.scatters[0]
    assert scatter.color()["by"] == "class"
    explorer.color("score")
    assert scatter.color()["by"] == "score" and explorer.color_by == "score"
    explorer.color("correct")
    assert scatter.color()["by"] == "correct"
    assert list(scatter._data["correct"].astype(str)) == [
        "wrong", "wrong", "correct", "correct", "correct", "ignored", "correct", "wrong",
        "correct",
    ]  # fmt: skip
    with pytest.raises(InvalidInputError, match="cannot colour by 'size'"):
        explorer.color("size")
    with pytest.raises(InvalidInputError):
        Explorer(_embeddings(tmp_path), _coords(9), color_by="nope")


def test_linked_views_sync_selection(tmp_path: Path) -> None:
    a = _embeddings(tmp_path, "features")
    b = _embeddings(tmp_path, "embedding")
    explorer = Explorer([a, b], [_coords(9), _coords(9, 5.0)], names=["A", "B"])
    first, second = (s.widget for s in explorer.scatters)
    first.selection = np.array([3, 8], dtype=np.uint32)
    np.testing.assert_array_equal(second.selection, [3, 8])
    second.selection = np.array([2], dtype=np.uint32)
    np.testing.assert_array_equal(first.selection, [2])
    np.testing.assert_array_equal(explorer.selected, [2])
    explorer.select([0, 1])
    np.testing.assert_array_equal(first.selection, [0, 1])
    np.testing.assert_array_equal(second.selection, [0, 1])
    assert len(explorer.panel_items()) == 2


def test_invalid_inputs(tmp_path: Path) -> None:
    full = _embeddings(tmp_path)
    present = _embeddings(tmp_path, which="present")
    with pytest.raises(InvalidInputError, match="same"):
        Explorer([full, present], [_coords(9), _coords(5)])
    reordered = _embeddings(tmp_path)
    reordered.frame = reordered.frame.iloc[::-1].reset_index(drop=True)
    with pytest.raises(InvalidInputError, match="same"):
        Explorer([full, reordered], [_coords(9), _coords(9)])
    with pytest.raises(InvalidInputError, match="shape"):
        Explorer(full, _coords(8))
    with pytest.raises(InvalidInputError):
        Explorer(full, _coords(9), names=["a", "b"])
    explorer = Explorer(full, _coords(9))
    with pytest.raises(InvalidInputError, match="range"):
        explorer.select([9])


@pytest.mark.parametrize("coords", ["given", "umap"])
def test_no_point_is_one_clear_error(tmp_path: Path, coords: str) -> None:
    emb = _embeddings(tmp_path)
    emb.frame, emb.vectors = emb.frame.iloc[:0], emb.vectors[:0]  # e.g. a split with no positive
    xy = np.zeros((0, 2)) if coords == "given" else None
    with pytest.raises(InvalidInputError, match=r"nothing to show: embedding 0 .*best\.pt.*no "
                       r"\(image, class\) row.*no present \(image, class\) pair"):  # fmt: skip
        Explorer(emb, xy)
    with pytest.raises(InvalidInputError, match="nothing to show: embedding 1"):
        Explorer([_embeddings(tmp_path), emb], [_coords(9), np.zeros((0, 2))])


def test_static_and_available(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    ax = explorer.static()
    assert ax.collections[0].get_offsets().shape == (9, 2)
    two = Explorer([_embeddings(tmp_path), _embeddings(tmp_path, "embedding")], [_coords(9)] * 2)
    axes = two.static()
    assert len(axes) == 2 and all(a.collections[0].get_offsets().shape == (9, 2) for a in axes)
    ok, why = Explorer.available()
    assert ok is False and "static()" in why  # pytest is no IPython kernel
    assert "static()" in explorer.status


def test_missing_image_keeps_panel_alive(tmp_path: Path) -> None:
    emb = _embeddings(tmp_path)
    emb.frame["path"] = str(tmp_path / "gone.png")
    explorer = Explorer(emb, _coords(9))
    explorer.select([0])
    cell = explorer.panel.children[1].children[0]
    assert _is_png(cell.children[0].value) and "unreadable" in cell.children[1].value


@pytest.mark.usefixtures("one_thread")
def test_run_overlays_attention_on_thumbnails(tmp_path: Path, tiny_config) -> None:
    from mlrkit.explore import extract_embeddings
    from mlrkit.train import fit

    fit(tiny_config("train.epochs=1", loss="bce"), tmp_path / "run")
    emb = extract_embeddings(tmp_path / "run", space="features", max_items=4, progress=False)
    coords = _coords(len(emb.frame))
    plain = Explorer(emb, coords)
    with_run = Explorer(emb, coords, run=tmp_path / "run")
    for explorer in (plain, with_run):
        explorer.select([0])
    (plain_cell,) = plain.panel.children[1].children
    (run_cell,) = with_run.panel.children[1].children
    plain_png, run_png = plain_cell.children[0].value, run_cell.children[0].value
    assert _is_png(run_png) and "no attention" not in run_cell.children[1].value
    overlay = np.asarray(Image.open(io.BytesIO(run_png)).convert("RGB"), dtype=float)
    picture = np.asarray(Image.open(io.BytesIO(plain_png)).convert("RGB"), dtype=float)
    assert overlay.shape == picture.shape and np.abs(overlay - picture).mean() > 5
    # A one-point selection's neighbours overlay the attention of their (the same) class too.
    pairs = 3 * len(emb.classes)  # every pair of the first three images
    every = extract_embeddings(
        tmp_path / "run", space="features", which="all", max_items=pairs, progress=False
    )
    with_run = Explorer(every, _coords(len(every.frame)), run=tmp_path / "run")
    with_run.select([4])  # image 0, class 4; its rows in images 1 and 2 are the neighbours
    near = with_run.neighbour_items()
    cells = list(with_run.panel.children[2].children[1].children)
    assert [(it["image"], it["class_index"]) for it in near] in ([(1, 4), (2, 4)], [(2, 4), (1, 4)])
    assert len(cells) == 2 and all("no attention" not in c.children[1].value for c in cells)
    for cell, item in zip(cells, near, strict=True):
        with_run.select([item["row"]])  # the same thumbnail as when selected itself
        assert cell.children[0].value == with_run.panel.children[1].children[0].children[0].value
    # A head without attention maps: the plain image, and the caption says why.
    fit(tiny_config("train.epochs=1", "model.head=gap", loss="bce"), tmp_path / "gap")
    gap = Explorer(emb, coords, run=tmp_path / "gap")
    gap.select([0, 1])
    cells = gap.panel.children[1].children
    assert all("no attention map" in cell.children[1].value for cell in cells)
    assert cells[0].children[0].value == plain_png


# -- the static picture: under the widget, and instead of it -----------------------------------


def _row_colours(ax, count: int) -> np.ndarray:
    """The drawn RGBA of every row of a static picture, back in row order (x = the row)."""
    collection = ax.collections[0]
    rows = np.rint(collection.get_offsets()[:, 0]).astype(int)
    assert sorted(rows.tolist()) == list(range(count))
    colours = np.empty((count, 4))
    colours[rows] = collection.get_facecolors()
    return colours


def test_without_jscatter_widget_warns_once_and_returns_the_static_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    monkeypatch.setitem(sys.modules, "jscatter", None)  # `import jscatter` fails
    explorer = Explorer(_embeddings(tmp_path), _coords(9), color_by="correct")
    assert explorer.scatters == []
    assert Explorer.available() == (False, explorer.status)
    with pytest.warns(UserWarning, match=r"jupyter-scatter is not installed \(pip install "):
        picture = explorer.widget()
    assert isinstance(picture, Figure) and len(picture.axes) == 1
    assert picture.canvas.manager is None  # not pyplot's: a notebook shows it once,
    assert _is_png(picture._repr_png_())  # as a PNG, whatever matplotlib backend is active
    expected = _expected(explorer.frame, "correct")  # in the explorer's colouring
    np.testing.assert_allclose(_row_colours(picture.axes[0], 9), expected, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: the second call is quiet
        assert isinstance(explorer.widget(), Figure)
    explorer.select([0, 2])  # the panel and the colours work without the views
    assert [it["row"] for it in explorer.panel_items()] == [0, 2]
    explorer.color("score")
    assert explorer.color_by == "score" and explorer.static().collections
    with pytest.raises(InvalidInputError, match="jupyter-scatter is not installed"):
        explorer.widget(fallback=False)


def test_without_a_widget_frontend_widget_returns_the_static_picture(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    with pytest.warns(UserWarning, match="no widget frontend"):
        picture = explorer.widget()  # pytest is no IPython kernel
    assert isinstance(picture, Figure) and len(picture.axes[0].collections[0].get_offsets()) == 9


def test_widget_box_holds_the_static_picture_under_the_views(tmp_path: Path) -> None:
    import ipywidgets as widgets

    two = [_embeddings(tmp_path), _embeddings(tmp_path, "embedding")]
    explorer = Explorer(two, [_coords(9), _coords(9, 5.0)], names=["A", "B"])
    box = explorer.widget(fallback=False)
    kinds = [type(child) for child in box.children]
    views = next(i for i, c in enumerate(box.children) if isinstance(c, widgets.HBox))
    (picture,) = [c for c in box.children if isinstance(c, widgets.Image)]
    assert kinds.index(widgets.Image) > views and box.children.index(explorer.panel) > views
    assert _is_png(picture.value)
    width, height = Image.open(io.BytesIO(picture.value)).size
    assert width > 2 * height  # both views, side by side
    # The cell's output carries the PNG too, for an export without the widget state.
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == picture.value
    before = picture.value
    explorer.color("correct")  # the picture follows the colouring
    assert _is_png(picture.value) and picture.value != before


# -- recolouring ---------------------------------------------------------------------------------

VIRIDIS = matplotlib.colormaps["viridis"]
OUTCOME = {True: "#2ca02c", False: "#d62728", None: "#aaaaaa"}


def _expected(frame: pd.DataFrame, by: str) -> np.ndarray:
    """The colours of the rows, from the column's values alone."""
    column = frame[by]
    if by == "class":
        palette = seaborn.color_palette("tab10", len(CLASSES))
        return to_rgba_array([palette[CLASSES.index(c)] for c in column.astype(str)])
    if by == "correct":
        return to_rgba_array([OUTCOME[None if v is pd.NA else bool(v)] for v in column])
    if by == "predicted":
        palette = seaborn.color_palette("tab10", 2)
        return to_rgba_array([palette[int(v)] for v in column])
    values = column.to_numpy(dtype=float)
    low, high = (0.0, 1.0) if by == "score" else (values.min(), values.max())
    return VIRIDIS((values - low) / (high - low))


def _widget_colours(explorer: Explorer, view: int = 0) -> np.ndarray:
    """The colour of every point as the browser draws it: the widget's colour list, indexed by
    the point's category code, or by its normalised value over the continuous map."""
    widget = explorer.scatters[view].widget
    encoded = np.asarray(widget.points)[:, 2]  # x, y, then the colour (first encoding)
    table = np.asarray(widget.color, dtype=float)
    if explorer.scatters[view].color()["norm"] is not None and len(table) == 256:
        return table[np.rint(encoded * 255).astype(int)]
    return table[encoded.astype(int)]


@pytest.mark.parametrize("by", ["class", "score", "correct", "predicted", "suspicion"])
def test_recolouring_by_a_column_colours_widget_and_static_picture(tmp_path: Path, by: str) -> None:
    two = [_embeddings(tmp_path), _embeddings(tmp_path, "embedding")]
    explorer = Explorer(
        two, [_coords(9), _coords(9, 0.0)], color_by="score" if by == "class" else "class"
    )
    box = explorer.widget(fallback=False)
    explorer.select([1, 3])
    if by == "suspicion":  # a column added after the explorer was made
        explorer.frame[by] = np.random.default_rng(1).uniform(-3, 5, len(explorer.frame))
    before = explorer.colors()
    explorer.color(by)
    expected = _expected(explorer.frame, by)
    assert not np.allclose(before, expected)
    np.testing.assert_allclose(explorer.colors(), expected, atol=1e-6)
    for view, scatter in enumerate(explorer.scatters):
        assert scatter.color()["by"] == by
        np.testing.assert_allclose(_widget_colours(explorer, view), expected, atol=0.02)
        np.testing.assert_array_equal(scatter.widget.selection, [1, 3])  # kept
    for ax in explorer.static():
        np.testing.assert_allclose(_row_colours(ax, 9), expected, atol=1e-6)
    dropdown = box.children[0]
    assert dropdown.value == by and by in dropdown.options
    if by == "suspicion":  # recomputed: colouring by it again follows the new values
        explorer.frame[by] = explorer.frame[by].to_numpy()[::-1]
        explorer.color(by)
        expected = _expected(explorer.frame, by)
        np.testing.assert_allclose(_widget_colours(explorer), expected, atol=0.02)
        np.testing.assert_allclose(_row_colours(explorer.static()[0], 9), expected, atol=1e-6)


def test_the_dropdown_recolours_and_lists_the_columns(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    dropdown = explorer.widget(fallback=False).children[0]
    assert list(dropdown.options) == explorer.color_columns()
    assert explorer.color_columns()[:3] == ["class", "score", "correct"]
    assert "path" not in dropdown.options and "class_index" not in dropdown.options
    dropdown.value = "correct"
    assert explorer.color_by == "correct" and explorer.scatters[0].color()["by"] == "correct"
    np.testing.assert_allclose(explorer.colors(), _expected(explorer.frame, "correct"))


def test_a_bad_colour_column_is_one_line_naming_the_valid_ones(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    with pytest.raises(InvalidInputError) as caught:
        explorer.color("suspicion")
    message = str(caught.value)
    assert "\n" not in message and "'suspicion'" in message
    assert "use one of class, score, correct, image, target, predicted" in message
    explorer.frame["name"] = [f"n{i}" for i in range(9)]  # 9 categories: fine
    explorer.color("name")
    explorer.frame["path"] = [f"p{i}" for i in range(9)]
    with pytest.raises(InvalidInputError, match="cannot colour by 'path'"):
        explorer.color("path")
    with pytest.raises(InvalidInputError, match="use one of class"):
        Explorer(_embeddings(tmp_path), _coords(9), color_by="nope")


# -- neighbours: a row's nearest rows of its class from other images -------------------------------


def _many(tmp_path: Path, images: int = 30, dim: int = 3, seed: int = 0) -> ClassEmbeddings:
    """``images`` x 3 classes (every pair a row), random targets, with ties and a zero row."""
    emb = _embeddings(tmp_path)  # writes the three image files
    rng = np.random.default_rng(seed)
    image, klass = np.divmod(np.arange(3 * images), 3)
    target = rng.choice([1, 0, 0, -1], size=len(image))
    score = rng.uniform(size=len(image)).astype(np.float32)
    correct = pd.array((score >= 0.5) == (target == 1), dtype="boolean")
    correct[target == -1] = pd.NA
    frame = pd.DataFrame(
        {
            "image": image,
            "path": [str(tmp_path / f"img{i % 3}.png") for i in image],
            "class": pd.Categorical.from_codes(klass, categories=list(CLASSES)),
            "class_index": klass,
            "target": target,
            "score": score,
            "predicted": score >= 0.5,
            "correct": correct,
        }
    )
    vectors = rng.normal(size=(len(frame), dim)).astype(np.float32)
    vectors[[30, 45, 60]] = vectors[3]  # class 0, images 10, 15, 20: exact ties with row 3
    vectors[[31, 61]] = vectors[1]  # class 1: ties with row 1 and with each other
    vectors[6] = 0  # a zero row: similarity 0 with every row
    return ClassEmbeddings(frame, vectors, "features", CLASSES, emb.source, "val")


def _dense_neighbours(emb: ClassEmbeddings, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From the definition: the full cosine matrix in float64 (a zero row: 0), rows of the same
    class and another image, by similarity descending, ties by the lower row (stable sort)."""
    v = emb.vectors.astype(np.float64)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    z = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    cosine = z @ z.T
    frame = emb.frame
    same_class = frame["class_index"].to_numpy() == frame["class_index"].iloc[row]
    other_image = frame["image"].to_numpy() != frame["image"].iloc[row]
    candidates = np.flatnonzero(same_class & other_image)  # ascending
    order = candidates[np.argsort(-cosine[row, candidates], kind="stable")][:k]
    return order, cosine[row, order]


@pytest.mark.parametrize("k", [1, 3, 8, 100])
def test_neighbours_match_a_dense_reference(tmp_path: Path, k: int) -> None:
    from mlrkit.metrics import cosine_topk

    emb = _many(tmp_path)
    explorer = Explorer(emb, _coords(len(emb.frame)))
    explorer.frame["suspicion"] = np.arange(len(emb.frame)) / 10  # an added column comes along
    full_idx, full_sim = cosine_topk(
        emb.vectors, k, groups=emb.frame["image"], blocks=emb.frame["class_index"]
    )
    for row in range(len(emb.frame)):
        table = explorer.neighbours(row, k)
        expected, similarity = _dense_neighbours(emb, row, k)
        np.testing.assert_array_equal(table.index, expected)
        np.testing.assert_allclose(table["similarity"], similarity, atol=1e-6)
        found = full_idx[row] >= 0  # the kit's kNN over every row at once: the same answer
        np.testing.assert_array_equal(table.index, full_idx[row][found])
        np.testing.assert_array_equal(table["similarity"], full_sim[row][found])
    assert len(explorer.neighbours(0, k)) == min(k, 29)  # 29 other images have a cat row
    table = explorer.neighbours(3, k)
    assert table.index.name == "row" and table["similarity"].dtype == np.float32
    assert list(table.columns) == [*explorer.frame.columns, "similarity"]
    pd.testing.assert_frame_equal(
        table.drop(columns="similarity"), explorer.frame.iloc[table.index].rename_axis("row")
    )
    if k >= 3:  # the ties: rows 30, 45, 60 copy row 3, in row order, similarity 1
        assert table.index[:3].tolist() == [30, 45, 60]
        np.testing.assert_allclose(table["similarity"].iloc[:3], 1.0, atol=1e-6)
    zero = explorer.neighbours(6, k)  # a zero row: all 0, so the lowest rows of other images
    assert zero.index.tolist() == [r for r in range(0, 90, 3) if r != 6][:k]  # cat, not image 2
    assert (zero["similarity"] == 0).all()


def test_neighbours_in_another_view_use_its_vectors(tmp_path: Path) -> None:
    a, b = _many(tmp_path), _many(tmp_path, seed=1)
    b.vectors = _many(tmp_path, dim=5, seed=7).vectors
    explorer = Explorer([a, b], [_coords(90)] * 2, neighbour_view=1)
    for row in (0, 4, 50):
        np.testing.assert_array_equal(explorer.neighbours(row, view=0).index,
                                      _dense_neighbours(a, row, 8)[0])  # fmt: skip
        np.testing.assert_array_equal(explorer.neighbours(row).index,
                                      _dense_neighbours(b, row, 8)[0])  # fmt: skip
    assert not np.array_equal(explorer.neighbours(50, view=0).index, explorer.neighbours(50).index)


def test_neighbours_search_one_row_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlrkit.explore._neighbours as neighbours

    calls = []
    real = neighbours.cosine_topk

    def counted(vectors, k, **kwargs):
        calls.append(len(vectors))
        return real(vectors, k, **kwargs)

    monkeypatch.setattr(neighbours, "cosine_topk", counted)
    emb = _many(tmp_path, images=400, dim=8)
    explorer = Explorer(emb, _coords(len(emb.frame)))
    assert calls == []  # nothing before the first question
    first = explorer.neighbours(100, 5)
    assert len(calls) == 1 and calls[0] <= 5 + 1 + 4  # the row and its shortlist, not its class
    assert explorer.neighbours(100, 3).index.tolist() == first.index[:3].tolist()
    assert len(calls) == 1  # a smaller k: the answer kept
    np.testing.assert_array_equal(explorer.neighbours(100, 20).index,
                                  _dense_neighbours(emb, 100, 20)[0])  # fmt: skip
    assert len(calls) == 2


def _near_cells(explorer: Explorer) -> list:
    return list(explorer.panel.children[2].children[1].children)


def test_one_point_selection_shows_its_neighbours_in_the_panel(tmp_path: Path) -> None:
    emb = _many(tmp_path)
    explorer = Explorer(emb, _coords(90), neighbour_k=5)
    near = explorer.panel.children[2]
    assert near.layout.display == "none" and _near_cells(explorer) == []
    explorer.select([4])  # image 1, dog
    table = explorer.neighbours(4, 5)
    items = explorer.neighbour_items()
    assert [it["row"] for it in items] == table.index.tolist()
    assert [it["similarity"] for it in items] == pytest.approx(table["similarity"].tolist())
    assert [it["target"] for it in items] == table["target"].tolist()
    assert all(it["class"] == "dog" and it["image"] != 1 for it in items)
    assert near.layout.display != "none"
    header = near.children[0].value
    words = {1: "given 1", 0: "given 0", -1: "ignored"}
    counts = table["target"].value_counts()
    assert set(counts.index) == {0, 1, -1}  # some of each in this header
    for target, count in counts.items():
        assert f"{count} {words[target]}" in header
    assert "5 nearest 'dog' rows from other images" in header
    assert f"row 4 itself is {words[emb.frame['target'].iloc[4]]}." in header
    cells = _near_cells(explorer)
    assert len(cells) == 5 and all(_is_png(cell.children[0].value) for cell in cells)
    for cell, item in zip(cells, items, strict=True):
        caption = cell.children[1].value
        assert f"<b>row {item['row']}</b> · sim {item['similarity']:.3f}" in caption
        assert f"image {item['image']} · {words[item['target']]}" in caption
    assert len(explorer.panel.children[1].children) == 1  # the selected row itself, as before
    # The frontend's click selects one point too; two points hide the section again.
    explorer.widget(fallback=False)
    explorer.scatters[0].widget.selection = np.array([0], dtype=np.uint32)
    clicked = explorer.neighbours(0, 5).index.tolist()
    assert [it["row"] for it in explorer.neighbour_items()] == clicked
    assert len(_near_cells(explorer)) == 5 and "'cat' rows" in near.children[0].value
    explorer.select([0, 1])
    assert explorer.neighbour_items() == [] and _near_cells(explorer) == []
    assert near.layout.display == "none"
    off = Explorer(emb, _coords(90), neighbour_k=0)
    off.select([4])
    assert off.neighbour_items() == [] and off.panel.children[2].layout.display == "none"


def test_a_row_without_neighbours_says_so(tmp_path: Path) -> None:
    explorer = Explorer(_embeddings(tmp_path, which="present"), _coords(5))
    explorer.select([2])  # image 1's dog; image 0's dog is row 1
    assert [it["row"] for it in explorer.neighbour_items()] == [1]
    explorer.select([4])  # image 2's car: no other image has a car row
    assert explorer.neighbour_items() == [] and explorer.neighbours(4).empty
    assert "No other image has a 'car' row" in explorer.panel.children[2].children[0].value


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e: e.neighbours(9), r"row 9 is out of range: rows lie in \[0, 9\)"),
        (lambda e: e.neighbours(-1), "out of range"),
        (lambda e: e.neighbours(1.0), "row must be an integer row position"),
        (lambda e: e.neighbours(True), "row must be an integer"),
        (lambda e: e.neighbours("3"), "row must be an integer"),
        (lambda e: e.neighbours(0, 0), "k=0 must be a whole number >= 1"),
        (lambda e: e.neighbours(0, -2), "k=-2 must be a whole number >= 1"),
        (lambda e: e.neighbours(0, 2.5), "k=2.5 must be a whole number"),
        (lambda e: e.neighbours(0, True), "k=True must be a whole number"),
        (lambda e: e.neighbours(0, view=1), r"view=1 must be a view's position in \[0, 1\)"),
    ],
)
def test_a_bad_row_k_or_view_is_one_line(tmp_path: Path, call, match: str) -> None:
    explorer = Explorer(_embeddings(tmp_path), _coords(9))
    with pytest.raises(InvalidInputError, match=match) as caught:
        call(explorer)
    assert "\n" not in str(caught.value)
    assert explorer.neighbours(np.int64(3), np.int32(2)).index.tolist() == [6, 0]


def test_bad_neighbour_settings_are_one_line(tmp_path: Path) -> None:
    for kwargs, match in [
        ({"neighbour_k": -1}, "neighbour_k=-1 must be a whole number >= 0"),
        ({"neighbour_k": 1.5}, "neighbour_k=1.5"),
        ({"neighbour_view": 1}, r"neighbour_view=1 must be a view's position in \[0, 1\)"),
    ]:
        with pytest.raises(InvalidInputError, match=match) as caught:
            Explorer(_embeddings(tmp_path), _coords(9), **kwargs)
        assert "\n" not in str(caught.value)


def test_a_nan_vector_is_one_line_and_the_panel_stays(tmp_path: Path) -> None:
    emb = _many(tmp_path)
    emb.vectors[9, 1] = np.nan  # image 3, cat
    emb.vectors[13, 0] = np.inf  # image 4, dog
    explorer = Explorer(emb, _coords(90), neighbour_k=40)
    for row, bad in [(9, 9), (0, 9), (1, 13), (13, 13)]:
        with pytest.raises(InvalidInputError, match=f"the vector of row {bad} holds NaN or inf"):
            explorer.neighbours(row, 40 if row == 0 else 3)
    assert 9 not in explorer.neighbours(2, 40).index  # car: another class
    explorer.select([9])
    assert explorer.panel_items()[0]["row"] == 9
    assert "no neighbours: the vector of row 9" in explorer.panel.children[2].children[0].value
    assert _near_cells(explorer) == []
