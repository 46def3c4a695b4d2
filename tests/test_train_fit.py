"""fit() on a tiny embedded dataset: run directory, exact resume, SADCL stages, EMA, NaN guard.

Tiny config (tests/conftest.py): 64 train / 37 val scenes of 32 px, digitnet, batch 16, 2-3
epochs (about a second a fit).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mlrkit.config import apply_overrides
from mlrkit.errors import MlrkitError, RunDirectoryError
from mlrkit.runs import Run
from mlrkit.train import (
    NonFiniteLossError,
    NonFiniteStateError,
    fit,
    fitting,
    init_prototypes,
    recipe,
)
from mlrkit.train.checkpoint import CheckpointMismatchError, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    def callback(row: dict) -> None:
        if row["epoch"] == epoch:
            raise Interrupt

    return callback


def assert_same_state(a: dict, b: dict) -> None:
    """Every tensor of two checkpoints' model/objective/optimiser/EMA state is identical."""
    for key in ("model", "objective", "ema"):
        if a[key] is None:
            assert b[key] is None
            continue
        assert a[key].keys() == b[key].keys(), key
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for sa, sb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        for name in sa:
            assert torch.equal(torch.as_tensor(sa[name]), torch.as_tensor(sb[name])), name
    assert a["scheduler"] == b["scheduler"]


def test_fit_writes_the_run_directory(tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config("train.epochs=2")
    result = fit(cfg, tmp_path / "run")
    run = tmp_path / "run"
    names = {"config.json", "metrics.jsonl", "last.pt", "best.pt", "environment.json"}
    assert {p.name for p in run.iterdir()} == names
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] == [r["epoch"] for r in result.history]
    for key in ("loss", "cls", "disc", "val_mAP", "val_CF1", "val_OF1", "lr", "seconds"):
        assert key in rows[0], key
    assert "images_per_s" in rows[0] and rows[0]["images"] == 64 - 64 % 16
    state = torch.load(run / "last.pt", weights_only=True)  # plain weights_only load
    assert state["epoch"] == 2 and state["classes"] == list(result.classes)
    assert state["config"]["data"]["image_size"] == 32
    assert {"python", "numpy", "torch"} <= set(state["rng"])
    best = max(r["val_mAP"] for r in rows)
    assert result.best_metric == pytest.approx(best)
    assert load_checkpoint(run / "best.pt")["epoch"] == result.best_epoch
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(cfg, run)


@pytest.mark.filterwarnings("ignore:init_prototypes")  # tiny stage 1: few confident samples
@pytest.mark.parametrize(
    ("loss", "extra", "stop"),
    [
        ("disc-contrastive", ("train.ema_decay=0.9",), 1),
        ("disc-center", (), 2),
        (
            "asl",
            (
                "optim.name=sgd",
                "optim.schedule=step",
                "optim.step_milestones=[2]",
                "optim.grad_clip=1.0",
                "optim.head_lr_mult=10",
                "optim.lr=0.01",
            ),
            2,
        ),
        ("sadcl", ("loss.sadcl_stage1_epochs=1",), 1),  # interrupted at the stage boundary
        ("sadcl", ("loss.sadcl_stage1_epochs=1", "train.ema_decay=0.9"), 2),  # inside stage 2
    ],
)
def test_interrupted_then_resumed_equals_uninterrupted(
    tiny_config, tmp_path: Path, loss: str, extra: tuple[str, ...], stop: int
) -> None:
    cfg = tiny_config(*extra, loss=loss)
    full = fit(cfg, tmp_path / "full")
    with pytest.raises(Interrupt):
        fit(cfg, tmp_path / "cut", callback=stop_after(stop))
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == stop
    resumed = fit(cfg, tmp_path / "cut", resume=True)
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert_same_state(a, b)
    assert a["stage"] == b["stage"] == (2 if loss == "sadcl" else 1)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert [r["val_mAP"] for r in resumed.history] == [r["val_mAP"] for r in full.history]
    if "train.ema_decay=0.9" in extra:
        # EMA metrics are reported under their own keys, next to the raw ones.
        assert all("ema_val_mAP" in r and "val_mAP" in r for r in full.history)
        ema_model = Run.load(tmp_path / "full" / "last.pt", device="cpu", ema=True).model
        for name, value in ema_model.state_dict().items():
            assert torch.equal(value, a["ema"][f"module.{name}"]), name


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_sadcl_stage_two_initialises_prototypes_and_uses_the_bank(
    tiny_config, tmp_path: Path
) -> None:
    cfg = tiny_config("loss.sadcl_stage1_epochs=1", "train.epochs=2", loss="sadcl")
    result = fit(cfg, tmp_path / "run")
    first, second = result.history
    assert (first["stage"], second["stage"]) == (1, 2)
    assert "sscl" not in first and {"sscl", "pscl"} <= set(second)
    objective = load_checkpoint(tmp_path / "run" / "last.pt")["objective"]
    prototypes = next(v for k, v in objective.items() if k.endswith("prototypes"))
    assert prototypes.shape[0] == 10 and torch.isfinite(prototypes).all()
    assert any("bank" in k for k in objective), sorted(objective)


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_last_good(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config("train.epochs=3")
    real_build = recipe.objective_from_config
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        objective = real_build(*args, **kwargs)
        original = objective.forward

        def forward(output, targets):
            terms = original(output, targets)
            calls["n"] += 1
            if calls["n"] == 4 + 2:  # epoch 2 (4 steps per epoch), step 2
                terms["loss"] = terms["loss"] * float("nan")
            return terms

        objective.forward = forward
        return objective

    monkeypatch.setattr(recipe, "objective_from_config", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 2 of 4"):
        fit(cfg, tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1


def test_resume_with_another_architecture_or_classes_says_what_differs(
    tiny_config, tmp_path: Path
) -> None:
    cfg = tiny_config("train.epochs=1")
    fit(cfg, tmp_path / "run")
    other = apply_overrides(cfg, ["model.head=query", "train.epochs=2"])
    with pytest.raises(CheckpointMismatchError, match=r"model\.head: checkpoint 'class_attention'"):
        fit(other, tmp_path / "run", resume=True)
    train, val = recipe.datasets_from_config(cfg, (0.5,) * 3, (0.25,) * 3)
    train.classes = tuple(reversed(train.classes))
    with pytest.raises(CheckpointMismatchError, match="different order"):
        fit(apply_overrides(cfg, ["train.epochs=2"]), tmp_path / "run", True, datasets=(train, val))


def test_environment_json_lists_each_start_with_what_the_numbers_depend_on(
    tiny_config, tmp_path: Path
) -> None:
    import platform

    import numpy as np
    import torchvision

    cfg = tiny_config("train.epochs=3")
    with pytest.raises(Interrupt):
        fit(cfg, tmp_path / "run", callback=stop_after(1))
    first = json.loads((tmp_path / "run" / "environment.json").read_text(encoding="utf-8"))
    with pytest.raises(Interrupt):
        fit(cfg, tmp_path / "run", resume=True, callback=stop_after(2))
    entries = json.loads((tmp_path / "run" / "environment.json").read_text(encoding="utf-8"))
    assert entries[:1] == first and [e["from_epoch"] for e in entries] == [0, 1]
    expected = {
        "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "numpy": np.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }  # fmt: skip
    for entry in entries:
        assert {key: entry[key] for key in expected} == expected
        assert entry["cpu"] and "gpu" not in entry  # a CPU run names its CPU, no GPU
    # a damaged file is started afresh with a warning, never a crash
    (tmp_path / "run" / "environment.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="environment.json is unreadable"):
        fit(cfg, tmp_path / "run", resume=True)
    entries = json.loads((tmp_path / "run" / "environment.json").read_text(encoding="utf-8"))
    assert [e["from_epoch"] for e in entries] == [2]


def test_resume_without_a_checkpoint_warns_and_starts_fresh(tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config("train.epochs=1")
    with pytest.warns(UserWarning, match="starting from scratch"):
        result = fit(cfg, tmp_path / "new", resume=True)
    assert [r["epoch"] for r in result.history] == [1]


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_sadcl_stage_two_starts_from_the_stage_one_class_means(tiny_config, tmp_path: Path) -> None:
    """With a stage-2 learning rate of 0 the prototypes keep their initial value, which must be
    the class means of the stage-1 model's projected features (slow per-image reference)."""
    cfg = tiny_config(
        "loss.sadcl_stage1_epochs=1", "train.epochs=2",
        "loss.sadcl_stage2_lr_mult=0", loss="sadcl",
    )  # fmt: skip
    run = tmp_path / "run"

    def keep_stage_one(row: dict) -> None:
        if row["epoch"] == 1:
            (run / "stage1.pt").write_bytes((run / "last.pt").read_bytes())

    fit(cfg, run, callback=keep_stage_one)
    stage1, final = load_checkpoint(run / "stage1.pt"), load_checkpoint(run / "last.pt")
    model = recipe.model_from_config(cfg, 10)
    model.load_state_dict(stage1["model"])
    objective = recipe.objective_from_config(cfg, model, stage=2)
    objective.load_state_dict(final["objective"])
    train_set, _ = recipe.datasets_from_config(cfg, *model.preprocessing[:2])
    model.eval()
    per_class: dict[int, list[torch.Tensor]] = {k: [] for k in range(10)}
    positives: dict[int, list[torch.Tensor]] = {k: [] for k in range(10)}
    with torch.no_grad():
        for i in range(len(train_set)):
            image, target = train_set[i]
            out = model(image[None])
            z = torch.nn.functional.normalize(
                objective.projection(out.class_features[0]).double(), dim=-1
            )
            score = torch.sigmoid(out.logits[0].double())
            for k in range(10):
                if target[k] == 1:
                    positives[k].append(z[k])
                    if score[k] > cfg.loss.prototype_threshold:
                        per_class[k].append(z[k])
    for k in range(10):
        rows = per_class[k] or positives[k]  # the documented fallback
        expected = torch.nn.functional.normalize(torch.stack(rows).mean(0), dim=0).float()
        got = final["objective"]["sadcl.pscl.prototypes"][k]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5, msg=f"class {k}")


def test_a_run_directory_is_never_overwritten_without_a_flag(tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config("train.epochs=2")
    run = tmp_path / "run"
    fit(cfg, run)
    (run / "last.pt").unlink()  # best.pt and metrics.jsonl remain
    before = {name: (run / name).read_bytes() for name in ("best.pt", "metrics.jsonl")}
    with pytest.raises(RunDirectoryError, match="overwrite=True"):
        fit(cfg, run)
    assert {name: (run / name).read_bytes() for name in before} == before
    best_epoch = load_checkpoint(run / "best.pt")["epoch"]
    with pytest.warns(UserWarning, match=f"from best.pt \\(epoch {best_epoch}\\)"):
        resumed = fit(cfg, run, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    fresh = fit(apply_overrides(cfg, ["train.epochs=1"]), run, overwrite=True)
    assert [r["epoch"] for r in fresh.history] == [1]
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


def test_resume_falls_back_to_best_when_last_is_corrupt_and_refuses_when_nothing_is_intact(
    tiny_config, tmp_path: Path
) -> None:
    cfg = tiny_config("train.epochs=2")
    run = tmp_path / "run"
    fit(cfg, run)
    (run / "last.pt").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="last.pt is unreadable"):
        fit(cfg, run, resume=True)
    assert load_checkpoint(run / "last.pt")["epoch"] == 2  # rewritten by the resumed run
    for name in ("last.pt", "best.pt"):
        (run / name).write_bytes(b"truncated")
    with pytest.raises(RunDirectoryError, match="2 epoch\\(s\\) were logged"):
        fit(cfg, run, resume=True)
    assert (run / "best.pt").read_bytes() == b"truncated"  # kept for inspection


def test_a_diverged_state_is_never_saved(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finite loss but BatchNorm statistics at inf (a run at lr 1e6): stop before saving."""
    cfg = tiny_config("train.epochs=3")
    real = fitting.train_one_epoch

    def diverging(model, *args, epoch: int, **kwargs):
        stats = real(model, *args, epoch=epoch, **kwargs)
        if epoch == 2:
            bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
            bn.running_var.fill_(float("inf"))
        return stats

    monkeypatch.setattr(fitting, "train_one_epoch", diverging)
    with pytest.raises(
        NonFiniteStateError, match=r"epoch 2: non-finite values in model\.\S+running_var"
    ):
        fit(cfg, tmp_path / "run")
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == 1
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_overwrite_loses_nothing_when_the_new_run_cannot_start(tiny_config, tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(tiny_config("train.epochs=1"), run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    bad = tiny_config("train.epochs=1", "data.root=/nonexistent/digits")
    with pytest.raises(MlrkitError):
        fit(bad, run, overwrite=True)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resuming_a_finished_run_from_best_makes_last_good_again(
    tiny_config, tmp_path: Path
) -> None:
    cfg = tiny_config("train.epochs=2", "optim.schedule=constant", "optim.lr=1e-9")
    run = tmp_path / "run"
    fit(cfg, run)
    best = load_checkpoint(run / "best.pt")
    if best["epoch"] != 2:  # make best.pt the final epoch, as a finished run's often is
        (run / "best.pt").write_bytes((run / "last.pt").read_bytes())
    (run / "last.pt").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="from best.pt"):
        result = fit(cfg, run, resume=True)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def _parameters(state: dict) -> dict[str, torch.Tensor]:
    """The trained parameters of a checkpoint's model (BatchNorm statistics left out: they move
    in training mode even at a learning rate of 0)."""
    return {
        k: v for k, v in state["model"].items() if "running_" not in k and "num_batches" not in k
    }


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_sadcl_stage_two_starts_from_the_best_stage_one_weights_with_a_full_bank(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stage 1 = 2 epochs whose best is epoch 1 (val mAP made to fall); stage 2 at lr 0 must end
    with epoch 1's weights, not epoch 2's, and a bank whose every slot holds a feature."""
    cfg = tiny_config(
        "loss.sadcl_stage1_epochs=2", "train.epochs=3",
        "loss.sadcl_stage2_lr_mult=0", loss="sadcl",
    )  # fmt: skip
    run = tmp_path / "run"
    falling = iter([0.9, 0.5, 0.1])
    real_row = fitting._evaluate_row

    def row(*args, **kwargs):
        return {**real_row(*args, **kwargs), "val_mAP": next(falling)}

    monkeypatch.setattr(fitting, "_evaluate_row", row)
    kept: dict[int, dict] = {}

    def keep(row: dict) -> None:
        kept[row["epoch"]] = load_checkpoint(run / "last.pt")

    result = fit(cfg, run, callback=keep)
    assert [r["stage"] for r in result.history] == [1, 1, 2]
    final = load_checkpoint(run / "last.pt")
    for name, value in _parameters(kept[1]).items():
        assert torch.equal(final["model"][name], value), name
    assert any(not torch.equal(kept[2]["model"][n], v) for n, v in _parameters(kept[1]).items())
    assert final["objective"]["sadcl.bank.valid"].all()
    # best.pt restarts with stage 2: its only epoch is the best of stage 2
    assert (final["best_epoch"], load_checkpoint(run / "best.pt")["epoch"]) == (3, 3)


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_a_run_starts_from_init_from_and_sadcl_can_take_it_as_stage_one(
    tiny_config, tmp_path: Path
) -> None:
    base = tmp_path / "asl"
    fit(tiny_config("train.epochs=2", loss="asl"), base)
    start = _parameters(load_checkpoint(base / "best.pt"))
    cfg = tiny_config(
        "train.epochs=1", "loss.sadcl_stage1_epochs=0", "loss.sadcl_stage2_lr_mult=0",
        f"train.init_from={base / 'best.pt'}", loss="sadcl",
    )  # fmt: skip
    result = fit(cfg, tmp_path / "sadcl")
    assert [r["stage"] for r in result.history] == [2]
    final = load_checkpoint(tmp_path / "sadcl" / "last.pt")
    for name, value in start.items():
        assert torch.equal(final["model"][name], value), name
    # the control: the same base continued with its own loss, a fresh schedule of 1 epoch
    control = fit(
        tiny_config("train.epochs=1", f"train.init_from={base / 'best.pt'}", loss="asl"),
        tmp_path / "control",
    )
    assert [r["epoch"] for r in control.history] == [1]
    state = load_checkpoint(tmp_path / "control" / "last.pt")
    assert state["scheduler"]["total_steps"] == 4  # one epoch of 4 steps, not the base's 8
    moved = _parameters(state)
    assert any(not torch.equal(moved[n], v) for n, v in start.items())
    with pytest.raises(MlrkitError, match="does not exist"):
        fit(tiny_config("train.epochs=1", "train.init_from=nowhere.pt"), tmp_path / "x")


@pytest.mark.filterwarnings("ignore:init_prototypes")
@pytest.mark.parametrize("bank_init", ["prototypes", "empty"])
def test_init_prototypes_starts_every_bank_slot_at_the_raw_class_means(
    tiny_config, bank_init: str
) -> None:
    """As released, the bank starts at the class means of the raw (unprojected) class features
    of confidently-correct samples; checked against a slow per-image loop."""
    cfg = tiny_config(loss="sadcl")
    cfg.loss.objective_kwargs = {"bank_init": bank_init}
    torch.manual_seed(0)
    model = recipe.model_from_config(cfg, 10).eval()
    objective = recipe.objective_from_config(cfg, model, stage=2)
    train_set, _ = recipe.datasets_from_config(cfg, *model.preprocessing[:2])
    loader = torch.utils.data.DataLoader(train_set, batch_size=16)
    init_prototypes(model, objective, loader, threshold=0.5)
    bank = objective.sadcl.bank
    if bank_init == "empty":
        assert not bank.valid.any()
        return
    confident: dict[int, list[torch.Tensor]] = {k: [] for k in range(10)}
    positives: dict[int, list[torch.Tensor]] = {k: [] for k in range(10)}
    with torch.no_grad():
        for i in range(len(train_set)):
            image, target = train_set[i]
            out = model(image[None])
            score = torch.sigmoid(out.logits[0].double())
            for k in range(10):
                if target[k] == 1:
                    positives[k].append(out.class_features[0, k].double())
                    if score[k] > 0.5:
                        confident[k].append(out.class_features[0, k].double())
    assert bank.valid.all()
    for k in range(10):
        expected = torch.stack(confident[k] or positives[k]).mean(0).float()
        for slot in range(bank.num_slots):
            torch.testing.assert_close(bank.features[slot, k], expected, atol=1e-5, rtol=1e-5)
