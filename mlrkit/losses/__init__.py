"""Losses: ASL/BCE/focal, the discriminative losses (variants A and B), SADCL's SSCL and PSCL.

Every loss is a typed function plus a thin ``nn.Module``; inputs are ``(B, K, ...)`` tensors
with targets in {1, 0, -1 (ignore)}. :class:`MultiLabelObjective` combines them by config.
"""

from mlrkit.losses.classification import (
    AsymmetricLoss,
    asymmetric_loss,
    binary_cross_entropy_loss,
    focal_loss,
)
from mlrkit.losses.discriminative import (
    CenterMarginLoss,
    ClassContrastiveLoss,
    center_margin_loss,
    class_contrastive_loss,
)
from mlrkit.losses.memory import MemoryBank
from mlrkit.losses.objective import MultiLabelObjective
from mlrkit.losses.projection import ProjectionMLP
from mlrkit.losses.prototypes import init_prototypes
from mlrkit.losses.sadcl import PSCLLoss, pscl_loss, sscl_loss

__all__ = [
    "AsymmetricLoss",
    "CenterMarginLoss",
    "ClassContrastiveLoss",
    "MemoryBank",
    "MultiLabelObjective",
    "PSCLLoss",
    "ProjectionMLP",
    "asymmetric_loss",
    "binary_cross_entropy_loss",
    "center_margin_loss",
    "class_contrastive_loss",
    "focal_loss",
    "init_prototypes",
    "pscl_loss",
    "sscl_loss",
]
