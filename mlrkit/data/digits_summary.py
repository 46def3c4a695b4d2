"""Summary of a COCO-format multi-label split: images, labels per image, class frequencies.

Used by :func:`mlrkit.data.make_digit_scenes` (it returns the summary of what it wrote) and usable
on any folder laid out like the embedded dataset. Reads the annotations only (no image decoding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlrkit.data.coco import load_coco

__all__ = ["DigitScenesSummary", "SplitSummary", "summarize_digit_scenes"]


@dataclass(frozen=True)
class SplitSummary:
    """Statistics of one split.

    Attributes:
        images: number of images.
        instances: number of annotations (placed digits).
        mean_labels: mean number of distinct classes per image.
        class_frequency: class name -> fraction of images that contain the class.
        pair_lift: "a&b" -> ``P(a, b) / (P(a) P(b))`` (1 = independent, > 1 = together more often).
    """

    images: int
    instances: int
    mean_labels: float
    class_frequency: dict[str, float]
    pair_lift: dict[str, float]


@dataclass(frozen=True)
class DigitScenesSummary:
    """Per-split summaries of a dataset folder; ``str()`` gives a compact table."""

    root: Path
    splits: dict[str, SplitSummary] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One column per split; rows: counts, labels/image, class frequencies, pair lifts."""
        columns = {}
        for name, s in self.splits.items():
            column = {"images": s.images, "instances": s.instances, "labels/image": s.mean_labels}
            column |= {f"freq {c}": v for c, v in s.class_frequency.items()}
            column |= {f"lift {p}": v for p, v in s.pair_lift.items()}
            columns[name] = column
        return pd.DataFrame(columns)

    def __str__(self) -> str:
        def cell(value: float) -> str:
            return str(int(value)) if float(value).is_integer() and value > 1 else f"{value:.3f}"

        table = self.to_frame().map(cell).to_string()
        return f"Digit scenes in {self.root}\n{table}"


def _split_summary(annotation_file: Path, pairs: Sequence[tuple[int, int]]) -> SplitSummary:
    coco = load_coco(annotation_file).dataset  # checked: exists, valid JSON, COCO keys
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    column = {c["id"]: k for k, c in enumerate(categories)}
    row = {image["id"]: i for i, image in enumerate(coco["images"])}
    present = np.zeros((len(row), len(column)), dtype=bool)  # (N, K)
    for ann in coco["annotations"]:
        present[row[ann["image_id"]], column[ann["category_id"]]] = True
    names = [c["name"] for c in categories]
    freq = present.mean(axis=0) if len(row) else np.zeros(len(names))
    lifts = {}
    for a, b in pairs:
        joint = float((present[:, a] & present[:, b]).mean()) if len(row) else 0.0
        denominator = float(freq[a] * freq[b])
        lifts[f"{names[a]}&{names[b]}"] = joint / denominator if denominator > 0 else float("nan")
    return SplitSummary(
        images=len(row),
        instances=len(coco["annotations"]),
        mean_labels=float(present.sum(axis=1).mean()) if len(row) else 0.0,
        class_frequency={n: float(v) for n, v in zip(names, freq, strict=True)},
        pair_lift=lifts,
    )


def summarize_digit_scenes(
    root: str | Path,
    splits: Sequence[str] = ("train", "val"),
    pairs: Sequence[tuple[int, int]] = ((1, 7), (3, 8), (0, 6), (4, 9)),
) -> DigitScenesSummary:
    """Summarise ``root/annotations/instances_<split>.json`` for each split.

    Args:
        root: dataset folder as written by ``make_digit_scenes``.
        splits: split names to summarise.
        pairs: class-index pairs whose lift is reported.

    Returns:
        The summary.
    """
    root = Path(root)
    result = {}
    for split in splits:
        result[split] = _split_summary(root / "annotations" / f"instances_{split}.json", pairs)
    return DigitScenesSummary(root=root, splits=result)
