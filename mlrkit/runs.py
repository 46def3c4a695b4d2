"""Use a finished run: load it, evaluate a split, score images, extract class features.

Everything is rebuilt from the config stored in the checkpoint, so ``runs/x/best.pt`` alone is
enough; ``data_root`` points the same dataset kind at another location (and is never written
into: the embedded dataset is only generated into the run's own configured root).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mlrkit.config import Config, config_from_dict, config_to_dict
from mlrkit.errors import InvalidInputError
from mlrkit.losses import MultiLabelObjective
from mlrkit.runtime import resolve_device
from mlrkit.train.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    load_module_state,
)
from mlrkit.train.loops import evaluate, predict
from mlrkit.train.recipe import (
    build_split,
    eval_loader_from_config,
    model_from_config,
    objective_from_config,
    prepare_data,
)

__all__ = [
    "TrainedRun",
    "class_features",
    "evaluate_split",
    "load_run",
    "require_class_features",
    "resolve_checkpoint",
    "score_table",
    "split_dataset",
]


@dataclass
class TrainedRun:
    """A finished run rebuilt from a checkpoint, in eval mode on ``device``.

    Attributes:
        model: the trained model.
        objective: the trained objective (its ``projection`` maps class features to the space
            where the discriminative loss acts; None for classification-only setups).
        config: the run's config; ``classes``: class names in logit order.
        epoch: completed epochs of the checkpoint; ``stage``: SADCL stage (1 otherwise).
        path: the checkpoint file.
    """

    model: nn.Module
    objective: MultiLabelObjective
    config: Config
    classes: tuple[str, ...]
    epoch: int
    stage: int
    device: torch.device
    path: Path


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its ``best.pt``, else ``last.pt``)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path} holds no best.pt or last.pt; train into it first")
    return path


def load_run(checkpoint: str | Path, device: str = "auto", ema: bool = False) -> TrainedRun:
    """Rebuild the model and objective of ``checkpoint`` and load their weights.

    Args:
        checkpoint: a ``.pt`` file or a run directory.
        device: ``"auto"`` or a torch device string.
        ema: load the EMA weights of the model (error if the run kept none).
    """
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained = False  # the checkpoint has the weights; never look for downloads
    classes = tuple(state["classes"])
    model = model_from_config(cfg, len(classes))
    if ema:
        if state.get("ema") is None:
            raise CheckpointError(f"{path} has no EMA weights (train.ema_decay was not set)")
        weights = {
            k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")
        }
        load_module_state(model, weights, "EMA model", path)
    else:
        load_module_state(model, state["model"], "model", path)
    stage = int(state.get("stage", 1))
    objective = objective_from_config(cfg, model, stage=stage)
    load_module_state(objective, state["objective"], "objective", path)
    dev = resolve_device(device)
    return TrainedRun(
        model.to(dev).eval(), objective.to(dev).eval(), cfg, classes, int(state["epoch"]), stage,
        dev, path,
    )  # fmt: skip


def split_dataset(
    run: TrainedRun,
    split: str | None = None,
    data_root: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """A split of the run's dataset with the evaluation transform.

    Args:
        split: split name (default: the config's validation split).
        data_root: dataset root to use instead of the one in the config; it is read, never
            written (no embedded-data generation there).
        limit: only the first ``limit`` images.

    Raises:
        mlrkit.train.CheckpointMismatchError: the split's classes differ from the model's.
    """
    cfg = run.config
    data = replace(cfg.data, cache=False, limit_val=limit)
    if data_root is not None:
        data = replace(data, root=data_root, val_root=None, generate_if_missing=False)
    prepare_data(data)
    pre = run.model.preprocessing  # from the backbone's weights metadata
    dataset = build_split(data, split or data.val_split, pre.mean, pre.std, train=False)
    check_compatible(
        {"classes": list(run.classes), "config": config_to_dict(cfg)},
        dataset.classes,  # type: ignore[attr-defined]
        config_to_dict(cfg)["model"],
        run.path,
    )
    return dataset


def _loader(run: TrainedRun, dataset: Dataset) -> DataLoader:
    return eval_loader_from_config(dataset, run.config, run.device)


def evaluate_split(run: TrainedRun, dataset: Dataset, threshold: float = 0.5) -> dict:
    """:func:`mlrkit.train.evaluate` of the run's model on ``dataset`` (see its return value)."""
    return evaluate(
        run.model, _loader(run, dataset), device=run.device, threshold=threshold,
        classes=run.classes,
    )  # fmt: skip


def score_table(run: TrainedRun, dataset: Dataset) -> pd.DataFrame:
    """Scores as a table: one row per image, ``image`` (path or index) then ``sigmoid(logit)``
    per class, in the model's class order."""
    out = predict(run.model, _loader(run, dataset), device=run.device)
    probs = torch.sigmoid(out["logits"]).numpy()  # (N, K)
    paths = list(getattr(dataset, "paths", []))
    names = [str(p) for p in paths] if len(paths) == len(probs) else list(range(len(probs)))
    frame = pd.DataFrame(probs, columns=list(run.classes))
    frame.insert(0, "image", names)
    return frame


def require_class_features(run: TrainedRun) -> None:
    """Raise :class:`InvalidInputError`, naming the run, when its head has no class features."""
    if getattr(run.model, "feature_dim", None) is None:
        raise InvalidInputError(
            f"{run.path}: the {run.config.model.head!r} head has no class features; use a run "
            "with a class_attention or query head"
        )


def class_features(run: TrainedRun, dataset: Dataset) -> dict[str, np.ndarray]:
    """Class-specific features of every image (dense: for small splits; the feature-space
    tools stream instead).

    Returns:
        ``features`` (N, K, D) float32, ``logits`` (N, K), ``targets`` (N, K), ``classes`` (K,).

    Raises:
        InvalidInputError: the head produces no class features (``gap``).
    """
    require_class_features(run)
    out = predict(run.model, _loader(run, dataset), device=run.device, return_features=True)
    return {
        "features": out["features"].numpy(),  # type: ignore[union-attr]
        "logits": out["logits"].numpy(),
        "targets": out["targets"].numpy(),
        "classes": np.array(run.classes),
    }
