"""Helpers shared by the losses: input checks, float32 compute, the graph-keeping zero."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from mlrkit.errors import InvalidInputError


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype a loss is computed in: float32, or float64 when an input already is.

    bf16/fp16 inputs are promoted so that exp/log and similarity sums never overflow or lose
    the small differences contrastive losses live on.
    """
    dtype = torch.float32
    for t in tensors:
        if t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Switch autocast off locally so matmuls inside a loss stay in the compute dtype.

    Only the autocast state of this block changes; grad mode is never touched.
    """
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def check_pairs(embeddings: Tensor, targets: Tensor, name: str) -> None:
    """Check that ``embeddings (B, K, D)`` and ``targets (B, K)`` agree.

    Raises:
        ValueError: naming the loss and the shapes received.
    """
    if embeddings.dim() != 3:
        raise InvalidInputError(
            f"{name}: embeddings must be (B, K, D), got shape {tuple(embeddings.shape)}; "
            "pass the class features of a class-specific head (ModelOutput.class_features)"
        )
    if targets.shape != embeddings.shape[:2]:
        raise InvalidInputError(
            f"{name}: targets must be (B, K) = {tuple(embeddings.shape[:2])} to match the "
            f"embeddings, got {tuple(targets.shape)}"
        )


def graph_zero(*tensors: Tensor | None) -> Tensor:
    """A zero (in the compute dtype) connected to every input that requires grad.

    Returned when no term is defined (e.g. no anchor has a positive partner), so that
    ``loss.backward()`` still runs and every input receives a (zero) gradient instead of
    ``None`` or NaN. ``nan_to_num`` guards against non-finite values in entries that take
    no part in the loss (ignored or absent pairs), which must not poison the zero.
    """
    present = [t for t in tensors if t is not None]
    dtype = compute_dtype(*present)
    zero = None
    for t in present:
        part = torch.nan_to_num(t.to(dtype), nan=0.0, posinf=0.0, neginf=0.0).sum() * 0.0
        zero = part if zero is None else zero + part
    if zero is None:
        raise InvalidInputError("graph_zero needs at least one tensor")
    return zero
