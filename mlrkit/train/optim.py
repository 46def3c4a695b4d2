"""Optimisers with a higher learning rate for the head, and per-iteration lr schedules."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from mlrkit.config import OptimConfig
from mlrkit.errors import ConfigError


def param_groups(
    model: nn.Module, extra: Iterable[nn.Module], cfg: OptimConfig
) -> list[dict[str, object]]:
    """Split parameters into backbone / head groups, each with and without weight decay.

    The backbone (``model.backbone`` when present, else nothing) trains at ``cfg.lr``; the rest
    of the model and every module in ``extra`` (the objective: projection MLP, prototypes) at
    ``cfg.lr * cfg.head_lr_mult``. Biases and normalisation weights (1-D tensors) get no weight
    decay, as in timm and the torchvision references.

    Returns:
        Non-empty groups with keys ``params``, ``lr``, ``weight_decay``, ``name``.
    """
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    buckets: dict[str, list[nn.Parameter]] = {k: [] for k in ("bb", "bb_nd", "head", "head_nd")}
    seen: set[int] = set()
    modules = [model, *extra]
    for module in modules:
        for param in module.parameters():
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            key = "bb" if id(param) in backbone_ids else "head"
            buckets[key + ("_nd" if param.ndim <= 1 else "")].append(param)
    head_lr = cfg.lr * cfg.head_lr_mult
    specs = {
        "bb": (cfg.lr, cfg.weight_decay),
        "bb_nd": (cfg.lr, 0.0),
        "head": (head_lr, cfg.weight_decay),
        "head_nd": (head_lr, 0.0),
    }
    return [
        {"params": params, "lr": specs[name][0], "weight_decay": specs[name][1], "name": name}
        for name, params in buckets.items()
        if params
    ]


def build_optimizer(
    model: nn.Module, extra: Iterable[nn.Module], cfg: OptimConfig, lr_scale: float = 1.0
) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum, nesterov off) over :func:`param_groups`, lrs times ``lr_scale``."""
    groups = param_groups(model, extra, cfg)
    for group in groups:
        group["lr"] = float(group["lr"]) * lr_scale  # type: ignore[arg-type]
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, momentum=cfg.momentum)
    raise ConfigError(f"unknown optimiser {cfg.name!r}; use 'adamw' or 'sgd'")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler that is stepped once per iteration.

    - ``onecycle``: :class:`~torch.optim.lr_scheduler.OneCycleLR`, peak = each group's lr,
      warm-up fraction ``cfg.pct_start``, cosine annealing, over ``epochs * steps_per_epoch``.
    - ``step``: lr times ``cfg.step_gamma`` at each epoch in ``cfg.step_milestones``
      (:class:`~torch.optim.lr_scheduler.MultiStepLR` with milestones in iterations).
    - ``constant``: lr unchanged.
    """
    total = max(1, epochs * steps_per_epoch)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total,
            pct_start=cfg.pct_start,
        )
    if cfg.schedule == "step":
        milestones = [m * steps_per_epoch for m in cfg.step_milestones]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=cfg.step_gamma)
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    raise ConfigError(f"unknown schedule {cfg.schedule!r}; use onecycle, step or constant")
