"""The explorer's row descriptions: what its panel shows of a frame row, as a plain dict.

:class:`RowItems` holds the image label sets (the positive rows, sorted by image, so an image's
label set is a binary search away) and turns frame rows into the dicts of
:meth:`mlrkit.explore.Explorer.panel_items` and :meth:`~mlrkit.explore.Explorer.neighbour_items`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class RowItems:
    """Panel dicts of frame rows.

    Args:
        frame: the explorer's frame (its label sets are read once, here).
        classes: the class names, in class-index order.
    """

    def __init__(self, frame: pd.DataFrame, classes: Sequence[str]) -> None:
        self.classes = tuple(classes)
        positive = np.flatnonzero(frame["target"].to_numpy() == 1)
        images = frame["image"].to_numpy()[positive]
        order = np.argsort(images, kind="stable")
        self._pos_images = images[order]
        self._pos_classes = frame["class_index"].to_numpy()[positive][order]

    def labels(self, image: int) -> list[str]:
        """The image's label set: the classes of its rows with target 1, in class order."""
        lo, hi = np.searchsorted(self._pos_images, [image, image + 1])
        return [self.classes[k] for k in sorted(set(self._pos_classes[lo:hi].tolist()))]

    def items(
        self, frame: pd.DataFrame, rows: np.ndarray, similarity: np.ndarray | None = None
    ) -> list[dict]:
        """One dict per row of ``rows`` (keys: see ``Explorer.panel_items``), with the key
        ``similarity`` too when ``similarity`` (one float per row) is given."""
        if len(rows) == 0:
            return []
        part = frame.iloc[rows]
        items = []
        for row, image, path, class_index, target, score, correct in zip(
            np.asarray(rows).tolist(),
            part["image"].tolist(),
            part["path"].astype(str).tolist(),
            part["class_index"].tolist(),
            part["target"].tolist(),
            part["score"].tolist(),
            part["correct"].tolist(),
            strict=True,
        ):
            items.append(
                {
                    "row": int(row),
                    "image": int(image),
                    "path": path,
                    "class": self.classes[int(class_index)],
                    "class_index": int(class_index),
                    "labels": self.labels(int(image)),
                    "target": int(target),
                    "score": float(score),
                    "correct": None if correct is pd.NA or correct is None else bool(correct),
                }
            )
        if similarity is not None:
            for item, value in zip(items, np.asarray(similarity).tolist(), strict=True):
                item["similarity"] = float(value)
        return items
