"""Rendering of one embedded digit scene: background clutter, digits, distractors, occluders.

Private to :mod:`mlrkit.data.digits` (which documents the dataset); split out so the writer and
its options read on their own. Every function draws from the ``rng`` it is given, in a fixed
order, so a seed gives byte-identical scenes; options that are off draw nothing (the standard
scenes stay what they were before the harder regime existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COUNT_PROBS: tuple[float, ...] = (0.25, 0.35, 0.25, 0.15)  # P(1, 2, 3, 4 digits per scene)


def scene_classes(
    rng: np.random.Generator,
    pairs: dict[int, int],
    pair_prob: float,
    count_probs: Sequence[float] = COUNT_PROBS,
) -> list[int]:
    """Draw the digit classes of one scene (with the co-occurrence rule of the module doc)."""
    count = int(rng.choice(len(count_probs), p=count_probs)) + 1
    classes = [int(rng.integers(10))]
    if count >= 2 and classes[0] in pairs and rng.random() < pair_prob:
        classes.append(pairs[classes[0]])
    while len(classes) < count:
        classes.append(int(rng.integers(10)))
    return classes


def _background(
    rng: np.random.Generator, size: int, clutter: int, noise: float = 8.0
) -> np.ndarray:
    """Cluttered background ``(size, size, 3)`` float in [0, 255]: gradient, soft shapes, noise."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0.0, 1.0, size)
    t = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
    canvas = np.broadcast_to(a + (b - a) * t[..., None], (size, size, 3)).copy()
    for _ in range(int(rng.integers(clutter // 2, clutter + 1))):
        layer = Image.new("L", (size, size), 0)
        x0, y0 = rng.uniform(-size / 4, size, 2)
        w, h = rng.uniform(size / 6, size / 2, 2)
        box = (float(x0), float(y0), float(x0 + w), float(y0 + h))
        draw = ImageDraw.Draw(layer)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=255)
        alpha = np.asarray(layer, dtype=np.float64)[..., None] / 255.0 * rng.uniform(0.2, 0.5)
        canvas = canvas * (1 - alpha) + rng.uniform(0, 255, 3) * alpha
    return canvas + rng.normal(0.0, noise, canvas.shape)


def _ink_mask(digit: np.ndarray, width: int, height: int) -> np.ndarray:
    """Upscale an 8x8 digit (values 0..16) to a ``(height, width)`` ink mask in [0, 1]."""
    image = Image.fromarray((digit / 16.0).astype(np.float32))  # mode "F"
    mask = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    # Sharpen the bilinear ramp so strokes read as strokes, not blur.
    return np.clip((mask - 0.15) / 0.55, 0.0, 1.0)


def _overlap(box: tuple[int, int, int, int], boxes: list[tuple[int, int, int, int]]) -> float:
    """Largest intersection of ``box`` with any of ``boxes``, as a fraction of the smaller area."""
    worst = 0.0
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        iw = min(x + w, bx + bw) - max(x, bx)
        ih = min(y + h, by + bh) - max(y, by)
        if iw > 0 and ih > 0:
            worst = max(worst, iw * ih / min(w * h, bw * bh))
    return worst


def _contrasting_colour(rng: np.random.Generator, patch: np.ndarray) -> np.ndarray:
    """A random colour whose luminance differs clearly from the mean of ``patch``."""
    luminance = float(patch.mean())
    if luminance > 128:
        return rng.uniform(0, 90, 3)
    return rng.uniform(165, 255, 3)


@dataclass(frozen=True)
class Style:
    """How scenes are drawn (the rendering arguments of :func:`make_digit_scenes`)."""

    size: int
    digit_size: tuple[int, int]
    max_overlap: float
    clutter: int
    noise: float
    occlusion: float
    distractors: int


def _digit_mask(
    rng: np.random.Generator, digit: np.ndarray, digit_size: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A random-size ink mask ``(h, w)`` of one source digit and its inked box ``(x, y, w, h)``."""
    side = int(rng.integers(digit_size[0], digit_size[1] + 1))
    width = max(8, round(side * rng.uniform(0.8, 1.0)))  # digits are taller than wide
    mask = _ink_mask(digit, width, side)
    rows, cols = np.flatnonzero(mask.max(axis=1) > 0.2), np.flatnonzero(mask.max(axis=0) > 0.2)
    ink = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    return mask, ink


def _paint(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Paint ``mask`` at ``(x, y)`` in a colour that contrasts with what lies under it."""
    h, w = mask.shape
    region = canvas[y : y + h, x : x + w]  # (h, w, 3)
    colour = _contrasting_colour(rng, region)
    alpha = mask[..., None]
    canvas[y : y + h, x : x + w] = region * (1 - alpha) + colour * alpha


def _distractor(
    rng: np.random.Generator, canvas: np.ndarray, digit: np.ndarray, style: Style
) -> None:
    """An unlabelled half of a digit (top, bottom, left or right): ink that is not a whole digit."""
    mask, _ = _digit_mask(rng, digit, style.digit_size)
    h, w = mask.shape
    keep = np.zeros_like(mask)
    side = int(rng.integers(4))
    if side == 0:
        keep[: h // 2] = 1
    elif side == 1:
        keep[h // 2 :] = 1
    elif side == 2:
        keep[:, : w // 2] = 1
    else:
        keep[:, w // 2 :] = 1
    x, y = int(rng.integers(0, style.size - w + 1)), int(rng.integers(0, style.size - h + 1))
    _paint(rng, canvas, mask * keep, x, y)


def _occlude(rng: np.random.Generator, canvas: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Cover 25-45 % of an inked box with an opaque bar of a random colour (across or along)."""
    x, y, w, h = box
    if rng.random() < 0.5:  # a horizontal bar
        bh = max(1, round(h * rng.uniform(0.25, 0.45)))
        by = int(rng.integers(y, y + h - bh + 1))
        canvas[by : by + bh, x : x + w] = rng.uniform(0, 255, 3)
    else:
        bw = max(1, round(w * rng.uniform(0.25, 0.45)))
        bx = int(rng.integers(x, x + w - bw + 1))
        canvas[y : y + h, bx : bx + bw] = rng.uniform(0, 255, 3)


def compose_scene(
    rng: np.random.Generator,
    images: np.ndarray,
    pool: dict[int, np.ndarray],
    classes: list[int],
    style: Style,
) -> tuple[np.ndarray, list[dict]]:
    """Render one scene; returns the uint8 ``(size, size, 3)`` image and its annotations."""
    size = style.size
    canvas = _background(rng, size, style.clutter, style.noise)
    # Distractors go under the digits: drawn from every class, so no class owns the fragments.
    if style.distractors:
        split_sources = np.concatenate(list(pool.values()))  # never the other split's digits
        for _ in range(style.distractors):
            _distractor(rng, canvas, images[int(rng.choice(split_sources))], style)
    boxes: list[tuple[int, int, int, int]] = []
    annotations: list[dict] = []
    for cls in classes:
        source = int(rng.choice(pool[cls]))
        mask, ink = _digit_mask(rng, images[source], style.digit_size)
        side, width = mask.shape
        best = (float("inf"), 0, 0)
        for _ in range(30):  # first placement within max_overlap, else the least overlapping one
            x, y = int(rng.integers(0, size - width + 1)), int(rng.integers(0, size - side + 1))
            score = _overlap((x + ink[0], y + ink[1], ink[2], ink[3]), boxes)
            if score < best[0]:
                best = (score, x, y)
            if score <= style.max_overlap:
                break
        _, x, y = best
        _paint(rng, canvas, mask, x, y)
        box = (x + ink[0], y + ink[1], ink[2], ink[3])
        if style.occlusion > 0 and rng.random() < style.occlusion:
            _occlude(rng, canvas, box)
        boxes.append(box)
        annotations.append(
            {"category_id": cls + 1, "bbox": list(box), "area": box[2] * box[3],
             "iscrowd": 0, "source_index": source}
        )  # fmt: skip
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), annotations
