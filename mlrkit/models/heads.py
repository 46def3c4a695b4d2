"""Heads that turn a feature map ``(B, C, H, W)`` into a :class:`ModelOutput`.

* :class:`ClassAttentionHead` (default, docs/method.md, a **reconstruction** of the
  class-specific feature disentangling of Hassanin et al. 2022, close to CSRA): per-class
  spatial attention gives one feature vector per class, classified by a group-wise linear layer.
* :class:`~mlrkit.models.query_head.QueryHead`: Query2Label/SADCL-style transformer decoder.
* :class:`GapHead`: global average pooling + linear, the classic baseline (no class features).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.models.output import ModelOutput


class GroupWiseLinear(nn.Module):
    """One linear classifier per class: ``logit_{b,k} = w_k . F_{b,k} + b_k``.

    Vectorised as an elementwise product and a sum over D (no loop over classes).

    Args:
        num_classes: K.
        dim: D, the class feature size.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))  # (K, D)
        self.bias = nn.Parameter(torch.empty(num_classes))  # (K,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Query2Label's initialisation: U(-1/sqrt(D), 1/sqrt(D)) for weights and biases.
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, features: Tensor) -> Tensor:
        """Map class features ``(B, K, D)`` to logits ``(B, K)``."""
        return (features * self.weight).sum(dim=-1) + self.bias


class ClassAttentionHead(nn.Module):
    """Class-specific features by per-class spatial attention (docs/method.md).

    With ``X`` the map flattened to ``(B, C, N)``, ``N = H W``:

    * score maps ``S = W_s X`` (a 1x1 conv, one filter per class) ``-> (B, K, N)``;
    * attention ``A_k = softmax_n(T S_k)``; large T approaches the spatial max;
    * class features ``F_k = sum_n A_{k,n} X_{:,n} + lambda * mean_n X_{:,n}`` ``-> (B, K, C)``,
      where the residual GAP term (weight ``lambda = residual_gap``, off by default) gives every
      class a share of the global context, as CSRA does on the logits;
    * optional shared projection ``F <- F P^T``, ``P in R^{D x C}`` (when ``embed_dim`` is set);
    * logits by :class:`GroupWiseLinear`.

    The score conv has no bias: a per-class constant cancels in the softmax over positions, so a
    bias would never receive a gradient.

    Args:
        in_channels: C.
        num_classes: K.
        embed_dim: D of the shared projection; ``None`` keeps ``D = C``.
        temperature: T > 0.
        residual_gap: lambda >= 0, weight of the global-average-pool term.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        embed_dim: int | None = None,
        temperature: float = 1.0,
        residual_gap: float = 0.0,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise InvalidInputError(f"temperature must be > 0, got {temperature}.")
        if residual_gap < 0:
            raise InvalidInputError(f"residual_gap must be >= 0, got {residual_gap}.")
        self.temperature = float(temperature)
        self.residual_gap = float(residual_gap)
        self.score = nn.Conv2d(in_channels, num_classes, kernel_size=1, bias=False)
        self.projection = nn.Linear(in_channels, embed_dim) if embed_dim else nn.Identity()
        self.feature_dim: int = embed_dim or in_channels
        self.classifier = GroupWiseLinear(num_classes, self.feature_dim)

    def forward(self, x: Tensor) -> ModelOutput:
        """Map ``x`` ``(B, C, H, W)`` to logits ``(B, K)``, features ``(B, K, D)`` and attention."""
        b, _, h, w = x.shape
        scores = self.score(x).flatten(2)  # (B, K, N)
        attention = F.softmax(self.temperature * scores, dim=-1)  # (B, K, N)
        flat = x.flatten(2)  # (B, C, N)
        features = torch.einsum("bkn,bcn->bkc", attention.to(flat.dtype), flat)  # (B, K, C)
        if self.residual_gap > 0:
            features = features + self.residual_gap * flat.mean(dim=-1).unsqueeze(1)
        features = self.projection(features)  # (B, K, D)
        logits = self.classifier(features)
        return ModelOutput(logits, features, attention.view(b, -1, h, w))  # attention (B, K, H, W)


class GapHead(nn.Module):
    """Baseline: ``logits = W mean_{hw}(X) + b``; no class features, no attention."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)
        self.feature_dim: int | None = None

    def forward(self, x: Tensor) -> ModelOutput:
        """Map ``x`` ``(B, C, H, W)`` to logits ``(B, K)``."""
        return ModelOutput(self.fc(x.mean(dim=(2, 3))), None, None)
