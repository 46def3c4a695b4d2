"""The mutable state of a run (what a checkpoint saves) and its round trip through a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlrkit.config import Config, config_to_dict
from mlrkit.errors import ConfigError
from mlrkit.train.checkpoint import (
    FORMAT,
    VERSION,
    capture_rng_state,
    check_compatible,
    load_module_state,
    restore_rng_state,
)
from mlrkit.train.ema import ModelEMA


@dataclass
class TrainState:
    """Everything :func:`mlrkit.train.fit` carries from one epoch to the next."""

    cfg: Config
    device: torch.device
    model: nn.Module
    objective: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    ema: ModelEMA | None
    classes: tuple[str, ...]
    stage: int = 1
    epoch: int = 0
    best: float | None = None
    best_epoch: int | None = None

    def checkpoint(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint dict of the current state (see :mod:`mlrkit.train.checkpoint`)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "epoch": self.epoch,
            "stage": self.stage,
            "config": config_to_dict(self.cfg),
            "classes": list(self.classes),
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": capture_rng_state(),
            "metrics": metrics,
            "best": self.best,
            "best_epoch": self.best_epoch,
        }

    def restore(self, state: dict[str, Any], path: Path) -> None:
        """Load a checkpoint written by :meth:`checkpoint` (same classes and architecture).

        The state must already be in the checkpoint's stage (for SADCL's stage 2,
        :func:`mlrkit.train.stages.switch_to_stage2` first): its objective and optimiser
        are then the ones the checkpoint's state fits.
        """
        check_compatible(state, self.classes, config_to_dict(self.cfg)["model"], path)
        saved_epochs = state["config"]["train"]["epochs"]
        if self.cfg.optim.schedule == "onecycle" and saved_epochs != self.cfg.train.epochs:
            raise ConfigError(
                f"{path} was planned for {saved_epochs} epochs and its OneCycle schedule spans "
                f"them; resume with train.epochs={saved_epochs} (CLI: --epochs {saved_epochs}), "
                "use optim.schedule=step or constant to extend runs, or start a new run"
            )
        if int(state.get("stage", 1)) != self.stage:
            raise ConfigError(
                f"{path} holds stage {state.get('stage', 1)} but the run is in stage "
                f"{self.stage}; switch stages before restoring it"
            )
        load_module_state(self.model, state["model"], "model", path)
        load_module_state(self.objective, state["objective"], "objective", path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state["ema"] is None:
                raise ConfigError(f"{path} has no EMA weights but train.ema_decay is set")
            load_module_state(self.ema, state["ema"], "EMA", path)
        restore_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.best, self.best_epoch = state["best"], state["best_epoch"]
