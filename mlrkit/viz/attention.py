"""Class attention maps over the image: where each class looks.

Heads with spatial attention return ``ModelOutput.attention`` of shape ``(B, K, h, w)``, each map
summing to 1 over ``h, w``; these plots take one image's ``(K, h, w)`` slice. The map is
upsampled to the image size bilinearly (``torch.nn.functional.interpolate``,
``align_corners=False``) and drawn over the image with the colour scale spanning that map's own
range, so the plot shows where a class looks, not how much mass it puts there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import class_names

__all__ = ["plot_attention", "plot_attention_grid", "upsample_attention"]

CMAP = "jet"


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


def _as_attention(attention: Any, classes: Sequence[str]) -> torch.Tensor:
    """``(K, h, w)`` float32 tensor, K = len(classes)."""
    a = torch.as_tensor(
        attention.detach() if isinstance(attention, torch.Tensor) else np.asarray(attention)
    )
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
    a = torch.as_tensor(
        attention.detach() if isinstance(attention, torch.Tensor) else np.asarray(attention)
    )
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
