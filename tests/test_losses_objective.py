"""MultiLabelObjective (composed from parts), the named setups, MemoryBank, CenterMarginLoss
state and the prototype accumulator."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.losses import (
    LOSS_SETUPS,
    CenterMarginLoss,
    ClassContrastiveLoss,
    MemoryBank,
    MultiLabelObjective,
    ProjectionMLP,
    PrototypeAccumulator,
    SADCLTerms,
    asymmetric_loss,
    build_objective,
    classification_loss,
    setup_options,
    sscl_loss,
)

B, K, C, IN = 6, 5, 8, 4


class Output(NamedTuple):
    """Same fields as mlrkit.models.ModelOutput (the objective only reads logits/features)."""

    logits: Tensor
    class_features: Tensor | None = None
    attention: Tensor | None = None


class TinyModel(nn.Module):
    """Stand-in for MLRModel: class features from a linear map, group-wise linear logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Linear(IN, K * C)
        self.w = nn.Parameter(torch.randn(K, C))
        self.b = nn.Parameter(torch.zeros(K))

    def forward(self, x: Tensor) -> Output:
        f = torch.tanh(self.features(x)).view(-1, K, C)  # (B, K, C)
        return Output((f * self.w).sum(-1) + self.b, f)


def batch(seed: int, b: int = B) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(b, K, generator=g) < 0.5).float()
    y[0, 0] = -1
    return torch.randn(b, IN, generator=g), y


def confident_output(seed: int, y: Tensor, requires_grad: bool = True) -> Output:
    """Logits of +-6 that agree with y, so every positive passes the bank threshold."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(y.shape[0], K, C, generator=g).requires_grad_(requires_grad)
    return Output(6.0 * (2 * (y == 1).float() - 1), f)


def compose(
    classification: str = "asl",
    disc: str | None = None,
    sadcl: bool = False,
    bank_size: int = 64,
    bank_labels: str = "stored",
    embed_dim: int | None = None,
) -> MultiLabelObjective:
    """An objective assembled by hand from its parts (any combination, unlike the setups)."""
    projection = ProjectionMLP(C, embed_dim) if (disc or sadcl) else None
    d = projection.out_dim if projection is not None else C
    discriminative = {
        None: None,
        "contrastive": ClassContrastiveLoss(0.2),
        "center": CenterMarginLoss(K, d),
    }[disc]
    terms = SADCLTerms(K, C, d, bank_size=bank_size, bank_labels=bank_labels) if sadcl else None
    return MultiLabelObjective(
        classification_loss(classification), projection, discriminative, 1.0, terms
    )


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({}, {"cls"}),
        ({"classification": "bce", "disc": "contrastive"}, {"cls", "disc"}),
        ({"classification": "focal", "disc": "center"}, {"cls", "disc"}),
        ({"sadcl": True}, {"cls", "sscl", "pscl"}),
        ({"disc": "contrastive", "sadcl": True}, {"cls", "disc", "sscl", "pscl"}),
    ],
)
def test_objective_returns_named_terms_and_every_parameter_gets_a_gradient(kwargs, names):
    torch.manual_seed(0)
    model = TinyModel()
    objective = compose(**kwargs).train()
    x, y = batch(1)
    objective(model(x), y)  # first step fills the memory bank / centres
    terms = objective(model(x), y)
    assert set(terms) == names | {"loss"}
    # SADCL's weights sit on the released ASL scale (-sum / B / K * 1000): on a summed loss the
    # SSCL and PSCL weights count B K / 1000 times
    scale = {n: y.numel() / 1000 if n in ("sscl", "pscl") else 1.0 for n in names}
    expected = sum(objective.weights[n] * scale[n] * terms[n] for n in names)
    torch.testing.assert_close(terms["loss"], expected)
    terms["loss"].backward()
    for name, p in [*model.named_parameters(), *objective.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_objective_defaults():
    objective = compose(disc="contrastive", sadcl=True)
    assert objective.weights == {"cls": 1.0, "disc": 1.0, "sscl": 100.0, "pscl": 50.0}
    cls = objective.classification
    assert (cls.gamma_neg, cls.gamma_pos, cls.clip) == (4.0, 0.0, 0.05)
    assert objective.sadcl.pscl.temperature == 0.07 and objective.sadcl.sscl_temperature == 0.2
    y = batch(2)[1]
    out = confident_output(2, y)
    torch.testing.assert_close(objective(out, y)["cls"], asymmetric_loss(out.logits, y))


@pytest.mark.parametrize(
    ("setup", "parts", "weights"),
    [
        ("bce", (False, None, False), {"cls": 1.0}),
        ("asl", (False, None, False), {"cls": 1.0}),
        ("disc-contrastive", (True, ClassContrastiveLoss, False), {"cls": 1.0, "disc": 1.0}),
        ("disc-center", (True, CenterMarginLoss, False), {"cls": 1.0, "disc": 1.0}),
        ("sadcl", (True, None, True), {"cls": 1.0, "sscl": 100.0, "pscl": 50.0}),
    ],
)
def test_named_setups_compose_the_documented_parts(setup, parts, weights):
    objective = build_objective(setup, K, C)
    has_projection, disc_type, has_sadcl = parts
    assert (objective.projection is not None) == has_projection
    assert (
        type(objective.discriminative) is disc_type
        if disc_type
        else objective.discriminative is None
    )
    assert (objective.sadcl is not None) == has_sadcl
    assert objective.weights == weights
    gammas = (0.0, 0.0, 0.0) if setup == "bce" else (4.0, 0.0, 0.05)
    cls = objective.classification
    assert (cls.gamma_neg, cls.gamma_pos, cls.clip) == gammas
    assert setup in LOSS_SETUPS


def test_sadcl_stage_one_is_asl_alone_and_options_are_checked_by_name():
    assert build_objective("sadcl", K, C, stage=1).weights == {"cls": 1.0}
    assert "disc_weight" in setup_options("disc-contrastive")
    assert "disc_weight" not in setup_options("bce")
    with pytest.raises(InvalidInputError, match=r"no option\(s\) \['disc_weigth'\].*disc_weight"):
        build_objective("disc-contrastive", K, C, disc_weigth=0.5)
    with pytest.raises(InvalidInputError, match="feature_dim"):
        build_objective("disc-center", K, None)
    with pytest.raises(InvalidInputError, match="unknown loss setup"):
        build_objective("triplet", K, C)


def test_sscl_term_uses_the_bank_as_second_view_and_updates_after_the_loss():
    torch.manual_seed(0)
    objective = compose(sadcl=True, bank_size=B).train()
    y1, y2 = batch(3)[1], batch(4)[1]
    out1, out2 = confident_output(3, y1), confident_output(4, y2)
    first = objective(out1, y1)
    proj = objective.projection
    bank = objective.sadcl.bank
    torch.testing.assert_close(first["sscl"], sscl_loss(proj(out1.class_features), y1))
    stored = (y1 == 1) & (torch.sigmoid(out1.logits) > 0.8)
    assert torch.equal(bank.valid, stored)
    state = {k: v.clone() for k, v in objective.state_dict().items()}
    bank_view = proj(bank.features.clone()) * stored[..., None]  # valid rows only
    second = objective(out2, y2)
    oracle = sscl_loss(proj(out2.class_features), y2, bank_view, stored.float())
    torch.testing.assert_close(second["sscl"], oracle)
    current = compose(sadcl=True, bank_size=B, bank_labels="current")
    current.load_state_dict(state)
    oracle_current = sscl_loss(
        proj(out2.class_features), y2, bank_view, (stored & (y2 == 1)).float()
    )
    torch.testing.assert_close(current(out2, y2)["sscl"], oracle_current)


def test_eval_mode_changes_no_state():
    objective = compose(disc="center", sadcl=True).eval()
    before = {k: v.clone() for k, v in objective.state_dict().items()}
    y = batch(5)[1]
    objective(confident_output(5, y), y)
    for key, value in objective.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_objective_state_dict_round_trip_restores_bank_centres_prototypes():
    torch.manual_seed(0)
    objective = compose(disc="center", sadcl=True, bank_size=B)
    y = batch(6)[1]
    out = confident_output(6, y, requires_grad=False)
    objective.train()(out, y)
    state = objective.state_dict()
    for key in (
        "sadcl.bank.features", "sadcl.bank.valid", "discriminative.centers",
        "sadcl.pscl.prototypes",
    ):  # fmt: skip
        assert key in state
    restored = compose(disc="center", sadcl=True, bank_size=2 * B)
    restored.load_state_dict(state)
    assert restored.sadcl.bank.num_slots == B
    a, b = objective.eval()(out, y), restored.eval()(out, y)
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)


def test_objective_errors_name_the_fix():
    with pytest.raises(InvalidInputError, match="projection"):
        MultiLabelObjective(classification_loss(), None, ClassContrastiveLoss())
    objective = compose(disc="contrastive")
    y = batch(7)[1]
    with pytest.raises(InvalidInputError, match="class_features is None"):
        objective(Output(torch.zeros(B, K)), y)
    assert set(compose()(Output(torch.zeros(B, K)), y)) == {"loss", "cls"}
    with pytest.raises(InvalidInputError, match="no projection"):
        compose().embed(torch.zeros(B, K, C))


def test_objective_is_finite_under_bf16_autocast():
    torch.manual_seed(0)
    model = TinyModel()
    objective = compose(disc="contrastive", sadcl=True).train()
    x, y = batch(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        objective(model(x), y)
        terms = objective(model(x), y)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ------------------------------------------------------------------ memory bank
def test_memory_bank_update_rule_against_a_loop():
    bank = MemoryBank(4, K, C, threshold=0.8)
    g = torch.Generator().manual_seed(0)
    for step, b in enumerate((4, 3, 6)):  # full batch, smaller last batch, larger batch
        feats = torch.randn(b, K, C, generator=g)
        logits = 3 * torch.randn(b, K, generator=g)
        y = (torch.rand(b, K, generator=g) < 0.5).float()
        y[0, 1] = -1
        expected_f, expected_v = bank.features.clone(), bank.valid.clone()
        if b > expected_f.shape[0]:
            extra = b - expected_f.shape[0]
            expected_f = torch.cat([expected_f, torch.zeros(extra, K, C)])
            expected_v = torch.cat([expected_v, torch.zeros(extra, K, dtype=torch.bool)])
        written = 0
        for i in range(b):
            for k in range(K):
                if y[i, k] == 1 and torch.sigmoid(logits[i, k]) > 0.8:
                    expected_f[i, k] = feats[i, k]
                    expected_v[i, k] = True
                    written += 1
        assert bank.update(feats, logits, y) == written, step
        assert torch.equal(bank.features, expected_f) and torch.equal(bank.valid, expected_v)
    assert bank.num_slots == 6


def test_memory_bank_checkpoint_with_other_slot_count_loads():
    bank = MemoryBank(3, K, C)
    bank.update(torch.randn(3, K, C), torch.full((3, K), 5.0), torch.ones(3, K))
    other = MemoryBank(8, K, C)
    other.load_state_dict(bank.state_dict())
    assert torch.equal(other.features, bank.features) and torch.equal(other.valid, bank.valid)


# ------------------------------------------------------------------ centres
def test_center_ema_update_and_state_dict_round_trip():
    loss_fn = CenterMarginLoss(K, C, momentum=0.75).train()
    g = torch.Generator().manual_seed(0)
    e1, e2 = torch.randn(B, K, C, generator=g), torch.randn(B, K, C, generator=g)
    y1, y2 = batch(9)[1], batch(10)[1]
    y1[:, 4] = 0  # class 4 absent at first

    def means(e, y):
        z = F.normalize(e, dim=-1)
        return torch.stack(
            [
                z[y[:, k] == 1, k].mean(0) if (y[:, k] == 1).any() else torch.zeros(C)
                for k in range(K)
            ]
        )

    loss_fn(e1, y1)
    seen1 = (y1 == 1).any(0)
    torch.testing.assert_close(loss_fn.centers[seen1], means(e1, y1)[seen1])
    assert torch.equal(loss_fn.initialized, seen1)
    c1 = loss_fn.centers.clone()
    loss_fn(e2, y2)
    seen2 = (y2 == 1).any(0)
    expected = c1.clone()
    both = seen1 & seen2
    expected[both] = 0.75 * c1[both] + 0.25 * means(e2, y2)[both]
    expected[seen2 & ~seen1] = means(e2, y2)[seen2 & ~seen1]
    torch.testing.assert_close(loss_fn.centers, expected)
    restored = CenterMarginLoss(K, C, momentum=0.75)
    restored.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(restored.eval()(e1, y1), loss_fn.eval()(e1, y1))


# ------------------------------------------------------------------ prototypes
def test_prototypes_are_class_means_of_confident_positives_with_named_fallbacks():
    torch.manual_seed(0)
    n = 23
    z = torch.randn(n, K, 6)
    logits = 3 * torch.randn(n, K)
    y = (torch.rand(n, K) < 0.5).float()
    y[:, 3] = 0  # class 3: no positive at all
    y[:, 2] = (torch.sigmoid(logits[:, 2]) <= 0.85).float()  # class 2: none confident
    assert y[:, 2].sum() > 0
    names = tuple(f"digit{k}" for k in range(K))
    accumulator = PrototypeAccumulator(0.85, names)
    for start in range(0, n, 5):  # batches of 5, 5, 5, 5, 3
        accumulator.update(z[start : start + 5], logits[start : start + 5], y[start : start + 5])
    with pytest.warns(UserWarning) as record:
        protos = accumulator.compute()
    messages = [str(w.message) for w in record]
    assert any("digit2" in m and "positive samples" in m for m in messages), messages
    assert any("digit3" in m and "every image" in m for m in messages), messages
    zn = F.normalize(z.double(), dim=-1)
    p = torch.sigmoid(logits.double())
    for k in range(K):
        rows = [i for i in range(n) if y[i, k] == 1 and p[i, k] > 0.85]
        if not rows:  # fallbacks: positives whatever their score, then every image
            rows = [i for i in range(n) if y[i, k] == 1] or list(range(n))
        mean = sum(zn[i, k] for i in rows) / len(rows)
        torch.testing.assert_close(protos[k], F.normalize(mean, dim=0).float())
    with pytest.raises(InvalidInputError, match="no batch"):
        PrototypeAccumulator().compute()


def _released_asl(logits: Tensor, targets: Tensor) -> Tensor:
    """models/loss/aslloss.py of the released SADCL code, written out (gamma- 4, gamma+ 0,
    clip 0.05, eps 1e-8): ``-sum / B / K * 1000`` of the per-entry ASL (entries of -1 left out
    of the sum, as mlrkit's ASL does; the division is by every entry, as released)."""
    p = torch.sigmoid(logits)
    p_m = (p - 0.05).clamp(min=0)
    pos = targets * torch.log(p.clamp(min=1e-8))
    neg = (1 - targets) * torch.log((1 - p_m).clamp(min=1e-8)) * p_m**4
    per_entry = torch.where(targets >= 0, pos + neg, torch.zeros_like(p))
    return -per_entry.sum() / logits.shape[0] / logits.shape[1] * 1000


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sadcl_weights_are_on_the_released_asl_scale(reduction):
    # released total: ASL_r + 100 SSCL + 50 PSCL; ours has the same ratio of terms on its own
    # classification scale, so ours = r * released with r = ours_cls / ASL_r
    torch.manual_seed(0)
    objective = build_objective("sadcl", K, C, reduction=reduction).double().eval()
    x, y = batch(3)
    model = TinyModel().double()
    out = model(x.double())
    terms = objective(out, y.double())
    released_cls = _released_asl(out.logits, y.double())
    released_total = released_cls + 100.0 * terms["sscl"] + 50.0 * terms["pscl"]
    known = int((y >= 0).sum())
    ratio = y.numel() / 1000 if reduction == "sum" else y.numel() / (1000 * known)
    torch.testing.assert_close(terms["cls"], ratio * released_cls)
    torch.testing.assert_close(terms["loss"], ratio * released_total)
    # released_scale=False: the weights act on our classification loss as it is
    plain = build_objective("sadcl", K, C, reduction=reduction, released_scale=False)
    plain = plain.double().eval()
    plain.load_state_dict(objective.state_dict())
    t = plain(out, y.double())
    torch.testing.assert_close(t["loss"], t["cls"] + 100.0 * t["sscl"] + 50.0 * t["pscl"])


def test_memory_bank_fill_starts_every_slot_at_the_class_vectors():
    bank = MemoryBank(3, K, C)
    means = torch.randn(K, C)
    bank.fill(means)
    assert bank.valid.all()
    for s in range(3):
        torch.testing.assert_close(bank.features[s], means)
    with pytest.raises(InvalidInputError, match="fill"):
        bank.fill(torch.randn(K, C + 1))
