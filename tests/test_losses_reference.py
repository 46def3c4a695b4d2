"""Every loss against a slow, obviously-correct double-loop reference in float64.

Values and gradients must agree to 1e-6 on B=5, K=7, D=6 random inputs that include ignore
labels (-1), classes absent from the batch and a class with a single positive.
"""

from __future__ import annotations

import math

import pytest
import torch

from mlrkit.losses import (
    asymmetric_loss,
    center_margin_loss,
    class_contrastive_loss,
    pscl_loss,
    sscl_loss,
)

B, K, D = 5, 7, 6
TOL = dict(atol=1e-6, rtol=1e-6)


def make_targets(seed: int, b: int = B) -> torch.Tensor:
    """Random {1, 0, -1} targets; class 0 absent, class 1 with one positive, some -1."""
    g = torch.Generator().manual_seed(seed)
    t = (torch.rand(b, K, generator=g) < 0.45).double()
    t[torch.rand(b, K, generator=g) < 0.15] = -1.0
    t[:, 0] = 0.0
    t[:, 1] = 0.0
    t[2, 1] = 1.0
    t[3, 0] = -1.0
    return t


def leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt(sum(x * x for x in v))


# ---------------------------------------------------------------- references (plain loops)
def ref_supcon(views: list[tuple[torch.Tensor, torch.Tensor]], tau: float) -> torch.Tensor:
    items = [
        (unit(e[b, k]), k)
        for e, t in views
        for b in range(e.shape[0])
        for k in range(e.shape[1])
        if t[b, k] == 1
    ]
    losses = []
    for i, (zi, ki) in enumerate(items):
        positives = [j for j, (_, kj) in enumerate(items) if j != i and kj == ki]
        if not positives:
            continue
        denom = sum(torch.exp(zi @ zj / tau) for j, (zj, _) in enumerate(items) if j != i)
        li = -sum(torch.log(torch.exp(zi @ items[p][0] / tau) / denom) for p in positives)
        losses.append(li / len(positives))
    return sum(losses) / len(losses)


def ref_asl(x, y, gneg, gpos, clip, eps, detach):
    total = 0.0
    for b in range(x.shape[0]):
        for k in range(x.shape[1]):
            if y[b, k] == -1:
                continue
            p = 1 / (1 + torch.exp(-x[b, k]))
            if y[b, k] == 1:
                w = (1 - p) ** gpos
                total = total - (w.detach() if detach else w) * torch.log(torch.clamp(p, min=eps))
            else:
                pm = torch.clamp(p - clip, min=0.0)
                w = pm**gneg
                lg = torch.log(torch.clamp(1 - pm, min=eps))
                total = total - (w.detach() if detach else w) * lg
    return total


def ref_pscl(e, t, protos, tau, released):
    terms, n_pos = [], 0
    for k in range(e.shape[1]):
        s = {b: unit(e[b, k]) @ unit(protos[k]) / tau for b in range(e.shape[0]) if t[b, k] != -1}
        pos = [b for b in s if t[b, k] == 1]
        n_pos += len(pos)
        if pos:
            num = sum(torch.exp(s[b]) for b in pos)
            den = sum(torch.exp(v) for v in s.values())
            terms.append(-torch.log(num / den))
        elif released and s:
            m = max(v.detach() for v in s.values())
            terms.append(torch.log(sum(torch.exp(v - m) for v in s.values())))
    return sum(terms) / n_pos


def ref_center(e, t, c, m, wi, we):
    d2 = [
        sum((unit(e[b, k]) - c[k]) ** 2)
        for b in range(e.shape[0])
        for k in range(e.shape[1])
        if t[b, k] == 1
    ]
    hinge = [
        torch.clamp(m - torch.sqrt(sum((c[k] - c[j]) ** 2)), min=0) ** 2
        for k in range(c.shape[0])
        for j in range(k + 1, c.shape[0])
    ]
    return wi * sum(d2) / len(d2) + we * sum(hinge) / len(hinge)


def assert_same(loss, ref, inputs):
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, ref, **TOL)
    grads = torch.autograd.grad(loss, inputs)
    ref_grads = torch.autograd.grad(ref, inputs)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, **TOL)


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_contrastive_matches_reference(seed):
    e, t = leaf(B, K, D, seed=seed), make_targets(seed)
    assert_same(class_contrastive_loss(e, t), ref_supcon([(e, t)], 0.2), [e])


@pytest.mark.parametrize("seed", [0, 3])
def test_sscl_two_views_matches_reference(seed):
    e, t = leaf(B, K, D, seed=seed), make_targets(seed)
    bank = leaf(B + 2, K, D, seed=seed + 100)  # a bank with more slots than the batch
    bank_t = make_targets(seed + 7, b=B + 2)
    loss = sscl_loss(e, t, bank, bank_t, temperature=0.3)
    assert_same(loss, ref_supcon([(e, t), (bank, bank_t)], 0.3), [e, bank])


def test_sscl_without_bank_is_class_contrastive():
    e, t = leaf(B, K, D, seed=4), make_targets(4)
    torch.testing.assert_close(sscl_loss(e, t), class_contrastive_loss(e, t), **TOL)


@pytest.mark.parametrize(
    ("gneg", "gpos", "clip", "detach"),
    [
        (4.0, 0.0, 0.05, False),
        (4.0, 1.0, 0.05, True),
        (2.0, 3.0, 0.0, False),
        (0.0, 0.0, 0.2, False),
    ],
)
def test_asl_matches_reference(gneg, gpos, clip, detach):
    x = (3 * leaf(B, K, seed=5)).detach().requires_grad_(True)
    t = make_targets(5)
    loss = asymmetric_loss(x, t, gneg, gpos, clip, eps=1e-8, detach_focal_weight=detach)
    assert_same(loss, ref_asl(x, t, gneg, gpos, clip, 1e-8, detach), [x])


@pytest.mark.parametrize("released", [False, True])
def test_pscl_matches_reference(released):
    e, t, p = leaf(B, K, D, seed=6), make_targets(6), leaf(K, D, seed=60)
    mode = "released" if released else "skip"
    loss = pscl_loss(e, t, p, temperature=0.07, absent_class=mode)
    assert_same(loss, ref_pscl(e, t, p, 0.07, released), [e, p])


def test_pscl_released_differs_only_with_absent_classes():
    e, t, p = leaf(B, K, D, seed=8), make_targets(8), leaf(K, D, seed=80)
    skip = pscl_loss(e, t, p)
    released = pscl_loss(e, t, p, absent_class="released")
    assert not math.isclose(skip.item(), released.item())
    t_all = t.clone()
    t_all[0] = 1.0  # now every class has a positive
    torch.testing.assert_close(
        pscl_loss(e, t_all, p), pscl_loss(e, t_all, p, absent_class="released"), **TOL
    )


def test_center_margin_matches_reference():
    e, t = leaf(B, K, D, seed=9), make_targets(9)
    c = (0.4 * leaf(K, D, seed=90)).detach().requires_grad_(True)
    loss = center_margin_loss(e, t, c, margin=1.5, intra_weight=0.7, inter_weight=2.0)
    assert_same(loss, ref_center(e, t, c, 1.5, 0.7, 2.0), [e, c])
