"""The embedded default dataset: multi-label scenes of real handwritten digits.

``make_digit_scenes`` composes RGB scenes (default 64x64) from scikit-learn's 1,797 real 8x8
handwritten digits: each scene holds 1-4 digits, upscaled to 16-28 px, coloured to contrast with a
cluttered background (a colour gradient, soft translucent blobs and rectangles, pixel noise; no
strokes, so the clutter never imitates a digit), placed at random with moderate overlap. It writes

    root/train/000001.jpg ...            root/val/000001.jpg ...
    root/annotations/instances_train.json root/annotations/instances_val.json

in COCO format (categories "zero" ... "nine" with ids 1 ... 10, one annotation per placed digit with
``bbox`` = [x, y, w, h] of the inked pixels, ``area`` = w * h, ``iscrowd`` = 0 and the index of the
source digit in ``sklearn.datasets.load_digits`` as ``source_index``), so the COCO loader serves it
exactly as it serves COCO-2014.

Label co-occurrence structure (documented, and measured by the summary as a lift
``P(a, b) / (P(a) P(b))``): the first digit of a scene is drawn uniformly; when the scene has room
for a second digit and the first belongs to one of the ``pairs`` (default 1&7, 3&8, 0&6, 4&9), its
partner follows with probability ``pair_prob`` (default 0.6); the remaining digits are uniform. So
1&7, 3&8, 0&6 and 4&9 appear together about twice as often as chance (lift about 2 with the
defaults, measured on 6,000 scenes; other pairs stay near or below 1).

Train and val draw from disjoint source digits: the 1,797 digits are split per class first
(``val_source_fraction`` of each class goes to val), then each split composes only from its own
pool. Everything follows from ``seed``: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits
from tqdm.auto import tqdm

from mlrkit.data.digits_summary import DigitScenesSummary, summarize_digit_scenes
from mlrkit.data.errors import DatasetError
from mlrkit.errors import InvalidInputError

__all__ = [
    "DIGIT_CLASSES",
    "DEFAULT_PAIRS",
    "MARKER",
    "ensure_digit_scenes",
    "is_digit_scenes_root",
    "make_digit_scenes",
    "split_source_digits",
]

DIGIT_CLASSES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((1, 7), (3, 8), (0, 6), (4, 9))
COUNT_PROBS: tuple[float, ...] = (0.25, 0.35, 0.25, 0.15)  # P(1, 2, 3, 4 digits per scene)
_SPLITS = ("train", "val")
# Written first by make_digit_scenes: a folder holding it is ours to (re)write.
MARKER = ".mlrkit-digit-scenes"
_DESCRIPTION = "mlrkit digit scenes"


def split_source_digits(
    labels: np.ndarray, val_fraction: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Split source-digit indices per class into disjoint train / val pools.

    Args:
        labels: ``(M,)`` integer class of each source digit.
        val_fraction: fraction of each class that goes to val.
        rng: random generator.

    Returns:
        ``{"train": indices, "val": indices}``, sorted, disjoint, covering every index.
    """
    pools: dict[str, list[int]] = {"train": [], "val": []}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_val = max(1, round(val_fraction * len(members)))
        pools["val"].extend(members[:n_val].tolist())
        pools["train"].extend(members[n_val:].tolist())
    return {split: np.sort(np.asarray(idx)) for split, idx in pools.items()}


def _scene_classes(rng: np.random.Generator, pairs: dict[int, int], pair_prob: float) -> list[int]:
    """Draw the digit classes of one scene (with the co-occurrence rule of the module doc)."""
    count = int(rng.choice(len(COUNT_PROBS), p=COUNT_PROBS)) + 1
    classes = [int(rng.integers(10))]
    if count >= 2 and classes[0] in pairs and rng.random() < pair_prob:
        classes.append(pairs[classes[0]])
    while len(classes) < count:
        classes.append(int(rng.integers(10)))
    return classes


def _background(rng: np.random.Generator, size: int, clutter: int) -> np.ndarray:
    """Cluttered background ``(size, size, 3)`` float in [0, 255]: gradient, soft shapes, noise."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0.0, 1.0, size)
    t = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
    canvas = a + (b - a) * t[..., None]  # (S, S, 3) by broadcasting
    for _ in range(int(rng.integers(clutter // 2, clutter + 1))):
        layer = Image.new("L", (size, size), 0)
        x0, y0 = rng.uniform(-size / 4, size, 2)
        w, h = rng.uniform(size / 6, size / 2, 2)
        box = (float(x0), float(y0), float(x0 + w), float(y0 + h))
        draw = ImageDraw.Draw(layer)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=255)
        alpha = np.asarray(layer, dtype=np.float64)[..., None] / 255.0 * rng.uniform(0.2, 0.5)
        canvas = canvas * (1 - alpha) + rng.uniform(0, 255, 3) * alpha
    return canvas + rng.normal(0.0, 8.0, canvas.shape)


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


def _compose(
    rng: np.random.Generator,
    images: np.ndarray,
    pool: dict[int, np.ndarray],
    classes: list[int],
    size: int,
    digit_size: tuple[int, int],
    max_overlap: float,
    clutter: int,
) -> tuple[np.ndarray, list[dict]]:
    """Render one scene; returns the uint8 ``(size, size, 3)`` image and its annotations."""
    canvas = _background(rng, size, clutter)
    boxes: list[tuple[int, int, int, int]] = []
    annotations: list[dict] = []
    for cls in classes:
        source = int(rng.choice(pool[cls]))
        side = int(rng.integers(digit_size[0], digit_size[1] + 1))
        width = max(8, round(side * rng.uniform(0.8, 1.0)))  # digits are taller than wide
        mask = _ink_mask(images[source], width, side)
        rows, cols = np.flatnonzero(mask.max(axis=1) > 0.2), np.flatnonzero(mask.max(axis=0) > 0.2)
        ink = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
        best = (float("inf"), 0, 0)
        for _ in range(30):  # first placement within max_overlap, else the least overlapping one
            x, y = int(rng.integers(0, size - width + 1)), int(rng.integers(0, size - side + 1))
            score = _overlap((x + ink[0], y + ink[1], ink[2], ink[3]), boxes)
            if score < best[0]:
                best = (score, x, y)
            if score <= max_overlap:
                break
        _, x, y = best
        region = canvas[y : y + side, x : x + width]  # (h, w, 3)
        colour = _contrasting_colour(rng, region)
        alpha = mask[..., None]
        canvas[y : y + side, x : x + width] = region * (1 - alpha) + colour * alpha
        box = (x + ink[0], y + ink[1], ink[2], ink[3])
        boxes.append(box)
        annotations.append(
            {"category_id": cls + 1, "bbox": list(box), "area": box[2] * box[3],
             "iscrowd": 0, "source_index": source}
        )  # fmt: skip
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), annotations


def make_digit_scenes(
    root: str | Path,
    seed: int = 0,
    n_train: int = 6000,
    n_val: int = 1500,
    image_size: int = 64,
    digit_size: tuple[int, int] = (16, 28),
    pairs: Sequence[tuple[int, int]] = DEFAULT_PAIRS,
    pair_prob: float = 0.6,
    max_overlap: float = 0.25,
    clutter: int = 6,
    val_source_fraction: float = 0.25,
    jpeg_quality: int = 92,
    progress: bool = False,
) -> DigitScenesSummary:
    """Write the embedded multi-label digit-scene dataset (see the module docstring).

    Args:
        root: output folder; ``train/``, ``val/`` and ``annotations/`` are created inside it,
            existing files of the same name are overwritten and numbered scenes beyond the new
            counts (left by an earlier, larger run) are removed.
        seed: the only source of randomness; the same seed gives byte-identical files.
        n_train: number of training scenes.
        n_val: number of validation scenes.
        image_size: side S of the square scenes, in pixels.
        digit_size: inclusive range of digit heights in pixels (the 8x8 source is upscaled).
        pairs: digit pairs that co-occur more often than chance.
        pair_prob: probability that a paired digit brings its partner (scenes of >= 2 digits).
        max_overlap: tolerated box intersection, as a fraction of the smaller box.
        clutter: up to this many translucent background shapes per scene.
        val_source_fraction: fraction of each class's source digits reserved for val.
        jpeg_quality: JPEG quality of the written scenes.
        progress: show a tqdm progress bar.

    Returns:
        The summary (images, labels per image, class frequencies, pair lifts) per split.

    Raises:
        DatasetError: ``root`` already holds files that are not the embedded dataset (a user's
            folder is never written into).
    """
    if not digit_size[0] <= digit_size[1] <= image_size:
        raise InvalidInputError(
            f"digit_size {digit_size} must be increasing and fit in {image_size} px"
        )
    root = Path(root)
    _refuse_foreign_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps({"seed": seed, "n_train": n_train, "n_val": n_val}))
    digits = load_digits()
    images, labels = digits.images, digits.target  # (1797, 8, 8), (1797,)
    sources = split_source_digits(labels, val_source_fraction, np.random.default_rng([seed, 0]))
    partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split_index, (split, count) in enumerate(zip(_SPLITS, (n_train, n_val), strict=True)):
        rng = np.random.default_rng([seed, split_index + 1])
        pool = {c: sources[split][labels[sources[split]] == c] for c in range(10)}
        (root / split).mkdir(exist_ok=True)
        records, annotations = [], []
        for image_id in tqdm(range(1, count + 1), desc=split, disable=not progress):
            classes = _scene_classes(rng, partner, pair_prob)
            pixels, anns = _compose(
                rng, images, pool, classes, image_size, digit_size, max_overlap, clutter
            )
            file_name = f"{image_id:06d}.jpg"
            Image.fromarray(pixels).save(root / split / file_name, quality=jpeg_quality)
            records.append(
                {"id": image_id, "file_name": file_name, "width": image_size, "height": image_size}
            )
            for ann in anns:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
        coco = {
            "info": {"description": _DESCRIPTION, "seed": seed, "split": split},
            "images": records,
            "annotations": annotations,
            "categories": [
                {"id": i + 1, "name": name, "supercategory": "digit"}
                for i, name in enumerate(DIGIT_CLASSES)
            ],
        }
        with open(root / "annotations" / f"instances_{split}.json", "w", encoding="utf-8") as f:
            json.dump(coco, f, separators=(",", ":"))
        # Scenes left over from an earlier, larger run would sit beside the new ones unlisted.
        for stale in (root / split).glob("[0-9]" * 6 + ".jpg"):
            if int(stale.stem) > count:
                stale.unlink()
    return summarize_digit_scenes(root, pairs=pairs)


def is_digit_scenes_root(root: str | Path) -> bool:
    """Whether ``root`` is the embedded dataset (or a partial write of it): safe to (re)write.

    True when ``root`` holds the marker file that :func:`make_digit_scenes` writes first, or (for
    folders generated before the marker existed) annotations describing themselves as
    ``"mlrkit digit scenes"``.
    """
    root = Path(root)
    if (root / MARKER).is_file():
        return True
    annotations = root / "annotations" / "instances_val.json"
    try:
        with open(annotations, encoding="utf-8") as f:
            head = f.read(200)  # the "info" entry comes first in our files
    except OSError:
        return False
    return f'"description":"{_DESCRIPTION}"' in head


def _refuse_foreign_folder(root: Path) -> None:
    if root.is_dir() and any(root.iterdir()) and not is_digit_scenes_root(root):
        raise DatasetError(
            f"{root} already holds files that are not mlrkit's embedded digit scenes; refusing "
            "to write into it. Generate into an empty or new folder (the default is "
            "data/digits), or, if this folder is a COCO-format dataset, load it with kind 'coco'."
        )


def ensure_digit_scenes(root: str | Path, **options: Any) -> Path:
    """Generate the embedded dataset into ``root`` unless it is complete.

    Writes only when ``root`` is missing, empty, or a partial write of the embedded dataset;
    a complete one is left alone. ``options`` go to :func:`make_digit_scenes` (defaults: the
    dataset every preset expects).

    Raises:
        DatasetError: ``root`` holds other files (see :func:`make_digit_scenes`).
    """
    root = Path(root)
    complete = all((root / "annotations" / f"instances_{s}.json").is_file() for s in _SPLITS)
    if not (complete and is_digit_scenes_root(root)):
        make_digit_scenes(root, **options)
    return root
