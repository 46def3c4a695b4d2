"""Training stages: everything about SADCL's two stages lives here.

Every setup trains in one stage except ``sadcl``, which follows the released code: stage 1
trains the base model with ASL for ``loss.sadcl_stage1_epochs`` epochs (None = half; 0 = none,
the weights come from ``train.init_from``, a finished base run); stage 2 starts from the best
stage-1 weights (``best.pt``), builds a new objective (projection, memory bank, prototypes), sets
the prototypes to the class means of the stage-1 model's confidently correct training samples
and starts every bank slot at the class means of their raw class features, then fine-tunes
everything with ASL + SSCL + PSCL under a new optimiser at ``optim.lr *
loss.sadcl_stage2_lr_mult`` (1.0, as released). Both the learning-rate schedule and its epoch
count restart with each stage, and ``best.pt`` tracks stage 2's best epoch from then on.

:func:`load_weights` also starts any run from ``train.init_from``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mlrkit.config import Config, config_to_dict, sadcl_stage1_epochs
from mlrkit.errors import InvalidInputError
from mlrkit.losses import MultiLabelObjective, PrototypeAccumulator
from mlrkit.train import recipe
from mlrkit.train.checkpoint import check_compatible, load_module_state
from mlrkit.train.ema import ModelEMA
from mlrkit.train.loops import outputs
from mlrkit.train.optim import build_optimizer, build_scheduler
from mlrkit.train.state import TrainState


def stage_of_epoch(cfg: Config, epoch: int) -> int:
    """The stage (1 or 2) of 0-based ``epoch``; always 1 for setups other than ``sadcl``."""
    if cfg.loss.setup == "sadcl" and epoch >= sadcl_stage1_epochs(cfg):
        return 2
    return 1


def stage_epochs(cfg: Config, stage: int) -> int:
    """How many epochs ``stage`` lasts (its learning-rate schedule spans exactly these)."""
    if cfg.loss.setup != "sadcl":
        return cfg.train.epochs
    first = sadcl_stage1_epochs(cfg)
    return first if stage == 1 else cfg.train.epochs - first


def build_optimization(
    cfg: Config, model: nn.Module, objective: nn.Module, stage: int, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """A fresh optimiser and scheduler for ``stage`` over the model and the objective."""
    scale = cfg.loss.sadcl_stage2_lr_mult if stage == 2 else 1.0
    optimizer = build_optimizer(model, [objective], cfg.optim, lr_scale=scale)
    # a stage without epochs (SADCL's stage 1 taken from train.init_from) is left at once; its
    # schedule only has to exist
    epochs = max(1, stage_epochs(cfg, stage))
    return optimizer, build_scheduler(optimizer, cfg.optim, epochs, steps_per_epoch)


def load_weights(state: TrainState, checkpoint: dict[str, Any], path: Path) -> None:
    """Take the model (and EMA) weights of ``checkpoint``, nothing else (no optimiser, epoch or
    schedule): the start of a run from ``train.init_from`` and of SADCL's stage 2.

    The EMA takes the checkpoint's EMA weights when both have one, else restarts from the loaded
    model.

    Raises:
        mlrkit.train.CheckpointMismatchError: other classes or another architecture.
    """
    check_compatible(checkpoint, state.classes, config_to_dict(state.cfg)["model"], path)
    load_module_state(state.model, checkpoint["model"], "model", path)
    if state.ema is not None:
        if checkpoint.get("ema") is not None:
            load_module_state(state.ema, checkpoint["ema"], "EMA", path)
        else:
            state.ema = ModelEMA(state.model, state.ema.decay)


def switch_to_stage2(state: TrainState, steps_per_epoch: int) -> None:
    """Stage 2's objective and optimiser (prototypes still random; see :func:`enter_stage2`).

    Used as is before a stage-2 checkpoint is restored: its prototypes come with the
    objective's saved state.
    """
    state.objective = recipe.objective_from_config(state.cfg, state.model, stage=2).to(state.device)
    state.stage = 2
    state.optimizer, state.scheduler = build_optimization(
        state.cfg, state.model, state.objective, 2, steps_per_epoch
    )


def enter_stage2(
    state: TrainState,
    train_set: Any,
    steps_per_epoch: int,
    best: tuple[dict[str, Any], Path] | None = None,
) -> None:
    """Leave a finished stage 1: the best stage-1 weights, stage 2's parts, prototypes and bank
    from that model; ``best.pt`` restarts with stage 2.

    Args:
        best: ``(checkpoint, path)`` of the best stage-1 epoch (``best.pt``); None keeps the
            current weights (no stage-1 epoch was evaluated, or stage 1 came from
            ``train.init_from``).
    """
    if best is not None:
        load_weights(state, *best)
    switch_to_stage2(state, steps_per_epoch)
    state.best = state.best_epoch = None
    # Every rank computes the same prototypes from the whole training set (same weights); they
    # are copied into the existing parameter, so the new optimiser already holds it.
    loader = recipe.eval_loader_from_config(train_set, state.cfg, state.device, shard=False)
    init_prototypes(
        state.model, state.objective, loader, state.cfg.loss.prototype_threshold, state.device
    )


@torch.no_grad()
def init_prototypes(
    model: nn.Module,
    objective: MultiLabelObjective,
    loader: Iterable[Any],
    threshold: float = 0.85,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> Tensor:
    """Set the PSCL prototypes to the class means of confidently-correct samples, and start
    the memory bank at the same samples' raw class means (unless its ``bank_init`` is
    ``"empty"``).

    Runs ``model`` (eval mode) over ``loader``, projects the class features with the
    objective's projection, and averages per class as
    :class:`mlrkit.losses.PrototypeAccumulator` describes (warnings name classes that fall back):
    the normalised projections give the prototypes, the raw class features (unnormalised, as
    the released code's prototypes) give the bank's start.

    Args:
        model: returns a ``ModelOutput`` with class features.
        objective: a SADCL stage-2 objective (``objective.sadcl`` is set).
        loader: yields ``(images, targets)`` over the training set.
        threshold: score a positive must exceed (SADCL: 0.85).
        device: where to run (default: the model's parameters' device).
        progress: show a tqdm bar.

    Returns:
        The ``(K, D)`` prototypes written.
    """
    if objective.sadcl is None or objective.projection is None:
        raise InvalidInputError("init_prototypes needs a SADCL stage-2 objective (objective.sadcl)")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    classes = getattr(getattr(loader, "dataset", None), "classes", None)
    accumulator = PrototypeAccumulator(threshold, classes)
    raw_means = PrototypeAccumulator(threshold, normalize=False, warn=False)
    objective_mode = objective.training
    objective.eval()
    try:
        batches = outputs(model, loader, device=device, progress=progress, desc="prototypes")
        for output, targets in batches:
            if output.class_features is None:
                raise InvalidInputError(
                    "init_prototypes: the model returns no class_features (a 'gap' head?); "
                    "build it with head='class_attention' or head='query'"
                )
            z = objective.embed(output.class_features)  # (B, K, D)
            accumulator.update(z, output.logits, targets)
            raw_means.update(output.class_features, output.logits, targets)
    finally:
        objective.train(objective_mode)
    prototypes = accumulator.compute()
    objective.sadcl.pscl.set_prototypes(prototypes)
    objective.sadcl.start_bank(raw_means.compute())
    return prototypes
