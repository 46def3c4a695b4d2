"""Classification losses: ASL (Ridnik et al., ICCV 2021), with BCE and focal loss as special cases.

One function computes all three (docs/method.md, "Classification losses"), so the
baselines differ from ASL only in their arguments:

* BCE (sum)            = ``asymmetric_loss(gamma_neg=0, gamma_pos=0, clip=0)``
* focal, alpha = -1    = ``asymmetric_loss(gamma_neg=g, gamma_pos=g, clip=0)``
  (torchvision.ops.sigmoid_focal_loss with ``alpha=-1``)

**Detaching the focusing weight.** The released code detaches it: Alibaba-MIIL/ASL's
``AsymmetricLoss`` on its main branch (``src/loss_functions/losses.py``, commit 8c9e0bd) takes
``disable_torch_grad_focal_loss`` and its training script passes ``True``, which computes
``(1 - p_t)^gamma`` with grad mode off, so the weight is a constant in backward. (Its
``AsymmetricLossOptimized`` defaults to ``False``; SADCL's copy,
``code/lib_sadcl/models/loss/aslloss.py``, defaults to ``False`` in both classes.) mlrkit exposes
one flag, ``detach_focal_weight``, default ``False``: the gradient is the analytic gradient of the
loss as the paper writes it, the definition every closed-form check here (BCE, focal) uses, and
what the focal-loss implementations (torchvision) compute. Pass ``True`` to reproduce the released
training gradients; it detaches the weight through ``.detach()``, never by toggling grad mode
globally. The flag changes gradients, never values (see docs/method.md, "ASL").
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.losses._common import compute_dtype, full_precision

Reduction = Literal["sum", "mean", "none"]


def asymmetric_loss(
    logits: Tensor,
    targets: Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> Tensor:
    """Asymmetric loss for multi-label classification.

    With ``p = sigmoid(logit)`` and the shifted probability ``p_m = max(p - clip, 0)``::

        L = -sum_{b,k} [ y (1 - p)^gamma_pos log(p) + (1 - y) p_m^gamma_neg log(1 - p_m) ]

    where the logarithms are clamped below at ``log(eps)`` (as in the reference ASL code).
    Entries with ``y = -1`` are ignored. Computed in float32 (float64 if the logits are float64)
    with autocast switched off locally.

    Args:
        logits: ``(B, K)`` raw scores (any float dtype).
        targets: ``(B, K)`` in {1, 0, -1 (ignore)}.
        gamma_neg: focusing exponent of negatives (ASL default 4).
        gamma_pos: focusing exponent of positives (ASL default 0).
        clip: probability margin shifted off negatives (``0`` disables it).
        eps: lower clamp of the probabilities inside the logs (``0`` disables it).
        reduction: ``"sum"`` (default, as ASL) over the non-ignored entries, ``"mean"`` over the
            non-ignored entries, or ``"none"`` for the ``(B, K)`` map (zeros where ignored).
        detach_focal_weight: treat the focusing weight ``(1 - p_t)^gamma`` as a constant in the
            backward pass (see the module docstring for what the public copies do).

    Returns:
        A scalar, or ``(B, K)`` with ``reduction="none"``.
    """
    if logits.shape != targets.shape:
        raise InvalidInputError(
            f"asymmetric_loss: logits {tuple(logits.shape)} and targets {tuple(targets.shape)} "
            "must have the same (B, K) shape"
        )
    if reduction not in ("sum", "mean", "none"):
        raise InvalidInputError(
            f"asymmetric_loss: reduction must be 'sum', 'mean' or 'none', got {reduction!r}"
        )
    dtype = compute_dtype(logits)
    with full_precision(logits.device):
        x = logits.to(dtype)
        known = targets != -1
        y = (targets == 1).to(dtype)
        log_floor = math.log(eps) if eps > 0 else -math.inf
        p = torch.sigmoid(x)
        # log(max(p, eps)) through logsigmoid: exact for large |logit| where p underflows
        log_p = F.logsigmoid(x).clamp(min=log_floor)
        if clip > 0:
            one_minus_pm = (1.0 - p + clip).clamp(max=1.0)  # 1 - max(p - clip, 0)
            log_1m_pm = torch.log(one_minus_pm.clamp(min=max(eps, 1e-45)))
        else:
            one_minus_pm = 1.0 - p
            log_1m_pm = F.logsigmoid(-x).clamp(min=log_floor)
        loss = y * log_p + (1.0 - y) * log_1m_pm
        if gamma_neg > 0 or gamma_pos > 0:
            # 1 - p_t is (1 - p) for positives and p_m for negatives
            base = y * (1.0 - p) + (1.0 - y) * (1.0 - one_minus_pm)
            gamma = gamma_pos * y + gamma_neg * (1.0 - y)
            weight = torch.pow(base, gamma)
            if detach_focal_weight:
                weight = weight.detach()
            loss = loss * weight
        loss = torch.where(known, -loss, torch.zeros_like(loss))
        if reduction == "none":
            return loss
        if reduction == "mean":
            return loss.sum() / known.sum().clamp(min=1)
        return loss.sum()


def binary_cross_entropy_loss(
    logits: Tensor, targets: Tensor, reduction: Reduction = "sum"
) -> Tensor:
    """BCE with logits over non-ignored entries: ``asymmetric_loss`` with gammas 0 and clip 0.

    Args:
        logits: ``(B, K)``.
        targets: ``(B, K)`` in {1, 0, -1 (ignore)}.
        reduction: ``"sum"`` (default, same scale as ASL), ``"mean"`` or ``"none"``.
    """
    return asymmetric_loss(
        logits, targets, gamma_neg=0.0, gamma_pos=0.0, clip=0.0, eps=0.0, reduction=reduction
    )


def focal_loss(
    logits: Tensor,
    targets: Tensor,
    gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> Tensor:
    """Sigmoid focal loss without alpha balancing (torchvision's ``alpha=-1``).

    ``L = -sum [ y (1-p)^g log p + (1-y) p^g log(1-p) ]`` = ``asymmetric_loss(g, g, clip=0)``.
    """
    return asymmetric_loss(
        logits,
        targets,
        gamma_neg=gamma,
        gamma_pos=gamma,
        clip=0.0,
        eps=0.0,
        reduction=reduction,
        detach_focal_weight=detach_focal_weight,
    )


class AsymmetricLoss(nn.Module):
    """Module form of :func:`asymmetric_loss`; the arguments are stored, nothing is learnt."""

    def __init__(
        self,
        gamma_neg: float = 4.0,
        gamma_pos: float = 0.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        reduction: Reduction = "sum",
        detach_focal_weight: bool = False,
    ) -> None:
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps
        self.reduction: Reduction = reduction
        self.detach_focal_weight = detach_focal_weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Apply :func:`asymmetric_loss` with the stored arguments."""
        return asymmetric_loss(
            logits,
            targets,
            gamma_neg=self.gamma_neg,
            gamma_pos=self.gamma_pos,
            clip=self.clip,
            eps=self.eps,
            reduction=self.reduction,
            detach_focal_weight=self.detach_focal_weight,
        )

    def extra_repr(self) -> str:
        return (
            f"gamma_neg={self.gamma_neg}, gamma_pos={self.gamma_pos}, clip={self.clip}, "
            f"eps={self.eps}, reduction={self.reduction!r}, "
            f"detach_focal_weight={self.detach_focal_weight}"
        )
