"""Build the pieces of an experiment from a :class:`~mlrkit.config.Config`.

Datasets (generating the embedded digits when missing), data loaders with per-epoch seeding,
the model, and the objective for a loss setup (and SADCL stage). :func:`mlrkit.engine.fit`, the
CLI and notebooks share these so that a checkpoint's config always rebuilds the same run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from mlrkit.config import LOSS_SETUPS, Config, DataConfig
from mlrkit.data import build_dataset, eval_transform, make_digit_scenes, train_transform
from mlrkit.distributed import ShardSampler, barrier, dist_info
from mlrkit.losses import MultiLabelObjective
from mlrkit.models import build_model as _build_model


class CachedDataset(Dataset):
    """All items of a dataset decoded and transformed once, kept in memory as one tensor.

    Only valid for a deterministic transform (checked by ``mlrkit.config.validate``): every epoch
    sees the same tensors. For the 64 px digits, JPEG decoding costs more than the network.

    Attributes:
        images: ``(N, 3, H, W)`` float32; ``targets``: ``(N, K)``; ``classes``; ``paths`` (if the
        source had them).
    """

    def __init__(self, dataset: Dataset, num_workers: int = 0, progress: bool = False) -> None:
        loader = DataLoader(dataset, batch_size=256, shuffle=False, num_workers=num_workers)
        batches = [images for images, _ in tqdm(loader, desc="caching", disable=not progress)]
        self.images = torch.cat(batches)  # (N, 3, H, W)
        self.targets: torch.Tensor = dataset.targets  # type: ignore[attr-defined]
        self.classes: tuple[str, ...] = tuple(dataset.classes)  # type: ignore[attr-defined]
        self.paths = list(getattr(dataset, "paths", []))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]


class LimitedDataset(Subset):
    """The first ``n`` items of a dataset, keeping ``classes``, ``targets`` and ``paths``."""

    def __init__(self, dataset: Dataset, n: int) -> None:
        super().__init__(dataset, range(min(n, len(dataset))))  # type: ignore[arg-type]
        self.classes = tuple(dataset.classes)  # type: ignore[attr-defined]
        self.targets = dataset.targets[: len(self.indices)]  # type: ignore[attr-defined]
        paths = getattr(dataset, "paths", None)
        self.paths = list(paths[: len(self.indices)]) if paths is not None else []


def ensure_digits(data: DataConfig) -> Path:
    """Generate the embedded dataset into ``data.root`` when it is missing (``kind="digits"``)."""
    root = Path(data.root)
    marker = root / "annotations" / "instances_val.json"
    if data.kind == "digits" and data.generate_if_missing and not marker.exists():
        if dist_info().is_main:
            make_digit_scenes(root)
        barrier()  # the other ranks wait until rank 0 has written it
    return root


def build_split(data: DataConfig, split: str, mean: Any, std: Any, train: bool) -> Dataset:
    """One split with the training or evaluation transform (cached/limited per config)."""
    if train:
        transform = train_transform(
            data.image_size, mean, std, hflip=data.hflip, randaugment=data.randaugment
        )
    else:
        transform = eval_transform(data.image_size, mean, std)
    root = data.root if (train or data.val_root is None) else data.val_root
    dataset = build_dataset(data.kind, root, split, transform=transform, **data.policy)
    limit = data.limit_train if train else data.limit_val
    if limit is not None:
        dataset = LimitedDataset(dataset, limit)
    if data.cache:
        dataset = CachedDataset(dataset, num_workers=data.num_workers)
    return dataset


def build_datasets(cfg: Config, mean: Any, std: Any) -> tuple[Dataset, Dataset]:
    """Training and validation datasets for ``cfg.data`` (mean/std from the model's weights)."""
    ensure_digits(cfg.data)
    train = build_split(cfg.data, cfg.data.train_split, mean, std, train=True)
    val = build_split(cfg.data, cfg.data.val_split, mean, std, train=False)
    if tuple(train.classes) != tuple(val.classes):  # type: ignore[attr-defined]
        raise ValueError(
            f"train and val classes differ in {cfg.data.root}: {train.classes} vs {val.classes}"  # type: ignore[attr-defined]
        )
    return train, val


def build_model(cfg: Config, num_classes: int) -> nn.Module:
    """``mlrkit.models.build_model`` with the config's model section."""
    m = cfg.model
    return _build_model(
        m.backbone,
        head=m.head,
        num_classes=num_classes,
        pretrained=m.pretrained,
        embed_dim=m.embed_dim,
        **m.head_kwargs,
    )


def objective_kwargs(cfg: Config, stage: int) -> dict[str, Any]:
    """Keyword arguments of ``MultiLabelObjective`` for the setup and SADCL stage (1 or 2)."""
    kwargs = dict(LOSS_SETUPS[cfg.loss.setup])
    if cfg.loss.setup == "sadcl" and stage == 1:
        kwargs["sadcl"] = False  # stage 1 trains the base model with ASL only
    if kwargs["sadcl"]:
        kwargs["bank_size"] = cfg.optim.batch_size  # one bank slot per image of a batch
    kwargs.update(cfg.loss.objective_kwargs)
    return kwargs


def build_objective(cfg: Config, model: nn.Module, stage: int = 1) -> nn.Module:
    """``MultiLabelObjective`` for ``cfg.loss`` (SADCL: stage 1 = ASL, stage 2 = + SSCL/PSCL)."""
    feature_dim = getattr(model, "feature_dim", None)
    return MultiLabelObjective(model.num_classes, feature_dim, **objective_kwargs(cfg, stage))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) derived from the run seed (stable across resumes)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_loader(dataset: Dataset, cfg: Config, device: torch.device) -> DataLoader:
    """Shuffled training loader; call :func:`set_loader_epoch` before each epoch.

    The sampler's generator (single process) or ``DistributedSampler.set_epoch`` (several) and
    the loader's generator (worker seeds) are reseeded from ``(seed, epoch)``, so epoch ``e`` is the
    same whether or not the run was interrupted before it.
    """
    info = dist_info()
    generator = torch.Generator()
    if info.distributed:
        sampler: Any = DistributedSampler(dataset, shuffle=True, seed=cfg.train.seed)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    per_rank = len(sampler)
    return DataLoader(
        dataset,
        batch_size=cfg.optim.batch_size,
        sampler=sampler,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
        # A trailing batch of one image breaks BatchNorm; drop it when there is more than one.
        drop_last=per_rank > cfg.optim.batch_size,
        generator=generator,
    )


def set_loader_epoch(loader: DataLoader, seed: int, epoch: int) -> None:
    """Reseed the loader's sampler and workers for ``epoch`` (0-based)."""
    s = epoch_seed(seed, epoch)
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    if loader.generator is not None:
        loader.generator.manual_seed(s)


def eval_loader(dataset: Dataset, cfg: Config, device: torch.device, shard: bool) -> DataLoader:
    """In-order evaluation loader; ``shard`` splits it over ranks without padding."""
    sampler = ShardSampler(dataset) if shard else None
    return DataLoader(
        dataset,
        batch_size=cfg.optim.batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
    )
