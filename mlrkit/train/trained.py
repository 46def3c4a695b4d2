"""A finished run, rebuilt from its checkpoint: the model, the objective and what they do.

Everything is rebuilt from the config stored in the checkpoint, so ``runs/x/best.pt`` alone is
enough. :class:`TrainedRun` holds the loaded pieces and the methods a notebook or a command
calls on a run: a split of its dataset, its evaluation, its scores, its dense class features
and its attention maps. Each method is a thin fold over the loops of :mod:`mlrkit.train.loops`.
:class:`mlrkit.runs.Run` adds the class embeddings of :mod:`mlrkit.explore` and training a run
unless it is finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mlrkit.config import Config, config_from_dict, config_to_dict
from mlrkit.data import eval_transform
from mlrkit.errors import InvalidInputError
from mlrkit.inputs import is_count
from mlrkit.losses import MultiLabelObjective
from mlrkit.metrics import PROTOCOLS, protocol_metrics
from mlrkit.runtime import resolve_device
from mlrkit.train.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    load_module_state,
)
from mlrkit.train.loops import evaluate, forward_eval, predict
from mlrkit.train.recipe import (
    build_split,
    eval_loader_from_config,
    model_from_config,
    objective_from_config,
    prepare_data,
)
from mlrkit.train.rundir import RunDir

__all__ = ["TrainedRun"]

Which = Literal["best", "last"]


@dataclass
class TrainedRun:
    """A finished run rebuilt from a checkpoint, in eval mode on ``device``.

    Attributes:
        model: the trained model.
        objective: the trained objective (its ``projection`` maps class features to the space
            where the discriminative loss acts; None for classification-only setups).
        config: the run's config; ``classes``: class names in logit order.
        epoch: completed epochs of the checkpoint; ``stage``: SADCL stage (1 otherwise).
        device: where the model is.
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

    @classmethod
    def load(
        cls, path: str | Path, which: Which = "best", *, device: str = "auto", ema: bool = False
    ) -> Self:
        """Rebuild the model and objective of a checkpoint and load their weights.

        Args:
            path: a ``.pt`` file, or a run directory (its ``which`` checkpoint, see
                :meth:`mlrkit.train.rundir.RunDir.checkpoint`).
            which: ``"best"`` or ``"last"``, for a run directory.
            device: ``"auto"`` or a torch device string.
            ema: load the EMA weights of the model (error if the run kept none).
        """
        path = Path(path)
        if path.is_dir():
            path = RunDir(path).checkpoint(which)
        state = load_checkpoint(path)
        cfg = config_from_dict(state["config"])
        cfg.model.pretrained = False  # the checkpoint has the weights; never look for downloads
        classes = tuple(state["classes"])
        model = model_from_config(cfg, len(classes))
        if ema:
            if state.get("ema") is None:
                raise CheckpointError(f"{path} has no EMA weights (train.ema_decay was not set)")
            weights = {
                k.removeprefix("module."): v
                for k, v in state["ema"].items()
                if k.startswith("module.")
            }
            load_module_state(model, weights, "EMA model", path)
        else:
            load_module_state(model, state["model"], "model", path)
        stage = int(state.get("stage", 1))
        objective = objective_from_config(cfg, model, stage=stage)
        load_module_state(objective, state["objective"], "objective", path)
        dev = resolve_device(device)
        return cls(
            model.to(dev).eval(), objective.to(dev).eval(), cfg, classes, int(state["epoch"]),
            stage, dev, path,
        )  # fmt: skip

    @property
    def folder(self) -> RunDir:
        """The run directory the checkpoint is in."""
        return RunDir(self.path.parent)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The rows of the run's ``metrics.jsonl``, one per epoch (empty if there is none)."""
        return self.folder.history()

    @property
    def transform(self) -> Any:
        """The run's evaluation transform, for images that are not in a split."""
        pre = self.model.preprocessing  # from the backbone's weights metadata
        return eval_transform(self.config.data.image_size, pre.mean, pre.std)

    def split(
        self, name: str | None = None, *, root: str | None = None, limit: int | None = None
    ) -> Dataset:
        """A split of the run's dataset with the evaluation transform.

        Args:
            name: split name (default: the config's validation split).
            root: dataset root to use instead of the one in the config; it is read, never
                written (no embedded-data generation there).
            limit: only the first ``limit`` images.

        Raises:
            InvalidInputError: ``limit`` is not a whole number >= 1.
            mlrkit.train.CheckpointMismatchError: the split's classes differ from the model's.
        """
        if limit is not None and not is_count(limit):
            raise InvalidInputError(f"limit must be a whole number >= 1 (images), got {limit!r}")
        cfg = self.config
        data = replace(cfg.data, cache=False, limit_val=limit)
        if root is not None:
            data = replace(data, root=root, val_root=None, generate_if_missing=False)
        prepare_data(data)
        pre = self.model.preprocessing
        dataset = build_split(data, name or data.val_split, pre.mean, pre.std, train=False)
        check_compatible(
            {"classes": list(self.classes), "config": config_to_dict(cfg)},
            dataset.classes,  # type: ignore[attr-defined]
            config_to_dict(cfg)["model"],
            self.path,
        )
        return dataset

    def loader(self, dataset: Dataset) -> DataLoader:
        """The run's in-order evaluation loader over ``dataset``."""
        return eval_loader_from_config(dataset, self.config, self.device)

    def _dataset(self, split: str | Dataset | None) -> Dataset:
        return split if isinstance(split, Dataset) else self.split(split)

    def evaluate(
        self,
        split: str | Dataset | None = None,
        *,
        protocol: str = "mlrkit",
        threshold: float = 0.5,
    ) -> dict[str, Any]:
        """mAP and the threshold metrics of the model on a split.

        Args:
            split: a split name (default: the validation split) or a dataset.
            protocol: ``"mlrkit"`` (the streaming :func:`mlrkit.train.evaluate`) or another of
                :data:`mlrkit.metrics.PROTOCOLS` (:func:`mlrkit.metrics.protocol_metrics` of
                the logits).
            threshold: on the probability scale.

        Returns:
            ``"mlrkit"``: :func:`mlrkit.train.evaluate`'s dict (``mAP``, ``AP`` (K,), ``CP``,
            ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1`` as fractions, ``images``, ``seconds``);
            another protocol: ``mAP``, ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1`` of the
            sigmoid scores.
        """
        if protocol not in PROTOCOLS:
            raise InvalidInputError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
        dataset = self._dataset(split)
        if protocol == "mlrkit":
            return evaluate(
                self.model, self.loader(dataset), device=self.device, threshold=threshold,
                classes=self.classes,
            )  # fmt: skip
        # The released codes rank float32 sigmoids, ties included: so do we for their protocols.
        probabilities = self.scores(dataset)[list(self.classes)].to_numpy()
        return protocol_metrics(
            probabilities, np.asarray(dataset.targets), protocol=protocol,  # type: ignore[attr-defined]
            scores_are="probabilities", threshold=threshold, classes=self.classes,
        )  # fmt: skip

    def scores(self, split: str | Dataset | None = None) -> pd.DataFrame:
        """Scores as a table: one row per image, ``image`` (path or index) then
        ``sigmoid(logit)`` per class, in the model's class order."""
        dataset = self._dataset(split)
        out = predict(self.model, self.loader(dataset), device=self.device)
        probs = torch.sigmoid(out["logits"]).numpy()  # (N, K)
        paths = list(getattr(dataset, "paths", []))
        names = [str(p) for p in paths] if len(paths) == len(probs) else list(range(len(probs)))
        frame = pd.DataFrame(probs, columns=list(self.classes))
        frame.insert(0, "image", names)
        return frame

    def require_class_features(self) -> None:
        """Raise :class:`InvalidInputError`, naming the run, when its head has no class
        features."""
        if getattr(self.model, "feature_dim", None) is None:
            raise InvalidInputError(
                f"{self.path}: the {self.config.model.head!r} head has no class features; use a "
                "run with a class_attention or query head"
            )

    def features(self, split: str | Dataset | None = None) -> dict[str, np.ndarray]:
        """Class-specific features of every image (dense: for small splits; the feature-space
        tools stream instead, see :meth:`mlrkit.runs.Run.embeddings`).

        Returns:
            ``features`` (N, K, D) float32, ``logits`` (N, K), ``targets`` (N, K),
            ``classes`` (K,).

        Raises:
            InvalidInputError: the head produces no class features (``gap``).
        """
        self.require_class_features()
        dataset = self._dataset(split)
        out = predict(self.model, self.loader(dataset), device=self.device, return_features=True)
        return {
            "features": out["features"].numpy(),  # type: ignore[union-attr]
            "logits": out["logits"].numpy(),
            "targets": out["targets"].numpy(),
            "classes": np.array(self.classes),
        }

    def attention(self, images: Any, indices: Sequence[int] | None = None) -> torch.Tensor:
        """The head's attention maps of a few images.

        Args:
            images: a dataset (with ``indices``), a sequence of PIL images (the run's
                evaluation transform is applied), or a ``(B, 3, H, W)`` tensor already
                transformed.
            indices: the items of the dataset ``images`` to use.

        Returns:
            ``(B, K, h, w)`` float32 on the CPU, one map per class on the backbone's grid.

        Raises:
            InvalidInputError: the head has no attention maps (``gap``).
        """
        if indices is not None:
            batch = torch.stack([images[i][0] for i in indices])
        elif isinstance(images, torch.Tensor):
            batch = images
        else:
            batch = torch.stack([self.transform(picture) for picture in images])
        output = forward_eval(self.model, batch, self.device)
        if output.attention is None:
            raise InvalidInputError(
                f"{self.path}: the {self.config.model.head!r} head has no attention maps"
            )
        return output.attention.float().cpu()
