"""Recipes: a :class:`~mlrkit.config.Config` turned into the objects of an experiment.

Datasets (generating the embedded digits when they are missing), the model, the objective of a
loss setup (and SADCL stage), and the data loaders. :func:`mlrkit.train.fit`, the CLI,
:mod:`mlrkit.runs` and notebooks share these, so a checkpoint's config always rebuilds the same
run. :func:`check_config` validates the dict fields against the signatures of what they feed,
before anything is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mlrkit.config import Config, DataConfig
from mlrkit.data import (
    CachedDataset,
    LimitedDataset,
    SubsetDataset,
    build_dataset,
    check_holdout,
    ensure_digit_scenes,
    eval_loader,
    eval_transform,
    holdout_indices,
    policy_options,
    scene_options,
    train_loader,
    train_transform,
)
from mlrkit.distributed import barrier, dist_info
from mlrkit.errors import ConfigError, InvalidInputError, MlrkitError
from mlrkit.losses import MultiLabelObjective, build_objective, setup_options
from mlrkit.models import build_model, head_options

__all__ = [
    "build_split",
    "check_config",
    "datasets_from_config",
    "eval_loader_from_config",
    "model_from_config",
    "objective_from_config",
    "prepare_data",
    "train_loader_from_config",
]


def _check_keys(field: str, given: dict[str, Any], valid: tuple[str, ...], target: str) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(
            f"{field}: unknown key(s) {unknown} for {target}; valid keys: {list(valid) or 'none'}"
        )


def check_config(cfg: Config) -> Config:
    """Check the dict fields against their targets' signatures; returns ``cfg``.

    ``loss.objective_kwargs`` against the loss setup's options (and its values against the
    objective's own checks, on a tiny probe), ``model.head_kwargs`` against the head's,
    ``data.policy`` against the dataset loader's, ``data.generate`` against the digit-scene
    options, ``data.holdout`` against :func:`mlrkit.data.check_holdout`, so a typo fails when
    the config is built, naming the field, the bad key and the valid keys, not after the
    datasets are loaded.

    Raises:
        ConfigError: an unknown key.
    """
    _check_keys(
        "loss.objective_kwargs",
        cfg.loss.objective_kwargs,
        setup_options(cfg.loss.setup),
        f"loss setup {cfg.loss.setup!r}",
    )
    _check_keys(
        "model.head_kwargs", cfg.model.head_kwargs, head_options(cfg.model.head),
        f"head {cfg.model.head!r}",
    )  # fmt: skip
    _check_keys(
        "data.policy", cfg.data.policy, policy_options(cfg.data.kind),
        f"dataset kind {cfg.data.kind!r}",
    )  # fmt: skip
    if cfg.data.generate:
        try:
            scene_options(**cfg.data.generate)
        except InvalidInputError as err:
            raise ConfigError(f"data.generate: {err}") from None
    if cfg.data.holdout:
        try:
            check_holdout(cfg.data.holdout)
        except InvalidInputError as err:
            raise ConfigError(str(err)) from None
    # The objective's constructor owns the checks of its values (a negative disc_weight, say):
    # build a tiny one now, so a bad value fails before any data or model is built. The
    # global RNG is left as it was (the probe's initialisation draws from it).
    probe: Any = SimpleNamespace(num_classes=2, feature_dim=8)  # what the builder reads
    with torch.random.fork_rng(devices=[]):
        try:
            objective_from_config(cfg, probe, stage=2 if cfg.loss.setup == "sadcl" else 1)
        except InvalidInputError as err:
            raise ConfigError(f"loss.objective_kwargs: {err}") from None
    return cfg


def prepare_data(data: DataConfig) -> Path:
    """Generate the embedded dataset into ``data.root`` when ``kind="digits"`` and it is missing.

    Only rank 0 writes; the others wait. A folder holding other files is never written into
    (:func:`mlrkit.data.ensure_digit_scenes` refuses it).
    """
    root = Path(data.root)
    if data.kind == "digits" and data.generate_if_missing:
        if dist_info().is_main:
            ensure_digit_scenes(root, **scene_options(**data.generate))
        barrier()
    return root


def build_split(data: DataConfig, split: str, mean: Any, std: Any, train: bool) -> Dataset:
    """One split with the training or evaluation transform (cached/limited per config)."""
    if train:
        transform = train_transform(
            data.image_size, mean, std, hflip=data.hflip, randaugment=data.randaugment
        )
    else:
        transform = eval_transform(data.image_size, mean, std)
    # val_root serves the validation split only: the training split of a run is read from
    # root whatever the transform (cross-fitting and audits score it with the eval transform)
    use_val_root = data.val_root is not None and not train and split == data.val_split
    root = data.val_root if use_val_root else data.root
    dataset = build_dataset(data.kind, root, split, transform=transform, **data.policy)
    if train and data.holdout:  # cross-fitting: the held-out fold is never trained on
        kept, _ = holdout_indices(len(dataset), data.holdout)
        dataset = SubsetDataset(dataset, kept)
    limit = data.limit_train if train else data.limit_val
    if limit is not None:
        dataset = LimitedDataset(dataset, limit)
    if data.cache:
        dataset = CachedDataset(dataset, num_workers=data.num_workers)
    return dataset


def datasets_from_config(cfg: Config, mean: Any, std: Any) -> tuple[Dataset, Dataset]:
    """Training and validation datasets for ``cfg.data`` (mean/std from the model's weights)."""
    prepare_data(cfg.data)
    train = build_split(cfg.data, cfg.data.train_split, mean, std, train=True)
    val = build_split(cfg.data, cfg.data.val_split, mean, std, train=False)
    if tuple(train.classes) != tuple(val.classes):  # type: ignore[attr-defined]
        raise ConfigError(
            f"train and val classes differ in {cfg.data.root}: {train.classes} vs {val.classes}"  # type: ignore[attr-defined]
        )
    return train, val


def model_from_config(cfg: Config, num_classes: int) -> nn.Module:
    """:func:`mlrkit.models.build_model` with the config's model section."""
    m = cfg.model
    with _values_of("model (e.g. model.head_kwargs)"):
        return build_model(
            m.backbone,
            head=m.head,
            num_classes=num_classes,
            pretrained=m.pretrained,
            embed_dim=m.embed_dim,
            **m.head_kwargs,
        )


def objective_from_config(cfg: Config, model: nn.Module, stage: int = 1) -> MultiLabelObjective:
    """The objective of ``cfg.loss.setup`` (SADCL: stage 1 = ASL, stage 2 = + SSCL/PSCL).

    SADCL's memory bank gets one slot per image of a training batch unless
    ``loss.objective_kwargs`` sets ``bank_size``.
    """
    options = dict(cfg.loss.objective_kwargs)
    if cfg.loss.setup == "sadcl":
        options.setdefault("bank_size", cfg.optim.batch_size)
        options["stage"] = stage
    feature_dim = getattr(model, "feature_dim", None)
    with _values_of("loss.objective_kwargs"):
        return build_objective(cfg.loss.setup, model.num_classes, feature_dim, **options)


@contextlib.contextmanager
def _values_of(field: str) -> Iterator[None]:
    """Turn a constructor's TypeError/ValueError on a config value into a ConfigError.

    The keys are checked by :func:`check_config`; a value of the wrong type or range (say
    ``disc_weight: "x"``) only shows when the part is built.
    """
    try:
        yield
    except MlrkitError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"a value in {field} is invalid: {err}") from err


def train_loader_from_config(dataset: Dataset, cfg: Config, device: torch.device) -> DataLoader:
    """The shuffled, per-epoch reseeded training loader of ``cfg``."""
    return train_loader(
        dataset,
        cfg.optim.batch_size,
        seed=cfg.train.seed,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
    )


def eval_loader_from_config(
    dataset: Dataset, cfg: Config, device: torch.device, shard: bool = False
) -> DataLoader:
    """The in-order evaluation loader of ``cfg`` (``shard``: split over ranks, no padding)."""
    return eval_loader(
        dataset,
        cfg.optim.batch_size,
        shard=shard,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
    )
