"""Interactive feature-space explorer: a jupyter-scatter view of class embeddings, linked to images.

:class:`Explorer` draws the 2-D coordinates of one or several :class:`ClassEmbeddings` (one
point per (image, class) pair) as WebGL scatter plots (jupyter-scatter, ``import jscatter``)
next to an image panel. Selecting points with the lasso in the notebook (or calling
:meth:`Explorer.select`) fills the panel with thumbnails of the selected pairs' images, each
with its class, the image's label set, the score and whether the prediction was right; with a
trained run, each thumbnail overlays the attention map of that pair's class. A one-point
selection (a click) adds its ``neighbour_k`` nearest rows of its class from other images, with
their thumbnails, given labels and similarities (:meth:`Explorer.neighbours`): a row given 1
whose neighbours were mostly given 0 is what the label audit suspects. This module holds the
views, the selection sync and the choice between widget and picture; private modules hold the
panel (``_panel``, ``_items``), the nearest rows (``_neighbours``), the colourings
(``_colors``), the static picture (``_static``) and the widget box (``_box``).

Several embeddings (say the ``"features"`` and ``"embedding"`` spaces of a run, or two runs on
the same split) give linked views: a selection in one view selects the same rows in the others.
They must describe the same (image, class) rows in the same order.

Scale: the data frame handed to jscatter is built once; a selection change costs only the
thumbnails of its first ``max_panel_images`` rows, never a Python loop over all points, so
200,000 points stay responsive (the scatter itself is drawn by the browser's GPU).

Colour: :meth:`Explorer.color` (or the widget's "colour by" dropdown) colours every view, and
the static picture, by ``"class"``, ``"score"``, ``"correct"`` or any other column of
:attr:`Explorer.frame` (add one, say ``explorer.frame["suspicion"] = values``, then
``explorer.color("suspicion")``); :mod:`mlrkit.explore._colors` says which colours.

Static picture: :meth:`Explorer.widget` always draws the views with matplotlib under the
interactive ones (and puts that PNG in the cell's output), so an exported notebook still shows
the points. Without jupyter-scatter, or without a widget frontend (a plain Python process),
:meth:`Explorer.widget` warns once and returns that picture (a matplotlib Figure) instead;
:meth:`Explorer.static` draws it on given Axes, and :meth:`Explorer.available` says which case
applies.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.errors import InvalidInputError
from mlrkit.explore._checks import as_coords, count_of, embedding_list, row_of, rows_of, view_of
from mlrkit.explore._colors import COLOR_BY, Coloring, color_columns, coloring
from mlrkit.explore._items import RowItems
from mlrkit.explore._neighbours import NearestRows
from mlrkit.explore._panel import ImagePanel
from mlrkit.explore._static import draw, figure, png
from mlrkit.explore.embeddings import ClassEmbeddings

__all__ = ["COLOR_BY", "Explorer", "explore_notebook_hint"]

_NO_JSCATTER = (
    "jupyter-scatter is not installed (pip install jupyter-scatter), so the interactive views "
    "cannot be drawn; Explorer.widget() returns the static picture and Explorer.static() draws it"
)
_NO_FRONTEND = (
    "no widget frontend: this process is not an IPython kernel, so the widget cannot render; "
    "Explorer.widget() returns the static picture and Explorer.static() draws it"
)


def explore_notebook_hint() -> str:
    """How to open the explorer in JupyterLab (one notebook cell)."""
    return (
        "In a JupyterLab notebook:\n"
        "    from mlrkit.explore import extract_embeddings, Explorer\n"
        "    emb = extract_embeddings('runs/my-run', space='embedding')\n"
        "    explorer = Explorer(emb, run='runs/my-run')\n"
        "    explorer.widget()\n"
        "Lasso-select points (press and hold, then drag; or the lasso button) to see their "
        "images in the panel, or click one to see its nearest rows of its class from other "
        "images (explorer.neighbours(row)); colour by class, score or correct with the "
        "dropdown or explorer.color('correct')."
    )


class Explorer:
    """Linked scatter views of class embeddings with an image panel, for JupyterLab.

    Args:
        embeddings: one :class:`ClassEmbeddings`, or several describing the same (image, class)
            rows in the same order (e.g. both spaces of a run): one linked view each.
        coords: ``(M, 2)`` coordinates per embedding; None: :func:`mlrkit.explore.umap_embed`
            of each embedding's vectors (cached on disk, seeded by ``seed``).
        names: a title per view (default: each embedding's space title).
        color_by: initial colouring: ``"class"``, ``"score"``, ``"correct"`` or another column
            of the frame (see :meth:`color`).
        max_panel_images: the panel shows at most this many selected rows.
        run: a :class:`mlrkit.runs.Run` or a run path; thumbnails then overlay the
            attention map of the row's class (loaded on the first thumbnail).
        seed: UMAP seed when ``coords`` is None.
        neighbour_k: a one-point selection shows this many nearest rows (0: none).
        neighbour_view: the view whose vectors rank them (default the first).

    Raises:
        InvalidInputError: no embedding, or one without any row (nothing to show); coords or
            names of the wrong count or shape; embeddings whose rows differ; a ``color_by``
            that is no colourable column; ``max_panel_images < 1``; a ``neighbour_k`` that is
            no whole number >= 0 or a ``neighbour_view`` that is no view.

    Without jupyter-scatter, :attr:`scatters` is empty and :meth:`widget` returns the static
    picture; :meth:`select`, :meth:`panel_items`, :meth:`color` and :meth:`static` still work.
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
        neighbour_k: int = 8,
        neighbour_view: int = 0,
    ) -> None:
        try:
            import jscatter
        except ImportError:  # widget() falls back to the static picture
            jscatter = None

        self.embeddings = embedding_list(embeddings)
        if max_panel_images < 1:
            raise InvalidInputError(f"max_panel_images must be >= 1, got {max_panel_images}")
        self.neighbour_k = count_of(neighbour_k, "neighbour_k", zero=True)
        self.neighbour_view = view_of(neighbour_view, len(self.embeddings), "neighbour_view")
        self.coords = as_coords(coords, self.embeddings, seed)
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
        self._items = RowItems(self.frame, self.classes)
        images, blocks = self.frame["image"].to_numpy(), self.frame["class_index"].to_numpy()
        self._nearest = [NearestRows(e.vectors, images, blocks) for e in self.embeddings]
        self._coloring: Coloring = coloring(self.frame, color_by, self.classes)

        self._frames = [] if jscatter is None else self._scatter_data()
        self.scatters = [
            jscatter.Scatter(data=data, x="x", y="y", data_use_index=False) for data in self._frames
        ]
        for scatter in self.scatters:
            scatter.legend(True)
            scatter.tooltip(True, properties=["color", "score"])
        self._box: Any = None
        self._dropdown: Any = None
        self._picture: Any = None
        self._warned = False
        self.color_by = ""
        self.color(color_by)
        self._syncing = False
        self._views = [scatter.widget for scatter in self.scatters]
        for i, view in enumerate(self._views):
            view.observe(self._make_handler(i), names="selection")
        self._selected = np.empty(0, dtype=np.int64)

        self._image_panel = ImagePanel(self.classes, run)
        self._panel = self._image_panel.box
        self._refresh_panel()

    # -- construction -------------------------------------------------------------------------

    def _scatter_data(self) -> list[pd.DataFrame]:
        """Each view's jscatter data: its coordinates and the colourings (computed once)."""
        columns = {by: coloring(self.frame, by, self.classes).values for by in COLOR_BY}
        return [pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], **columns}) for xy in self.coords]

    # -- public API ---------------------------------------------------------------------------

    @staticmethod
    def available() -> tuple[bool, str]:
        """Whether a widget frontend is likely present, and why (or why not)."""
        try:
            import jscatter  # noqa: F401
        except ImportError:
            return False, _NO_JSCATTER
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

    def widget(self, *, fallback: bool = True) -> Any:
        """The interactive explorer as one ipywidgets box, with the static picture under it.

        The box (an ``ipywidgets.VBox``, built once) holds, top to bottom: a "colour by"
        dropdown (see :meth:`color`), the scatter view(s), the image panel, and the static
        picture (:meth:`static`'s drawing as an ``ipywidgets.Image``, redrawn on every
        :meth:`color`). Display it in JupyterLab (the last expression of a cell); its output
        also holds the picture as a PNG, which an exported notebook (HTML) shows.

        Without jupyter-scatter or a widget frontend (:meth:`available`), warns once (a
        ``UserWarning`` saying why and what to install) and returns the static picture instead:
        a matplotlib Figure (not managed by pyplot, so a notebook shows it once).

        Args:
            fallback: False: build the box even without a widget frontend (its objects then drive
                :meth:`select` and :attr:`selected`, but nothing renders).

        Raises:
            InvalidInputError: ``fallback=False`` without jupyter-scatter.
        """
        ok, why = self.available()
        if not self.scatters or (fallback and not ok):
            if not self.scatters and not fallback:
                raise InvalidInputError(_NO_JSCATTER)
            if not self._warned:
                self._warned = True
                warnings.warn(why, UserWarning, stacklevel=2)
            return figure(self.coords, self.names, self._coloring)
        if self._box is None:
            from mlrkit.explore._box import build

            views = [scatter.show() for scatter in self.scatters]
            self._box, self._dropdown, self._picture = build(
                self.names, views, self._panel, color_columns(self.frame), self.color_by,
                self._pick,
            )  # fmt: skip
            self._redraw_picture()
        return self._box

    @property
    def panel(self) -> Any:
        """The image panel (an ipywidgets VBox: header + grid of thumbnails)."""
        return self._panel

    def color(self, by: str) -> None:
        """Colour every view, the static picture and the dropdown by the column ``by``.

        ``by``: ``"class"`` (one colour per class), ``"score"`` (viridis, 0 to 1),
        ``"correct"`` (correct green, wrong red, ignored grey), or any other column of
        :attr:`frame` holding numbers (viridis from smallest to largest), booleans or at most 20
        categories (one colour each); :meth:`color_columns` lists them. A column added to the
        frame after the explorer was made works too (and the dropdown lists it from then on):
        ``explorer.frame["suspicion"] = values; explorer.color("suspicion")``.

        Raises:
            InvalidInputError: ``by`` is none of them (the message lists those that are).
        """
        chosen = coloring(self.frame, by, self.classes)
        column = pd.Series(chosen.values, name=by)
        for scatter, data in zip(self.scatters, self._frames, strict=True):
            # The column goes into the frame jscatter holds (it keeps the one it was given), in
            # place: jupyter-scatter 1.0.1 fails on Scatter.data(new frame) while a categorical
            # colouring with a map is active, and its getter Scatter.data() returns the Scatter.
            if by not in data.columns or not data[by].equals(column):
                data[by] = chosen.values
            scatter.color(**chosen.jscatter_kwargs())
        self._coloring, self.color_by = chosen, by
        if self._dropdown is not None and self._dropdown.value != by:
            options = color_columns(self.frame)
            if list(self._dropdown.options) != options:
                self._dropdown.options = options
            self._dropdown.value = by
        if self._picture is not None:
            self._redraw_picture()

    def color_columns(self) -> list[str]:
        """The columns :meth:`color` takes now: ``class``, ``score``, ``correct``, then others."""
        return color_columns(self.frame)

    def colors(self) -> np.ndarray:
        """``(M, 4)`` RGBA floats: the colour of every row in the current colouring."""
        return self._coloring.rgba()

    def select(self, indices: Sequence[int] | np.ndarray | None) -> None:
        """Select rows of the frame (in every view) and fill the panel; None or [] clears."""
        rows = rows_of(indices, self._rows)
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
        return self._items.items(self.frame, self._selected[: self.max_panel_images])

    def neighbours(self, row: int, k: int = 8, *, view: int | None = None) -> pd.DataFrame:
        """Row ``row``'s ``k`` nearest rows of the same class from other images, by cosine.

        Exact, as :func:`mlrkit.metrics.cosine_topk` (``groups`` the image, ``blocks`` the class
        index) ranks them in view ``view``'s vectors: ties broken by the lower row index.
        Computed for this row alone, when asked (the last answers are kept).

        Args:
            row: a row of :attr:`frame` (its position, as :meth:`select` takes).
            k: how many (fewer when the class has fewer rows from other images).
            view: the view whose vectors are compared (default: ``neighbour_view``).

        Returns:
            The neighbour rows, best first: their :attr:`frame` columns (added ones included)
            plus ``similarity`` (float32), indexed by their row position (index name ``row``).

        Raises:
            InvalidInputError: a row not in ``[0, M)``, a ``k`` < 1, a view that is none.
        """
        row, k = row_of(row, self._rows), count_of(k, "k")
        view = self.neighbour_view if view is None else view_of(view, len(self._nearest))
        indices, sims = self._nearest[view].of(row, k)
        table = self.frame.iloc[indices].copy()
        table.index = pd.Index(indices, name="row")
        table["similarity"] = sims
        return table

    def neighbour_items(self) -> list[dict]:
        """What the panel's neighbours section shows: with exactly one row selected, one dict
        per neighbour (:meth:`neighbours` of it: ``neighbour_k`` in ``neighbour_view``) with
        the keys of :meth:`panel_items` plus ``similarity``; else []."""
        if len(self._selected) != 1 or self.neighbour_k == 0:
            return []
        table = self.neighbours(int(self._selected[0]), self.neighbour_k)
        return self._items.items(self.frame, table.index.to_numpy(), table["similarity"])

    def static(self, ax: Any = None) -> Any:
        """The same points as matplotlib scatter plot(s), in the current colouring (:meth:`color`).

        Args:
            ax: an Axes (one view) or a sequence of Axes (one per view); default: new figure.

        Returns:
            The Axes (one view) or the list of Axes (several views).
        """
        return draw(self.coords, self.names, self._coloring, ax)

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

    def _pick(self, by: str) -> None:  # the dropdown's choice
        if by != self.color_by:
            self.color(by)

    def _redraw_picture(self) -> None:
        self._picture.value = png(figure(self.coords, self.names, self._coloring))

    def _refresh_panel(self) -> None:
        near: list[dict] | str | None = None
        if len(self._selected) == 1 and self.neighbour_k:
            try:
                near = self.neighbour_items()
            except InvalidInputError as error:  # e.g. a NaN vector: the panel says so, stays
                near = f"no neighbours: {error}"
        where = self.names[self.neighbour_view] if len(self.names) > 1 else ""
        self._image_panel.show(self.panel_items(), len(self._selected), near, where)

    def __repr__(self) -> str:
        return (
            f"Explorer({len(self.embeddings)} view(s), {self._rows} points, "
            f"color_by={self.color_by!r}, {len(self._selected)} selected; {self.status})"
        )
