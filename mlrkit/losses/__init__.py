"""Losses: ASL/BCE/focal, the discriminative losses (variants A and B), SADCL's SSCL and PSCL.

Every loss is a typed function plus a thin ``nn.Module``; inputs are ``(B, K, ...)`` tensors
with targets in {1, 0, -1 (ignore)}. :class:`MultiLabelObjective` composes the parts it is
given; :func:`build_objective` builds the named setups (``bce``, ``asl``, ``disc-contrastive``,
``disc-center``, ``sadcl``). The science is in docs/method.md.
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
from mlrkit.losses.objective import DISC_WEIGHT, MultiLabelObjective
from mlrkit.losses.projection import ProjectionMLP
from mlrkit.losses.prototypes import PrototypeAccumulator
from mlrkit.losses.sadcl import (
    PSCLLoss,
    SADCLTerms,
    pscl_loss,
    released_asl_ratio,
    sscl_loss,
)
from mlrkit.losses.setups import LOSS_SETUPS, build_objective, classification_loss, setup_options

__all__ = [
    "DISC_WEIGHT",
    "LOSS_SETUPS",
    "AsymmetricLoss",
    "CenterMarginLoss",
    "ClassContrastiveLoss",
    "MemoryBank",
    "MultiLabelObjective",
    "PSCLLoss",
    "ProjectionMLP",
    "PrototypeAccumulator",
    "SADCLTerms",
    "asymmetric_loss",
    "binary_cross_entropy_loss",
    "build_objective",
    "center_margin_loss",
    "class_contrastive_loss",
    "classification_loss",
    "focal_loss",
    "pscl_loss",
    "released_asl_ratio",
    "setup_options",
    "sscl_loss",
]
