"""``fit``: an experiment from a config to a run directory, resumable after any crash.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON row per epoch), ``last.pt``
(after every epoch) and ``best.pt`` (best ``config.train.best_metric`` so far); only rank 0
writes, and nothing there is overwritten without ``resume`` or ``overwrite``
(:mod:`mlrkit.train.rundir`). The loops are in :mod:`mlrkit.train.loops`, the pieces are built
by :mod:`mlrkit.train.recipe`, SADCL's stages are in :mod:`mlrkit.train.stages`.

Exact resume: every epoch starts by reseeding python/numpy/torch and the data loader from
``(seed, epoch)``; model, objective (centres, memory bank, prototypes), optimiser, scheduler,
scaler and EMA come back from the checkpoint. A run killed at any point and resumed with
``fit(config, out_dir, resume=True)`` ends with the same weights as an uninterrupted run (on CPU;
GPU kernels may be non-deterministic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from mlrkit.config import (
    Config,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)  # fmt: skip
from mlrkit.data import set_loader_epoch
from mlrkit.distributed import barrier, broadcast_buffers, dist_info
from mlrkit.errors import RunDirectoryError
from mlrkit.models import backbone_preprocessing
from mlrkit.runtime import (
    deferred_interrupt,
    environment,
    epoch_seed,
    resolve_amp,
    resolve_device,
    seed_everything,
)
from mlrkit.train import recipe, stages
from mlrkit.train.checkpoint import load_checkpoint, save_checkpoint
from mlrkit.train.ema import ModelEMA
from mlrkit.train.loops import check_finite_state, evaluate, train_one_epoch
from mlrkit.train.rundir import (
    RunDir,
    discard_run,
    read_history,
    record_environment,
    resume_point,
    write_history,
)  # fmt: skip
from mlrkit.train.state import TrainState

__all__ = [
    "LOGGED_METRICS", "RunOutcome", "RunResult", "check_same_experiment", "ensure_run", "fit",
]  # fmt: skip

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
        files = RunDir(self.out_dir)
        self.last_checkpoint, self.best_checkpoint = files.last, files.best

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's row."""
        return self.history[-1] if self.history else {}


def _metrics_row(prefix: str, result: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": float(result[k]) for k in LOGGED_METRICS if k in result}


def _evaluate_row(
    run: TrainState, loader: Any, amp_dtype: torch.dtype | None, channels_last: bool
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
    overwrite: bool = False,
    datasets: tuple[Any, Any] | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``config`` into ``out_dir``; resumable, rank-0 writes, works under torchrun.

    Args:
        config: the experiment (see :mod:`mlrkit.config`); checked by
            :func:`mlrkit.train.recipe.check_config` before anything is built.
        out_dir: run directory (created). If it already holds run files, pass ``resume`` or
            ``overwrite``.
        resume: continue the run in ``out_dir`` from its newest intact checkpoint (``last.pt``,
            else ``best.pt``); a fresh start, with a warning, when it holds none yet.
        overwrite: discard the run files in ``out_dir`` and start again.
        datasets: optional ``(train, val)`` datasets to use instead of building them from
            ``config.data`` (each with ``.classes`` and ``.targets``).
        callback: called on rank 0 with each epoch's metrics row (e.g. to print it).

    Returns:
        :class:`RunResult` with the per-epoch history and the best value/epoch.

    Raises:
        mlrkit.errors.RunDirectoryError: ``out_dir`` holds a run and neither flag is set.
        mlrkit.train.NonFiniteLossError: NaN/inf loss (the last good epoch's checkpoints stay).
        mlrkit.train.NonFiniteStateError: weights or buffers diverged (nothing saved).
        mlrkit.train.CheckpointMismatchError: the checkpoint was trained on other classes or
            another architecture.
    """
    # a copy; config_from_dict checks the values, check_config what they name (once each)
    cfg = recipe.check_config(config_from_dict(config_to_dict(config)))
    out_dir = Path(out_dir)
    info = dist_info()
    files = RunDir(out_dir)
    last_path, best_path, metrics_path = files.last, files.best, files.history_file
    start = resume_point(out_dir, resume, overwrite)
    barrier()  # every rank has looked at out_dir before rank 0 writes into it

    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and info.distributed:
        device = torch.device("cuda", info.local_rank)
    amp_dtype = resolve_amp(cfg.train.amp, device)
    channels_last = (
        cfg.train.channels_last if cfg.train.channels_last is not None else (device.type == "cuda")
    )
    seed_everything(cfg.train.seed)

    if datasets is None:
        # mean/std from the backbone's weights metadata, before the model exists (K comes
        # from the dataset)
        pre = backbone_preprocessing(cfg.model.backbone)
        datasets = recipe.datasets_from_config(cfg, pre.mean, pre.std)
    train_set, val_set = datasets
    classes = tuple(train_set.classes)
    model = recipe.model_from_config(cfg, len(classes)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    objective = recipe.objective_from_config(cfg, model, stage=1).to(device)
    train_dl = recipe.train_loader_from_config(train_set, cfg, device)
    val_dl = recipe.eval_loader_from_config(val_set, cfg, device, shard=info.distributed)
    steps = len(train_dl)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    ema = ModelEMA(model, cfg.train.ema_decay) if cfg.train.ema_decay else None
    optimizer, scheduler = stages.build_optimization(cfg, model, objective, 1, steps)
    run = TrainState(cfg, device, model, objective, optimizer, scheduler, scaler, ema, classes)

    history: list[dict[str, Any]] = []
    if start is not None:
        path, state = start
        if int(state.get("stage", 1)) == 2:
            stages.switch_to_stage2(run, steps)  # the prototypes come with the state below
        run.restore(state, path)
        history = read_history(metrics_path, run.epoch)
    elif cfg.train.init_from is not None:
        init_path = Path(cfg.train.init_from)
        stages.load_weights(run, load_checkpoint(init_path), init_path)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(".*.tmp.pt"):  # atomic_path's temporary checkpoints
            stale.unlink()  # a partial write of a killed run; the real files were never replaced
        if overwrite:
            discard_run(out_dir)  # only now: everything that could fail has been built
        if start is not None and start[0] != last_path:
            save_checkpoint(start[1], last_path)  # resumed from best.pt: last.pt is good again
        save_config(cfg, files.config_file)
        write_history(metrics_path, history)
        start_epoch = run.epoch if start is not None else 0
        record_environment(files.environment_file, {"from_epoch": start_epoch,
                           **environment(device)}, resumed=start is not None)  # fmt: skip

    trained = run.model
    if info.distributed:
        trained = DistributedDataParallel(
            run.model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.train.find_unused_parameters,
        )

    for epoch in range(run.epoch, cfg.train.epochs):
        seed_everything(epoch_seed(cfg.train.seed, epoch))
        if stages.stage_of_epoch(cfg, epoch) == 2 and run.stage == 1:
            # stage 2 starts from the best stage-1 weights, as the released code resumes it
            best = (load_checkpoint(best_path), best_path) if run.best_epoch else None
            stages.enter_stage2(run, train_set, steps, best)
            seed_everything(epoch_seed(cfg.train.seed, epoch))
        set_loader_epoch(train_dl, cfg.train.seed, epoch)
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
        check_finite_state(
            {"model": run.model, "objective": run.objective, "EMA": run.ema}, run.epoch, device
        )
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
            # Ctrl-C waits until all three are written.
            with deferred_interrupt():
                write_history(metrics_path, history)
                state = run.checkpoint(row)
                save_checkpoint(state, last_path)
                if improved:
                    save_checkpoint(state, best_path)
            if callback is not None:
                callback(row)
        barrier()
    return RunResult(out_dir, history, run.best, run.best_epoch, cfg.train.best_metric, classes)


RunOutcome = Literal["trained", "resumed", "reused"]


def ensure_run(cfg: Config, run_dir: str | Path) -> RunOutcome:
    """Load-if-exists-else-train: train ``cfg`` into ``run_dir`` unless it is finished there.

    A finished run (``cfg.train.epochs`` epochs logged) is left alone; an interrupted one
    resumes; a new one trains (with the config's progress bars).

    Returns:
        What it did: ``"trained"`` (from scratch), ``"resumed"`` (an interrupted run, finished
        now) or ``"reused"`` (a finished run, not trained again). The caller says it.

    Raises:
        mlrkit.errors.RunDirectoryError: ``run_dir`` holds a run of another experiment (its
            ``config.json`` differs from ``cfg`` in a field other than the device or the
            progress bars): it is neither reused nor overwritten.
    """
    check_same_experiment(cfg, run_dir)
    files = RunDir(run_dir)
    if files.finished(cfg.train.epochs):
        return "reused"
    resume = files.config_file.is_file()
    fit(cfg, run_dir, resume=resume)
    return "resumed" if resume else "trained"


# Fields that do not change what is trained: a run may be reused across them.
_NOT_THE_EXPERIMENT = ("train.device", "train.progress", "data.num_workers")


def check_same_experiment(cfg: Config, run_dir: str | Path) -> None:
    """Raise unless ``run_dir`` is empty of runs or holds a run of ``cfg``'s experiment.

    Two configs are the same experiment when every field but the device, the progress bars
    and the loader workers is equal (compared flattened, as text).

    Raises:
        mlrkit.errors.RunDirectoryError: ``run_dir/config.json`` differs from ``cfg``; the
            message lists every differing field, there and asked.
    """
    saved_path = RunDir(run_dir).config_file
    if not saved_path.is_file():
        return
    saved, wanted = _flat(config_to_dict(load_config(saved_path))), _flat(config_to_dict(cfg))
    differ = sorted(
        k for k in saved.keys() | wanted.keys()
        if k not in _NOT_THE_EXPERIMENT and str(saved.get(k)) != str(wanted.get(k))
    )  # fmt: skip
    if differ:
        shown = ", ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} asked" for k in differ)
        raise RunDirectoryError(
            f"{run_dir} holds a run of another experiment ({shown}); delete the folder to "
            "train this config there, or use another folder"
        )


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (an empty dict stays a value)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out
