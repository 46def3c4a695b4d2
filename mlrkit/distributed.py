"""torch.distributed helpers: init from torchrun's environment, rank queries, samplers.

Under ``torchrun --nproc_per_node=N`` each process sees ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and joins the process
group (NCCL on CUDA, gloo otherwise). Without them everything runs as a single process.

Training shards with :class:`torch.utils.data.DistributedSampler` (reseeded per epoch through
``set_epoch``); evaluation uses :class:`ShardSampler`, which never pads, so metrics gathered over
all ranks see every validation image exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, Sampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (and in a single process): the only rank that writes files."""
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """Read torchrun's environment variables (single process when they are absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group described by the environment (no-op for a single process).

    Args:
        backend: ``"nccl"``, ``"gloo"``; None picks NCCL when CUDA is available, else gloo.

    Returns:
        This process's :class:`DistInfo`. Under CUDA the current device is set to ``local_rank``.
    """
    info = env_dist_info()
    if not info.distributed:
        return info
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank)
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def dist_info() -> DistInfo:
    """The current process group's rank and size (single process when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    return DistInfo()


def barrier() -> None:
    """Wait for every rank (no-op for a single process)."""
    if dist_info().distributed:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Deterministic, unpadded evaluation shard: rank ``r`` of ``w`` gets indices ``r, r+w, ...``.

    Unlike :class:`~torch.utils.data.DistributedSampler`, no index is repeated to even out the
    shards, so gathering scores over ranks reproduces the single-process set exactly (in a
    different order, which AP does not depend on).
    """

    def __init__(self, dataset: Dataset, rank: int | None = None, world_size: int | None = None):
        info = dist_info()
        self.num_items = len(dataset)  # type: ignore[arg-type]
        self.rank = info.rank if rank is None else rank
        self.world_size = info.world_size if world_size is None else world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.world_size))


def all_reduce_mean(
    values: dict[str, float], device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Average a dict of floats over ranks (identity for a single process)."""
    if not dist_info().distributed or not values:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, tensor.tolist(), strict=True)}


def all_reduce_sum(value: float, device: torch.device | str = "cpu") -> float:
    """Sum a float over ranks (identity for a single process)."""
    if not dist_info().distributed:
        return float(value)
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item())


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy every buffer (e.g. BatchNorm running statistics) of rank ``src`` to all ranks.

    DDP broadcasts buffers at the start of each training forward, so after the last step each
    rank holds the statistics updated by its own last batch. Evaluating sharded data with those
    would mix slightly different models; rank ``src``'s are the ones saved in the checkpoint.
    """
    if not dist_info().distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=src)


def average_gradients(module: nn.Module) -> None:
    """All-reduce and average the gradients of a module that is not wrapped in DDP.

    The objective (projection MLP, prototypes) lives outside the DDP-wrapped model; its
    gradients are averaged here so every rank takes the same optimiser step.
    """
    if not dist_info().distributed:
        return
    world = dist.get_world_size()
    for param in module.parameters():
        if not param.requires_grad:
            continue
        if param.grad is None:
            # A rank that did not use a parameter still has to take part in the reduction.
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad /= world
