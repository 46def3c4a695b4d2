"""Closed-form equivalences and properties of the losses: ASL special cases, the detach flag,
permutation invariance, empty batches, bf16 autocast, input checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from mlrkit.losses import (
    asymmetric_loss,
    binary_cross_entropy_loss,
    center_margin_loss,
    class_contrastive_loss,
    focal_loss,
    pscl_loss,
    sscl_loss,
)

B, K, D = 6, 5, 8


def binary_targets(seed: int, b: int = B, k: int = K) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, k, generator=g) < 0.5).float()


def logits(seed: int, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(B, K, generator=g, dtype=torch.float64)).requires_grad_(True)


def grad_of(loss: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(loss, x, retain_graph=True)
    return g


def test_asl_with_zero_gammas_and_clip_is_bce_sum():
    x, y = logits(0), binary_targets(0).double()
    ref = F.binary_cross_entropy_with_logits(x, y, reduction="sum")
    for loss in (asymmetric_loss(x, y, 0.0, 0.0, 0.0), binary_cross_entropy_loss(x, y)):
        torch.testing.assert_close(loss, ref)
        torch.testing.assert_close(grad_of(loss, x), grad_of(ref, x))


def test_bce_ignores_minus_one_and_is_exact_for_saturated_logits():
    x = torch.tensor([[60.0, -60.0, 0.5], [-40.0, 3.0, 80.0]], requires_grad=True)
    y = torch.tensor([[0.0, 1.0, -1.0], [1.0, -1.0, 0.0]])
    known = y != -1
    ref = F.binary_cross_entropy_with_logits(x[known], y[known], reduction="sum")
    loss = binary_cross_entropy_loss(x, y)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad_of(loss, x)[known], grad_of(ref, x)[known])
    assert torch.all(grad_of(binary_cross_entropy_loss(x, y), x)[~known] == 0)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
def test_asl_with_equal_gammas_is_torchvision_focal(gamma):
    x, y = logits(1), binary_targets(1).double()
    ref = sigmoid_focal_loss(x, y, alpha=-1, gamma=gamma, reduction="sum")
    for loss in (
        asymmetric_loss(x, y, gamma, gamma, 0.0, eps=0.0),
        focal_loss(x, y, gamma=gamma),
    ):
        torch.testing.assert_close(loss, ref)
        torch.testing.assert_close(grad_of(loss, x), grad_of(ref, x))


def test_detach_flag_changes_gradients_not_values():
    x, y = logits(2), binary_targets(2)
    attached = asymmetric_loss(x, y, 4.0, 1.0, 0.05, detach_focal_weight=False)
    detached = asymmetric_loss(x, y, 4.0, 1.0, 0.05, detach_focal_weight=True)
    torch.testing.assert_close(attached, detached)
    assert not torch.allclose(grad_of(attached, x), grad_of(detached, x), atol=1e-4)
    assert torch.is_grad_enabled()  # grad mode was never switched off globally


def test_asl_reductions_agree():
    x, y = logits(3), binary_targets(3)
    y[0, :2] = -1
    per_entry = asymmetric_loss(x, y, reduction="none")
    assert per_entry.shape == (B, K) and torch.all(per_entry[0, :2] == 0)
    torch.testing.assert_close(per_entry.sum(), asymmetric_loss(x, y))
    torch.testing.assert_close(
        asymmetric_loss(x, y, reduction="mean"), per_entry.sum() / (y != -1).sum()
    )


# ------------------------------------------------------------------ contrastive properties
def embeddings(seed: int, b: int = B) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, K, D, generator=g).requires_grad_(True)


def all_discriminative(e, y, bank, bank_y, protos, centers):
    return {
        "contrastive": class_contrastive_loss(e, y),
        "sscl": sscl_loss(e, y, bank, bank_y),
        "pscl": pscl_loss(e, y, protos),
        "pscl_released": pscl_loss(e, y, protos, absent_class="released"),
        "center": center_margin_loss(e, y, centers),
    }


def test_discriminative_losses_are_invariant_to_batch_permutation():
    e, y = embeddings(4), binary_targets(4)
    y[1, 2] = -1
    bank, bank_y = embeddings(5, b=B + 1), binary_targets(5, b=B + 1)
    protos, centers = torch.randn(K, D), 0.3 * torch.randn(K, D)
    perm = torch.randperm(B, generator=torch.Generator().manual_seed(0))
    perm_bank = torch.randperm(B + 1, generator=torch.Generator().manual_seed(1))
    before = all_discriminative(e, y, bank, bank_y, protos, centers)
    after = all_discriminative(
        e[perm], y[perm], bank[perm_bank], bank_y[perm_bank], protos, centers
    )
    for name, value in before.items():
        torch.testing.assert_close(value, after[name], atol=1e-5, rtol=1e-5, msg=name)
        (g_before,) = torch.autograd.grad(value, e, retain_graph=True)
        (g_after,) = torch.autograd.grad(after[name], e, retain_graph=True)
        torch.testing.assert_close(g_before, g_after, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("case", ["no positive", "all ignored", "single positive", "one per class"])
def test_empty_positive_batches_give_a_graph_keeping_zero(case):
    e = embeddings(6)
    y = torch.zeros(B, K)
    if case == "all ignored":
        y -= 1
    elif case == "single positive":
        y[3, 1] = 1
    elif case == "one per class":
        y[torch.arange(K) % B, torch.arange(K)] = 1
    bank = embeddings(7)
    protos = torch.randn(K, D, requires_grad=True)
    centers = torch.randn(K, D, requires_grad=True)
    losses = {
        "contrastive": class_contrastive_loss(e, y),
        "sscl": sscl_loss(e, y, bank, torch.zeros(B, K)),
        "center (no centre pairs)": center_margin_loss(
            e, torch.zeros(B, K), centers, center_mask=torch.arange(K) == 0
        ),
    }
    if case in ("no positive", "all ignored"):
        losses["pscl"] = pscl_loss(e, y, protos)
    for name, loss in losses.items():
        assert loss.item() == 0.0, name
        assert loss.requires_grad, name
        grads = torch.autograd.grad(loss, [e, bank, protos, centers], allow_unused=True)
        for g in grads:
            assert g is None or (torch.isfinite(g).all() and torch.all(g == 0)), name
        assert grads[0] is not None, name


def test_contrastive_zero_survives_nonfinite_ignored_entries():
    e = embeddings(8).detach().clone()
    e[0, 0] = float("nan")
    e.requires_grad_(True)
    loss = class_contrastive_loss(e, torch.zeros(B, K))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(e.grad).all()


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
def test_losses_are_finite_in_float32_under_cpu_autocast(half):
    torch.manual_seed(0)
    layer = torch.nn.Linear(D, D)
    x = 50.0 * torch.randn(B, K, D)  # large activations: bf16 similarities would be coarse
    y = binary_targets(9)
    y[0, 0] = -1
    protos = torch.randn(K, D, requires_grad=True)
    with torch.autocast("cpu", dtype=half):
        e = layer(x)
        raw_logits = e.sum(-1)
        assert e.dtype == half
        losses = {
            "asl": asymmetric_loss(raw_logits, y),
            "contrastive": class_contrastive_loss(e, y),
            "sscl": sscl_loss(e, y, e.detach().flip(0), y.flip(0)),
            "pscl": pscl_loss(e, y, protos),
            "center": center_margin_loss(e, y, 0.3 * torch.randn(K, D)),
        }
    for name, loss in losses.items():
        assert loss.dtype == torch.float32, name
        assert torch.isfinite(loss), name
        grads = torch.autograd.grad(
            loss, [layer.weight, protos], allow_unused=True, retain_graph=True
        )
        assert all(g is None or torch.isfinite(g).all() for g in grads), name
        assert grads[0] is not None and grads[0].abs().sum() > 0, name


def test_shape_errors_name_the_loss():
    e, y = embeddings(10), binary_targets(10)
    with pytest.raises(ValueError, match="class_contrastive_loss"):
        class_contrastive_loss(e, y[:, :-1])
    with pytest.raises(ValueError, match="pscl_loss"):
        pscl_loss(e, y, torch.randn(K + 1, D))
    with pytest.raises(ValueError, match="bank_targets"):
        sscl_loss(e, y, e)
    with pytest.raises(ValueError, match="asymmetric_loss"):
        asymmetric_loss(y, y[:-1])
