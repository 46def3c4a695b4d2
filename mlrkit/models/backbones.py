"""Backbones that return the unpooled feature map ``(B, C, H, W)``.

* ``resnet18/34/50/101``: torchvision ResNets without ``avgpool``/``fc`` (output stride 32, so a
  448 px image gives a 14x14 map). Parameter names equal torchvision's, so torchvision
  checkpoints load directly (their ``fc.*`` classifier is dropped: the mlrkit head replaces it).
* ``digitnet``: a small CNN for the embedded 64x64 digit scenes, fast on a laptop CPU
  (output stride 8: 64x64 in, 8x8x128 out).

Preprocessing (mean/std) always comes from torchvision's weights metadata, never retyped.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import WeightsEnum
from torchvision.models.resnet import BasicBlock

from mlrkit.errors import InvalidInputError
from mlrkit.models.weights import (
    PretrainedWeightsError,
    load_backbone_state,
    read_state_dict,
    resolve_weights_file,
)

_RESNETS = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights),
    "resnet34": (tvm.resnet34, tvm.ResNet34_Weights),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights),
    "resnet101": (tvm.resnet101, tvm.ResNet101_Weights),
}
BACKBONES: tuple[str, ...] = (*_RESNETS, "digitnet")

# digitnet has no weights of its own; it normalises inputs with the ImageNet statistics from
# torchvision's ResNet-18 weights metadata. The digit scenes are RGB composites of natural-looking
# clutter in [0, 1], for which these statistics give roughly zero-mean, unit-variance inputs, and
# sharing them keeps one data pipeline when a notebook swaps digitnet for a pretrained ResNet.
_DIGITNET_STATS_FROM: WeightsEnum = tvm.ResNet18_Weights.IMAGENET1K_V1


class Preprocessing(NamedTuple):
    """Per-channel normalisation a backbone expects: ``x_c = (pixel_c - mean_c) / std_c``."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


def _default_weights(name: str) -> WeightsEnum:
    if name == "digitnet":
        return _DIGITNET_STATS_FROM
    return _RESNETS[_check_name(name)][1].DEFAULT


def _check_name(name: str) -> str:
    if name not in BACKBONES:
        raise InvalidInputError(f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    return name


def backbone_preprocessing(name: str) -> Preprocessing:
    """Mean/std for backbone ``name``, read from torchvision's weights ``transforms()`` metadata.

    For ResNets these are the statistics of their ``DEFAULT`` weights; for ``digitnet`` those of
    ``ResNet18_Weights.IMAGENET1K_V1`` (see the module note on why).
    """
    transform = _default_weights(_check_name(name)).transforms()
    return Preprocessing(mean=tuple(transform.mean), std=tuple(transform.std))


class ResNetFeatures(nn.Module):
    """A torchvision ResNet up to ``layer4``: ``(B, 3, H, W) -> (B, C, H/32, W/32)``.

    Attributes:
        out_channels: C (512 for resnet18/34, 2048 for resnet50/101).
    """

    def __init__(self, resnet: tvm.ResNet) -> None:
        super().__init__()
        # Same attribute names as torchvision so state dict keys match its checkpoints.
        self.conv1, self.bn1, self.relu, self.maxpool = (
            resnet.conv1,
            resnet.bn1,
            resnet.relu,
            resnet.maxpool,
        )
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        self.out_channels: int = resnet.fc.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DigitNet(nn.Module):
    """Small CNN for the embedded 64x64 digit scenes: ``(B, 3, H, W) -> (B, C, H/8, W/8)``.

    Three stride-2 3x3 conv stages (32, 64, C channels); the last two are each followed by one
    residual block (torchvision's ResNet ``BasicBlock``). At 64x64 input it outputs an 8x8 map,
    fine enough for class attention to separate 1-4 digits, with a receptive field covering the
    whole image, for about 48 MMACs per 64x64 image. A residual block at 32x32 was dropped: it
    cost ~40% of the training throughput on a 2-core CPU.

    Args:
        width: channels of the last stage, C (the map's depth).
    """

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn_relu(3, 32, stride=2),  # 1/2
            _conv_bn_relu(32, 64, stride=2),  # 1/4
            BasicBlock(64, 64),
            _conv_bn_relu(64, width, stride=2),  # 1/8
            BasicBlock(width, width),
        )
        self.out_channels: int = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def build_backbone(
    name: str, pretrained: bool | str | os.PathLike[str] | None = False
) -> nn.Module:
    """Build backbone ``name`` with an ``out_channels`` attribute.

    Args:
        name: one of ``BACKBONES``.
        pretrained: ``False`` (or ``None``) for random init; ``True`` for torchvision's
            ``DEFAULT`` weights (from torch hub's cache, else downloaded with a timeout); a path
            to load a local state dict strictly (torchvision layout with or without ``fc.*``,
            or an mlrkit ``MLRModel`` state dict, whose ``backbone.*`` part is used).

    Raises:
        ValueError: unknown name.
        PretrainedWeightsError: weights unavailable or not matching; the message says the fix.
    """
    _check_name(name)
    if name == "digitnet":
        backbone: nn.Module = DigitNet()
    else:
        backbone = ResNetFeatures(_RESNETS[name][0](weights=None))
    if pretrained is None or pretrained is False:
        return backbone
    if pretrained is True:
        if name == "digitnet":
            raise PretrainedWeightsError(
                "digitnet has no published weights: pass pretrained=False, or the path of a "
                "state dict saved from an earlier digitnet model."
            )
        weights = _RESNETS[name][1].DEFAULT
        path = resolve_weights_file(weights)
        source = f"{path} ({weights})"
    else:
        path = pretrained
        source = str(path)
    load_backbone_state(backbone, read_state_dict(path), source, drop_prefixes=("fc.",))
    return backbone
