"""A grid of sample images with their true and predicted labels.

Each plot takes ``ax=None`` (or ``axes=None``), draws, and returns the Axes; nothing is shown or
saved here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from mlrkit.data import load_rgb
from mlrkit.errors import InvalidInputError
from mlrkit.inputs import as_targets, class_names, to_numpy

__all__ = ["plot_sample_grid"]

RIGHT, WRONG = "tab:green", "tab:red"  # predicted labels that are / are not in the truth
PER_LINE = 3  # predicted names per line under an image


def _normalize_step(dataset: Any) -> Any:
    """The ``Normalize`` step of the dataset's transform (or its wrapped dataset's), if any."""
    for source in (dataset, getattr(dataset, "dataset", None)):
        transform = getattr(source, "transform", None)
        steps = getattr(transform, "transforms", [transform])
        for step in steps:
            if hasattr(step, "mean") and hasattr(step, "std"):
                return step
    return None


def _dataset_image(dataset: Any, index: int, paths: Sequence[Any]) -> np.ndarray:
    """``(H, W, 3)`` image: the file (``load_rgb``) if there are paths, else the item."""
    if len(paths) > index:
        return np.asarray(load_rgb(paths[index]))
    image = dataset[index][0]
    x = torch.as_tensor(image).detach().cpu().float()
    if x.ndim != 3 or x.shape[0] != 3:
        raise InvalidInputError(
            f"`dataset` item {index} is not a (3, H, W) image tensor (shape {tuple(x.shape)})."
        )
    step = _normalize_step(dataset)
    if step is not None:
        mean = torch.as_tensor(step.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.as_tensor(step.std, dtype=x.dtype).view(-1, 1, 1)
        x = x * std + mean
    elif x.min() < 0 or x.max() > 1:  # unknown normalisation: stretch to [0, 1] for display
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def _label_line(ax: Axes, predicted: list[int], truth: set[int], names: Sequence[str]) -> None:
    """``pred: a b c`` under the image, each name green when in the truth, red when not.

    One Text per name, chained left to right; a new line every ``PER_LINE`` names.
    """
    line = previous = ax.text(
        0.0, -0.03, "pred:", transform=ax.transAxes, va="top", fontsize="small"
    )
    if not predicted:
        ax.annotate(
            " (none)", xycoords=previous, xy=(1, 0), va="bottom", fontsize="small", color="grey"
        )
        return
    for n, k in enumerate(predicted):
        colour = RIGHT if k in truth else WRONG
        if n and n % PER_LINE == 0:  # wrap: below the start of the current line
            line = previous = ax.annotate(
                names[k], xycoords=line, xy=(0, 0), va="top", fontsize="small", color=colour
            )
            continue
        previous = ax.annotate(
            f" {names[k]}",
            xycoords=previous,
            xy=(1, 0),
            va="bottom",
            fontsize="small",
            color=colour,
        )


def plot_sample_grid(
    dataset: Any,
    indices: Sequence[int] | None = None,
    *,
    predicted: Any | None = None,
    classes: Sequence[str] | None = None,
    ncols: int = 4,
    axes: Sequence[Axes] | None = None,
    max_images: int = 16,
) -> list[Axes]:
    """A grid of images with their true labels and, optionally, the predicted ones.

    Each panel's title lists the true labels (target 1; ignored labels get a ``?``). With
    ``predicted``, a line under the image lists the labels whose score is ``>= 0.5``, each in
    green when the image has it and red when it does not.

    Images are read from ``dataset.paths`` with :func:`mlrkit.data.load_rgb` (as stored, not
    resized); a dataset without paths (e.g. an in-memory one) shows its item instead, undoing
    the ``Normalize`` step of its transform when one is found.

    Args:
        dataset: has ``.targets (N, K)``, ``.classes`` and ``.paths`` (or items
            ``(image (3, H, W), target)``).
        indices: dataset indices to show (default: the first ``max_images``); at most
            ``max_images`` of them are drawn.
        predicted: ``(N, K)`` probabilities in [0, 1] for the whole dataset, row = dataset index
            (apply ``torch.sigmoid`` to logits first).
        classes: the K class names (default: ``dataset.classes``).
        ncols: panels per row of a new figure.
        axes: Axes to draw in (at least as many as images; the rest are hidden).
        max_images: the most images drawn.

    Returns:
        The Axes holding an image, one per index, in order.

    Raises:
        InvalidInputError: on an index out of range, ``predicted`` of the wrong shape or outside
            [0, 1], a wrong number of class names, bad ``ncols`` / ``max_images``, or too few
            ``axes``.
    """
    if ncols < 1:
        raise InvalidInputError(f"`ncols` must be >= 1, got {ncols}.")
    if max_images < 1:
        raise InvalidInputError(f"`max_images` must be >= 1, got {max_images}.")
    targets = as_targets(dataset.targets, check_encoding=False)  # (N, K)
    num_images, num_classes = targets.shape
    names = class_names(
        classes if classes is not None else dataset.classes, num_classes, "columns of `targets`"
    )
    chosen = list(range(min(num_images, max_images))) if indices is None else list(indices)
    chosen = [int(i) for i in chosen[:max_images]]
    if not chosen:
        raise InvalidInputError("`indices` is empty; pass at least one dataset index.")
    bad = [i for i in chosen if not 0 <= i < num_images]
    if bad:
        raise InvalidInputError(
            f"`indices` {bad[:5]} lie outside the dataset (0..{num_images - 1})."
        )
    scores = None
    if predicted is not None:
        scores = to_numpy(predicted, "predicted").astype(np.float64)
        if scores.shape != (num_images, num_classes):
            raise InvalidInputError(
                f"`predicted` must have shape (N, K) = ({num_images}, {num_classes}), one row "
                f"per dataset item, got {scores.shape}."
            )
        if np.isnan(scores).any() or scores.min() < 0 or scores.max() > 1:
            raise InvalidInputError(
                "`predicted` must hold probabilities in [0, 1] (labels are score >= 0.5); "
                "apply torch.sigmoid to logits first."
            )
    if axes is None:
        cols = min(ncols, len(chosen))
        rows = math.ceil(len(chosen) / cols)
        _, created = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.2 * rows), squeeze=False)
        axes = list(created.ravel())
    axes = list(axes)
    if len(axes) < len(chosen):
        raise InvalidInputError(f"`axes` holds {len(axes)} Axes for {len(chosen)} images.")
    paths = list(getattr(dataset, "paths", None) or [])
    for ax, i in zip(axes, chosen, strict=False):
        ax.imshow(_dataset_image(dataset, i, paths))
        ax.set_xticks([])
        ax.set_yticks([])
        truth = set(np.flatnonzero(targets[i] == 1).tolist())
        shown = [names[k] + ("?" if targets[i, k] < 0 else "") for k in np.flatnonzero(targets[i])]
        ax.set_title(f"#{i}: " + (", ".join(shown) if shown else "(no label)"), fontsize="small")
        if scores is not None:
            _label_line(ax, np.flatnonzero(scores[i] >= 0.5).tolist(), truth, names)
    for ax in axes[len(chosen) :]:
        ax.set_axis_off()
    return axes[: len(chosen)]
