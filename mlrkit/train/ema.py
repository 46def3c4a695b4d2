"""Exponential moving average of model weights (evaluated and reported separately).

``ema = d * ema + (1 - d) * weights`` after every optimiser step, with the timm/torchvision
warm-up ``d_t = min(decay, (1 + t) / (10 + t))`` so early averages are not dominated by the random
initialisation. Buffers (BatchNorm statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from mlrkit.errors import InvalidInputError


class ModelEMA(nn.Module):
    """A frozen copy of ``model`` whose weights track an EMA of the training weights.

    Args:
        model: the model being trained (unwrapped, not the DDP wrapper).
        decay: target decay ``d`` (e.g. 0.9997, the COCO recipe's).
        warmup: use ``min(decay, (1 + t) / (10 + t))`` at update ``t``.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise InvalidInputError(f"EMA decay must be in (0, 1), got {decay}")
        self.module = copy.deepcopy(model).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)
        # Parameters are averaged, everything else in the state dict (buffers) is copied.
        self._param_names = frozenset(name for name, _ in self.module.named_parameters())
        self.decay = decay
        self.warmup = warmup
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """Decay used by the next :meth:`update`."""
        t = int(self.num_updates)
        return min(self.decay, (1 + t) / (10 + t)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the EMA towards ``model``'s current weights."""
        d = self.current_decay()
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if value.dtype.is_floating_point and name in self._param_names:
                target.lerp_(value.detach().to(target.dtype), 1.0 - d)
            else:
                target.copy_(value)
        self.num_updates += 1

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)
