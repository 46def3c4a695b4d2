"""Data loaders with per-epoch seeding, and three dataset wrappers (cache, subset, first N).

The training loader is reseeded from ``(seed, epoch)`` before each epoch
(:func:`set_loader_epoch`), so epoch ``e`` sees the same batches whether or not the run was
interrupted before it. The evaluation loader keeps the dataset order and, under
torch.distributed, shards it without padding (:class:`mlrkit.distributed.ShardSampler`), so
gathered metrics see every image exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from mlrkit.distributed import ShardSampler, dist_info
from mlrkit.runtime import epoch_seed

__all__ = [
    "CachedDataset", "LimitedDataset", "SubsetDataset", "eval_loader", "set_loader_epoch",
    "train_loader",
]  # fmt: skip


class CachedDataset(Dataset):
    """All items of a dataset decoded and transformed once, kept in memory as one tensor.

    Only valid for a deterministic transform (the config refuses ``data.cache`` with flips or
    RandAugment): every epoch sees the same tensors. For the 64 px digits, JPEG decoding costs
    more than the network.

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


class SubsetDataset(Subset):
    """The items ``indices`` of a dataset, in that order, keeping ``classes``, ``targets``
    (``(len(indices), K)``) and ``paths``; ``indices`` records where each item came from."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        super().__init__(dataset, [int(i) for i in indices])
        self.classes = tuple(dataset.classes)  # type: ignore[attr-defined]
        self.targets = dataset.targets[torch.as_tensor(self.indices, dtype=torch.long)]  # type: ignore[attr-defined]
        paths = getattr(dataset, "paths", None)
        self.paths = [paths[i] for i in self.indices] if paths is not None else []


class LimitedDataset(SubsetDataset):
    """The first ``n`` items of a dataset, keeping ``classes``, ``targets`` and ``paths``."""

    def __init__(self, dataset: Dataset, n: int) -> None:
        super().__init__(dataset, range(min(n, len(dataset))))  # type: ignore[arg-type]


def train_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Shuffled training loader; call :func:`set_loader_epoch` before each epoch.

    A single process shuffles with a ``RandomSampler`` on the loader's generator; several
    processes (torchrun) use ``DistributedSampler(seed=seed)``. A trailing batch of one image
    breaks BatchNorm, so the last incomplete batch is dropped when there is more than one batch.
    """
    generator = torch.Generator()
    if dist_info().distributed:
        sampler: Any = DistributedSampler(dataset, shuffle=True, seed=seed)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=len(sampler) > batch_size,
        generator=generator,
    )


def set_loader_epoch(loader: DataLoader, seed: int, epoch: int) -> None:
    """Reseed the loader's sampler and workers for ``epoch`` (0-based) from ``(seed, epoch)``."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    if loader.generator is not None:
        loader.generator.manual_seed(epoch_seed(seed, epoch))


def eval_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shard: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """In-order evaluation loader; ``shard`` splits it over ranks without padding."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(dataset) if shard else None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
