"""Image decoding and the common base of every multi-label dataset.

A dataset here is a list of image paths plus a dense target matrix ``targets`` of shape ``(N, K)``
with values in {1, 0, -1} (-1 = ignore). Images are decoded lazily in ``__getitem__``; statistics
(class frequencies, co-occurrence) read ``targets`` without decoding anything.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError, DecompressionBombWarning
from torch.utils.data import Dataset
from torchvision.transforms import v2

from mlrkit.data.errors import ImageFileError, MissingFileError

__all__ = ["MultiLabelDataset", "default_transform", "load_rgb"]

Transform = Callable[[Image.Image], Any]

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
# Modes PIL converts to RGB without error but wrongly, so they are refused instead.
_UNFAITHFUL_MODES = {"F": "floating-point pixels have no fixed white level"}


def load_rgb(path: str | Path, *, root_hint: str = "image_root") -> Image.Image:
    """Decode an image file fully into an 8-bit RGB PIL image.

    The whole file is decoded here (``Image.load``) so that a truncated JPEG fails at this line,
    with the file named, rather than later inside a transform. 16-bit grayscale (PNG, TIFF, PGM)
    is scaled to 8 bits (value / 257, rounded) rather than clipped at 255; see :func:`_to_rgb`.

    A file declaring more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (PIL's guard against
    decompression bombs, about 89 million pixels by default) is refused before its pixels are
    decoded, where PIL would warn (up to twice the limit) or raise without naming the file.
    Set ``PIL.Image.MAX_IMAGE_PIXELS`` higher (or to None) to load such images.

    Args:
        path: image file.
        root_hint: name of the argument that sets the image folder, quoted in the error message.

    Returns:
        The RGB image.

    Raises:
        MissingFileError: the file does not exist.
        ImageFileError: the file is truncated or not an image, its pixel mode has no faithful
            8-bit RGB form, or it declares more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"Image file not found: {path}. Check {root_hint} (the folder the annotation paths are "
            "relative to), or re-download the dataset."
        )
    try:
        # PIL's warning (between one and two times the limit) becomes the error it raises above
        # that, so both reach the handler below and no image that size is decoded.
        with warnings.catch_warnings():
            warnings.simplefilter("error", DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return _to_rgb(image, path)
    except (DecompressionBombError, DecompressionBombWarning) as error:
        raise _too_large(path, error) from error
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageFileError):
            raise
        raise ImageFileError(
            f"Cannot decode image {path} ({error}). The file is truncated or corrupt: re-download "
            "it, or remove it from the annotation file."
        ) from error


def _too_large(path: Path, error: Exception) -> ImageFileError:
    """The error for a file beyond ``PIL.Image.MAX_IMAGE_PIXELS``, with its declared size."""
    # PIL's message is the only place that carries the size: the image object is never returned.
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{int(found.group(1)):,} pixels" if found else f"more pixels than allowed ({error})"
    limit = Image.MAX_IMAGE_PIXELS
    allowed = f"{limit:,}" if isinstance(limit, int) else repr(limit)
    return ImageFileError(
        f"Image {path} declares {size}, more than PIL.Image.MAX_IMAGE_PIXELS = {allowed}; it was "
        "not decoded, since a file this large may be a decompression bomb (a small file that "
        "expands to gigabytes). If the image is genuine, raise the limit before loading "
        "(import PIL.Image; PIL.Image.MAX_IMAGE_PIXELS = a larger number, or None to switch the "
        "check off); otherwise re-download it, or remove it from the annotation file."
    )


def _to_rgb(image: Image.Image, path: str | Path) -> Image.Image:
    """Convert a decoded image to 8-bit RGB without clipping or guessing its value range.

    PIL's own ``convert("RGB")`` clips 16-bit grayscale at 255, which saturates nearly every
    pixel. Here 16-bit modes (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``) and 32-bit ``I`` images
    whose values fit in 0 ... 65535 (PIL reads 16-bit PGM and some 16-bit PNG/TIFF as ``I``) are
    scaled by 255 / 65535, i.e. divided by 257 and rounded, the exact inverse of the usual 8-to-16
    bit widening. 8-bit modes go through ``convert``.

    Args:
        image: a loaded PIL image.
        path: its file, quoted in the error message.

    Returns:
        The RGB image.

    Raises:
        ImageFileError: the mode has no known value range (``F``; ``I`` beyond 0 ... 65535) or
            PIL cannot convert it to RGB (e.g. ``La``).
    """
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        pixels = np.asarray(image)
        if mode == "I" and pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise _unconvertible(
                path, mode, f"values span {pixels.min()} ... {pixels.max()}, beyond 16 bits"
            )
        # Integer rounding: (v + 128) // 257 == round(v / 257); 257 is odd, so there are no ties.
        eight = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return Image.fromarray(eight).convert("RGB")
    if mode in _UNFAITHFUL_MODES:
        raise _unconvertible(path, mode, _UNFAITHFUL_MODES[mode])
    try:
        return image.convert("RGB")
    except ValueError as error:  # PIL has no conversion path for this mode
        raise _unconvertible(path, mode, str(error)) from error


def _unconvertible(path: str | Path, mode: str, reason: str) -> ImageFileError:
    return ImageFileError(
        f"Cannot convert image {path} (PIL mode {mode}) to 8-bit RGB faithfully: {reason}. "
        "Re-save it as an 8-bit or 16-bit RGB or grayscale PNG, or as a JPEG."
    )


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
