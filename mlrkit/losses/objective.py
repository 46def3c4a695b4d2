"""The training objective: classification loss + weighted discriminative terms, chosen by config."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from mlrkit.losses.classification import AsymmetricLoss
from mlrkit.losses.discriminative import CenterMarginLoss, class_contrastive_loss
from mlrkit.losses.memory import MemoryBank
from mlrkit.losses.projection import ProjectionMLP
from mlrkit.losses.prototypes import init_prototypes
from mlrkit.losses.sadcl import AbsentClass, PSCLLoss, sscl_loss

if TYPE_CHECKING:
    from mlrkit.models import ModelOutput

Classification = Literal["asl", "bce", "focal"]
Discriminative = Literal["contrastive", "center"]
_GAMMAS = {"asl": (4.0, 0.0, 0.05), "bce": (0.0, 0.0, 0.0)}  # (gamma_neg, gamma_pos, clip)


class MultiLabelObjective(nn.Module):
    """``L = L_cls + disc_weight * L_disc + sscl_weight * L_SSCL + pscl_weight * L_PSCL``.

    Owns every stateful part of the loss (projection MLP, EMA centres, memory bank, PSCL
    prototypes), so ``state_dict()`` carries them into checkpoints. In training mode, forward
    also updates the EMA centres and the memory bank, under ``no_grad`` and after the loss
    has been computed with the previous state (as SADCL does).

    ``forward`` returns the *unweighted* terms (``"cls"``, ``"disc"``, ``"sscl"``, ``"pscl"``,
    those enabled) and the weighted total under ``"loss"``; ``self.weights`` holds the weights.

    Args:
        num_classes: ``K``.
        feature_dim: ``C`` of ``ModelOutput.class_features`` (``None`` for a ``gap`` head, which
            allows only a classification loss).
        classification: ``"asl"`` (gamma-=4, gamma+=0, clip=0.05), ``"bce"`` or ``"focal"``
            (gamma+ = gamma- = ``focal_gamma``, clip 0); always with ``reduction`` (default sum).
        discriminative: ``None``, ``"contrastive"`` (variant A) or ``"center"`` (variant B).
        sadcl: add SADCL's SSCL (memory bank) and PSCL (prototypes) terms.
        embed_dim: projection output ``D`` (default: ``feature_dim``; SADCL uses 1024).
        disc_weight: lambda of the discriminative term (1.0).
        temperature: variant A temperature (0.2).
        center_margin, center_momentum: variant B margin ``m`` (1.0) and EMA momentum (0.9).
        sscl_weight, pscl_weight: SADCL's weights (100 and 50).
        sscl_temperature, pscl_temperature: 0.2 and 0.07.
        absent_class: PSCL's handling of classes absent from the batch (``"skip"``; see
            :func:`pscl_loss` for ``"released"``).
        bank_size: memory-bank slots (the training batch size; the bank grows if a batch is
            larger).
        bank_threshold: memory-bank update threshold on ``sigmoid(logit)`` (0.8).
        bank_labels: ``"stored"`` (default): a bank entry takes part as a class-``k`` sample iff
            it holds a feature. ``"current"``: the released code's rule, entry ``(b, k)`` takes
            part iff the *current* batch has ``y_bk = 1`` (and the entry holds a feature).
        focal_gamma: gamma of ``"focal"`` (2.0).
        detach_focal_weight: see :func:`asymmetric_loss` (default ``False``).
        reduction: reduction of the classification loss (``"sum"``, as ASL).
    """

    def __init__(
        self,
        num_classes: int,
        feature_dim: int | None = None,
        classification: Classification = "asl",
        discriminative: Discriminative | None = None,
        sadcl: bool = False,
        *,
        embed_dim: int | None = None,
        disc_weight: float = 1.0,
        temperature: float = 0.2,
        center_margin: float = 1.0,
        center_momentum: float = 0.9,
        sscl_weight: float = 100.0,
        pscl_weight: float = 50.0,
        sscl_temperature: float = 0.2,
        pscl_temperature: float = 0.07,
        absent_class: AbsentClass = "skip",
        bank_size: int = 64,
        bank_threshold: float = 0.8,
        bank_labels: Literal["stored", "current"] = "stored",
        focal_gamma: float = 2.0,
        detach_focal_weight: bool = False,
        reduction: Literal["sum", "mean"] = "sum",
    ) -> None:
        super().__init__()
        if classification not in ("asl", "bce", "focal"):
            raise ValueError(
                "MultiLabelObjective: classification must be 'asl', 'bce' or 'focal', "
                f"got {classification!r}"
            )
        if discriminative not in (None, "contrastive", "center"):
            raise ValueError(
                "MultiLabelObjective: discriminative must be None, 'contrastive' or 'center', "
                f"got {discriminative!r}"
            )
        if bank_labels not in ("stored", "current"):
            raise ValueError(
                "MultiLabelObjective: bank_labels must be 'stored' or 'current', "
                f"got {bank_labels!r}"
            )
        needs_features = discriminative is not None or sadcl
        if needs_features and feature_dim is None:
            raise ValueError(
                "MultiLabelObjective: discriminative/SADCL terms need class features; pass "
                "feature_dim=model.feature_dim (a 'gap' head has none: use discriminative=None)"
            )
        self.num_classes = num_classes
        self.classification = classification
        self.discriminative = discriminative
        self.sadcl = sadcl
        gamma_neg, gamma_pos, clip = _GAMMAS.get(classification, (focal_gamma, focal_gamma, 0.0))
        self.cls_loss = AsymmetricLoss(
            gamma_neg,
            gamma_pos,
            clip,
            eps=1e-8 if classification == "asl" else 0.0,
            reduction=reduction,
            detach_focal_weight=detach_focal_weight,
        )
        self.temperature = temperature
        self.sscl_temperature = sscl_temperature
        self.bank_labels = bank_labels
        self.weights: dict[str, float] = {"cls": 1.0}
        self.projection: ProjectionMLP | None = None
        self.center: CenterMarginLoss | None = None
        self.bank: MemoryBank | None = None
        self.pscl: PSCLLoss | None = None
        if needs_features:
            assert feature_dim is not None
            embed_dim = feature_dim if embed_dim is None else embed_dim
            self.projection = ProjectionMLP(feature_dim, embed_dim)
        if discriminative is not None:
            self.weights["disc"] = disc_weight
            if discriminative == "center":
                self.center = CenterMarginLoss(
                    num_classes, embed_dim, margin=center_margin, momentum=center_momentum
                )
        if sadcl:
            self.weights["sscl"] = sscl_weight
            self.weights["pscl"] = pscl_weight
            self.bank = MemoryBank(bank_size, num_classes, feature_dim, threshold=bank_threshold)
            self.pscl = PSCLLoss(num_classes, embed_dim, pscl_temperature, absent_class)

    def _bank_view(self, targets: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """Projected bank embeddings ``(S, K, D)`` (valid entries only) and labels ``(S, K)``."""
        assert self.bank is not None and self.projection is not None
        valid = self.bank.valid  # (S, K)
        stored = self.bank.features[valid].to(like.dtype)  # (V, C)
        projected = self.projection(stored)  # (V, D)
        emb = projected.new_zeros(*valid.shape, projected.shape[-1])  # (S, K, D)
        emb = emb.index_put((valid.nonzero(as_tuple=True)), projected)
        if self.bank_labels == "stored":
            return emb, valid.to(targets.dtype)
        current = torch.zeros_like(valid, dtype=targets.dtype)
        rows = min(targets.shape[0], valid.shape[0])
        current[:rows] = torch.where(valid[:rows], targets[:rows], torch.zeros_like(targets[:rows]))
        return emb, current

    def forward(self, output: ModelOutput, targets: Tensor) -> dict[str, Tensor]:
        """Compute the named terms and the weighted total.

        Args:
            output: the model's ``ModelOutput`` (``logits (B, K)``, ``class_features (B, K, C)``).
            targets: ``(B, K)`` in {1, 0, -1}.

        Returns:
            ``{"loss": total, "cls": ..., and "disc" / "sscl" / "pscl" when enabled}``.
        """
        logits = output.logits
        terms: dict[str, Tensor] = {"cls": self.cls_loss(logits, targets)}
        if self.projection is not None:
            features = output.class_features
            if features is None:
                raise ValueError(
                    "MultiLabelObjective: output.class_features is None (a 'gap' head?) but the "
                    "objective has discriminative/SADCL terms; use a class-feature head or "
                    "discriminative=None, sadcl=False"
                )
            z = self.projection(features)  # (B, K, D)
            if self.discriminative == "contrastive":
                terms["disc"] = class_contrastive_loss(z, targets, self.temperature)
            elif self.center is not None:
                terms["disc"] = self.center(z, targets)
            if self.bank is not None and self.pscl is not None:
                bank_z, bank_t = self._bank_view(targets, features)
                terms["sscl"] = sscl_loss(z, targets, bank_z, bank_t, self.sscl_temperature)
                terms["pscl"] = self.pscl(z, targets)
                if self.training:
                    self.bank.update(features.detach(), logits.detach(), targets)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return {"loss": total, **terms}

    def initialise_prototypes(
        self,
        model: nn.Module,
        loader: Iterable[Any],
        threshold: float = 0.85,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Set the PSCL prototypes to :func:`init_prototypes` of ``model`` through this projection.

        Returns:
            The ``(K, D)`` prototypes written.
        """
        if self.pscl is None or self.projection is None:
            raise ValueError("MultiLabelObjective.initialise_prototypes needs sadcl=True")
        prototypes = init_prototypes(model, loader, self.projection, threshold, device)
        self.pscl.set_prototypes(prototypes)
        return prototypes
