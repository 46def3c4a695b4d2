"""Class attention maps over the image: where each class looks.

Heads with spatial attention return ``ModelOutput.attention`` of shape ``(B, K, h, w)``, each map
summing to 1 over ``h, w``; these plots take one image's ``(K, h, w)`` slice. The map is
upsampled to the image size bilinearly (``torch.nn.functional.interpolate``,
``align_corners=False``) and drawn over the image. :func:`plot_attention` and
:func:`plot_attention_grid` stretch the colour scale over each map's own range, so they show
where a class looks, not how much mass it puts there; :func:`plot_attention_examples` draws
several images, each with the maps of the classes it shows, on one colour scale with a colour
bar, so a sharp map (its mass on a few cells) and a diffuse one look different.
:func:`pick_attention_examples` chooses images for it that fill its grid.

The colour map is :data:`CMAP`, a perceptually uniform one (lightness grows with the value, so
the brightest place is the most attended one, also in grey print), never a rainbow map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import as_targets, class_names, is_count

__all__ = [
    "pick_attention_examples",
    "plot_attention",
    "plot_attention_examples",
    "plot_attention_grid",
    "upsample_attention",
]

CMAP = "inferno"
"""The attention colour map: perceptually uniform, dark = little attention, bright = most."""


def _as_image(image: Any) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] from ``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.float() if image.is_floating_point() else image
        image = image.numpy()
    a = np.asarray(image)
    if a.dtype == np.uint8:
        if a.ndim != 3 or a.shape[2] != 3:
            raise InvalidInputError(f"a uint8 `image` must have shape (H, W, 3), got {a.shape}.")
        return a.astype(np.float64) / 255.0
    if a.dtype.kind != "f" or a.ndim != 3 or a.shape[0] != 3:
        raise InvalidInputError(
            f"`image` must be a float (3, H, W) in [0, 1] or a uint8 (H, W, 3), got shape "
            f"{a.shape} and dtype {a.dtype}; pick one image of a batch (images[i])."
        )
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise InvalidInputError(
            f"`image` values span [{np.nanmin(a):.3g}, {np.nanmax(a):.3g}], not [0, 1]: undo "
            "the Normalize step first (x * std + mean)."
        )
    return np.transpose(a, (1, 2, 0)).astype(np.float64)


def _tensor(attention: Any) -> torch.Tensor:
    """A tensor (detached) or array-like as a tensor, without a copy where none is needed."""
    if isinstance(attention, torch.Tensor):
        return attention.detach()
    return torch.as_tensor(np.asarray(attention))


def _as_attention(attention: Any, classes: Sequence[str]) -> torch.Tensor:
    """``(K, h, w)`` float32 tensor, K = len(classes)."""
    a = _tensor(attention)
    if a.ndim != 3:
        hint = " (pick one image: attention[i])" if a.ndim == 4 else ""
        raise InvalidInputError(
            f"`attention` must have shape (K, h, w) for one image, got {tuple(a.shape)}{hint}."
        )
    if not (a.is_floating_point() or a.dtype in (torch.int32, torch.int64)):
        raise InvalidInputError(f"`attention` must hold numbers, got {a.dtype}.")
    class_names(classes, a.shape[0], "attention maps")
    a = a.cpu().float()
    if not torch.isfinite(a).all():
        raise InvalidInputError("`attention` holds NaN or inf.")
    return a


def _class_index(which: str | int, classes: Sequence[str]) -> int:
    names = [str(c) for c in classes]
    if isinstance(which, str):
        if which not in names:
            raise InvalidInputError(f"`which` = {which!r} is not a class; choose among {names}.")
        return names.index(which)
    if isinstance(which, int | np.integer) and not isinstance(which, bool):
        if not -len(names) <= which < len(names):
            raise InvalidInputError(f"`which` = {which} is out of range for {len(names)} classes.")
        return int(which) % len(names)
    raise InvalidInputError(f"`which` must be a class name or index, got {type(which).__name__}.")


def upsample_attention(attention: Any, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of ``(K, h, w)`` (or ``(h, w)``) maps to ``size = (H, W)``.

    Returns:
        ``(K, H, W)`` (or ``(H, W)``) float32 array.
    """
    a = _tensor(attention)
    single = a.ndim == 2
    if a.ndim not in (2, 3):
        raise InvalidInputError(
            f"`attention` must have shape (K, h, w) or (h, w), got {tuple(a.shape)}."
        )
    x = a.cpu().float()[None, None] if single else a.cpu().float()[None]
    up = F.interpolate(x, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)
    return up[0, 0].numpy() if single else up[0].numpy()


def plot_attention(
    image: Any,
    attention: Any,
    classes: Sequence[str],
    which: str | int,
    ax: Axes | None = None,
    *,
    alpha: float = 0.5,
) -> Axes:
    """One class's attention map, upsampled to the image, drawn over the image.

    Args:
        image: ``(3, H, W)`` float in [0, 1] (a de-normalised input) or ``(H, W, 3)`` uint8.
        attention: ``(K, h, w)`` maps of this image (``ModelOutput.attention[i]``).
        classes: the K class names.
        which: the class, by name or index.
        ax: where to draw (default: a new figure).
        alpha: opacity of the map over the image, in [0, 1].

    Returns:
        The Axes, holding two images: ``ax.images[0]`` the picture ``(H, W, 3)``,
        ``ax.images[1]`` the upsampled map ``(H, W)``.

    Raises:
        InvalidInputError: on a bad image, attention shape or class count, an unknown
            ``which`` or an ``alpha`` outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"`alpha` must lie in [0, 1], got {alpha}.")
    picture = _as_image(image)
    maps = _as_attention(attention, classes)
    k = _class_index(which, classes)
    height, width = picture.shape[:2]
    heat = upsample_attention(maps[k], (height, width))
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(picture)
    ax.imshow(heat, cmap=CMAP, alpha=alpha, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"attention of {classes[k]}")
    return ax


def plot_attention_grid(
    image: Any,
    attention: Any,
    classes: Sequence[str],
    which: Sequence[str | int],
    axes: Sequence[Axes] | None = None,
    *,
    alpha: float = 0.5,
) -> list[Axes]:
    """:func:`plot_attention` of several classes of one image, one panel each, in a row.

    Args:
        image: ``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8.
        attention: ``(K, h, w)`` maps of this image.
        classes: the K class names.
        which: the classes to show, by name or index.
        axes: one Axes per class (default: a new row).
        alpha: opacity of the maps, in [0, 1].

    Returns:
        One Axes per entry of ``which``, in order.

    Raises:
        InvalidInputError: as :func:`plot_attention`, plus an empty ``which`` or a number of
            ``axes`` other than ``len(which)``.
    """
    if isinstance(which, str | int) or not len(which):
        raise InvalidInputError(
            f"`which` must be a non-empty list of class names or indices, got {which!r}."
        )
    if axes is None:
        _, created = plt.subplots(1, len(which), figsize=(3.2 * len(which), 3.4), squeeze=False)
        axes = list(created[0])
    if len(axes) != len(which):
        raise InvalidInputError(f"`axes` holds {len(axes)} Axes for {len(which)} classes.")
    for ax, name in zip(axes, which, strict=True):
        plot_attention(image, attention, classes, name, ax, alpha=alpha)
    return list(axes)


def pick_attention_examples(
    targets: Any, n: int = 3, labels: tuple[int, int] = (2, 4)
) -> list[int]:
    """The first ``n`` images that show the same number of classes, for a full grid.

    Among the label counts in ``labels = (fewest, most)``, the largest that at least ``n``
    images have is chosen (more classes per image = more maps to compare), and the first ``n``
    images with exactly that many present classes (target 1) are returned, so that every row
    of :func:`plot_attention_examples` has as many panels as the others.

    Args:
        targets: ``(N, K)`` in {1, 0, -1} (e.g. a dataset's ``.targets``).
        n: how many images (>= 1).
        labels: the fewest and most present classes an image may have (1 <= fewest <= most).

    Returns:
        ``n`` image indices, increasing.

    Raises:
        InvalidInputError: on bad targets or arguments, or when no count in ``labels`` is
            shared by ``n`` images (the message lists how many images have each count).
    """
    if not is_count(n):
        raise InvalidInputError(f"`n` must be a whole number >= 1 (images), got {n!r}.")
    if (
        not isinstance(labels, Sequence)
        or len(labels) != 2
        or not all(is_count(x) for x in labels)
        or labels[0] > labels[1]
    ):
        raise InvalidInputError(
            f"`labels` must be (fewest, most) with 1 <= fewest <= most, got {labels!r}."
        )
    counts = (as_targets(targets, check_encoding=False) == 1).sum(axis=1)
    for count in range(labels[1], labels[0] - 1, -1):
        rows = np.flatnonzero(counts == count)
        if len(rows) >= n:
            return [int(i) for i in rows[:n]]
    have = {int(c): int((counts == c).sum()) for c in range(labels[0], labels[1] + 1)}
    raise InvalidInputError(
        f"no label count in {labels} is shared by {n} images (images per count: {have}); "
        "ask for fewer images or widen `labels`."
    )


def plot_attention_examples(
    images: Sequence[Any],
    attention: Any,
    targets: Any,
    classes: Sequence[str],
    axes: Any = None,
    *,
    alpha: float = 0.6,
    cmap: str = CMAP,
) -> np.ndarray:
    """Several images, each followed by the attention maps of the classes it shows.

    Row ``i`` is image ``i`` (in colour, titled with its present classes) and then, for each
    class present in it (target 1, in class order), that class's map upsampled to the image
    and drawn over the image in grey. All maps share one colour scale, from 0 to the largest
    value shown, with one colour bar: a map's values sum to 1 over its ``h x w`` grid, so a
    class that looks at one small place is bright there and a class that spreads its attention
    is dim everywhere. Every image must show the same number of classes, so the grid has no
    empty cell (:func:`pick_attention_examples` chooses such images).

    Args:
        images: B images, each ``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8.
        attention: ``(B, K, h, w)`` maps (e.g. :meth:`mlrkit.runs.Run.attention`).
        targets: ``(B, K)`` in {1, 0, -1} of these images.
        classes: the K class names.
        axes: a ``(B, 1 + L)`` grid of Axes, L the classes per image (default: a new figure).
        alpha: opacity of the maps over the grey image, in [0, 1].
        cmap: a matplotlib colour map name (default :data:`CMAP`).

    Returns:
        The ``(B, 1 + L)`` array of Axes; the colour bar is the figure's last Axes.

    Raises:
        InvalidInputError: on a bad image, attention or targets shape, a wrong number of class
            names, images that show no class or different numbers of classes, an ``alpha``
            outside [0, 1], or ``axes`` of another shape.
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"`alpha` must lie in [0, 1], got {alpha}.")
    pictures = [_as_image(image) for image in images]
    maps = _tensor(attention)
    if maps.ndim != 4 or maps.shape[0] != len(pictures):
        raise InvalidInputError(
            f"`attention` must have shape (B, K, h, w) with B = {len(pictures)} images, got "
            f"{tuple(maps.shape)}."
        )
    present = as_targets(targets, check_encoding=False) == 1
    if present.shape != tuple(maps.shape[:2]):
        raise InvalidInputError(
            f"`targets` must have shape (B, K) = {tuple(maps.shape[:2])}, got {present.shape}."
        )
    names = class_names(classes, present.shape[1], "attention maps")
    shown = [np.flatnonzero(row) for row in present]
    per_image = {len(row) for row in shown}
    if len(pictures) == 0 or 0 in per_image or len(per_image) != 1:
        raise InvalidInputError(
            "every image must show the same number (>= 1) of classes, so that the grid has no "
            f"empty cell; these show {[len(row) for row in shown]}. Choose the images with "
            "pick_attention_examples(targets)."
        )
    columns = 1 + per_image.pop()
    if axes is None:
        fig, axes = plt.subplots(
            len(pictures),
            columns,
            figsize=(2.2 * columns + 1.0, 2.3 * len(pictures)),
            squeeze=False,
            layout="constrained",
        )
    grid = np.asarray(axes, dtype=object)
    if grid.shape != (len(pictures), columns):
        raise InvalidInputError(
            f"`axes` must be a ({len(pictures)}, {columns}) grid: one row per image, the image "
            f"and its {columns - 1} maps; got shape {grid.shape}."
        )
    heats = [
        upsample_attention(_as_attention(maps[i], names)[row], picture.shape[:2])
        for i, (picture, row) in enumerate(zip(pictures, shown, strict=True))
    ]
    norm = Normalize(0.0, max(float(max(h.max() for h in heats)), 1e-12))
    for picture, row, heat, panels in zip(pictures, shown, heats, grid, strict=True):
        grey = picture @ np.array([0.299, 0.587, 0.114])  # (H, W), luma
        panels[0].imshow(picture)
        panels[0].set_title(", ".join(names[k] for k in row), fontsize="small")
        for ax, k, one in zip(panels[1:], row, heat, strict=True):
            ax.imshow(grey, cmap="gray", vmin=0.0, vmax=1.0)
            ax.imshow(one, cmap=cmap, norm=norm, alpha=alpha, interpolation="nearest")
            ax.set_title(f"map of {names[k]}", fontsize="small")
        for ax in panels:
            ax.set_xticks([])
            ax.set_yticks([])
    figure = grid[0, 0].figure
    bar = figure.colorbar(ScalarMappable(norm, cmap), ax=list(grid.ravel()), shrink=0.8)
    bar.set_label("attention weight (each map sums to 1 over its grid)")
    return grid
