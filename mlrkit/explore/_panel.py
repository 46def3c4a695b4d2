"""The explorer's image panel: thumbnails of selected rows, attention overlays, captions.

:class:`ImagePanel` is the ipywidgets box under the scatter views of
:class:`mlrkit.explore.explorer.Explorer`: a header (how many rows are selected) and a grid of
thumbnails, each captioned with its class, score, outcome and the image's label set; when one
row is selected, a neighbours section under them: its nearest rows of the same class from other
images, each thumbnail captioned with its row, image, similarity, given label (``target``) and
score, and a header counting their given labels. With a trained run, each thumbnail overlays
the attention map of that row's class (the run is loaded on the first thumbnail). Thumbnails
and attention maps are cached, up to :data:`CACHE_ITEMS` each; a missing image or attention map
gives a placeholder or a plain image plus a note, never an error.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError

THUMB_SIZE = 160  # longest side of a panel thumbnail, in pixels
ATTENTION_ALPHA = 0.5
CACHE_ITEMS = 512  # thumbnails (and attention maps) kept; the caches are emptied beyond


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _grid() -> Any:
    import ipywidgets as widgets

    return widgets.GridBox(
        layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, {THUMB_SIZE + 10}px)", grid_gap="6px"
        )
    )


def _caption(item: dict) -> str:
    """A selected row's caption: class, score, outcome, the image's label set."""
    outcome = {True: "correct", False: "wrong", None: "ignored"}[item["correct"]]
    return (
        f"<b>{html.escape(item['class'])}</b> · {item['score']:.2f} · {outcome}<br>"
        f"<small>{html.escape(', '.join(item['labels']) or '(no label)')}</small>"
    )


def _given(target: int) -> str:
    """A given label in words: ``given 1``, ``given 0``, or ``ignored`` (a target of -1)."""
    return "ignored" if target == -1 else f"given {target}"


def _near_caption(item: dict) -> str:
    """A neighbour's caption: row, image, similarity, given label, score, the image's labels."""
    return (
        f"<b>row {item['row']}</b> · sim {item['similarity']:.3f}<br>"
        f"<small>image {item['image']} · {_given(item['target'])} · score {item['score']:.2f}<br>"
        f"{html.escape(', '.join(item['labels']) or '(no label)')}</small>"
    )


def near_header(row: dict, near: list[dict], where: str) -> str:
    """The neighbours section's header: what they are and how many were given each label."""
    name = html.escape(row["class"])
    space = f" in {html.escape(where)}" if where else ""
    if not near:
        return f"<b>No other image has a '{name}' row</b>: no neighbour to show."
    counts: dict[int, int] = {}
    for item in near:
        counts[item["target"]] = counts.get(item["target"], 0) + 1
    given = ", ".join(f"{counts[t]} {_given(t)}" for t in sorted(counts, reverse=True))
    return (
        f"<b>{len(near)} nearest '{name}' rows from other images</b> (cosine{space}): "
        f"{given}; row {row['row']} itself is {_given(row['target'])}."
    )


class ImagePanel:
    """Header + grid of captioned thumbnails (an ipywidgets VBox in :attr:`box`).

    Args:
        classes: the class names, in class-index order.
        run: a :class:`mlrkit.runs.Run`, a run path, or None (no attention overlay).
    """

    def __init__(self, classes: tuple[str, ...], run: Any = None) -> None:
        import ipywidgets as widgets

        self.classes = classes
        self._run = run
        self._loaded_run: Any = None
        self._thumb_cache: dict[tuple[int, int], bytes] = {}  # PNG per (image, class or -1)
        self._attention: dict[int, Any] = {}  # (K, h, w) maps per image, with a run
        self._header = widgets.HTML()
        self._grid = _grid()
        self._near_header = widgets.HTML()
        self._near_grid = _grid()
        self.near = widgets.VBox(
            [self._near_header, self._near_grid], layout=widgets.Layout(display="none")
        )
        self.box = widgets.VBox([self._header, self._grid, self.near])

    def show(
        self, items: list[dict], total: int, near: list[dict] | str | None = None, where: str = ""
    ) -> None:
        """Show ``items`` (dicts as from ``Explorer.panel_items``) out of ``total`` selected, and
        ``near`` (dicts as from ``Explorer.neighbour_items``: the neighbours of the one selected
        row, found in the space ``where``) under them; a string: why there are none; None hides
        the neighbours section."""
        if total == 0:
            self._header.value = (
                "<i>Select points (lasso: press and hold, then drag; or the lasso button) "
                "to see their images.</i>"
            )
        else:
            shown = f"first {len(items)} of " if total > len(items) else ""
            self._header.value = f"<b>{shown}{total} selected</b>"
        self._grid.children = tuple(self._cell(item, _caption(item)) for item in items)
        if near is None or not items:
            self.near.layout.display = "none"
            self._near_header.value = ""
            self._near_grid.children = ()
            return
        if isinstance(near, str):
            self._near_header.value, near = f"<i>{html.escape(near)}</i>", []
        else:
            self._near_header.value = near_header(items[0], near, where)
        self._near_grid.children = tuple(self._cell(item, _near_caption(item)) for item in near)
        self.near.layout.display = None

    def _cell(self, item: dict, caption: str) -> Any:
        import ipywidgets as widgets

        png, note = self._thumbnail(item)
        if note:
            caption += f"<br><small>{html.escape(note)}</small>"
        return widgets.VBox(
            [
                widgets.Image(value=png, format="png", width=THUMB_SIZE),
                widgets.HTML(caption, layout=widgets.Layout(width=f"{THUMB_SIZE}px")),
            ]
        )

    def _thumbnail(self, item: dict) -> tuple[bytes, str]:
        key = (item["image"], item["class_index"] if self._run is not None else -1)
        if key in self._thumb_cache:
            return self._thumb_cache[key], ""
        from PIL import Image

        from mlrkit.data.images import load_rgb

        try:
            picture = load_rgb(item["path"])
        except Exception as error:  # a missing image must not break the panel
            blank = Image.new("RGB", (THUMB_SIZE, THUMB_SIZE), (220, 220, 220))
            return _png(blank), f"image unreadable: {type(error).__name__}"
        note = ""
        if self._run is not None:
            try:
                picture = self._overlay(picture, item["image"], item["class_index"])
            except Exception as error:  # no attention: show the plain image, say why
                note = f"no attention map: {error}"
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
        png = _png(picture)
        if not note:
            if len(self._thumb_cache) >= CACHE_ITEMS:
                self._thumb_cache.clear()
            self._thumb_cache[key] = png
        return png, note

    def _overlay(self, picture: Any, image: int, class_index: int) -> Any:
        import matplotlib
        from PIL import Image

        from mlrkit.viz.attention import CMAP, upsample_attention

        run = self._trained_run()
        if tuple(run.classes) != self.classes:
            raise InvalidInputError(f"the run's classes differ from the embeddings' ({run.path})")
        maps = self._attention.get(image)
        if maps is None:
            maps = run.attention([picture])[0]  # (K, h, w)
            if len(self._attention) >= CACHE_ITEMS:
                self._attention.clear()
            self._attention[image] = maps
        small = picture.copy()
        small.thumbnail((THUMB_SIZE * 2, THUMB_SIZE * 2))
        heat = upsample_attention(maps[class_index], (small.height, small.width))
        span = float(heat.max() - heat.min())
        heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
        colours = matplotlib.colormaps[CMAP](heat)[..., :3]
        base = np.asarray(small, dtype=np.float32) / 255.0
        blend = (1 - ATTENTION_ALPHA) * base + ATTENTION_ALPHA * colours
        return Image.fromarray((np.clip(blend, 0, 1) * 255).astype(np.uint8))

    def _trained_run(self) -> Any:
        if self._loaded_run is None:
            from mlrkit.train.trained import TrainedRun

            run = self._run
            self._loaded_run = (
                run if isinstance(run, TrainedRun) else TrainedRun.load(Path(run), device="auto")
            )
        return self._loaded_run
