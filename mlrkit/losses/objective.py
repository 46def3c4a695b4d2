"""The training objective, composed from parts: ``L = L_cls + lambda L_disc + SADCL terms``.

Like pytorch-metric-learning's ``MultipleLosses``, the objective holds parts that were built
and passed in, each owning its own state (the projection MLP, variant B's EMA centres, SADCL's
memory bank and prototypes); it only projects the class features once, calls each part and
weights the terms. The named setups (``bce``, ``asl``, ``disc-contrastive``, ``disc-center``,
``sadcl``) are small builders of this composition in :mod:`mlrkit.losses.setups`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.losses.projection import ProjectionMLP
from mlrkit.losses.sadcl import SADCLTerms, released_asl_ratio

# lambda, the weight of variants A and B: written once, here
DISC_WEIGHT = 1.0

if TYPE_CHECKING:
    from mlrkit.models import ModelOutput


class MultiLabelObjective(nn.Module):
    """``L = L_cls + disc_weight * L_disc + sscl_weight * L_SSCL + pscl_weight * L_PSCL``.

    ``forward`` returns the *unweighted* terms (``"cls"``, and ``"disc"`` / ``"sscl"`` /
    ``"pscl"`` when those parts are present) and the weighted total under ``"loss"``;
    ``self.weights`` holds the weights, so notebooks can plot each term. In training mode,
    stateful parts (EMA centres, memory bank) update themselves after their loss was computed
    with the previous state, as SADCL does. SADCL's weights are relative to the released ASL
    scale unless its ``released_scale`` is off: the SSCL and PSCL terms are then weighted by
    ``weight * r`` with ``r`` from :func:`mlrkit.losses.sadcl.released_asl_ratio`.

    Args:
        classification: ``(logits (B, K), targets (B, K)) -> scalar``, e.g.
            :class:`~mlrkit.losses.AsymmetricLoss` (BCE, focal and ASL are its settings).
        projection: maps class features ``(B, K, C)`` to embeddings ``(B, K, D)``; the
            discriminative and SADCL terms act on its output (required by them).
        discriminative: ``(embeddings (B, K, D), targets (B, K)) -> scalar``, e.g.
            :class:`~mlrkit.losses.ClassContrastiveLoss` (variant A) or
            :class:`~mlrkit.losses.CenterMarginLoss` (variant B); None for none.
        disc_weight: lambda, the weight of the discriminative term.
        sadcl: SADCL's SSCL and PSCL terms with their weights (:class:`SADCLTerms`); None for none.

    Raises:
        InvalidInputError: a discriminative or SADCL part without a projection; a negative or
            non-finite weight.
    """

    def __init__(
        self,
        classification: nn.Module,
        projection: ProjectionMLP | None = None,
        discriminative: nn.Module | None = None,
        disc_weight: float = DISC_WEIGHT,
        sadcl: SADCLTerms | None = None,
    ) -> None:
        super().__init__()
        weights = {"disc_weight": disc_weight}
        if sadcl is not None:
            weights |= {"sscl_weight": sadcl.sscl_weight, "pscl_weight": sadcl.pscl_weight}
        for name, value in weights.items():
            # a negative weight would reward the loss it weighs: pushing same-class features
            # apart is never what a user meant
            if not math.isfinite(float(value)) or float(value) < 0:
                raise InvalidInputError(
                    f"{name} must be a finite number >= 0 (0 turns the term off), got {value!r}"
                )
        if projection is None and (discriminative is not None or sadcl is not None):
            raise InvalidInputError(
                "MultiLabelObjective: discriminative and SADCL terms act on projected class "
                "features; pass projection=ProjectionMLP(model.feature_dim, embed_dim)"
            )
        self.classification = classification
        self.projection = projection
        self.discriminative = discriminative
        self.sadcl = sadcl
        self.weights: dict[str, float] = {"cls": 1.0}
        if discriminative is not None:
            self.weights["disc"] = float(disc_weight)
        if sadcl is not None:
            self.weights.update(sscl=sadcl.sscl_weight, pscl=sadcl.pscl_weight)

    def embed(self, class_features: Tensor) -> Tensor:
        """The embeddings the discriminative terms see: ``(..., C) -> (..., D)`` (not normalised).

        Raises:
            InvalidInputError: the objective has no projection (a ``bce`` / ``asl`` setup).
        """
        if self.projection is None:
            raise InvalidInputError(
                "this objective has no projection head (its setup uses a classification loss "
                "only); use the class features themselves"
            )
        return self.projection(class_features)

    def forward(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Compute the named terms and the weighted total.

        Args:
            output: the model's ``ModelOutput`` (``logits (B, K)``, ``class_features (B, K, C)``).
            targets: ``(B, K)`` in {1, 0, -1}.

        Returns:
            ``{"loss": total, "cls": ..., and "disc" / "sscl" / "pscl" when present}``.
        """
        logits = output.logits
        terms: dict[str, Tensor] = {"cls": self.classification(logits, targets)}
        if self.projection is not None:
            features = output.class_features
            if features is None:
                raise InvalidInputError(
                    "MultiLabelObjective: output.class_features is None (a 'gap' head?) but the "
                    "objective has discriminative/SADCL terms; use a class_attention or query "
                    "head, or a classification-only setup (bce, asl)"
                )
            z = self.projection(features)  # (B, K, D)
            if self.discriminative is not None:
                terms["disc"] = self.discriminative(z, targets)
            if self.sadcl is not None:
                terms.update(self.sadcl(z, features, logits, targets, self.projection))
        scale = dict.fromkeys(terms, 1.0)
        if self.sadcl is not None and self.sadcl.released_scale:
            reduction = getattr(self.classification, "reduction", "sum")
            scale["sscl"] = scale["pscl"] = released_asl_ratio(reduction, targets)
        total = sum(self.weights[name] * scale[name] * value for name, value in terms.items())
        return {"loss": total, **terms}
