"""Image decoding and the common base of every multi-label dataset.

A dataset here is a list of image paths plus a dense target matrix ``targets`` of shape ``(N, K)``
with values in {1, 0, -1} (-1 = ignore). Images are decoded lazily in ``__getitem__``; statistics
(class frequencies, co-occurrence) read ``targets`` without decoding anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2

from mlrkit.data.errors import ImageFileError, MissingFileError

__all__ = ["MultiLabelDataset", "default_transform", "load_rgb"]

Transform = Callable[[Image.Image], Any]


def load_rgb(path: str | Path, *, root_hint: str = "image_root") -> Image.Image:
    """Decode an image file fully into an RGB PIL image.

    The whole file is decoded here (``Image.load``) so that a truncated JPEG fails at this line,
    with the file named, rather than later inside a transform.

    Args:
        path: image file.
        root_hint: name of the argument that sets the image folder, quoted in the error message.

    Returns:
        The RGB image.

    Raises:
        MissingFileError: the file does not exist.
        ImageFileError: the file is truncated or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"Image file not found: {path}. Check {root_hint} (the folder the annotation paths are "
            "relative to), or re-download the dataset."
        )
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise ImageFileError(
            f"Cannot decode image {path} ({error}). The file is truncated or corrupt: re-download "
            "it, or remove it from the annotation file."
        ) from error


def default_transform() -> v2.Compose:
    """PIL image -> float tensor ``(3, H, W)`` in [0, 1], no resizing or normalisation."""
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


class MultiLabelDataset(Dataset):
    """Images on disk with a dense multi-label target matrix.

    Args:
        paths: one image path per row, length N.
        targets: ``(N, K)`` float tensor with values in {1, 0, -1}.
        classes: the K class names, in column order.
        transform: applied to the decoded PIL image; ``None`` gives a float tensor in [0, 1].
        root_hint: argument name quoted when an image is missing.

    Item ``i`` is ``(image, target)`` with ``image`` a float tensor ``(3, H, W)`` and ``target``
    the float row ``targets[i]`` of shape ``(K,)``.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        targets: torch.Tensor,
        classes: Sequence[str],
        transform: Transform | None = None,
        root_hint: str = "image_root",
    ) -> None:
        if targets.shape != (len(paths), len(classes)):
            raise ValueError(
                f"targets has shape {tuple(targets.shape)}, expected ({len(paths)}, {len(classes)})"
            )
        self.paths: list[Path] = [Path(p) for p in paths]
        self.targets: torch.Tensor = targets.to(torch.float32)
        self.classes: tuple[str, ...] = tuple(classes)
        self.transform: Transform = transform if transform is not None else default_transform()
        self._root_hint = root_hint

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = load_rgb(self.paths[index], root_hint=self._root_hint)
        return self.transform(image), self.targets[index].clone()

    def __repr__(self) -> str:
        positives = int((self.targets == 1).sum())
        return (
            f"{type(self).__name__}(images={len(self)}, classes={self.num_classes}, "
            f"positive labels={positives})"
        )
