"""SADCL's memory bank: the second view of the sample-to-sample contrastive loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError


class MemoryBank(nn.Module):
    """Per-slot, per-class store of confidently-correct class features (not trained).

    Slot ``s`` corresponds to position ``s`` of a training batch, as in the released SADCL
    code. The update rule (docs/method.md, "SADCL as released"; a hard replace)::

        bank[b, k] = feature[b, k]   where y_bk = 1 and sigmoid(logit_bk) > threshold

    The bank starts empty (entries never written are invalid and take no part in the loss);
    :meth:`fill` starts every slot at given class vectors, as the released code starts them at
    its (pre-projection) class prototypes. A batch smaller than the bank updates its first
    ``B`` slots; a larger one grows the bank (new slots start invalid), so nothing is dropped.
    A checkpoint with a different number of slots loads by resizing the bank.

    Buffers:
        features: ``(S, K, D)`` float32 stored features.
        valid: ``(S, K)`` bool, entries that hold a feature.

    Args:
        num_slots: ``S``, normally the per-process training batch size.
        num_classes: ``K``.
        dim: ``D``, the dimension of the stored features.
        threshold: probability a positive must exceed to be stored (SADCL: 0.8).
    """

    def __init__(self, num_slots: int, num_classes: int, dim: int, threshold: float = 0.8) -> None:
        super().__init__()
        self.threshold = threshold
        self.register_buffer("features", torch.zeros(num_slots, num_classes, dim))
        self.register_buffer("valid", torch.zeros(num_slots, num_classes, dtype=torch.bool))

    @property
    def num_slots(self) -> int:
        """``S``, the number of batch slots."""
        return int(self.features.shape[0])

    def _grow(self, num_slots: int) -> None:
        extra = num_slots - self.num_slots
        self.features = torch.cat(
            [self.features, self.features.new_zeros(extra, *self.features.shape[1:])]
        )
        self.valid = torch.cat([self.valid, self.valid.new_zeros(extra, self.valid.shape[1])])

    @torch.no_grad()
    def fill(self, class_vectors: Tensor) -> None:
        """Start every slot at the class vectors: ``bank[s, k] = class_vectors[k]``, all valid.

        Args:
            class_vectors: ``(K, D)`` one vector per class (SADCL: the class means of the
                stage-1 model's confidently-correct class features).
        """
        if tuple(class_vectors.shape) != tuple(self.features.shape[1:]):
            raise InvalidInputError(
                f"MemoryBank.fill: expected class vectors {tuple(self.features.shape[1:])}, got "
                f"{tuple(class_vectors.shape)}"
            )
        self.features.copy_(class_vectors.to(self.features).expand_as(self.features))
        self.valid.fill_(True)

    @torch.no_grad()
    def update(self, features: Tensor, logits: Tensor, targets: Tensor) -> int:
        """Store the confidently-correct positives of a batch (hard replace, under no_grad).

        Args:
            features: ``(B, K, D)`` class features of the batch (detached here).
            logits: ``(B, K)``.
            targets: ``(B, K)`` in {1, 0, -1}.

        Returns:
            The number of entries written.
        """
        b, k, d = features.shape
        if (
            (k, d) != tuple(self.features.shape[1:])
            or logits.shape != (b, k)
            or targets.shape != (b, k)
        ):
            raise InvalidInputError(
                f"MemoryBank.update: expected features (B, {self.features.shape[1]}, "
                f"{self.features.shape[2]}), logits and targets (B, K); got "
                f"{tuple(features.shape)}, {tuple(logits.shape)}, {tuple(targets.shape)}"
            )
        if b > self.num_slots:
            self._grow(b)
        write = (targets == 1) & (torch.sigmoid(logits.float()) > self.threshold)  # (B, K)
        rows = self.features[:b]  # (B, K, D) view into the buffer
        rows[write] = features.detach()[write].to(rows.dtype)
        self.valid[:b] |= write
        return int(write.sum())

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # a checkpoint trained with another batch size has another slot count: adopt it
        stored = state_dict.get(prefix + "features")
        if (
            isinstance(stored, Tensor)
            and stored.shape[1:] == self.features.shape[1:]
            and stored.shape[0] != self.num_slots
        ):
            self.features = self.features.new_zeros(stored.shape)
            self.valid = self.valid.new_zeros(stored.shape[:2])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        s, k, d = self.features.shape
        return f"num_slots={s}, num_classes={k}, dim={d}, threshold={self.threshold}"
