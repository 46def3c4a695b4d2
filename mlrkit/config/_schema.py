"""The config's schema: five sections of dataclasses, and the checks of their values.

Public names are re-exported by :mod:`mlrkit.config`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrkit.errors import ConfigError


@dataclass
class DataConfig:
    """Where the images come from and how they are turned into tensors.

    Attributes:
        kind: ``"digits"``, ``"coco"``, ``"voc"`` or ``"csv"`` (see ``mlrkit.data.build_dataset``).
        root: dataset root (for ``csv``: the CSV file of the training split; see ``val_root``).
        train_split / val_split: split names passed to ``build_dataset``.
        val_root: a different root for the validation split (``csv``: the validation CSV file).
        image_size: square input size in pixels.
        hflip / randaugment: training augmentations.
        num_workers: DataLoader worker processes (0 = load in the main process).
        cache: keep transformed items in memory after the first epoch; only allowed when the
            training transform is deterministic (no flip, no RandAugment).
        limit_train / limit_val: use only the first N items (quick experiments, tests).
        generate_if_missing: for ``digits``, write the embedded dataset when ``root`` is missing
            (or was generated with other options than ``generate``).
        generate: for ``digits``, how the embedded dataset is made: ``{"variant": "hard"}``
            and/or ``mlrkit.data.make_digit_scenes`` keywords (see ``scene_options``), e.g.
            ``{"label_noise": {"missing": 0.05}}`` for planted label errors.
        policy: extra keyword arguments for ``build_dataset`` (e.g. VOC ``difficult``).
        holdout: train on every fold of the training split but one, for cross-fitting:
            ``{"folds": F, "fold": f, "seed": s}`` (see ``mlrkit.data.folds``); empty: all.
    """

    kind: str = "digits"
    root: str = "data/digits"
    train_split: str = "train"
    val_split: str = "val"
    val_root: str | None = None
    image_size: int = 64
    hflip: bool = False
    randaugment: bool = False
    num_workers: int = 0
    cache: bool = False
    limit_train: int | None = None
    limit_val: int | None = None
    generate_if_missing: bool = True
    generate: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    holdout: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Architecture; passed to ``mlrkit.models.build_model``."""

    backbone: str = "digitnet"
    head: str = "class_attention"
    pretrained: bool | str = False
    embed_dim: int | None = None
    head_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """Objective; ``setup`` names one of :data:`LOSS_SETUP_NAMES`.

    Attributes:
        setup: ``bce``, ``asl``, ``disc-contrastive`` (the default method loss),
            ``disc-center``, ``sadcl``.
        objective_kwargs: options of the setup's builder in ``mlrkit.losses.setups``
            (e.g. ``{"disc_weight": 0.5}``), on top of what the setup fixes.
        sadcl_stage1_epochs: SADCL only: epochs of stage 1 (base model with ASL) before the
            prototypes are initialised and stage 2 fine-tunes with ASL + SSCL + PSCL;
            None = half of ``train.epochs``; 0 = no stage 1, ``train.init_from`` is its result
            (see :func:`sadcl_stage1_epochs`).
        sadcl_stage2_lr_mult: SADCL only: stage-2 learning rate relative to ``optim.lr``
            (1.0: the released code trains both stages at the same ``--lr``).
        prototype_threshold: SADCL only: score above which a positive counts as confidently
            correct when initialising prototypes (SADCL's 0.85).
    """

    setup: str = "disc-contrastive"
    objective_kwargs: dict[str, Any] = field(default_factory=dict)
    sadcl_stage1_epochs: int | None = None
    sadcl_stage2_lr_mult: float = 1.0
    prototype_threshold: float = 0.85


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (schedules step once per iteration).

    Attributes:
        name: ``"adamw"`` or ``"sgd"``.
        lr: backbone learning rate (peak lr for OneCycle).
        head_lr_mult: the head and the objective's parameters train at ``lr * head_lr_mult``.
        schedule: ``"onecycle"``, ``"step"`` (multiply by ``step_gamma`` at each epoch in
            ``step_milestones``) or ``"constant"``.
        grad_clip: clip the global gradient norm to this value (None = off).
    """

    name: str = "adamw"
    lr: float = 1e-3
    head_lr_mult: float = 1.0
    weight_decay: float = 1e-4
    momentum: float = 0.9
    batch_size: int = 64
    schedule: str = "onecycle"
    pct_start: float = 0.2
    step_milestones: tuple[int, ...] = ()
    step_gamma: float = 0.1
    grad_clip: float | None = None


@dataclass
class TrainConfig:
    """Loop settings.

    Attributes:
        epochs: total epochs (for SADCL: stage 1 + stage 2).
        seed: seeds python, numpy and torch; each epoch reseeds from ``(seed, epoch)`` so a
            resumed run replays exactly the same batches and augmentations.
        device: ``"auto"`` (CUDA, then MPS, then CPU) or a torch device string.
        amp: ``"auto"`` (bf16 where supported, else fp16 with a GradScaler; CUDA only),
            ``"bf16"``, ``"fp16"`` or ``"off"``. Ignored off CUDA.
        channels_last: ``None`` = on for CUDA only.
        ema_decay: keep an EMA of the weights (evaluated and reported separately); None = off.
        best_metric: metrics key that selects ``best.pt`` (``"val_mAP"`` or ``"ema_val_mAP"``).
        eval_every: evaluate every N epochs (and always after the last).
        progress: show tqdm.auto progress bars.
        find_unused_parameters: passed to DistributedDataParallel.
        init_from: a checkpoint (``best.pt`` of a finished run) whose model (and EMA) weights
            start this run; its optimiser, schedule and epoch are not taken, so the run trains
            ``epochs`` epochs under a fresh schedule. SADCL with ``loss.sadcl_stage1_epochs=0``
            uses it as stage 1 (as the released code resumes stage 2 from the best Q2L weights).
    """

    epochs: int = 10
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool | None = None
    ema_decay: float | None = None
    best_metric: str = "val_mAP"
    eval_every: int = 1
    progress: bool = True
    find_unused_parameters: bool = False
    init_from: str | None = None


@dataclass
class Config:
    """A whole experiment."""

    name: str = "custom"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# Metrics that can select best.pt (rows of metrics.jsonl; higher is better).
BEST_METRICS = tuple(f"{p}_{m}" for p in ("val", "ema_val") for m in ("mAP", "CF1", "OF1"))

# The loss setups (their builders are mlrkit.losses.LOSS_SETUPS; a test keeps the two in step).
LOSS_SETUP_NAMES: tuple[str, ...] = ("bce", "asl", "disc-contrastive", "disc-center", "sadcl")


def sadcl_stage1_epochs(cfg: Config) -> int:
    """Epochs of SADCL's stage 1: ``loss.sadcl_stage1_epochs``, or half the epochs when None.

    0 means no stage 1: stage 2 starts from ``train.init_from`` (a finished base run).
    """
    if cfg.loss.sadcl_stage1_epochs is None:
        return max(1, cfg.train.epochs // 2)
    return cfg.loss.sadcl_stage1_epochs


def validate(cfg: Config) -> Config:
    """Check values that would otherwise fail deep inside training; returns ``cfg``."""
    checks = [
        (
            cfg.loss.setup in LOSS_SETUP_NAMES,
            f"loss.setup {cfg.loss.setup!r} is not a loss setup; choose one of {LOSS_SETUP_NAMES}",
        ),
        (cfg.optim.lr > 0, f"optim.lr must be > 0, got {cfg.optim.lr}"),
        (
            0 < cfg.optim.pct_start < 1,
            f"optim.pct_start must be in (0, 1), got {cfg.optim.pct_start}",
        ),
        (cfg.optim.momentum >= 0, f"optim.momentum must be >= 0, got {cfg.optim.momentum}"),
        (cfg.data.num_workers >= 0, f"data.num_workers must be >= 0, got {cfg.data.num_workers}"),
        (cfg.data.image_size >= 8, f"data.image_size must be >= 8, got {cfg.data.image_size}"),
        (
            all(n is None or n >= 1 for n in (cfg.data.limit_train, cfg.data.limit_val)),
            "data.limit_train and data.limit_val must be >= 1 (or null for every image)",
        ),
        (
            cfg.train.ema_decay is None or 0 < cfg.train.ema_decay < 1,
            f"train.ema_decay must be in (0, 1) or null, got {cfg.train.ema_decay}",
        ),
        (
            cfg.optim.head_lr_mult > 0,
            f"optim.head_lr_mult must be > 0, got {cfg.optim.head_lr_mult}",
        ),
        (
            cfg.optim.weight_decay >= 0,
            f"optim.weight_decay must be >= 0, got {cfg.optim.weight_decay}",
        ),
        (
            cfg.loss.sadcl_stage2_lr_mult >= 0,
            f"loss.sadcl_stage2_lr_mult must be >= 0, got {cfg.loss.sadcl_stage2_lr_mult}",
        ),
        (cfg.optim.name in ("adamw", "sgd"), f"optim.name {cfg.optim.name!r} not in adamw, sgd"),
        (
            cfg.optim.schedule in ("onecycle", "step", "constant"),
            f"optim.schedule {cfg.optim.schedule!r} not in onecycle, step, constant",
        ),
        (cfg.train.amp in ("auto", "bf16", "fp16", "off"), f"train.amp {cfg.train.amp!r} invalid"),
        (cfg.train.epochs >= 1, "train.epochs must be >= 1"),
        (cfg.optim.batch_size >= 1, "optim.batch_size must be >= 1"),
        (cfg.train.eval_every >= 1, "train.eval_every must be >= 1"),
        (
            cfg.loss.setup != "sadcl"
            or 0 < sadcl_stage1_epochs(cfg) < cfg.train.epochs
            or (sadcl_stage1_epochs(cfg) == 0 and cfg.train.init_from is not None),
            "the sadcl setup needs loss.sadcl_stage1_epochs (stage 1) between 1 and "
            "train.epochs - 1 (null = half, which needs train.epochs >= 2), or 0 with "
            "train.init_from (a finished base run's best.pt) as stage 1",
        ),
        (
            cfg.loss.setup not in ("disc-contrastive", "disc-center", "sadcl")
            or cfg.model.head != "gap",
            f"loss setup {cfg.loss.setup!r} needs class features; the 'gap' head has none",
        ),
        (
            not (cfg.data.cache and (cfg.data.hflip or cfg.data.randaugment)),
            "data.cache needs a deterministic training transform (set data.hflip and "
            "data.randaugment to false, or data.cache to false)",
        ),
        (
            cfg.train.best_metric in BEST_METRICS
            and (cfg.train.ema_decay is not None or not cfg.train.best_metric.startswith("ema")),
            f"train.best_metric {cfg.train.best_metric!r} must be one of {BEST_METRICS} "
            "(ema_* needs train.ema_decay)",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return cfg
