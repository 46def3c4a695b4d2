"""The named loss setups: small builders of a :class:`MultiLabelObjective` composition.

=================== ================================ =====================================
setup               classification                   feature terms (on the projection)
=================== ================================ =====================================
``bce``             BCE (sum)                        none
``asl``             ASL (gamma-=4, gamma+=0, clip)   none
``disc-contrastive`` ASL                              variant A, lambda = ``disc_weight``
``disc-center``     ASL                              variant B, lambda = ``disc_weight``
``sadcl``           ASL                              SSCL x 100 + PSCL x 50 (stage 2), on
                                                     the released ASL scale
=================== ================================ =====================================

Each builder's keyword arguments are exactly the options its setup understands, so a config's
``loss.objective_kwargs`` is checked against the builder's signature before anything is built
(:func:`setup_options`). Every setup takes the classification options ``classification``
(``"asl"``, ``"bce"`` or ``"focal"``), ``focal_gamma``, ``reduction`` and
``detach_focal_weight``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from mlrkit.errors import InvalidInputError
from mlrkit.losses.classification import AsymmetricLoss
from mlrkit.losses.discriminative import CenterMarginLoss, ClassContrastiveLoss
from mlrkit.losses.objective import DISC_WEIGHT, MultiLabelObjective
from mlrkit.losses.projection import ProjectionMLP
from mlrkit.losses.sadcl import AbsentClass, BankInit, BankLabels, SADCLTerms

__all__ = ["LOSS_SETUPS", "build_objective", "classification_loss", "setup_options"]

Classification = Literal["asl", "bce", "focal"]
Reduction = Literal["sum", "mean"]


def classification_loss(
    classification: Classification = "asl",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> AsymmetricLoss:
    """ASL (gamma-=4, gamma+=0, clip=0.05, eps=1e-8), BCE, or focal (gamma+=gamma-=focal_gamma).

    All three are settings of :class:`AsymmetricLoss` (see :mod:`mlrkit.losses.classification`).
    """
    settings = {
        "asl": (4.0, 0.0, 0.05, 1e-8),
        "bce": (0.0, 0.0, 0.0, 0.0),
        "focal": (focal_gamma, focal_gamma, 0.0, 0.0),
    }
    if classification not in settings:
        raise InvalidInputError(
            f"classification must be 'asl', 'bce' or 'focal', got {classification!r}"
        )
    gamma_neg, gamma_pos, clip, eps = settings[classification]
    return AsymmetricLoss(
        gamma_neg,
        gamma_pos,
        clip,
        eps=eps,
        reduction=reduction,
        detach_focal_weight=detach_focal_weight,
    )


def _needs_features(setup: str, feature_dim: int | None) -> int:
    if feature_dim is None:
        raise InvalidInputError(
            f"loss setup {setup!r} acts on class features; pass feature_dim=model.feature_dim "
            "(a 'gap' head has none: use a class_attention or query head, or setup bce/asl)"
        )
    return feature_dim


def bce_objective(
    num_classes: int,
    feature_dim: int | None = None,
    *,
    classification: Classification = "bce",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> MultiLabelObjective:
    """The baseline: BCE with logits (summed), no feature term."""
    cls = classification_loss(classification, focal_gamma, reduction, detach_focal_weight)
    return MultiLabelObjective(cls)


def asl_objective(
    num_classes: int,
    feature_dim: int | None = None,
    *,
    classification: Classification = "asl",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> MultiLabelObjective:
    """ASL alone, no feature term."""
    return MultiLabelObjective(
        classification_loss(classification, focal_gamma, reduction, detach_focal_weight)
    )


def disc_contrastive_objective(
    num_classes: int,
    feature_dim: int | None = None,
    *,
    embed_dim: int | None = None,
    disc_weight: float = DISC_WEIGHT,
    temperature: float = 0.2,
    classification: Classification = "asl",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> MultiLabelObjective:
    """ASL + ``disc_weight`` x variant A (class contrastive, temperature 0.2) on a projection
    ``C -> embed_dim`` (default ``C``)."""
    c = _needs_features("disc-contrastive", feature_dim)
    cls = classification_loss(classification, focal_gamma, reduction, detach_focal_weight)
    projection = ProjectionMLP(c, embed_dim)
    return MultiLabelObjective(cls, projection, ClassContrastiveLoss(temperature), disc_weight)


def disc_center_objective(
    num_classes: int,
    feature_dim: int | None = None,
    *,
    embed_dim: int | None = None,
    disc_weight: float = DISC_WEIGHT,
    center_margin: float = 1.0,
    center_momentum: float = 0.9,
    classification: Classification = "asl",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> MultiLabelObjective:
    """ASL + ``disc_weight`` x variant B (EMA centres, margin 1.0, momentum 0.9)."""
    c = _needs_features("disc-center", feature_dim)
    cls = classification_loss(classification, focal_gamma, reduction, detach_focal_weight)
    projection = ProjectionMLP(c, embed_dim)
    center = CenterMarginLoss(
        num_classes, projection.out_dim, margin=center_margin, momentum=center_momentum
    )
    return MultiLabelObjective(cls, projection, center, disc_weight)


def sadcl_objective(
    num_classes: int,
    feature_dim: int | None = None,
    *,
    stage: int = 2,
    embed_dim: int | None = None,
    sscl_weight: float = 100.0,
    pscl_weight: float = 50.0,
    sscl_temperature: float = 0.2,
    pscl_temperature: float = 0.07,
    absent_class: AbsentClass = "skip",
    bank_size: int = 64,
    bank_threshold: float = 0.8,
    bank_labels: BankLabels = "stored",
    bank_init: BankInit = "prototypes",
    released_scale: bool = True,
    classification: Classification = "asl",
    focal_gamma: float = 2.0,
    reduction: Reduction = "sum",
    detach_focal_weight: bool = False,
) -> MultiLabelObjective:
    """SADCL: stage 1 = ASL alone; stage 2 = ASL + 100 SSCL + 50 PSCL on a projection.

    With ``released_scale`` (default) the weights 100 and 50 are relative to the released ASL,
    ``-sum / B / K * 1000``, whatever ``reduction`` is (see
    :func:`mlrkit.losses.sadcl.released_asl_ratio`). The prototypes start random and the bank
    empty; the training side sets both from the stage-1 model before stage 2
    (``mlrkit.train.stages``).
    """
    cls = classification_loss(classification, focal_gamma, reduction, detach_focal_weight)
    if stage == 1:
        return MultiLabelObjective(cls)
    if stage != 2:
        raise InvalidInputError(f"SADCL has stages 1 and 2, got stage={stage}")
    c = _needs_features("sadcl", feature_dim)
    projection = ProjectionMLP(c, embed_dim)
    terms = SADCLTerms(
        num_classes,
        c,
        projection.out_dim,
        sscl_weight=sscl_weight,
        pscl_weight=pscl_weight,
        sscl_temperature=sscl_temperature,
        pscl_temperature=pscl_temperature,
        absent_class=absent_class,
        bank_size=bank_size,
        bank_threshold=bank_threshold,
        bank_labels=bank_labels,
        bank_init=bank_init,
        released_scale=released_scale,
    )
    return MultiLabelObjective(cls, projection, sadcl=terms)


LOSS_SETUPS: dict[str, Callable[..., MultiLabelObjective]] = {
    "bce": bce_objective,
    "asl": asl_objective,
    "disc-contrastive": disc_contrastive_objective,
    "disc-center": disc_center_objective,
    "sadcl": sadcl_objective,
}

# Filled in by the training side, never by a user's options.
_PLUMBING = ("num_classes", "feature_dim", "stage")


def setup_options(setup: str) -> tuple[str, ...]:
    """The option names (``loss.objective_kwargs`` keys) that ``setup`` accepts."""
    if setup not in LOSS_SETUPS:
        raise InvalidInputError(
            f"unknown loss setup {setup!r}; choose one of {sorted(LOSS_SETUPS)}"
        )
    params = inspect.signature(LOSS_SETUPS[setup]).parameters
    return tuple(name for name in params if name not in _PLUMBING)


def build_objective(
    setup: str, num_classes: int, feature_dim: int | None = None, **options: Any
) -> MultiLabelObjective:
    """The objective of a named setup.

    Args:
        setup: one of :data:`LOSS_SETUPS`.
        num_classes: ``K``.
        feature_dim: ``C`` of the model's class features (``model.feature_dim``; None for a
            ``gap`` head, which allows ``bce`` and ``asl`` only).
        **options: the setup's options (see :func:`setup_options`); SADCL also takes ``stage``.

    Raises:
        InvalidInputError: unknown setup, or an option the setup does not take (the message
            lists the valid ones).

    Example:
        >>> objective = build_objective("disc-contrastive", 10, 128, disc_weight=0.5)
        >>> objective.weights
        {'cls': 1.0, 'disc': 0.5}
        >>> setup_options("bce")
        ('classification', 'focal_gamma', 'reduction', 'detach_focal_weight')
    """
    valid = set(setup_options(setup)) | ({"stage"} if setup == "sadcl" else set())
    unknown = sorted(set(options) - valid)
    if unknown:
        raise InvalidInputError(
            f"loss setup {setup!r} has no option(s) {unknown}; its options are "
            f"{list(setup_options(setup))}"
        )
    return LOSS_SETUPS[setup](num_classes, feature_dim, **options)
