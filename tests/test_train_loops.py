"""train_one_epoch / evaluate / predict, EMA, schedules and optimiser groups on tiny stand-ins.

Oracles: a hand-written SGD loop, sklearn's average_precision_score, closed-form EMA and
schedule values.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlrkit.config import OptimConfig
from mlrkit.models import ModelOutput
from mlrkit.train import (
    ModelEMA,
    NonFiniteLossError,
    build_optimizer,
    build_scheduler,
    evaluate,
    param_groups,
    predict,
    train_one_epoch,
)

K, D = 5, 4


pytestmark = pytest.mark.usefixtures("one_thread")


class TinyModel(nn.Module):
    """Conv backbone + class-attention-like head; returns a ModelOutput like mlrkit models."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, D, 3, padding=1), nn.BatchNorm2d(D), nn.ReLU())
        self.head = nn.Conv2d(D, K, 1)
        self.num_classes, self.feature_dim = K, D

    def forward(self, images: torch.Tensor) -> ModelOutput:
        fmap = self.backbone(images)  # (B, D, H, W)
        scores = self.head(fmap)  # (B, K, H, W)
        attention = scores.flatten(2).softmax(-1)  # (B, K, HW)
        features = torch.einsum("bkn,bdn->bkd", attention, fmap.flatten(2))  # (B, K, D)
        return ModelOutput(scores.mean((2, 3)), features, attention.view_as(scores))


class BCEObjective(nn.Module):
    """BCE (sum) + a feature-norm term, as named terms."""

    def forward(self, output: ModelOutput, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        cls = nn.functional.binary_cross_entropy_with_logits(
            output.logits, targets.clamp(min=0), reduction="sum"
        )
        reg = output.class_features.pow(2).mean()
        return {"loss": cls + reg, "cls": cls, "reg": reg}


def make_data(n: int = 40, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 8, 8, generator=g)
    targets = (torch.rand(n, K, generator=g) < 0.4).float()
    targets[0] = 1.0  # every class has a positive
    images[:, 0] += targets[:, :3].sum(1, keepdim=True)[..., None]  # some signal
    return TensorDataset(images, targets)


def test_train_one_epoch_matches_a_hand_written_loop() -> None:
    torch.manual_seed(0)
    model, objective = TinyModel(), BCEObjective()
    reference = copy.deepcopy(model)
    loader = DataLoader(make_data(), batch_size=8, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    stats = train_one_epoch(
        model, objective, loader, opt, device=torch.device("cpu"), grad_clip=0.5, progress=False
    )
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    losses = []
    reference.train()
    for images, targets in loader:
        terms = objective(reference(images), targets)
        ref_opt.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 0.5)
        ref_opt.step()
        losses.append(float(terms["loss"].detach()) * images.shape[0])
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert stats["loss"] == pytest.approx(sum(losses) / 40)
    assert set(stats) >= {"loss", "cls", "reg", "lr", "images", "seconds", "images_per_s"}
    assert stats["images"] == 40


def test_nan_loss_names_epoch_and_step_and_leaves_weights_untouched() -> None:
    torch.manual_seed(0)
    data = make_data(24)
    data.tensors[0][17] = float("nan")  # third batch of 8
    model = TinyModel()
    loader = DataLoader(data, batch_size=8, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    snapshot = {}

    class Recorder(BCEObjective):
        def forward(self, output, targets):
            snapshot.update({k: v.clone() for k, v in model.state_dict().items()})
            return super().forward(output, targets)

    with pytest.raises(NonFiniteLossError, match=r"epoch 4, step 3 of 3"):
        train_one_epoch(
            model, Recorder(), loader, opt, device=torch.device("cpu"), epoch=4, progress=False
        )
    # The failing step never reached backward/step: weights equal those before its forward
    # (BatchNorm running stats aside, which the forward itself updates).
    for name, value in model.named_parameters():
        assert torch.equal(value, snapshot[name]), name
        assert torch.isfinite(value).all()


def test_evaluate_equals_sklearn_and_predict_keeps_order() -> None:
    torch.manual_seed(1)
    model = TinyModel()
    data = make_data(37)
    data.tensors[1][3, 2] = -1  # ignored entry
    loader = DataLoader(data, batch_size=8)
    result = evaluate(model, loader, device=torch.device("cpu"))
    out = predict(model, loader, device=torch.device("cpu"), return_features=True)
    assert out["features"].shape == (37, K, D)
    assert torch.equal(out["targets"], data.tensors[1])
    scores, targets = out["logits"].numpy(), data.tensors[1].numpy()
    expected = []
    for k in range(K):
        keep = targets[:, k] != -1
        expected.append(average_precision_score(targets[keep, k], scores[keep, k]))
    np.testing.assert_allclose(result["AP"], expected, atol=1e-12)
    assert result["mAP"] == pytest.approx(np.mean(expected))
    assert result["images"] == 37
    for key in ("CF1", "OF1", "CP", "CR", "OP", "OR"):
        assert 0.0 <= result[key] <= 1.0


def test_ema_follows_the_closed_form() -> None:
    model = nn.Linear(2, 1)
    ema = ModelEMA(model, decay=0.9, warmup=False)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    ema.update(model)
    expected = 0.9**2 * start + (1 - 0.9**2) * 1.0
    torch.testing.assert_close(ema.module.weight, expected)
    warm = ModelEMA(model, decay=0.9999)
    assert warm.current_decay() == pytest.approx(1 / 10)  # (1 + 0) / (10 + 0)
    clone = ModelEMA(model, decay=0.9, warmup=False)
    clone.load_state_dict(ema.state_dict())
    assert int(clone.num_updates) == 2
    torch.testing.assert_close(clone.module.weight, ema.module.weight)


def test_head_gets_a_higher_lr_and_no_decay_on_biases() -> None:
    model, extra = TinyModel(), nn.Linear(3, 3)
    cfg = OptimConfig(lr=0.01, head_lr_mult=10.0, weight_decay=1e-4)
    groups = {g["name"]: g for g in param_groups(model, [extra], cfg)}
    assert groups["bb"]["lr"] == 0.01 and groups["head"]["lr"] == pytest.approx(0.1)
    assert groups["bb_nd"]["weight_decay"] == 0.0 and groups["head"]["weight_decay"] == 1e-4
    ids = lambda name: {id(p) for p in groups[name]["params"]}  # noqa: E731
    assert id(model.backbone[0].weight) in ids("bb")
    assert id(extra.weight) in ids("head") and id(model.head.bias) in ids("head_nd")
    counted = sum(len(g["params"]) for g in groups.values())
    assert counted == len(list(model.parameters())) + len(list(extra.parameters()))


def test_schedules() -> None:
    model = TinyModel()
    cfg = OptimConfig(lr=0.1, schedule="step", step_milestones=(2,), step_gamma=0.1)
    opt = build_optimizer(model, [], cfg)
    sched = build_scheduler(opt, cfg, epochs=3, steps_per_epoch=4)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:8] == [0.1] * 8 and lrs[8:] == pytest.approx([0.01] * 4)
    cfg = OptimConfig(lr=0.1, schedule="onecycle", pct_start=0.25)
    opt = build_optimizer(model, [], cfg)
    sched = build_scheduler(opt, cfg, epochs=2, steps_per_epoch=10)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = int(np.argmax(lrs))
    assert lrs[peak] == pytest.approx(0.1) and 3 <= peak <= 5
    assert lrs[0] < 0.01 and lrs[-1] < 0.001


def test_train_stats_are_finite_means() -> None:
    torch.manual_seed(0)
    loader = DataLoader(make_data(16), batch_size=8)
    model = TinyModel()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = train_one_epoch(
        model, BCEObjective(), loader, opt, device=torch.device("cpu"), progress=True
    )
    assert all(math.isfinite(v) for v in stats.values())


def test_grad_scaler_path_equals_plain_fp32_and_bf16_channels_last_run() -> None:
    # A power-of-two loss scale is exact in fp32, so the scaler path (scale, unscale for
    # clipping, step, update) must land on the very same weights as the plain path.
    loader = DataLoader(make_data(24), batch_size=8)
    results = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0**10)):
        torch.manual_seed(0)
        model = TinyModel()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        train_one_epoch(
            model, BCEObjective(), loader, opt, device=torch.device("cpu"), scaler=scaler,
            grad_clip=0.5, progress=False,
        )  # fmt: skip
        results.append(model.state_dict())
    for name, value in results[0].items():
        assert torch.equal(value, results[1][name]), name
    torch.manual_seed(0)
    model = TinyModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    stats = train_one_epoch(
        model, BCEObjective(), loader, opt, device=torch.device("cpu"),
        amp_dtype=torch.bfloat16, channels_last=True, progress=False,
    )  # fmt: skip
    assert math.isfinite(stats["loss"])
    result = evaluate(model, loader, device=torch.device("cpu"), amp_dtype=torch.bfloat16)
    assert 0.0 <= result["mAP"] <= 1.0
