"""What the notebooks share: the setup from the environment, load-or-train, results.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from mlrkit.cli.demo import results_markdown
from mlrkit.config import Config, config_to_dict
from mlrkit.errors import RunDirectoryError
from mlrkit.notebook import DEMO_LOSSES, demo_config, demo_tables, notebook_setup
from mlrkit.runs import Run
from mlrkit.train import ensure_run
from mlrkit.train.fitting import _flat  # the flattening ensure_run compares configs by

pytestmark = pytest.mark.usefixtures("one_thread")


def test_setup_reads_the_environment_and_arguments_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLRKIT_FAST", "1")
    monkeypatch.setenv("MLRKIT_RUNS", str(tmp_path / "r"))
    monkeypatch.setenv("MLRKIT_DATA", str(tmp_path / "d"))
    setup = notebook_setup()
    assert (setup.fast, setup.runs, setup.data) == (True, tmp_path / "r", tmp_path / "d")
    assert setup.figures.is_dir()
    cfg = setup.config("method")
    assert cfg.loss.setup == DEMO_LOSSES["method"] and cfg.train.epochs == 2
    assert cfg.data.root == str(tmp_path / "d" / "digits-fast")
    assert cfg.data.generate == {"n_train": 600, "n_val": 300}
    full = notebook_setup(fast=False, runs=tmp_path / "x")
    assert full.runs == tmp_path / "x" and full.config("baseline").data.generate == {}
    assert full.config("baseline").loss.setup == "asl"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_the_demo_runs_differ_in_the_loss_setup_only(tmp_path: Path, fast: bool) -> None:
    # The demo's claim: any difference between the two runs has one cause, variant A. Both
    # train with ASL; the method adds variant A (disc-contrastive = ASL + variant A).
    assert DEMO_LOSSES == {"baseline": "asl", "method": "disc-contrastive"}
    setup = notebook_setup(fast=fast, runs=tmp_path)
    baseline = _flat(config_to_dict(demo_config("baseline", setup)))
    method = _flat(config_to_dict(demo_config("method", setup)))
    assert baseline.keys() == method.keys()
    differ = {k: (baseline[k], method[k]) for k in baseline if baseline[k] != method[k]}
    assert differ == {"loss.setup": ("asl", "disc-contrastive")}


def test_ensure_run_trains_once_then_loads_and_refuses_another_experiment(
    tmp_path: Path, tiny_config: Callable[..., Config], capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config("train.epochs=1", loss="bce")
    run = tmp_path / "run"
    assert ensure_run(cfg, run) == "trained"
    stamp = (run / "last.pt").stat().st_mtime_ns
    assert ensure_run(cfg, run) == "reused"
    assert capsys.readouterr().out == ""  # the library says nothing; its caller does
    assert (run / "last.pt").stat().st_mtime_ns == stamp
    cfg.train.device = "auto"  # where it runs is not what it is: still the same run
    assert ensure_run(cfg, run) == "reused"
    with pytest.raises(RunDirectoryError, match=r"another experiment \(optim.lr: 0.003 there"):
        ensure_run(tiny_config("train.epochs=1", "optim.lr=0.01", loss="bce"), run)
    # More epochs change the schedule of every epoch (one-cycle): another experiment too.
    with pytest.raises(RunDirectoryError, match="train.epochs: 1 there, 2 asked"):
        ensure_run(tiny_config("train.epochs=2", loss="bce"), run)


def test_results_md_is_measured_on_the_runs_not_read_from_files_left_there(
    tmp_path: Path, tiny_overrides: list[str]
) -> None:
    # A stale scores.csv / separation.csv (an earlier demo, another experiment) in the runs
    # folder must not reach results.md: the tables are measured on the two runs now.
    base = notebook_setup(fast=False, runs=tmp_path / "runs")
    setup = dataclasses.replace(base, overrides=(*tiny_overrides, "train.epochs=1"))
    stale = pd.DataFrame({"mAP": [12.34, 56.78]}, index=["baseline", "method"])
    stale.to_csv(setup.runs / "scores.csv")
    stale.rename(columns={"mAP": "silhouette"}).to_csv(setup.runs / "separation.csv")
    tables = demo_tables(setup)
    for name in DEMO_LOSSES:  # the oracle: sklearn's AP per class of the run's own scores
        run = Run.load(setup.runs / name, "last")
        frame = run.scores("val")
        targets = run.split("val").targets.numpy()
        aps = [average_precision_score(targets[:, k], frame[c]) for k, c in enumerate(run.classes)
               if 0 < targets[:, k].sum() < len(targets)]  # fmt: skip
        assert tables["scores"].loc[name, "mAP"] == pytest.approx(100 * np.mean(aps), abs=0.006)
    assert list(tables["separation"].index) == [
        "baseline · class features", "method · class features", "method · projection output",
    ]  # fmt: skip
    text = results_markdown(setup, tables)
    assert f"| method | {tables['scores'].loc['method', 'mAP']:g} |" in text
    assert "12.34" not in text and "56.78" not in text
    assert "silhouette" in text and "## Class separation" in text


def test_plan_says_what_is_trained_before_it_is(tmp_path: Path, tiny_overrides: list[str]) -> None:
    base = notebook_setup(fast=False, runs=tmp_path / "runs")
    setup = dataclasses.replace(base, overrides=(*tiny_overrides, "train.epochs=1"))
    assert setup.plan("baseline", "method").splitlines() == [
        f"baseline: not trained yet, trains now into {setup.runs / 'baseline'} "
        "(about 2 minutes on a 2-core CPU)",
        f"method: not trained yet, trains now into {setup.runs / 'method'} "
        "(about 2 minutes on a 2-core CPU)",
    ]
    setup.run("baseline")
    assert setup.plan("baseline") == f"baseline: finished in {setup.runs / 'baseline'}, loaded"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_a_noisy_run_differs_from_its_demo_run_in_the_data_only(tmp_path: Path, fast: bool) -> None:
    setup = notebook_setup(fast=fast, runs=tmp_path / "runs", data=tmp_path / "data")
    clean = _flat(config_to_dict(setup.config("method")))
    noisy = _flat(config_to_dict(setup.config("method", noise=0.1)))
    differ = {k for k in clean.keys() | noisy.keys() if clean.get(k) != noisy.get(k)}
    assert all(k == "data.root" or k.startswith("data.generate") for k in differ), differ
    assert "data.root" in differ
    generate = setup.config("method", noise=0.1).data.generate
    assert generate["label_noise"] == {"missing": 0.1, "spurious": 0.1, "swapped": 0.1}
    assert (generate.get("n_train") == 600) == fast
    assert setup.folder("method", 0.1) == setup.runs / "method-noise10"
    assert setup.plan("method", noise=0.1).startswith("method-noise10: not trained yet")
