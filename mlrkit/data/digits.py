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

``label_noise`` plants label errors (missing, spurious and swapped labels) in the training split
and keeps the truth beside them (clean annotations and a list of the errors): see
:mod:`mlrkit.data.label_noise`. The images do not change.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from tqdm.auto import tqdm

from mlrkit.data._atomic import replaced_atomically
from mlrkit.data.digit_render import COUNT_PROBS, Style, compose_scene, scene_classes
from mlrkit.data.digits_summary import DigitScenesSummary, summarize_digit_scenes
from mlrkit.data.errors import DatasetError
from mlrkit.data.label_noise import check_label_noise, error_table, plant_label_errors
from mlrkit.errors import InvalidInputError

__all__ = [
    "DIGIT_CLASSES",
    "DEFAULT_PAIRS",
    "MARKER",
    "SCENE_VARIANTS",
    "ensure_digit_scenes",
    "is_digit_scenes_root",
    "make_digit_scenes",
    "scene_options",
    "split_source_digits",
]

DIGIT_CLASSES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((1, 7), (3, 8), (0, 6), (4, 9))

# Named generator settings: what make_digit_scenes gets on top of its defaults. "hard" is the
# regime where the losses can differ (docs/datasets.md, "The harder regime"): fewer training
# scenes, 1-5 smaller digits (2.9 on average), 30 % of them partly hidden by an opaque bar, two
# unlabelled half-digits under them, stronger pixel noise, and confusable pairs that co-occur.
SCENE_VARIANTS: dict[str, dict[str, Any]] = {
    "standard": {},
    "hard": {
        "n_train": 5000,
        "n_val": 1000,
        "digit_size": (13, 22),
        "count_probs": (0.1, 0.3, 0.3, 0.2, 0.1),
        "pairs": ((3, 8), (5, 6), (4, 9), (1, 7)),
        "pair_prob": 0.8,
        "max_overlap": 0.3,
        "occlusion": 0.3,
        "distractors": 2,
        "noise": 12.0,
    },
}

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


def make_digit_scenes(
    root: str | Path,
    seed: int = 0,
    n_train: int = 6000,
    n_val: int = 1500,
    image_size: int = 64,
    digit_size: tuple[int, int] = (16, 28),
    count_probs: Sequence[float] = COUNT_PROBS,
    pairs: Sequence[tuple[int, int]] = DEFAULT_PAIRS,
    pair_prob: float = 0.6,
    max_overlap: float = 0.25,
    clutter: int = 6,
    noise: float = 8.0,
    occlusion: float = 0.0,
    distractors: int = 0,
    val_source_fraction: float = 0.25,
    jpeg_quality: int = 92,
    label_noise: Mapping[str, float] | None = None,
    noise_splits: Sequence[str] = ("train",),
    progress: bool = False,
) -> DigitScenesSummary:
    """Write the embedded multi-label digit-scene dataset (see the module docstring).

    The defaults are the standard scenes; ``SCENE_VARIANTS["hard"]`` lists the harder regime's
    settings (``make_digit_scenes(root, **SCENE_VARIANTS["hard"])``).

    Args:
        root: output folder, holding ``train/``, ``val/`` and ``annotations/`` afterwards. It
            is written as a whole: the files go to a hidden sibling folder first, which replaces
            ``root`` (an earlier generated dataset there is deleted, nothing of it is kept) only
            once complete; a failure or interrupt midway leaves ``root`` as it was.
        seed: the only source of randomness; the same seed gives byte-identical files.
        n_train: number of training scenes.
        n_val: number of validation scenes.
        image_size: side S of the square scenes, in pixels.
        digit_size: inclusive range of digit heights in pixels (the 8x8 source is upscaled).
        count_probs: ``P(1 digit), P(2 digits), ...`` per scene (sums to 1).
        pairs: digit pairs that co-occur more often than chance.
        pair_prob: probability that a paired digit brings its partner (scenes of >= 2 digits).
        max_overlap: tolerated box intersection, as a fraction of the smaller box.
        clutter: up to this many translucent background shapes per scene.
        noise: standard deviation of the Gaussian pixel noise (0-255 scale).
        occlusion: probability that a digit gets an opaque bar over 25-45 % of its box.
        distractors: unlabelled half-digits (of any class) drawn under the digits per scene.
        val_source_fraction: fraction of each class's source digits reserved for val.
        jpeg_quality: JPEG quality of the written scenes.
        label_noise: planted label errors, as rates per kind, e.g. ``{"missing": 0.05,
            "spurious": 0.05, "swapped": 0.05}`` (each in [0, 0.5], a kind left out is 0):
            missing per drawn label, swapped per drawn label whose ``pairs`` partner is not
            drawn, spurious per image (:mod:`mlrkit.data.label_noise` has the exact rules). The
            loader serves the noisy labels; the clean ones and the list of errors are kept
            beside them (read with :func:`~mlrkit.data.label_errors`). The images are the same
            with and without noise.
        noise_splits: the splits that get the noise (default: train only).
        progress: show a tqdm progress bar.

    Returns:
        The summary (images, labels per image, class frequencies, pair lifts) per split.

    Raises:
        DatasetError: ``root`` already holds files that are not the embedded dataset (a user's
            folder is never written into).
        InvalidInputError: inconsistent options (digits larger than the scene, bad probabilities,
            label-noise rates outside [0, 0.5]).
    """
    if not digit_size[0] <= digit_size[1] <= image_size:
        raise InvalidInputError(
            f"digit_size {digit_size} must be increasing and fit in {image_size} px"
        )
    if min(count_probs) < 0 or abs(sum(count_probs) - 1) > 1e-9:
        raise InvalidInputError(f"count_probs {tuple(count_probs)} must be >= 0 and sum to 1")
    if not 0 <= occlusion <= 1 or distractors < 0 or noise < 0:
        raise InvalidInputError(
            f"occlusion must be in [0, 1] (got {occlusion}), distractors and noise >= 0 "
            f"(got {distractors}, {noise})"
        )
    label_noise, noise_splits = check_label_noise(label_noise, noise_splits)
    options = {k: v for k, v in locals().items() if k not in ("root", "progress")}
    root = Path(root)
    _refuse_foreign_folder(root)
    with replaced_atomically(root) as folder:
        _write_scenes(folder, options, progress)
    return summarize_digit_scenes(root, pairs=pairs)


def _write_scenes(root: Path, options: dict[str, Any], progress: bool) -> None:
    """Write every file of the dataset into the (new, empty) folder ``root``."""
    o = SimpleNamespace(**options)
    (root / MARKER).write_text(json.dumps(_jsonable(options)))
    digits = load_digits()
    images, labels = digits.images, digits.target  # (1797, 8, 8), (1797,)
    sources = split_source_digits(labels, o.val_source_fraction, np.random.default_rng([o.seed, 0]))
    partner = {a: b for a, b in o.pairs} | {b: a for a, b in o.pairs}
    style = Style(
        o.image_size, tuple(o.digit_size), o.max_overlap, o.clutter, o.noise, o.occlusion,
        o.distractors,
    )  # fmt: skip
    (root / "annotations").mkdir()
    for split_index, (split, count) in enumerate(zip(_SPLITS, (o.n_train, o.n_val), strict=True)):
        rng = np.random.default_rng([o.seed, split_index + 1])
        noisy = o.label_noise is not None and split in o.noise_splits
        noise_rng = np.random.default_rng([o.seed, split_index + 1, 1])  # never the drawing's
        pool = {c: sources[split][labels[sources[split]] == c] for c in range(10)}
        (root / split).mkdir()
        records, clean, given, errors = [], [], [], []
        for image_id in tqdm(range(1, count + 1), desc=split, disable=not progress):
            classes = scene_classes(rng, partner, o.pair_prob, o.count_probs)
            pixels, anns = compose_scene(rng, images, pool, classes, style)
            file_name = f"{image_id:06d}.jpg"
            Image.fromarray(pixels).save(root / split / file_name, quality=o.jpeg_quality)
            records.append(
                {"id": image_id, "file_name": file_name, "width": o.image_size,
                 "height": o.image_size}
            )  # fmt: skip
            clean += _numbered(anns, image_id, start=len(clean) + 1)
            if noisy:
                anns, planted = plant_label_errors(noise_rng, anns, partner, o.label_noise)
                given += _numbered(anns, image_id, start=len(given) + 1)
                errors += [(image_id, file_name, *error) for error in planted]
        info = {"description": _DESCRIPTION, "seed": o.seed, "split": split}
        if noisy:
            _write_coco(root, f"{split}_clean", info | {"labels": "clean"}, records, clean)
            _write_coco(root, split, info | {"label_noise": o.label_noise}, records, given)
            (root / "annotations" / f"label_errors_{split}.csv").write_text(
                error_table(errors, DIGIT_CLASSES), encoding="utf-8"
            )
        else:
            _write_coco(root, split, info, records, clean)


def _numbered(annotations: list[dict], image_id: int, start: int) -> list[dict]:
    """The annotations of one image with their COCO ids (``start``, ``start + 1``, ...)."""
    return [{"id": start + k, "image_id": image_id, **ann} for k, ann in enumerate(annotations)]


def _write_coco(
    root: Path, stem: str, info: dict[str, Any], images: list[dict], annotations: list[dict]
) -> None:
    coco = {
        "info": info,
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "digit"}
            for i, name in enumerate(DIGIT_CLASSES)
        ],
    }
    with open(root / "annotations" / f"instances_{stem}.json", "w", encoding="utf-8") as f:
        json.dump(coco, f, separators=(",", ":"))


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    """Options as JSON reads them back (tuples become lists), so saved and asked compare equal."""
    return json.loads(json.dumps(options))


def scene_options(variant: str = "standard", **overrides: Any) -> dict[str, Any]:
    """The :func:`make_digit_scenes` keywords of a named variant, with ``overrides`` on top.

    Example:
        >>> scene_options("hard", seed=3)["n_train"], scene_options("hard", seed=3)["seed"]
        (5000, 3)

    Raises:
        InvalidInputError: unknown variant or keyword, or bad ``label_noise`` / ``noise_splits``.
    """
    if variant not in SCENE_VARIANTS:
        raise InvalidInputError(
            f"unknown digit-scene variant {variant!r}; choose one of {sorted(SCENE_VARIANTS)}"
        )
    allowed = set(inspect.signature(make_digit_scenes).parameters) - {"root"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise InvalidInputError(
            f"unknown digit-scene option(s) {unknown}; valid: variant, {', '.join(sorted(allowed))}"
        )
    options = SCENE_VARIANTS[variant] | overrides
    if "label_noise" in options or "noise_splits" in options:
        check_label_noise(options.get("label_noise"), options.get("noise_splits", ("train",)))
    return options


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
    if root.exists() and not root.is_dir():
        raise DatasetError(
            f"{root} is a file, not a folder; refusing to replace it. Generate into an empty or "
            "new folder (the default is data/digits)."
        )
    if root.is_dir() and any(root.iterdir()) and not is_digit_scenes_root(root):
        raise DatasetError(
            f"{root} already holds files that are not mlrkit's embedded digit scenes; refusing "
            "to write into it. Generate into an empty or new folder (the default is "
            "data/digits), or, if this folder is a COCO-format dataset, load it with kind 'coco'."
        )


def ensure_digit_scenes(root: str | Path, **options: Any) -> Path:
    """Generate the embedded dataset into ``root`` unless it is complete.

    Writes only when ``root`` is missing, empty, or a partial write of the embedded dataset;
    a complete one is left alone. ``options`` go to :func:`make_digit_scenes` (see
    :func:`scene_options` for the named variants). When ``options`` are given, a complete
    folder must have been made with them (its marker file records them; a folder from before
    the marker recorded options counts as the defaults with its seed and counts).

    Raises:
        DatasetError: ``root`` holds other files (see :func:`make_digit_scenes`), or was
            generated with other ``options`` (it is never regenerated silently: another run
            may be reading it).
    """
    root = Path(root)
    complete = all((root / "annotations" / f"instances_{s}.json").is_file() for s in _SPLITS)
    if not (complete and is_digit_scenes_root(root)):
        make_digit_scenes(root, **options)
        return root
    if options:
        saved, wanted = _saved_options(root), _wanted(options)
        differ = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
        if differ:
            listed = ", ".join(f"{k}: {a} there, {b} asked" for k, (a, b) in differ.items())
            raise DatasetError(
                f"{root} holds digit scenes generated with other options ({listed}). Use "
                "another data.root, or regenerate it: python -m mlrkit generate --root "
                f"{root} --variant <standard|hard> (or make_digit_scenes({str(root)!r}, ...))."
            )
    return root


def _wanted(options: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(make_digit_scenes).parameters
    defaults = {n: p.default for n, p in parameters.items() if n not in ("root", "progress")}
    wanted = defaults | {k: v for k, v in options.items() if k != "progress"}
    # The normal form make_digit_scenes records: {"missing": 0.1} is all three kinds, 0 for two.
    wanted["label_noise"], wanted["noise_splits"] = check_label_noise(
        wanted["label_noise"], wanted["noise_splits"]
    )
    return _jsonable(wanted)


def _saved_options(root: Path) -> dict[str, Any]:
    """The options recorded in ``root``'s marker, completed with the defaults of the time."""
    try:
        saved = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    try:
        return _wanted(saved)
    except InvalidInputError:  # an edited marker: compare as written, so it differs
        return _jsonable(saved)
