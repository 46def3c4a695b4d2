"""Array inputs shared by the metrics, the feature-space tools and the plots (layer 0)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlrkit.errors import InvalidInputError


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array: a tensor detached and moved to the CPU, anything else as is.

    Half-precision tensors are widened to float32 (exact; numpy has no bfloat16); nothing is
    ever narrowed.

    Raises:
        InvalidInputError: ``x`` cannot be turned into an array (names ``name``).
    """
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise InvalidInputError(
            f"`{name}` must be a torch tensor, a numpy array or a sequence, got {type(x).__name__}."
        ) from err
