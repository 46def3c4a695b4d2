"""Out-of-sample scores of a training split by cross-fitting.

A model scores the labels it trained on too kindly: it has fitted them, wrong ones included, so
an in-sample score says little about whether a given label is right. :func:`cross_fit` deals
the training images into ``folds`` folds (:func:`mlrkit.data.assign_folds`), trains one run per
fold on the other folds (``data.holdout``), and scores each image with the one run that never
saw it. Every image of the split gets exactly one out-of-sample score vector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlrkit.config import Config, apply_overrides
from mlrkit.data import SubsetDataset, holdout_indices
from mlrkit.errors import InvalidInputError
from mlrkit.inputs import is_count
from mlrkit.runs import Run

__all__ = ["CrossFit", "cross_fit"]


@dataclass
class CrossFit:
    """What :func:`cross_fit` computed.

    Attributes:
        scores: one row per image of the training split, in the split's order: ``image``
            (path), ``fold``, then ``sigmoid(logit)`` per class from the run of that fold.
        targets: ``(N, K)`` the given labels of the split (1, 0, -1), in the same order.
        classes: the class names, in the columns' order.
        runs: the run folder of each fold (``out / "fold-<f>"``).
    """

    scores: pd.DataFrame
    targets: np.ndarray
    classes: tuple[str, ...]
    runs: list[Path] = field(default_factory=list)

    @property
    def probabilities(self) -> np.ndarray:
        """``(N, K)`` float: the out-of-sample probabilities, columns in :attr:`classes`."""
        return self.scores[list(self.classes)].to_numpy()


def cross_fit(
    config: Config,
    out: str | Path,
    folds: int = 2,
    *,
    seed: int = 0,
    device: str = "auto",
) -> CrossFit:
    """Train ``folds`` runs of ``config``, each without one fold of the training split, and
    score every training image with the run that did not train on it.

    Args:
        config: the experiment (its training split is the one judged).
        out: folder of the fold runs, ``out / "fold-<f>"`` (each trained unless finished,
            :meth:`mlrkit.runs.Run.ensure`; their last checkpoints are used).
        folds: number of folds (>= 2); each run trains on ``(folds - 1) / folds`` of the images.
        seed: the seed of the fold assignment (``data.holdout.seed``).
        device: where to run the models.

    Raises:
        InvalidInputError: ``folds`` is not a whole number >= 2.
        mlrkit.errors.ConfigError: ``config`` already holds a ``data.holdout``.
    """
    if not is_count(folds) or folds < 2:
        raise InvalidInputError(f"folds must be a whole number >= 2, got {folds!r}")
    if config.data.holdout:
        raise InvalidInputError(
            f"the config already holds data.holdout={config.data.holdout}; cross_fit sets it "
            "per fold: pass the config without it"
        )
    out = Path(out)
    frames, runs, split, classes = [], [], None, ()
    for fold in range(folds):
        holdout = {"folds": folds, "fold": fold, "seed": seed}
        fold_config = apply_overrides(config, ["data.holdout=" + json.dumps(holdout)])
        run = Run.ensure(fold_config, out / f"fold-{fold}", "last", device=device)
        if split is None:  # all of it, with the eval transform: the same for every fold's run
            split = run.split(config.data.train_split)
        _, held_out = holdout_indices(len(split), holdout)
        frame = run.scores(SubsetDataset(split, held_out))
        frame.insert(0, "index", held_out)
        frame.insert(2, "fold", fold)
        frames.append(frame)
        runs.append(out / f"fold-{fold}")
        classes = tuple(run.classes)
    targets = split.targets.numpy()  # type: ignore[union-attr]
    scores = pd.concat(frames).sort_values("index").set_index("index")
    scores.index.name = None
    return CrossFit(scores, targets, classes, runs)
