"""Interactive feature-space explorer: a jupyter-scatter view of class embeddings, linked to images.

:class:`Explorer` draws the 2-D coordinates of one or several :class:`ClassEmbeddings` (one
point per (image, class) pair) as WebGL scatter plots (jupyter-scatter, ``import jscatter``)
next to an image panel. Selecting points with the lasso in the notebook (or calling
:meth:`Explorer.select`) fills the panel with thumbnails of the selected pairs' images, each
with its class, the image's label set, the score and whether the prediction was right; with a
trained run, each thumbnail overlays the attention map of that pair's class. The panel itself
(thumbnails, attention overlays, caches, captions) lives in :mod:`mlrkit.explore._panel`; this
module holds the views, selection sync, colouring and the static fallback.

Several embeddings (say the ``"features"`` and ``"embedding"`` spaces of a run, or two runs on
the same split) give linked views: a selection in one view selects the same rows in the others.
They must describe the same (image, class) rows in the same order.

Scale: the data frame handed to jscatter is built once; a selection change costs only the
thumbnails of its first ``max_panel_images`` rows, never a Python loop over all points, so
200,000 points stay responsive (the scatter itself is drawn by the browser's GPU).

Without a widget frontend (a plain Python process, a CI machine, a static notebook render)
nothing of the widget is drawn; :meth:`Explorer.static` draws the same points with matplotlib
(:mod:`mlrkit.viz.embedding`), and :meth:`Explorer.available` says which case applies.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.errors import InvalidInputError
from mlrkit.explore._panel import ImagePanel
from mlrkit.explore.embeddings import ClassEmbeddings

__all__ = ["COLOR_BY", "Explorer", "explore_notebook_hint"]

COLOR_BY: tuple[str, ...] = ("class", "score", "correct")
"""What :meth:`Explorer.color` accepts: the class name, the score, or right/wrong/ignored."""

OUTCOMES: tuple[str, ...] = ("correct", "wrong", "ignored")
OUTCOME_COLORS = {"correct": "#2ca02c", "wrong": "#d62728", "ignored": "#aaaaaa"}
SCORE_MAP = "viridis"

_NO_FRONTEND = (
    "no widget frontend: this process is not an IPython kernel, so the widget cannot render; "
    "use Explorer.static() for a matplotlib figure"
)


def explore_notebook_hint() -> str:
    """How to open the explorer in JupyterLab (one notebook cell)."""
    return (
        "In a JupyterLab notebook:\n"
        "    from mlrkit.explore import extract_embeddings, Explorer\n"
        "    emb = extract_embeddings('runs/my-run', space='embedding')\n"
        "    Explorer(emb, run='runs/my-run').widget()\n"
        "Lasso-select points (press and hold, then drag; or the lasso button) to see their "
        "images in the panel."
    )


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(float(c) * 255):02x}" for c in rgb[:3])


class Explorer:
    """Linked scatter views of class embeddings with an image panel, for JupyterLab.

    Args:
        embeddings: one :class:`ClassEmbeddings`, or several describing the same (image, class)
            rows in the same order (e.g. both spaces of a run): one linked view each.
        coords: ``(M, 2)`` coordinates per embedding; None: :func:`mlrkit.explore.umap_embed`
            of each embedding's vectors (cached on disk, seeded by ``seed``).
        names: a title per view (default: each embedding's space title).
        color_by: initial colouring, one of :data:`COLOR_BY`.
        max_panel_images: the panel shows at most this many selected rows.
        run: a :class:`mlrkit.runs.Run` or a run path; thumbnails then overlay the
            attention map of the row's class (loaded on the first thumbnail).
        seed: UMAP seed when ``coords`` is None.

    Raises:
        InvalidInputError: no embedding, or one without any row (nothing to show); coords or
            names of the wrong count or shape; embeddings whose rows differ; an unknown
            ``color_by``; ``max_panel_images < 1``.

    Without a widget frontend (see :meth:`available`) :meth:`widget` still builds the widget
    objects, but nothing renders: use :meth:`static` there.
    """

    def __init__(
        self,
        embeddings: ClassEmbeddings | Sequence[ClassEmbeddings],
        coords: np.ndarray | Sequence[np.ndarray] | None = None,
        *,
        names: Sequence[str] | None = None,
        color_by: str = "class",
        max_panel_images: int = 12,
        run: Any = None,
        seed: int | None = 0,
    ) -> None:
        import jscatter

        self.embeddings: list[ClassEmbeddings] = (
            [embeddings] if isinstance(embeddings, ClassEmbeddings) else list(embeddings)
        )
        if not self.embeddings:
            raise InvalidInputError("Explorer needs at least one ClassEmbeddings")
        for k, emb in enumerate(self.embeddings):  # else empty arrays fail deep in UMAP or jscatter
            if len(emb.frame) == 0:
                raise InvalidInputError(
                    f"nothing to show: embedding {k} (split {emb.split!r} of {emb.source}) has no "
                    "(image, class) row: no present (image, class) pair was selected, or every row "
                    "was filtered out. Extract with which='all' or from a split with positive "
                    "labels, or keep at least one row."
                )
        if max_panel_images < 1:
            raise InvalidInputError(f"max_panel_images must be >= 1, got {max_panel_images}")
        self._check_rows()
        self.coords = self._coords(coords, seed)
        count = len(self.embeddings)
        if names is None:
            names = [e.title for e in self.embeddings]
        if len(names) != count:
            raise InvalidInputError(f"got {len(names)} names for {count} embeddings")
        self.names = [str(n) for n in names]
        self.max_panel_images = int(max_panel_images)
        self.frame = self.embeddings[0].frame
        self.classes = tuple(self.embeddings[0].classes)
        self._rows = len(self.frame)
        self._index_labels()

        self.scatters = [
            jscatter.Scatter(data=self._data(xy), x="x", y="y", data_use_index=False)
            for xy in self.coords
        ]
        for scatter in self.scatters:
            scatter.legend(True)
            scatter.tooltip(True, properties=["color", "score"])
        self.color_by = ""
        self.color(color_by)
        self._syncing = False
        self._views = [scatter.widget for scatter in self.scatters]
        for i, view in enumerate(self._views):
            view.observe(self._make_handler(i), names="selection")
        self._selected = np.empty(0, dtype=np.int64)

        self._image_panel = ImagePanel(self.classes, run)
        self._panel = self._image_panel.box
        self._box: Any = None
        self._refresh_panel()

    # -- construction -------------------------------------------------------------------------

    def _check_rows(self) -> None:
        first = self.embeddings[0].frame
        for k, other in enumerate(self.embeddings[1:], start=1):
            frame = other.frame
            same = (
                len(frame) == len(first)
                and np.array_equal(frame["image"].to_numpy(), first["image"].to_numpy())
                and np.array_equal(frame["class_index"].to_numpy(), first["class_index"].to_numpy())
            )
            if not same:
                raise InvalidInputError(
                    f"embedding {k} ({len(frame)} rows) does not describe the same (image, "
                    f"class) rows in the same order as embedding 0 ({len(first)} rows); linked "
                    "views need the same split, the same `which` and the same `max_items`"
                )

    def _coords(self, coords: Any, seed: int | None) -> list[np.ndarray]:
        if coords is None:
            from mlrkit.explore.umap_cache import umap_embed

            return [
                np.asarray(umap_embed(e.vectors, seed=seed).coords, np.float32)
                for e in self.embeddings
            ]
        if isinstance(coords, np.ndarray) and coords.ndim == 2:
            coords = [coords]
        out = [np.asarray(c, dtype=np.float32) for c in coords]
        if len(out) != len(self.embeddings):
            raise InvalidInputError(
                f"got {len(out)} coordinate arrays for {len(self.embeddings)} embeddings"
            )
        for c, e in zip(out, self.embeddings, strict=True):
            if c.shape != (len(e.frame), 2):
                raise InvalidInputError(
                    f"coords must have shape (M, 2) = ({len(e.frame)}, 2), got {c.shape}"
                )
        return out

    def _index_labels(self) -> None:
        """Positive rows sorted by image, so an image's label set is a binary search away."""
        frame = self.frame
        positive = np.flatnonzero(frame["target"].to_numpy() == 1)
        images = frame["image"].to_numpy()[positive]
        order = np.argsort(images, kind="stable")
        self._pos_images = images[order]
        self._pos_classes = frame["class_index"].to_numpy()[positive][order]

    def _data(self, xy: np.ndarray) -> pd.DataFrame:
        frame = self.frame
        correct = frame["correct"]
        outcome = np.full(len(frame), 2, dtype=np.int8)  # ignored
        known = correct.notna().to_numpy()
        right = correct.fillna(False).to_numpy(dtype=bool)
        outcome[known & right] = 0
        outcome[known & ~right] = 1
        return pd.DataFrame(
            {
                "x": xy[:, 0],
                "y": xy[:, 1],
                "class": pd.Categorical.from_codes(
                    frame["class_index"].to_numpy(), categories=list(self.classes)
                ),
                "score": frame["score"].to_numpy(dtype=np.float32),
                "correct": pd.Categorical.from_codes(outcome, categories=list(OUTCOMES)),
            }
        )

    # -- public API ---------------------------------------------------------------------------

    @staticmethod
    def available() -> tuple[bool, str]:
        """Whether a widget frontend is likely present, and why (or why not)."""
        try:
            import jscatter  # noqa: F401
        except ImportError:
            return False, "jupyter-scatter is not installed (pip install jupyter-scatter)"
        try:
            from IPython import get_ipython
        except ImportError:
            return False, _NO_FRONTEND
        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return False, _NO_FRONTEND
        return True, "running in an IPython kernel: the widget renders in JupyterLab/Notebook"

    @property
    def status(self) -> str:
        """Whether the widget can render here, and what to do if not."""
        return self.available()[1]

    def widget(self) -> Any:
        """The scatter view(s) and the image panel, as one ipywidgets box.

        Display it in JupyterLab (the last expression of a cell). Outside an IPython kernel the
        widget objects are built (and drive :meth:`select` / :attr:`selected`), but nothing
        renders; use :meth:`static` there.
        """
        import ipywidgets as widgets

        if self._box is None:
            views = [
                widgets.VBox(
                    [widgets.HTML(f"<b>{html.escape(name)}</b>"), scatter.show()],
                    layout=widgets.Layout(flex="1 1 0", min_width="300px"),
                )
                for name, scatter in zip(self.names, self.scatters, strict=True)
            ]
            self._box = widgets.VBox([widgets.HBox(views), self._panel])
        return self._box

    @property
    def panel(self) -> Any:
        """The image panel (an ipywidgets VBox: header + grid of thumbnails)."""
        return self._panel

    def color(self, by: str) -> None:
        """Colour every view by ``"class"``, ``"score"`` or ``"correct"`` (right/wrong/ignored)."""
        if by not in COLOR_BY:
            raise InvalidInputError(f"unknown color_by {by!r}; use one of {COLOR_BY}")
        if by == "class":
            from mlrkit.viz.embedding import class_palette

            palette = {name: _hex(rgb) for name, rgb in class_palette(self.classes).items()}
            kwargs: dict[str, Any] = {"by": "class", "map": palette}
        elif by == "score":
            kwargs = {"by": "score", "map": SCORE_MAP, "norm": (0.0, 1.0)}
        else:
            kwargs = {"by": "correct", "map": dict(OUTCOME_COLORS)}
        for scatter in self.scatters:
            scatter.color(**kwargs)
        self.color_by = by

    def select(self, indices: Sequence[int] | np.ndarray | None) -> None:
        """Select rows of the frame (in every view) and fill the panel; None or [] clears."""
        rows = np.asarray([] if indices is None else indices)
        if rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise InvalidInputError(f"select needs integer row indices, got dtype {rows.dtype}")
        rows = rows.astype(np.int64).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= self._rows):
            raise InvalidInputError(f"row indices must lie in [0, {self._rows}); got out of range")
        self._syncing = True
        try:
            for view in self._views:
                view.selection = rows.astype(np.uint32)
        finally:
            self._syncing = False
        self._selected = rows
        self._refresh_panel()

    @property
    def selected(self) -> np.ndarray:
        """Row indices of the current selection (int64, in selection order)."""
        return self._selected.copy()

    def panel_items(self) -> list[dict]:
        """What the panel shows, one dict per selected row (at most ``max_panel_images``).

        Keys: ``row``, ``image`` (index in the split), ``path``, ``class``, ``labels`` (the
        image's label set: every class with target 1 among the frame's rows of that image; with
        ``which="present"`` frames, the classes of its rows), ``target``, ``score``,
        ``correct`` (True, False or None for an ignored target).
        """
        rows = self._selected[: self.max_panel_images]
        if rows.size == 0:
            return []
        part = self.frame.iloc[rows]
        items = []
        for row, image, path, class_index, target, score, correct in zip(
            rows.tolist(),
            part["image"].tolist(),
            part["path"].astype(str).tolist(),
            part["class_index"].tolist(),
            part["target"].tolist(),
            part["score"].tolist(),
            part["correct"].tolist(),
            strict=True,
        ):
            items.append(
                {
                    "row": int(row),
                    "image": int(image),
                    "path": path,
                    "class": self.classes[int(class_index)],
                    "class_index": int(class_index),
                    "labels": self._labels(int(image)),
                    "target": int(target),
                    "score": float(score),
                    "correct": None if correct is pd.NA or correct is None else bool(correct),
                }
            )
        return items

    def static(self, ax: Any = None) -> Any:
        """The same points as matplotlib scatter plot(s), coloured by class.

        Args:
            ax: an Axes (one view) or a sequence of Axes (one per view); default: new figure.

        Returns:
            The Axes (one view) or the list of Axes (several views).
        """
        from mlrkit.viz.embedding import plot_embedding, plot_embeddings_side_by_side

        labels = self.frame["class"].astype(str).to_numpy()
        if len(self.coords) == 1:
            return plot_embedding(
                self.coords[0], labels, ax, classes=self.classes, title=self.names[0]
            )
        panels = {name: (xy, labels) for name, xy in zip(self.names, self.coords, strict=True)}
        return plot_embeddings_side_by_side(panels, ax, classes=self.classes)

    # -- selection and panel ------------------------------------------------------------------

    def _make_handler(self, index: int) -> Any:
        def on_selection(change: dict) -> None:
            if self._syncing:
                return
            new = change["new"]
            rows = np.empty(0, np.int64) if new is None else np.asarray(new, np.int64).ravel()
            self._syncing = True
            try:
                for i, view in enumerate(self._views):
                    if i != index:
                        view.selection = rows.astype(np.uint32)
            finally:
                self._syncing = False
            self._selected = rows
            self._refresh_panel()

        return on_selection

    def _labels(self, image: int) -> list[str]:
        lo, hi = np.searchsorted(self._pos_images, [image, image + 1])
        return [self.classes[k] for k in sorted(set(self._pos_classes[lo:hi].tolist()))]

    def _refresh_panel(self) -> None:
        self._image_panel.show(self.panel_items(), len(self._selected))

    def __repr__(self) -> str:
        return (
            f"Explorer({len(self.embeddings)} view(s), {self._rows} points, "
            f"color_by={self.color_by!r}, {len(self._selected)} selected; {self.status})"
        )
