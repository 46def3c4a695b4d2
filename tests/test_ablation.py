"""The ablation runner on a tiny configuration: columns, reuse of finished runs, the summary."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlrkit.ablation as ablation
import mlrkit.train.fitting as fitting
from mlrkit.ablation import (
    CONTROL_LABEL,
    SEPARATION_COLUMNS,
    lambda_sweep,
    plan_ablation,
    run_ablation,
)
from mlrkit.ablation_tables import (
    format_summary,
    lambda_table,
    main_runs,
    paired_differences,
    summarize_ablation,
)
from mlrkit.errors import ConfigError, RunDirectoryError

pytestmark = pytest.mark.usefixtures("one_thread")

EXPECTED_COLUMNS = [
    "preset", "loss", "seed", "epochs", "overrides", "label", "start_from", "disc_weight",
    "mAP", "CP", "CR", "CF1", "OP", "OR", "OF1", "best_mAP", "best_epoch", "start_mAP",
    *[f"embedding_{c}" for c in SEPARATION_COLUMNS],
    *[f"features_{c}" for c in SEPARATION_COLUMNS],
    "train_seconds", "run_dir",
]  # fmt: skip


@pytest.fixture
def tiny_plan(tiny_overrides: list[str]) -> list[ablation.AblationRun]:
    overrides = [o for o in tiny_overrides if not o.startswith("train.epochs")]
    return plan_ablation(
        presets=("digits",), losses=("bce", "disc-contrastive"), seeds=(0, 1),
        epochs={"digits": 1}, overrides=overrides,
    )  # fmt: skip


def test_the_plan_covers_every_preset_loss_and_seed_in_order() -> None:
    runs = plan_ablation(seeds=(0, 1, 2))
    # 4 losses from scratch, then per seed SADCL's asl stage 1 (a repeat), control, stage 2
    assert len(runs) == 2 * (4 * 3 + 3 * 3)
    assert len({r.directory("out") for r in runs}) == 2 * (4 * 3 + 2 * 3) == 36
    sadcl = [r for r in runs if r.loss == "sadcl" and r.preset == "digits"]
    control = [r for r in runs if r.label == CONTROL_LABEL and r.preset == "digits"]
    assert [(r.start_from, r.epochs) for r in sadcl + control] == [("asl", 3)] * 6
    assert [(r.preset, r.loss, r.seed) for r in runs[:4]] == [
        ("digits", "bce", 0), ("digits", "bce", 1), ("digits", "bce", 2), ("digits", "asl", 0),
    ]  # fmt: skip
    assert {r.epochs for r in runs if r.preset == "digits-hard" and not r.start_from} == {
        ablation.ABLATION_EPOCHS["digits-hard"]
    }
    with pytest.raises(ConfigError, match="unknown loss setup 'focal'"):
        plan_ablation(losses=("focal",))
    with pytest.raises(ConfigError, match="unknown preset 'cifar'"):
        plan_ablation(presets=("cifar",))


def test_lambda_sweep_sets_the_discriminative_weight(tmp_path: Path) -> None:
    runs = lambda_sweep(weights=(0.1, 1.0, 2.0), epochs=1)
    # The weight is a field of the run (a column of the results), not a string to parse back.
    assert [r.disc_weight for r in runs] == [0.1, None, 2.0]
    assert [r.overrides for r in runs] == [()] * 3
    labels = ["disc-contrastive@0.1", "disc-contrastive", "disc-contrastive@2"]
    assert [r.label for r in runs] == labels
    cfg = ablation._config(runs[2])
    assert cfg.loss.objective_kwargs["disc_weight"] == 2.0
    assert [ablation.disc_weight_of(ablation._config(r)) for r in runs] == [0.1, 1.0, 2.0]
    assert runs[2].directory(tmp_path) == tmp_path / "digits-hard" / "disc-contrastive@2" / "seed0"
    # The weight-1 run is the plain ablation's run of the same seed: the same folder, reused.
    plain = plan_ablation(("digits-hard",), ("disc-contrastive",), (0,), {"digits-hard": 1})
    assert runs[1].directory(tmp_path) == plain[0].directory(tmp_path)


def test_main_runs_and_the_lambda_table_select_by_the_weight_column() -> None:
    nan = math.nan
    rows = [  # (preset, loss, label, seed, disc_weight)
        ("h", "bce", "bce", 0, nan), ("h", "asl", "asl", 0, nan),
        ("h", "asl", CONTROL_LABEL, 0, nan), ("h", "disc-center", "disc-center", 0, 1.0),
        ("h", "disc-contrastive", "disc-contrastive", 0, 1.0),
        ("h", "disc-contrastive", "disc-contrastive", 1, 1.0),
        ("h", "disc-contrastive", "w=2", 0, 2.0), ("h", "disc-contrastive", "w=0.1", 0, 0.1),
        ("d", "disc-contrastive", "disc-contrastive", 0, 1.0),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["preset", "loss", "label", "seed", "disc_weight"])
    assert main_runs(frame)["label"].tolist() == frame["label"].tolist()[:6] + ["disc-contrastive"]
    sweep = lambda_table(frame)  # the labels play no part: only preset h, seed 0 has 3 weights
    assert sweep["disc_weight"].tolist() == [0.1, 1.0, 2.0]
    assert set(sweep["preset"]) == {"h"} and set(sweep["seed"]) == {0}
    assert lambda_table(frame, loss="disc-center").empty


def test_runner_writes_every_column_and_reuses_finished_runs(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_ablation(tiny_plan, tmp_path, progress=False)
    csv = pd.read_csv(tmp_path / "results.csv")
    assert list(csv.columns) == EXPECTED_COLUMNS
    assert list(first.columns) == EXPECTED_COLUMNS
    assert len(csv) == 4 and (csv["train_seconds"] > 0).all()
    # Every row says its disc_weight: the setup's default, NaN for a setup without one.
    assert (csv[csv["loss"] == "disc-contrastive"]["disc_weight"] == 1.0).all()
    assert csv[csv["loss"] == "bce"]["disc_weight"].isna().all()
    # BCE has no projection head: its embedding space is NaN, its feature space is measured.
    bce = csv[csv["loss"] == "bce"]
    assert bce["embedding_silhouette"].isna().all()
    assert bce["features_silhouette"].notna().all()
    assert csv[csv["loss"] == "disc-contrastive"]["embedding_silhouette"].notna().all()
    # The scores are the ones the run's own validation log reports for its last epoch, the
    # best mAP its best epoch's; a run from scratch starts from nothing.
    history = pd.read_json(Path(csv["run_dir"][0]) / "metrics.jsonl", lines=True)
    for name in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert csv[name][0] == pytest.approx(100 * history[f"val_{name}"].iloc[-1], abs=1e-9)
    assert csv["best_mAP"][0] == pytest.approx(100 * history["val_mAP"].max(), abs=1e-9)
    assert csv["start_mAP"].isna().all()
    assert csv["features_presence_auroc"].between(0, 1).all()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(fitting, "fit", no_training)
    monkeypatch.setattr(ablation, "_measure", no_training)
    again = run_ablation(tiny_plan, tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, first)


def test_a_finished_but_unmeasured_run_is_only_measured(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tiny_plan[:1]
    run_ablation(one, tmp_path, progress=False)
    (one[0].directory(tmp_path) / ablation.ROW_FILE).unlink()
    monkeypatch.setattr(fitting, "fit", lambda *a, **k: pytest.fail("trained again"))
    row = run_ablation(one, tmp_path, progress=False).iloc[0]
    assert row["train_seconds"] == 0 and not math.isnan(row["mAP"])


def test_a_saved_row_without_a_parameter_column_is_completed_not_measured(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row saved before ``disc_weight`` was a column gets it from the plan, not a new run."""
    one = [r for r in tiny_plan if r.loss == "disc-contrastive"][:1]
    first = run_ablation(one, tmp_path, progress=False)
    saved = one[0].directory(tmp_path) / ablation.ROW_FILE
    old = json.loads(saved.read_text(encoding="utf-8"))
    del old["disc_weight"]
    saved.write_text(json.dumps(old), encoding="utf-8")
    monkeypatch.setattr(fitting, "fit", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr(ablation, "_measure", lambda *a, **k: pytest.fail("measured again"))
    again = run_ablation(one, tmp_path, progress=False)
    pd.testing.assert_frame_equal(again, first)
    assert again["disc_weight"].tolist() == [1.0]
    assert json.loads(saved.read_text(encoding="utf-8"))["disc_weight"] == 1.0


def test_a_changed_override_is_refused_not_answered_with_the_old_results(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun]
) -> None:
    """Same folder, same label, another lr: the saved row is not this trial's result."""
    one = tiny_plan[:1]
    run_ablation(one, tmp_path, progress=False)
    changed = [dataclasses.replace(one[0], overrides=(*one[0].overrides, "optim.lr=0.5"))]
    assert changed[0].directory(tmp_path) == one[0].directory(tmp_path)
    with pytest.raises(RunDirectoryError, match=r"another experiment \(optim.lr: 0.003 there, 0.5"):
        run_ablation(changed, tmp_path, progress=False)


def test_a_slot_holding_a_finished_run_of_another_loss_is_refused(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun]
) -> None:
    bce, other = tiny_plan[0], next(r for r in tiny_plan if r.loss == "disc-contrastive")
    run_ablation([bce], tmp_path, progress=False)
    # a user copies the bce folder into the disc-contrastive slot, ablation.json included
    shutil.copytree(bce.directory(tmp_path), other.directory(tmp_path))
    with pytest.raises(RunDirectoryError, match="loss.setup: 'bce' there, 'disc-contrastive'"):
        run_ablation([other], tmp_path, progress=False)


def test_a_truncated_saved_row_is_measured_again_with_a_warning(
    tmp_path: Path, tiny_plan: list[ablation.AblationRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tiny_plan[:1]
    first = run_ablation(one, tmp_path, progress=False)
    saved = one[0].directory(tmp_path) / ablation.ROW_FILE
    saved.write_text(saved.read_text(encoding="utf-8")[:40], encoding="utf-8")  # a kill mid-write
    monkeypatch.setattr(fitting, "fit", lambda *a, **k: pytest.fail("trained again"))
    with pytest.warns(UserWarning, match="ablation.json is unreadable .* measuring the run again"):
        again = run_ablation(one, tmp_path, progress=False)
    measured = [c for c in first.columns if c != "train_seconds"]
    pd.testing.assert_frame_equal(again[measured], first[measured])
    assert json.loads(saved.read_text(encoding="utf-8"))["mAP"] == first["mAP"].iloc[0]


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_sadcl_reuses_the_asl_run_as_stage_one_and_trains_the_control_once(
    tmp_path: Path, tiny_overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = [o for o in tiny_overrides if not o.startswith("train.epochs")]
    plan = plan_ablation(
        presets=("digits",), losses=("asl", "sadcl"), seeds=(0,), epochs={"digits": 1},
        overrides=overrides, stage2_epochs={"digits": 1},
    )  # fmt: skip
    calls: list[tuple[str, str | None, int | None]] = []
    real_fit = fitting.fit

    def counting_fit(cfg, out_dir, *args, **kwargs):
        calls.append((cfg.loss.setup, cfg.train.init_from, cfg.loss.sadcl_stage1_epochs))
        return real_fit(cfg, out_dir, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit", counting_fit)
    results = run_ablation(plan, tmp_path, progress=False)
    base = str(tmp_path / "digits" / "asl" / "seed0" / "best.pt")
    assert calls == [("asl", None, None), ("asl", base, None), ("sadcl", base, 0)]
    assert list(results["label"]) == ["asl", CONTROL_LABEL, "sadcl"]
    asl = results.set_index("label").loc["asl"]
    for label in (CONTROL_LABEL, "sadcl"):
        row = results.set_index("label").loc[label]
        assert row["start_mAP"] == pytest.approx(asl["best_mAP"])  # SADCL's stage-1 mAP
        assert row["start_from"] == "asl" and row["epochs"] == 1
    # run again: nothing trains, the rows come back
    calls.clear()
    again = run_ablation(plan, tmp_path, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(again, results)


def test_a_run_whose_start_is_missing_is_refused(tmp_path: Path) -> None:
    run = ablation.AblationRun("digits", "sadcl", 0, 1, (), "sadcl", start_from="asl")
    with pytest.raises(ConfigError, match="asl/seed0/best.pt, which does not exist"):
        run_ablation([run], tmp_path, progress=False)


def test_paired_differences_are_per_seed_then_over_seeds() -> None:
    frame = pd.DataFrame(
        [{"preset": "d", "label": label, "seed": s, "mAP": value + s, "best_mAP": 0.0,
          "CF1": 1.0, "OF1": 1.0}
         for label, value in (("asl", 90.0), ("disc-contrastive", 91.5)) for s in range(3)]
        + [{"preset": "d", "label": "disc-contrastive", "seed": 3, "mAP": 0.0, "best_mAP": 0.0,
            "CF1": 1.0, "OF1": 1.0}]  # no asl of seed 3: left out
    )  # fmt: skip
    paired = paired_differences(frame).set_index("method")
    row = paired.loc["disc-contrastive"]
    assert row["reference"] == "asl" and row["seeds"] == 3
    assert row["mAP_diff_mean"] == pytest.approx(1.5) and row["mAP_diff_std"] == pytest.approx(0)
    assert list(paired.index) == ["disc-contrastive"]  # pairs without both labels are skipped


def test_summary_is_mean_and_sample_std_over_seeds() -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"preset": p, "label": name, "seed": s, "mAP": rng.uniform(50, 90), "CF1": 1.0, "OF1": 2.0}
        for p in ("a", "b") for name in ("bce", "disc") for s in range(3)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    summary = summarize_ablation(frame)
    values = frame[(frame.preset == "b") & (frame.label == "disc")]["mAP"].to_numpy()
    assert summary.loc[("b", "disc"), ("mAP", "mean")] == pytest.approx(sum(values) / 3)
    sample_std = math.sqrt(sum((v - values.mean()) ** 2 for v in values) / 2)
    assert summary.loc[("b", "disc"), ("mAP", "std")] == pytest.approx(sample_std)
    assert summary.loc[("a", "bce"), ("seeds", "n")] == 3
    text = format_summary(summary)
    assert text.loc[("a", "bce"), "CF1"] == "1.00 ± 0.00"


def test_the_ablation_plot_draws_the_seed_means_and_refuses_mixed_presets() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from mlrkit.viz import ablation_figure, plot_ablation

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        [{"preset": p, "label": name, "seed": s, "mAP": rng.uniform(60, 90),
          "embedding_silhouette": np.nan if name == "bce" else rng.uniform(0, 1)}
         for p in ("a", "b") for name in ("bce", "disc") for s in range(3)]
    )  # fmt: skip
    one = frame[frame.preset == "a"]
    ax = plot_ablation(one, "mAP")
    means = list(ax.containers[0].lines[0].get_ydata())  # the dots of the seed means
    assert means == pytest.approx(one.groupby("label", sort=False)["mAP"].mean().tolist())
    ax = plot_ablation(one, "embedding_silhouette")
    assert "n/a" in [t.get_text() for t in ax.texts]  # bce has no projection: said, not blank
    with pytest.raises(ValueError, match="one preset"):
        plot_ablation(frame, "mAP")
    figure = ablation_figure(frame, ("mAP", "embedding_silhouette"))
    assert len(figure.axes) == 4


@pytest.mark.filterwarnings("ignore:init_prototypes")
def test_the_ablation_command_writes_results_summary_paired_and_figure(
    tmp_path: Path, tiny_overrides: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from mlrkit.cli import main

    sets = [a for o in tiny_overrides if not o.startswith("train.epochs") for a in ("--set", o)]
    code = main([
        "ablation", "--out", str(tmp_path), "--presets", "digits", "--losses", "asl", "sadcl",
        "--seeds", "0", "--epochs", "digits=1", "--stage2-epochs", "digits=1", *sets,
    ])  # fmt: skip
    assert code == 0
    for name in ("results.csv", "summary.csv", "paired.csv", "ablation.png"):
        assert (tmp_path / name).is_file(), name
    paired = pd.read_csv(tmp_path / "paired.csv")
    results = pd.read_csv(tmp_path / "results.csv").set_index("label")
    row = paired.set_index("method").loc["sadcl"]
    assert row["reference"] == CONTROL_LABEL
    expected = results.loc["sadcl", "mAP"] - results.loc[CONTROL_LABEL, "mAP"]
    assert row["mAP_diff_mean"] == pytest.approx(expected)
    assert main(["ablation", "--out", str(tmp_path), "--stage2-epochs", "digits"]) == 2
    assert "--stage2-epochs takes PRESET=N" in capsys.readouterr().err


def test_the_committed_results_give_the_committed_tables() -> None:
    """docs/ablation/results.csv carries ``disc_weight`` on every row; selecting by it gives back
    the committed summary, paired differences and lambda table."""
    shipped = Path(__file__).resolve().parents[1] / "docs" / "ablation"
    results = pd.read_csv(shipped / "results.csv")
    main = main_runs(results)
    swept = results.drop(index=main.index)
    assert len(main) == 36 and sorted(swept["disc_weight"]) == [0.1, 0.5, 2.0]
    summary, paired = io.StringIO(), io.StringIO()
    summarize_ablation(main).to_csv(summary)
    paired_differences(main).to_csv(paired, index=False)
    assert summary.getvalue() == (shipped / "summary.csv").read_text(encoding="utf-8")
    assert paired.getvalue() == (shipped / "paired.csv").read_text(encoding="utf-8")
    committed = pd.read_csv(shipped / "lambda.csv").drop(columns="start_from")  # all empty
    table = lambda_table(results)[committed.columns]
    pd.testing.assert_frame_equal(table, committed)
