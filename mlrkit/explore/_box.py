"""The explorer's widget box: colour dropdown, linked views, image panel, static picture.

:func:`build` lays out what :meth:`mlrkit.explore.Explorer.widget` returns, top to bottom: a
"colour by" dropdown, the scatter views side by side (each under its title), the image panel,
and the static picture (a PNG of :mod:`mlrkit.explore._static`'s figure in an ``Image``
widget). The box is an :class:`ExplorerBox`: its notebook output carries that PNG as well, as
``image/png`` next to the widget view, so a notebook exported to HTML without its widget state
(nbconvert then skips the widget view) or opened where widgets do not render still shows the
picture; JupyterLab prefers the widget view.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

PICTURE_NOTE = (
    "<small>The same points as a static picture (matplotlib), in the same colours: it stays "
    "in an exported notebook, where the interactive views may not render.</small>"
)


class ExplorerBox(widgets.VBox):
    """An ipywidgets VBox whose notebook output also holds :attr:`picture`'s PNG."""

    def __init__(self, children: Sequence[Any], picture: widgets.Image) -> None:
        super().__init__(children=tuple(children))
        self.picture = picture

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        data = super()._repr_mimebundle_(**kwargs)
        if data is not None and self.picture.value:
            data["image/png"] = base64.b64encode(bytes(self.picture.value)).decode("ascii")
        return data


def build(
    names: Sequence[str],
    views: Sequence[Any],
    panel: Any,
    options: Sequence[str],
    value: str,
    on_color: Callable[[str], None],
) -> tuple[ExplorerBox, widgets.Dropdown, widgets.Image]:
    """The box, its dropdown (calls ``on_color(column)`` on a change) and its picture widget."""
    dropdown = widgets.Dropdown(
        options=list(options), value=value, description="colour by",
        layout=widgets.Layout(width="260px"),
    )  # fmt: skip
    dropdown.observe(lambda change: on_color(change["new"]), names="value")
    columns = [
        widgets.VBox(
            [widgets.HTML(f"<b>{html.escape(name)}</b>"), view],
            layout=widgets.Layout(flex="1 1 0", min_width="300px"),
        )
        for name, view in zip(names, views, strict=True)
    ]
    picture = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
    box = ExplorerBox(
        [dropdown, widgets.HBox(columns), panel, widgets.HTML(PICTURE_NOTE), picture], picture
    )
    return box, dropdown, picture
