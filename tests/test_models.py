"""Model tests: odd class count, small inputs, random init, independent oracles."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import ResNet18_Weights, ResNet50_Weights

from mlrkit.models import (
    ClassAttentionHead,
    GapHead,
    GroupWiseLinear,
    ModelOutput,
    Preprocessing,
    backbone_preprocessing,
    build_model,
    sine_position_encoding,
)

K = 7  # odd on purpose: catches K/2 and K-vs-D mix-ups


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# (backbone, image size, expected map side, channels C)
SMALL_BACKBONES = [("digitnet", 64, 8, 128), ("resnet18", 64, 2, 512)]


@pytest.mark.parametrize("backbone,size,side,channels", SMALL_BACKBONES)
@pytest.mark.parametrize(
    "head,embed_dim",
    [("class_attention", None), ("class_attention", 24), ("query", 32), ("gap", None)],
)
def test_output_shapes(backbone, size, side, channels, head, embed_dim):
    model = build_model(backbone, head, num_classes=K, embed_dim=embed_dim)
    out = model(torch.randn(3, 3, size, size))
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (3, K)
    assert model.num_classes == K
    if head == "gap":
        assert out.class_features is None and out.attention is None and model.feature_dim is None
        return
    dim = embed_dim or channels
    assert model.feature_dim == dim
    assert out.class_features.shape == (3, K, dim)
    assert out.attention.shape == (3, K, side, side)


def test_resnet50_shapes_at_64px():
    model = build_model("resnet50", "class_attention", num_classes=K, embed_dim=16)
    features = model.forward_features(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, 2048, 2, 2)
    out = model.forward_head(features)
    assert out.logits.shape == (2, K) and out.class_features.shape == (2, K, 16)
    assert out.attention.shape == (2, K, 2, 2)


@pytest.mark.parametrize("head", ["class_attention", "query"])
@pytest.mark.parametrize("train", [True, False])
def test_attention_sums_to_one_over_positions(head, train):
    model = build_model("digitnet", head, num_classes=K).train(train)
    attention = model(torch.randn(2, 3, 48, 40)).attention  # non-square: 6x5 map
    assert attention.shape == (2, K, 6, 5)
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(dim=(2, 3)), torch.ones(2, K))


def _all_params_get_gradients(model: torch.nn.Module, images: torch.Tensor) -> list[str]:
    out = model(images)
    targets = (torch.rand_like(out.logits) < 0.4).float()
    loss = F.binary_cross_entropy_with_logits(out.logits, targets)
    if out.class_features is not None:
        loss = loss + out.class_features.pow(2).mean()
    loss.backward()
    return [
        name
        for name, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]


@pytest.mark.parametrize(
    "backbone,head,kwargs",
    [
        ("digitnet", "class_attention", {"embed_dim": 24, "residual_gap": 0.5, "temperature": 2.0}),
        ("digitnet", "class_attention", {}),
        ("digitnet", "query", {"embed_dim": 32}),
        ("digitnet", "gap", {}),
        ("resnet18", "class_attention", {}),
    ],
)
def test_every_parameter_receives_a_gradient(backbone, head, kwargs):
    model = build_model(backbone, head, num_classes=K, **kwargs)
    without = _all_params_get_gradients(model, torch.randn(2, 3, 64, 64))
    assert without == []


def _class_attention_reference(head: ClassAttentionHead, x: torch.Tensor) -> torch.Tensor:
    """Slow loop over images, classes and positions, from docs/method.md's formulas (float64)."""
    b, c, h, w = x.shape
    filters = head.score.weight.detach().double().view(-1, c)  # (K, C)
    features = torch.zeros(b, filters.shape[0], c, dtype=torch.float64)
    for i in range(b):
        columns = [x[i, :, r, s].double() for r in range(h) for s in range(w)]
        mean = sum(columns) / len(columns)
        for k in range(filters.shape[0]):
            scores = [head.temperature * float(filters[k] @ col) for col in columns]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            total = sum(weights)
            features[i, k] = sum(wt / total * col for wt, col in zip(weights, columns, strict=True))
            features[i, k] += head.residual_gap * mean
    return features


@pytest.mark.parametrize("temperature,residual_gap", [(1.0, 0.0), (3.0, 0.25)])
def test_class_attention_matches_loop_reference(temperature, residual_gap):
    head = ClassAttentionHead(5, K, temperature=temperature, residual_gap=residual_gap).double()
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    out = head(x)
    expected = _class_attention_reference(head, x)
    torch.testing.assert_close(out.class_features, expected)
    logits = torch.stack(
        [expected[:, k] @ head.classifier.weight[k] + head.classifier.bias[k] for k in range(K)], 1
    )
    torch.testing.assert_close(out.logits, logits)


def test_class_attention_high_temperature_is_spatial_max():
    head = ClassAttentionHead(4, K, temperature=1e4)
    x = torch.randn(2, 4, 3, 3)
    scores = head.score(x).flatten(2)  # (B, K, N)
    best = scores.argmax(dim=-1)  # (B, K)
    expected = torch.stack([x.flatten(2)[i, :, best[i]].T for i in range(2)])  # (B, K, C)
    torch.testing.assert_close(head(x).class_features, expected)


def test_group_wise_linear_matches_per_class_linear():
    layer = GroupWiseLinear(K, 6)
    features = torch.randn(4, K, 6)
    expected = torch.stack(
        [
            F.linear(features[:, k], layer.weight[k : k + 1], layer.bias[k : k + 1])[:, 0]
            for k in range(K)
        ],
        dim=1,
    )
    torch.testing.assert_close(layer(features), expected)


def test_gap_head_is_pooled_linear():
    head = GapHead(6, K)
    x = torch.randn(3, 6, 4, 5)
    expected = head.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
    torch.testing.assert_close(head(x).logits, expected)


def test_sine_position_encoding_matches_formula():
    h, w, d = 3, 2, 8
    pe = sine_position_encoding(h, w, d)
    assert pe.shape == (h * w, d)
    half = d // 2
    for r in range(h):
        for s in range(w):
            for j, pos in ((0, (r + 1) / h * 2 * math.pi), (half, (s + 1) / w * 2 * math.pi)):
                for i in range(half):
                    angle = pos / 10000 ** (2 * (i // 2) / half)
                    value = math.sin(angle) if i % 2 == 0 else math.cos(angle)
                    assert pe[r * w + s, j + i].item() == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("head", ["class_attention", "query", "gap"])
def test_channels_last_input_gives_same_output(head):
    model = build_model("digitnet", head, num_classes=K).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(images)
        got = model.to(memory_format=torch.channels_last)(
            images.contiguous(memory_format=torch.channels_last)
        )
    for a, b in zip(got, expected, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head", ["class_attention", "query"])
def test_bf16_autocast_is_finite(head):
    model = build_model("digitnet", head, num_classes=K)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 64, 64))
    assert all(torch.isfinite(t).all() for t in out)
    torch.testing.assert_close(
        out.attention.float().sum(dim=(2, 3)), torch.ones(2, K), atol=2e-2, rtol=0
    )


def test_preprocessing_comes_from_torchvision_weights():
    expected50 = ResNet50_Weights.DEFAULT.transforms()
    assert backbone_preprocessing("resnet50") == Preprocessing(
        tuple(expected50.mean), tuple(expected50.std)
    )
    digits = ResNet18_Weights.IMAGENET1K_V1.transforms()
    model = build_model("digitnet", num_classes=K)
    assert model.preprocessing.mean == tuple(digits.mean)
    assert model.preprocessing.std == tuple(digits.std)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="resnet18"):
        build_model("resnet7", num_classes=K)
    with pytest.raises(ValueError, match="class_attention"):
        build_model("digitnet", "mlp", num_classes=K)
    with pytest.raises(ValueError, match="gap head"):
        build_model("digitnet", "gap", num_classes=K, embed_dim=16)
    with pytest.raises(ValueError, match="divisible"):
        build_model("digitnet", "query", num_classes=K, embed_dim=30)
    with pytest.raises(ValueError, match="temperature"):
        build_model("digitnet", num_classes=K, temperature=0.0)
