"""Train and eval image transforms (torchvision.transforms.v2).

Input: a PIL RGB image. Output: a float tensor ``(3, S, S)`` normalised per channel,
``x = (pixel / 255 - mean) / std``. The image is squashed to S x S (aspect ratio not kept, the
usual multi-label recipe: a crop could cut a labelled object out of the picture).

``mean`` and ``std`` come from the caller, taken from the backbone's weights metadata
(``MLRModel.preprocessing``); the data layer never types them in.

Note: horizontal flips mirror digits, so the embedded digit scenes are best trained with
``hflip=False``; natural images (COCO, VOC) use the flip.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from mlrkit.errors import InvalidInputError

__all__ = ["eval_transform", "train_transform"]


def _check(image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
    if image_size < 1:
        raise InvalidInputError(f"image_size must be positive, got {image_size}")
    if len(mean) != 3 or len(std) != 3:
        raise InvalidInputError(
            f"mean and std need 3 values (RGB), got {tuple(mean)} and {tuple(std)}"
        )
    if any(s <= 0 for s in std):
        raise InvalidInputError(f"std values must be positive, got {tuple(std)}")


def train_transform(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    hflip: bool = True,
    randaugment: bool = False,
) -> v2.Compose:
    """Training transform: squash-resize to ``image_size``, optional flip and RandAugment.

    Args:
        image_size: output side S.
        mean: per-channel mean of the backbone's weights (on the [0, 1] scale).
        std: per-channel standard deviation of the backbone's weights.
        hflip: random horizontal flip with probability 0.5.
        randaugment: torchvision's RandAugment (default magnitude) on the uint8 image.

    Returns:
        PIL image -> float tensor ``(3, S, S)``.
    """
    _check(image_size, mean, std)
    steps: list[v2.Transform] = [v2.ToImage(), v2.Resize((image_size, image_size), antialias=True)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if randaugment:
        steps.append(v2.RandAugment())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """Evaluation transform: squash-resize to ``image_size`` and normalise (deterministic).

    Args:
        image_size: output side S.
        mean: per-channel mean of the backbone's weights (on the [0, 1] scale).
        std: per-channel standard deviation of the backbone's weights.

    Returns:
        PIL image -> float tensor ``(3, S, S)``.
    """
    _check(image_size, mean, std)
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )
