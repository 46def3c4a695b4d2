"""``fit``: an experiment from a config to a run directory, resumable after any crash.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON row per epoch), ``last.pt``
(after every epoch) and ``best.pt`` (best ``config.train.best_metric`` so far). Only rank 0
writes. The loops themselves are in :mod:`mlrkit.training`; the pieces are built by
:mod:`mlrkit.builders`.

Exact resume: every epoch starts by reseeding python/numpy/torch and the data loader from
``(seed, epoch)``; model, objective (centres, memory bank, prototypes), optimiser, scheduler,
scaler and EMA come back from ``last.pt``. A run killed at any point and resumed with
``fit(config, out_dir, resume=True)`` ends with the same weights as an uninterrupted run (on CPU;
GPU kernels may be non-deterministic).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mlrkit import builders
from mlrkit.checkpoint import (
    FORMAT,
    VERSION,
    capture_rng_state,
    check_compatible,
    load_checkpoint,
    load_module_state,
    restore_rng_state,
    save_checkpoint,
)
from mlrkit.config import (
    Config,
    config_from_dict,
    config_to_dict,
    sadcl_stage1_epochs,
    save_config,
    validate,
)
from mlrkit.distributed import barrier, broadcast_buffers, dist_info
from mlrkit.ema import ModelEMA
from mlrkit.models import backbone_preprocessing
from mlrkit.schedules import build_optimizer, build_scheduler
from mlrkit.training import evaluate, predict, resolve_amp, resolve_device, train_one_epoch

__all__ = ["RunResult", "evaluate", "fit", "predict", "train_one_epoch"]

# Metrics of an evaluation that go into metrics.jsonl (per-class AP stays in the checkpoint row).
LOGGED_METRICS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")


@dataclass
class RunResult:
    """What :func:`fit` leaves behind.

    Attributes:
        out_dir: the run directory.
        history: one dict per epoch (the rows of ``metrics.jsonl``).
        best_metric: best value of ``best_metric_name`` (None if never evaluated).
        best_epoch: epoch (1-based) of ``best.pt``.
        classes: class names, in logit order.
    """

    out_dir: Path
    history: list[dict[str, Any]]
    best_metric: float | None
    best_epoch: int | None
    best_metric_name: str
    classes: tuple[str, ...]
    last_checkpoint: Path = field(init=False)
    best_checkpoint: Path = field(init=False)

    def __post_init__(self) -> None:
        self.last_checkpoint = self.out_dir / "last.pt"
        self.best_checkpoint = self.out_dir / "best.pt"

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's row."""
        return self.history[-1] if self.history else {}


@dataclass
class _Run:
    """Mutable state of a run (what a checkpoint saves)."""

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


def _stage_for(cfg: Config, epoch: int) -> int:
    """SADCL stage (1 or 2) of 0-based ``epoch``; always 1 for the other setups."""
    if cfg.loss.setup == "sadcl" and epoch >= sadcl_stage1_epochs(cfg):
        return 2
    return 1


def _stage_epochs(cfg: Config, stage: int) -> int:
    if cfg.loss.setup != "sadcl":
        return cfg.train.epochs
    first = sadcl_stage1_epochs(cfg)
    return first if stage == 1 else cfg.train.epochs - first


def _optimizer_for_stage(run: _Run, stage: int, steps_per_epoch: int) -> None:
    cfg = run.cfg
    scale = cfg.loss.sadcl_stage2_lr_mult if stage == 2 else 1.0
    run.optimizer = build_optimizer(run.model, [run.objective], cfg.optim, lr_scale=scale)
    run.scheduler = build_scheduler(
        run.optimizer, cfg.optim, _stage_epochs(cfg, stage), steps_per_epoch
    )


def _switch_to_stage2(run: _Run, steps_per_epoch: int) -> None:
    """SADCL: a new objective with SSCL + PSCL and a new optimiser (prototypes still random)."""
    run.objective = builders.build_objective(run.cfg, run.model, stage=2).to(run.device)
    run.stage = 2
    _optimizer_for_stage(run, 2, steps_per_epoch)


def _enter_stage2(run: _Run, train_set: Any, steps_per_epoch: int) -> None:
    """SADCL stage 2 from a finished stage 1: prototypes from the stage-1 model."""
    _switch_to_stage2(run, steps_per_epoch)
    cfg = run.cfg
    # Every rank computes the same prototypes from the whole training set (same weights); they
    # are copied into the existing parameter, so the new optimiser already holds it.
    loader = builders.eval_loader(train_set, cfg, run.device, shard=False)
    run.objective.initialise_prototypes(run.model, loader, cfg.loss.prototype_threshold, run.device)


def _checkpoint_state(run: _Run, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "epoch": run.epoch,
        "stage": run.stage,
        "config": config_to_dict(run.cfg),
        "classes": list(run.classes),
        "model": run.model.state_dict(),
        "objective": run.objective.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "rng": capture_rng_state(),
        "metrics": metrics,
        "best": run.best,
        "best_epoch": run.best_epoch,
    }


def _restore(run: _Run, state: dict[str, Any], path: Path, steps: int) -> None:
    check_compatible(state, run.classes, config_to_dict(run.cfg)["model"], path)
    saved_epochs = state["config"]["train"]["epochs"]
    if run.cfg.optim.schedule == "onecycle" and saved_epochs != run.cfg.train.epochs:
        raise ValueError(
            f"{path} was planned for {saved_epochs} epochs and its OneCycle schedule spans them; "
            f"resume with train.epochs={saved_epochs} (CLI: --epochs {saved_epochs}), use "
            "optim.schedule=step or constant to extend runs, or start a new run"
        )
    load_module_state(run.model, state["model"], "model", path)
    if state["stage"] == 2 and run.stage != 2:
        _switch_to_stage2(run, steps)  # the prototypes come with the objective's state below
    load_module_state(run.objective, state["objective"], "objective", path)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and state["scaler"] is not None:
        run.scaler.load_state_dict(state["scaler"])
    if run.ema is not None:
        if state["ema"] is None:
            raise ValueError(f"{path} has no EMA weights but train.ema_decay is set")
        load_module_state(run.ema, state["ema"], "EMA", path)
    restore_rng_state(state["rng"])
    run.epoch = int(state["epoch"])
    run.best, run.best_epoch = state["best"], state["best_epoch"]


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["epoch"] <= upto]


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(path)


def _metrics_row(prefix: str, result: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": float(result[k]) for k in LOGGED_METRICS if k in result}


def _evaluate_row(
    run: _Run, loader: Any, amp_dtype: torch.dtype | None, channels_last: bool
) -> dict[str, float]:
    """``val_*`` metrics of the raw weights and, separately, ``ema_val_*`` of the EMA weights."""
    kwargs = dict(
        device=run.device, amp_dtype=amp_dtype, channels_last=channels_last, classes=run.classes
    )
    broadcast_buffers(run.model)  # every rank evaluates rank 0's (saved) model
    val = evaluate(run.model, loader, **kwargs)
    row = {**_metrics_row("val", val), "val_seconds": val["seconds"]}
    if run.ema is not None:
        broadcast_buffers(run.ema)
        row.update(_metrics_row("ema_val", evaluate(run.ema.module, loader, **kwargs)))
    return row


def fit(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    *,
    datasets: tuple[Any, Any] | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``config`` into ``out_dir``; resumable, rank-0 writes, works under torchrun.

    Args:
        config: the experiment (see :mod:`mlrkit.config`).
        out_dir: run directory (created). It must not already hold ``last.pt`` unless ``resume``.
        resume: continue from ``out_dir/last.pt`` (a fresh start, with a warning, if missing).
        datasets: optional ``(train, val)`` datasets to use instead of building them from
            ``config.data`` (each with ``.classes`` and ``.targets``).
        callback: called on rank 0 with each epoch's metrics row (e.g. to print it).

    Returns:
        :class:`RunResult` with the per-epoch history and the best value/epoch.

    Raises:
        mlrkit.training.NonFiniteLossError: NaN/inf loss (``last.pt`` of the last good epoch stays).
        mlrkit.checkpoint.CheckpointMismatchError: ``last.pt`` was trained on other classes or
            another architecture.
    """
    cfg = validate(config_from_dict(config_to_dict(config)))  # private copy
    out_dir = Path(out_dir)
    info = dist_info()
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    metrics_path = out_dir / "metrics.jsonl"
    if last_path.exists() and not resume:
        raise FileExistsError(
            f"{out_dir} already holds a run (last.pt); pass resume=True (CLI: --resume) to "
            "continue it, or choose another output directory"
        )
    if resume and not last_path.exists():
        warnings.warn(
            f"resume requested but {last_path} does not exist; starting from scratch", stacklevel=2
        )
        resume = False

    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and info.distributed:
        device = torch.device("cuda", info.local_rank)
    amp_dtype = resolve_amp(cfg.train.amp, device)
    channels_last = (
        cfg.train.channels_last if cfg.train.channels_last is not None else (device.type == "cuda")
    )
    builders.seed_everything(cfg.train.seed)

    if datasets is None:
        # mean/std from the backbone's weights metadata, before the model exists (K comes
        # from the dataset)
        pre = backbone_preprocessing(cfg.model.backbone)
        datasets = builders.build_datasets(cfg, pre.mean, pre.std)
    train_set, val_set = datasets
    classes = tuple(train_set.classes)
    model = builders.build_model(cfg, len(classes)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    objective = builders.build_objective(cfg, model, stage=1).to(device)
    train_dl = builders.train_loader(train_set, cfg, device)
    val_dl = builders.eval_loader(val_set, cfg, device, shard=info.distributed)
    steps = len(train_dl)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    ema = ModelEMA(model, cfg.train.ema_decay) if cfg.train.ema_decay else None
    run = _Run(cfg, device, model, objective, None, None, scaler, ema, classes)  # type: ignore[arg-type]
    _optimizer_for_stage(run, 1, steps)

    history: list[dict[str, Any]] = []
    if resume:
        _restore(run, load_checkpoint(last_path), last_path, steps)
        history = _read_history(metrics_path, run.epoch)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(".*.pt.tmp-*"):
            stale.unlink()  # a partial write of a killed run; the real files were never replaced
        save_config(cfg, out_dir / "config.json")
        _write_history(metrics_path, history)

    trained = run.model
    if info.distributed:
        trained = DistributedDataParallel(
            run.model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.train.find_unused_parameters,
        )

    for epoch in range(run.epoch, cfg.train.epochs):
        builders.seed_everything(builders.epoch_seed(cfg.train.seed, epoch))
        if _stage_for(cfg, epoch) == 2 and run.stage == 1:
            _enter_stage2(run, train_set, steps)
            builders.seed_everything(builders.epoch_seed(cfg.train.seed, epoch))
        builders.set_loader_epoch(train_dl, cfg.train.seed, epoch)
        train_stats = train_one_epoch(
            trained,
            run.objective,
            train_dl,
            run.optimizer,
            device=device,
            epoch=epoch + 1,
            scheduler=run.scheduler,
            scaler=run.scaler,
            amp_dtype=amp_dtype,
            grad_clip=cfg.optim.grad_clip,
            ema=run.ema,
            channels_last=channels_last,
            progress=cfg.train.progress,
        )
        run.epoch = epoch + 1
        row: dict[str, Any] = {"epoch": run.epoch, "stage": run.stage, **train_stats}
        if run.epoch % cfg.train.eval_every == 0 or run.epoch == cfg.train.epochs:
            row.update(_evaluate_row(run, val_dl, amp_dtype, channels_last))
        history.append(row)
        value = row.get(cfg.train.best_metric)
        improved = (
            value is not None and not np.isnan(value) and (run.best is None or value > run.best)
        )
        if improved:
            run.best, run.best_epoch = float(value), run.epoch
        if info.is_main:
            # metrics.jsonl first: a crash before last.pt is replaced makes resume redo this
            # epoch, and resume drops history rows newer than last.pt. best.pt last: a crash in
            # between leaves last.pt with the better epoch and best.pt with an older good one.
            _write_history(metrics_path, history)
            state = _checkpoint_state(run, row)
            save_checkpoint(state, last_path)
            if improved:
                save_checkpoint(state, best_path)
            if callback is not None:
                callback(row)
        barrier()
    return RunResult(out_dir, history, run.best, run.best_epoch, cfg.train.best_metric, classes)
