"""The model's output type, shared by every head."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class ModelOutput(NamedTuple):
    """What every mlrkit model returns (a NamedTuple so it passes through DDP and ``torch.jit``).

    Attributes:
        logits: ``(B, K)`` class scores before the sigmoid.
        class_features: ``(B, K, D)`` one feature vector per image and class, or ``None`` for
            heads without class-specific features (``gap``).
        attention: ``(B, K, H, W)`` where each class looks (sums to 1 over ``H, W``), or ``None``.
    """

    logits: Tensor
    class_features: Tensor | None = None
    attention: Tensor | None = None
