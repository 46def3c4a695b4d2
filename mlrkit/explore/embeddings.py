"""Class embeddings of a finished run: one row per (image, class) pair, in either space.

Two spaces, and every figure says which one it shows:

- ``"features"``: the head's class features ``F_{b,k}`` (``ModelOutput.class_features``), what
  the classifier reads;
- ``"embedding"``: the objective's projection of them, L2-normalised, ``z = normalize(proj(F))``,
  the space where the discriminative loss acts (only runs whose objective has a projection:
  ``disc-contrastive``, ``disc-center``, ``sadcl`` stage 2).

Extraction streams over the split: each batch's selected pairs are projected, converted to
float32 and written into a preallocated ``(M, D)`` array, so the dense ``(N, K, D)`` tensor of a
whole split never exists (at COCO-val scale it would take 26 GB at D = 2048); the peak memory is
the output plus one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from mlrkit.errors import InvalidInputError
from mlrkit.explore.separation import separation_report
from mlrkit.inputs import is_count
from mlrkit.train.loops import outputs
from mlrkit.train.trained import TrainedRun

__all__ = ["SPACES", "ClassEmbeddings", "extract_embeddings", "stream_pairs"]

Space = Literal["embedding", "features"]
Which = Literal["present", "all"]
SPACE_TITLES = {
    "embedding": "projection output (where the loss acts)",
    "features": "class features (what the classifier reads)",
}
SPACES: tuple[str, ...] = tuple(SPACE_TITLES)


@dataclass
class ClassEmbeddings:
    """Rows of (image, class) pairs and their vectors.

    Attributes:
        frame: one row per pair: ``image`` (index in the split), ``path``, ``class``,
            ``class_index``, ``target`` (1, 0 or -1), ``score`` (sigmoid of the logit),
            ``predicted`` (score >= threshold), ``correct`` (prediction agrees with the target;
            missing for ignored targets).
        vectors: ``(M, D)`` float32; row ``i`` belongs to ``frame`` row ``i``.
        space: ``"embedding"`` or ``"features"``.
        classes: class names in logit order.
        source: the checkpoint the vectors come from.
        split: the split name.
    """

    frame: pd.DataFrame
    vectors: np.ndarray
    space: str
    classes: tuple[str, ...]
    source: Path
    split: str

    @property
    def title(self) -> str:
        """What the vectors are, for figure titles."""
        return SPACE_TITLES[self.space]

    def separation(self, **options: Any) -> pd.DataFrame:
        """:func:`mlrkit.explore.separation_report` of these rows: labelled by class, grouped
        by image (so nearest neighbours and alignment pairs come from other images);
        ``options`` go to it.

        Rows with an ignored target (-1) are dropped from everything: they are neither present
        nor absent. When absent rows (target 0, a ``which="all"`` extraction) remain, it passes
        ``present = target == 1``: the measures use the present rows and ``presence_auroc``
        ranks each class's present rows against its absent ones. With present rows only (a
        ``which="present"`` extraction) the report is as without ``present``
        (``presence_auroc`` NaN).
        """
        target = self.frame["target"].to_numpy()
        keep = target != -1
        rows = slice(None) if keep.all() else keep  # a slice keeps the vectors uncopied
        present = target[rows] == 1
        return separation_report(
            self.vectors[rows],
            self.frame["class_index"].to_numpy()[rows],
            self.frame["image"].to_numpy()[rows],
            classes=self.classes,
            present=None if present.all() else present,
            **options,
        )


def check_space(run: TrainedRun, space: str) -> None:
    """Fail unless ``run`` has class features and the ``space`` (what extraction needs).

    Raises:
        InvalidInputError: an unknown space, a head without class features, or the
            ``embedding`` space of an objective without projection (the message names the run).
    """
    if space not in SPACES:
        raise InvalidInputError(f"unknown space {space!r}; use one of {SPACES}")
    run.require_class_features()
    if space == "embedding" and run.objective.projection is None:
        raise InvalidInputError(
            f"{run.path}: its objective ({run.config.loss.setup}, stage {run.stage}) has no "
            "projection head, so there is no 'embedding' space; use space='features'"
        )


@torch.no_grad()
def extract_embeddings(
    run: TrainedRun | str | Path,
    split: str | None = None,
    space: Space = "embedding",
    which: Which = "present",
    max_items: int | None = None,
    data_root: str | None = None,
    *,
    device: str = "auto",
    threshold: float = 0.5,
    progress: bool = True,
) -> ClassEmbeddings:
    """Class embeddings of every selected (image, class) pair of a split, streamed.

    Args:
        run: a :class:`mlrkit.runs.Run` (or any loaded run), a run directory (its best
            checkpoint) or a checkpoint file.
        split: split name (default: the run's validation split).
        space: ``"embedding"`` (the objective's projection, L2-normalised) or ``"features"``
            (the head's class features, as they are).
        which: ``"present"``: pairs with target 1; ``"all"``: every pair (absent and ignored
            ones too, to see where negatives sit).
        max_items: keep at most this many pairs (the first ones in split order).
        data_root: read the split from another root of the same dataset kind.
        device: for a run given as a path.
        threshold: on the score, for ``predicted`` and ``correct``.
        progress: show a tqdm bar.

    Returns:
        :class:`ClassEmbeddings` with ``M`` rows.

    Raises:
        InvalidInputError: unknown ``space`` or ``which``; a head without class features; the
            ``embedding`` space of an objective without projection (the message names the run).
    """
    if which not in ("present", "all"):
        raise InvalidInputError(f"which must be 'present' or 'all', got {which!r}")
    if max_items is not None and not is_count(max_items):
        raise InvalidInputError(f"max_items must be a whole number >= 1 (pairs), got {max_items!r}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise InvalidInputError(
            f"threshold is on the sigmoid score, so it must be in [0, 1], got {threshold!r}"
        )
    trained = run if isinstance(run, TrainedRun) else TrainedRun.load(run, device=device)
    check_space(trained, space)
    split_name = split or trained.config.data.val_split
    dataset = trained.split(split_name, root=data_root)
    targets_all = torch.as_tensor(dataset.targets)  # type: ignore[attr-defined]  # (N, K)
    selected = targets_all == 1 if which == "present" else torch.ones_like(targets_all, dtype=bool)
    paths = [str(p) for p in getattr(dataset, "paths", [])]
    loader = trained.loader(dataset)
    project = trained.objective.embed if space == "embedding" else None
    vectors, columns = stream_pairs(
        trained.model, loader, selected, project, max_items, trained.device, progress, space
    )
    if len(vectors) == 0:
        raise InvalidInputError(
            f"no (image, class) pair selected in split {split_name!r} of {trained.path} "
            f"(which={which!r}); the split has no positive label"
        )
    frame = _frame(columns, trained.classes, paths, threshold)
    return ClassEmbeddings(frame, vectors, space, trained.classes, trained.path, split_name)


@torch.no_grad()
def stream_pairs(
    model: torch.nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    selected: Tensor,
    project: Callable[[Tensor], Tensor] | None = None,
    max_items: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "features",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``model`` over an in-order ``loader`` and keep the selected pairs' class features.

    Args:
        model: returns a ``ModelOutput`` with ``class_features (B, K, C)``.
        loader: yields ``(images (B, 3, H, W), targets (B, K))`` in dataset order.
        selected: ``(N, K)`` bool, the pairs to keep (known before decoding any image, so the
            output is allocated once).
        project: maps ``(P, C)`` features to ``(P, D)`` (rows are then L2-normalised); None
            keeps the features.
        max_items: keep at most this many pairs (the first in order).

    Returns:
        ``vectors (M, D)`` float32 and per-row arrays ``image``, ``class``, ``target``,
        ``score`` (sigmoid of the logit).
    """
    total = int(selected.sum())
    if max_items is not None:
        total = min(total, max_items)
    vectors: np.ndarray | None = None
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "class", "target", "score")}
    filled = first = 0
    bar = tqdm(total=total, desc=f"pairs ({desc})", disable=not progress, unit="pair")
    batches = outputs(model, loader, device=torch.device(device))
    for output, targets in batches:
        if filled >= total:
            break
        rows = selected[first : first + targets.shape[0]].nonzero()[: total - filled]  # (P, 2)
        b, k = rows[:, 0], rows[:, 1]
        features = output.class_features[b, k].float()  # (P, C)
        if project is not None:
            features = F.normalize(project(features).float(), dim=-1)  # (P, D)
        block = features.cpu().numpy()
        if vectors is None:
            vectors = np.empty((total, block.shape[1]), dtype=np.float32)
        vectors[filled : filled + len(block)] = block
        parts["image"].append((b + first).numpy())
        parts["class"].append(k.numpy())
        parts["target"].append(targets[b, k].cpu().numpy().astype(np.int8))
        parts["score"].append(torch.sigmoid(output.logits[b, k].float()).cpu().numpy())
        filled += len(block)
        first += targets.shape[0]
        bar.update(len(block))
    batches.close()  # an early stop restores the model's mode now
    bar.close()
    if vectors is None:
        return np.empty((0, 0), np.float32), {k: np.empty(0) for k in parts}
    return vectors[:filled], {k: np.concatenate(v) for k, v in parts.items()}


def _frame(
    columns: dict[str, np.ndarray],
    classes: tuple[str, ...],
    paths: list[str],
    threshold: float,
) -> pd.DataFrame:
    image, class_index = columns["image"], columns["class"]
    target, score = columns["target"], columns["score"].astype(np.float32)
    predicted = score >= threshold
    correct = pd.array(predicted == (target == 1), dtype="boolean")
    correct[target == -1] = pd.NA  # an ignored target is neither right nor wrong
    return pd.DataFrame(
        {
            "image": image,
            "path": [paths[i] for i in image] if paths else [str(i) for i in image],
            "class": pd.Categorical.from_codes(class_index, categories=list(classes)),
            "class_index": class_index,
            "target": target,
            "score": score,
            "predicted": predicted,
            "correct": correct,
        }
    )
