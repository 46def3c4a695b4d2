"""Models: backbones returning unpooled maps, class-specific heads, and the model that joins them.

``build_model(backbone, head, num_classes, pretrained, embed_dim, **head_kwargs)`` returns an
:class:`MLRModel` whose ``forward(images)`` gives a :class:`ModelOutput`
``(logits (B, K), class_features (B, K, D) | None, attention (B, K, H, W) | None)``.
"""

from mlrkit.models.backbones import (
    BACKBONES,
    DigitNet,
    Preprocessing,
    ResNetFeatures,
    backbone_preprocessing,
    build_backbone,
)
from mlrkit.models.heads import ClassAttentionHead, GapHead, GroupWiseLinear
from mlrkit.models.model import HEADS, MLRModel, build_model, head_options
from mlrkit.models.output import ModelOutput
from mlrkit.models.query_head import QueryHead, sine_position_encoding
from mlrkit.models.weights import PretrainedWeightsError, cached_weights_path

__all__ = [
    "BACKBONES",
    "HEADS",
    "ClassAttentionHead",
    "DigitNet",
    "GapHead",
    "GroupWiseLinear",
    "MLRModel",
    "ModelOutput",
    "Preprocessing",
    "PretrainedWeightsError",
    "QueryHead",
    "ResNetFeatures",
    "backbone_preprocessing",
    "build_backbone",
    "build_model",
    "cached_weights_path",
    "head_options",
    "sine_position_encoding",
]
