"""Use a finished checkpoint: load the model, evaluate a split, score images, extract features.

Everything is rebuilt from the config stored in the checkpoint, so ``runs/x/best.pt`` alone is
enough; ``data_root`` points the same dataset kind at another location.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from mlrkit import builders
from mlrkit.checkpoint import CheckpointError, check_compatible, load_checkpoint, load_module_state
from mlrkit.config import Config, config_from_dict, config_to_dict
from mlrkit.training import evaluate, predict, resolve_device


@dataclass
class TrainedModel:
    """A model rebuilt from a checkpoint, in eval mode on ``device``."""

    model: nn.Module
    config: Config
    classes: tuple[str, ...]
    epoch: int
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


def load_trained(checkpoint: str | Path, device: str = "auto", ema: bool = False) -> TrainedModel:
    """Rebuild the model of ``checkpoint`` and load its raw (or EMA) weights.

    Args:
        checkpoint: a ``.pt`` file or a run directory.
        device: ``"auto"`` or a torch device string.
        ema: load the EMA weights (error if the run kept none).
    """
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained = False  # the checkpoint has the weights; never look for downloads
    classes = tuple(state["classes"])
    model = builders.build_model(cfg, len(classes))
    if ema:
        if state.get("ema") is None:
            raise CheckpointError(f"{path} has no EMA weights (train.ema_decay was not set)")
        weights = {
            k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")
        }
        load_module_state(model, weights, "EMA model", path)
    else:
        load_module_state(model, state["model"], "model", path)
    dev = resolve_device(device)
    return TrainedModel(model.to(dev).eval(), cfg, classes, int(state["epoch"]), dev, path)


def split_dataset(
    trained: TrainedModel,
    split: str | None = None,
    data_root: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """A split of the checkpoint's dataset with the evaluation transform.

    Args:
        split: split name (default: the config's validation split).
        data_root: dataset root to use instead of the one in the config.
        limit: only the first ``limit`` images.

    Raises:
        mlrkit.checkpoint.CheckpointMismatchError: the split's classes differ from the model's.
    """
    cfg = trained.config
    data = replace(cfg.data, cache=False, limit_val=limit)
    if data_root is not None:
        data = replace(data, root=data_root, val_root=None)
    builders.ensure_digits(data)
    pre = trained.model.preprocessing  # from the backbone's weights metadata
    dataset = builders.build_split(data, split or data.val_split, pre.mean, pre.std, train=False)
    check_compatible(
        {"classes": list(trained.classes), "config": config_to_dict(cfg)},
        dataset.classes,  # type: ignore[attr-defined]
        config_to_dict(cfg)["model"],
        trained.path,
    )
    return dataset


def _loader(trained: TrainedModel, dataset: Dataset) -> Any:
    return builders.eval_loader(dataset, trained.config, trained.device, shard=False)


def evaluate_split(trained: TrainedModel, dataset: Dataset, threshold: float = 0.5) -> dict:
    """:func:`mlrkit.training.evaluate` of ``trained`` on ``dataset`` (see its return value)."""
    loader = _loader(trained, dataset)
    return evaluate(
        trained.model, loader, device=trained.device, threshold=threshold, classes=trained.classes
    )


def predict_frame(trained: TrainedModel, dataset: Dataset) -> pd.DataFrame:
    """Scores as a table: one row per image, ``image`` (path or index) then ``sigmoid(logit)``
    per class, in the model's class order."""
    out = predict(trained.model, _loader(trained, dataset), device=trained.device)
    probs = torch.sigmoid(out["logits"]).numpy()  # (N, K)
    paths = list(getattr(dataset, "paths", []))
    names = [str(p) for p in paths] if len(paths) == len(probs) else list(range(len(probs)))
    frame = pd.DataFrame(probs, columns=list(trained.classes))
    frame.insert(0, "image", names)
    return frame


def extract_features(trained: TrainedModel, dataset: Dataset) -> dict[str, np.ndarray]:
    """Class-specific features of every image.

    Returns:
        ``features`` (N, K, D) float32, ``logits`` (N, K), ``targets`` (N, K), ``classes`` (K,).

    Raises:
        ValueError: the head produces no class features (``gap``).
    """
    out = predict(
        trained.model, _loader(trained, dataset), device=trained.device, return_features=True
    )
    if out["features"] is None:
        raise ValueError(
            f"the {trained.config.model.head!r} head has no class features; embed needs a "
            "class_attention or query head"
        )
    return {
        "features": out["features"].numpy(),
        "logits": out["logits"].numpy(),
        "targets": out["targets"].numpy(),
        "classes": np.array(trained.classes),
    }
