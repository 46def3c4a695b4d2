"""Train / eval transforms: shapes, exact normalisation, flip, RandAugment, argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlrkit.data import eval_transform, train_transform

MEAN, STD = (0.2, 0.4, 0.6), (0.5, 0.25, 0.125)  # deliberately not ImageNet's


def _image(h: int, w: int, seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(pixels), pixels


def test_eval_normalises_exactly_when_no_resize_is_needed() -> None:
    image, pixels = _image(16, 16)
    out = eval_transform(16, MEAN, STD)(image)
    expected = (pixels / 255.0 - np.array(MEAN)) / np.array(STD)  # (H, W, 3)
    assert out.dtype == torch.float32 and out.shape == (3, 16, 16)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_squash_resize_ignores_aspect_ratio() -> None:
    image, _ = _image(20, 50)
    assert eval_transform(24, MEAN, STD)(image).shape == (3, 24, 24)
    assert train_transform(24, MEAN, STD, randaugment=True)(image).shape == (3, 24, 24)


def test_train_without_augmentation_equals_eval() -> None:
    image, _ = _image(30, 40)
    a = train_transform(24, MEAN, STD, hflip=False)(image)
    b = eval_transform(24, MEAN, STD)(image)
    torch.testing.assert_close(a, b)


def test_hflip_produces_both_orientations() -> None:
    image, _ = _image(16, 16)
    reference = eval_transform(16, MEAN, STD)(image)
    transform = train_transform(16, MEAN, STD, hflip=True)
    torch.manual_seed(0)
    outputs = [transform(image) for _ in range(40)]
    flipped = [torch.equal(o, reference.flip(-1)) for o in outputs]
    same = [torch.equal(o, reference) for o in outputs]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert any(flipped) and any(same)


def test_randaugment_changes_pixels() -> None:
    image, _ = _image(32, 32)
    torch.manual_seed(0)
    transform = train_transform(32, MEAN, STD, hflip=False, randaugment=True)
    reference = eval_transform(32, MEAN, STD)(image)
    assert any(not torch.equal(transform(image), reference) for _ in range(10))


@pytest.mark.parametrize(
    ("size", "mean", "std"),
    [(0, MEAN, STD), (16, (0.5, 0.5), STD), (16, MEAN, (0.5, 0.0, 0.5))],
)
def test_bad_arguments_are_rejected(size: int, mean: tuple, std: tuple) -> None:
    with pytest.raises(ValueError):
        eval_transform(size, mean, std)
    with pytest.raises(ValueError):
        train_transform(size, mean, std)
