"""The multi-label model: backbone + head, returning a :class:`ModelOutput`.

The loss is never computed here; it lives in :mod:`mlrkit.losses`.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.models.backbones import BACKBONES, Preprocessing, backbone_preprocessing, build_backbone
from mlrkit.models.heads import ClassAttentionHead, GapHead
from mlrkit.models.output import ModelOutput
from mlrkit.models.query_head import QueryHead

HEADS: tuple[str, ...] = ("class_attention", "query", "gap")


def head_options(head: str) -> tuple[str, ...]:
    """The ``head_kwargs`` names ``build_model`` accepts for ``head`` (none for ``gap``)."""
    if head not in HEADS:
        raise InvalidInputError(f"Unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    if head == "gap":
        return ()
    cls = ClassAttentionHead if head == "class_attention" else QueryHead
    filled = ("self", "in_channels", "num_classes", "embed_dim")
    return tuple(n for n in inspect.signature(cls.__init__).parameters if n not in filled)


class MLRModel(nn.Module):
    """Backbone + head. Split as in timm: ``forward = forward_head(forward_features(images))``.

    Attributes:
        backbone: module mapping images ``(B, 3, H, W)`` to a map ``(B, C, h, w)``.
        head: module mapping that map to a :class:`ModelOutput`.
        num_classes: K.
        feature_dim: D of ``class_features``; ``None`` for the ``gap`` head.
        preprocessing: mean/std the backbone expects, from torchvision's weights metadata.
        backbone_name, head_name: the names this model was built from.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        num_classes: int,
        preprocessing: Preprocessing,
        backbone_name: str = "",
        head_name: str = "",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.feature_dim: int | None = head.feature_dim
        self.preprocessing = preprocessing
        self.backbone_name = backbone_name
        self.head_name = head_name

    def forward_features(self, images: Tensor) -> Tensor:
        """Backbone map ``(B, C, h, w)`` of normalised ``images`` ``(B, 3, H, W)``."""
        return self.backbone(images)

    def forward_head(self, features: Tensor) -> ModelOutput:
        """Head output for a backbone map ``(B, C, h, w)``."""
        return self.head(features)

    def forward(self, images: Tensor) -> ModelOutput:
        """Map images ``(B, 3, H, W)`` to a :class:`ModelOutput`: logits ``(B, K)``, class
        features ``(B, K, D)`` or None, attention ``(B, K, h, w)`` or None."""
        return self.forward_head(self.forward_features(images))


def build_model(
    backbone: str,
    head: str = "class_attention",
    num_classes: int = 10,
    pretrained: bool | str | os.PathLike[str] = False,
    embed_dim: int | None = None,
    **head_kwargs: Any,
) -> MLRModel:
    """Build a multi-label model.

    Args:
        backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet101"`` or
            ``"digitnet"``.
        head: ``"class_attention"`` (default), ``"query"`` or ``"gap"``.
        num_classes: K (10 is the embedded digits dataset).
        pretrained: ``False`` (random init), ``True`` (torchvision's DEFAULT weights from torch
            hub's cache or a bounded download) or a path to a local backbone state dict.
        embed_dim: D of the class features (a shared projection for ``class_attention``, the
            transformer width for ``query``); ``None`` keeps the backbone's C. Not used by ``gap``.
        **head_kwargs: passed to the head, e.g. ``temperature``, ``residual_gap``
            (class_attention) or ``num_heads``, ``num_decoder_layers`` (query).

    Raises:
        ValueError: unknown backbone or head, or invalid head arguments.
        mlrkit.models.PretrainedWeightsError: weights unavailable or mismatched.

    Example:
        >>> import torch
        >>> model = build_model("digitnet", num_classes=7)
        >>> out = model(torch.randn(2, 3, 64, 64))
        >>> tuple(out.logits.shape), tuple(out.class_features.shape), tuple(out.attention.shape)
        ((2, 7), (2, 7, 128), (2, 7, 8, 8))
    """
    if head not in HEADS:
        raise InvalidInputError(f"Unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    if backbone not in BACKBONES:
        raise InvalidInputError(
            f"Unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}."
        )
    if num_classes < 1:
        raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}.")
    body = build_backbone(backbone, pretrained)
    channels = body.out_channels
    if head == "class_attention":
        top: nn.Module = ClassAttentionHead(channels, num_classes, embed_dim, **head_kwargs)
    elif head == "query":
        top = QueryHead(channels, num_classes, embed_dim, **head_kwargs)
    else:
        if embed_dim is not None or head_kwargs:
            raise InvalidInputError(
                "The gap head takes no embed_dim or head arguments; got "
                f"embed_dim={embed_dim}, {sorted(head_kwargs)}."
            )
        top = GapHead(channels, num_classes)
    return MLRModel(body, top, num_classes, backbone_preprocessing(backbone), backbone, head)
