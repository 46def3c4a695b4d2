"""A run's audit and the audit command, on tiny scenes with planted label errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrkit.audit import audit_run, combine_suspicion, feature_suspicion, score_suspicion
from mlrkit.cli import main
from mlrkit.config import Config, apply_overrides
from mlrkit.data import label_errors, make_digit_scenes
from mlrkit.presets import preset
from mlrkit.runs import Run
from mlrkit.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")
NOISE = {"missing": 0.2, "spurious": 0.2, "swapped": 0.2}


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory: pytest.TempPathFactory, tiny_overrides: list[str]) -> Path:
    root = tmp_path_factory.mktemp("audit")
    data = root / "noisy"
    make_digit_scenes(data, seed=0, n_train=64, n_val=37, image_size=32, digit_size=(12, 18),
                      label_noise=NOISE)  # fmt: skip
    overrides = [*tiny_overrides, f"data.root={data}", "train.epochs=2"]
    fit(apply_overrides(preset("digits", loss="disc-contrastive"), overrides), root / "run")
    return root / "run"


def test_the_audit_ranks_every_given_label_by_the_suspicions_it_names(noisy_run: Path) -> None:
    run = Run.load(noisy_run, "last", device="cpu")
    audit = audit_run(run, method="both", k=5, progress=False)
    split = run.split("train")
    targets = split.targets.numpy()
    classes = list(run.classes)
    # scores: the run's own (in-sample) probabilities, and the suspicion from its definition
    probabilities = run.scores(split)[classes].to_numpy()
    np.testing.assert_allclose(
        audit.suspicion["scores"],
        score_suspicion(probabilities, targets, scores_are="probabilities"),
    )
    emb = run.embeddings("train", space="features", which="all", progress=False)
    rows = emb.frame
    expected = np.full(targets.shape, np.nan)
    expected[rows["image"], rows["class_index"]] = feature_suspicion(
        emb.vectors, rows["image"], rows["class_index"], rows["target"], k=5)  # fmt: skip
    np.testing.assert_allclose(audit.suspicion["features"], expected)
    np.testing.assert_allclose(
        audit.suspicion["combined"], combine_suspicion(audit.suspicion["scores"], expected)
    )
    # one row per given label, the most suspect first, ranked by the combination
    suspects = audit.suspects
    assert len(suspects) == targets.size and list(suspects["rank"]) == list(
        range(1, targets.size + 1)
    )
    assert suspects["suspicion"].is_monotonic_decreasing
    top = suspects.iloc[0]
    assert top["given"] == targets[top["image"], top["class_index"]]
    assert top["suspicion"] == audit.suspicion["combined"][top["image"], top["class_index"]]
    # the truth, from the data's list of planted errors
    truth = label_errors(run.config.data.root, "train")
    assert audit.is_error.sum() == len(truth) > 0
    planted = set(zip(truth["index"], truth["class"], strict=True))
    flagged = suspects.dropna(subset=["error"])
    assert set(zip(flagged["image"], flagged["class"], strict=True)) == planted
    assert set(audit.detection["method"]) == {"scores", "features", "combined"}
    assert any("in-sample" in note for note in audit.notes)


def test_folds_with_another_split_is_refused_before_any_fold_run_trains(
    noisy_run: Path, tmp_path: Path
) -> None:
    from mlrkit.errors import InvalidInputError

    run = Run.load(noisy_run, "last", device="cpu")
    val = run.config.data.val_split
    with pytest.raises(InvalidInputError, match=f"cross-fits the training split .*not '{val}'"):
        audit_run(run, val, folds=2, fold_dir=tmp_path / "folds", progress=False)
    assert not (tmp_path / "folds").exists()


def test_the_audit_command_writes_its_files_and_a_run_without_features_uses_scores(
    noisy_run: Path, tmp_path: Path, tiny_config: Callable[..., Config], capsys
) -> None:
    out = tmp_path / "audit"
    assert main(["audit", str(noisy_run), "--out", str(out), "--k", "5", "--top", "6",
                 "--device", "cpu"]) == 0  # fmt: skip
    names = {p.name for p in out.iterdir()}
    assert {"suspects.csv", "suspects.png", "detection.csv", "detection.png"} <= names
    suspects = pd.read_csv(out / "suspects.csv")
    assert {"image", "path", "class", "given", "scores_suspicion", "features_suspicion",
            "suspicion", "rank", "error"} <= set(suspects.columns)  # fmt: skip
    printed = capsys.readouterr().out
    assert "note: scores in-sample" in printed and "overall" in printed
    # a GAP head has no class features: scores alone, said; clean data: no detection
    gap = tmp_path / "gap"
    fit(tiny_config("train.epochs=1", "model.head=gap", loss="bce"), gap)
    out2 = tmp_path / "audit-gap"
    assert main(["audit", str(gap), "--out", str(out2), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "audited by scores alone" in printed and "no planted-error list" in printed
    assert {p.name for p in out2.iterdir()} >= {"suspects.csv", "suspects.png"}
    assert not (out2 / "detection.csv").exists()
    assert "features_suspicion" not in pd.read_csv(out2 / "suspects.csv").columns


def test_a_truth_file_that_does_not_match_the_split_is_one_line(
    noisy_run: Path, tmp_path: Path, capsys
) -> None:
    run = Run.load(noisy_run, "last", device="cpu")
    listed = Path(run.config.data.root) / "annotations" / "label_errors_train.csv"
    original = listed.read_text()
    try:
        frame = pd.read_csv(listed)
        frame.loc[0, "file_name"] = "not-in-the-split.jpg"
        frame.to_csv(listed, index=False)
        code = main(["audit", str(noisy_run), "--out", str(tmp_path / "a"), "--device", "cpu"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "label_errors_train.csv" in err[0], err
    finally:
        listed.write_text(original)


def test_the_audit_bench_trains_measures_and_audits_each_run(
    tmp_path: Path, tiny_overrides: list[str], capsys
) -> None:
    # The benchmark on tiny scenes: each row is the run's clean-validation mAP and its audit
    # of the noisy training split, the same numbers audit_run gives for that run.
    from mlrkit.audit import audit_bench, summarize_audit_bench

    out = tmp_path / "bench"
    kwargs = dict(
        levels=(0.2,), losses=("bce", "disc-contrastive"), seeds=(0, 1), data=tmp_path / "data",
        scenes={"n_train": 64, "n_val": 37, "image_size": 32, "digit_size": [12, 18]},
        overrides=[o for o in tiny_overrides if not o.startswith(("data.root", "data.generate"))],
        epochs={"digits": 1}, sample=None, progress=False, k=5,
    )  # fmt: skip
    results = audit_bench(out, **kwargs)
    pairs = sorted(zip(results["label"], results["seed"], strict=True))
    assert pairs == [("bce", 0), ("bce", 1), ("disc-contrastive", 0), ("disc-contrastive", 1)]
    row = results[(results["label"] == "disc-contrastive") & (results["seed"] == 1)].iloc[0]
    audit = audit_run(Run.load(row["run_dir"], "last", device="cpu"), k=5, progress=False)
    overall = audit.detection.loc["overall"].set_index("method")
    for method in ("scores", "features", "combined"):
        assert row[f"{method}_auroc"] == pytest.approx(overall.loc[method, "auroc"])
        assert row[f"{method}_ap"] == pytest.approx(overall.loc[method, "average_precision"])
    clean = Run.load(row["run_dir"], "last", device="cpu").evaluate()
    assert row["mAP"] == pytest.approx(100 * clean["mAP"], abs=0.01)
    # resumable: a second call reads every row back (nothing trained or audited again)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("audit.json")}
    again = audit_bench(out, **kwargs)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("audit.json")} == stamps
    pd.testing.assert_frame_equal(again.drop(columns="train_seconds"),
                                  results.drop(columns="train_seconds"))  # fmt: skip
    summary = summarize_audit_bench(results)
    expected = results.groupby(["level", "label"], sort=False)["features_auroc"].std()
    np.testing.assert_allclose(summary["features_auroc_std"], expected)
    assert list(summary["seeds"]) == [2, 2]


def test_the_committed_benchmark_summary_and_the_reading_s_table_come_from_its_results() -> None:
    """docs/audit/summary.csv is summarize_audit_bench of docs/audit/results.csv, and every row of
    docs/audit.md's table is that summary, rounded as printed."""
    import io
    import re

    from mlrkit.audit import summarize_audit_bench

    root = Path(__file__).resolve().parents[1] / "docs"
    results = pd.read_csv(root / "audit" / "results.csv")
    assert len(results) == 30 and sorted(results["level"].unique()) == [0.05, 0.1]
    written = io.StringIO()
    summarize_audit_bench(results).to_csv(written)
    assert written.getvalue() == (root / "audit" / "summary.csv").read_text(encoding="utf-8")
    summary = summarize_audit_bench(results)
    measures = [("mAP", 2), ("scores_auroc", 3), ("features_auroc", 3), ("combined_auroc", 3),
                ("combined_ap", 3)]  # fmt: skip
    text = (root / "audit.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| 0\.\d+ \| [a-z]", line)]
    assert len(rows) == len(summary) == 10
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        row = summary.loc[(float(cells[0]), cells[1].split(" ")[0])]
        expected = [f"{row[f'{m}_mean']:.{d}f} ± {row[f'{m}_std']:.{d}f}" for m, d in measures]
        assert cells[2:] == expected, line
