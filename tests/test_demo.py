"""What the notebooks share: the setup from the environment, load-or-train, results.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlrkit.cli.demo import write_results
from mlrkit.config import Config, config_to_dict
from mlrkit.errors import RunDirectoryError
from mlrkit.notebook import DEMO_LOSSES, demo_config, notebook_setup
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


def test_results_md_holds_both_tables(tmp_path: Path) -> None:
    setup = notebook_setup(fast=False, runs=tmp_path)
    pd.DataFrame(
        {"mAP": [90.5, 91.25], "CF1": [80.0, 81.0], "OF1": [82.0, 83.0], "CP": 1.0, "CR": 1.0,
         "OP": 1.0, "OR": 1.0, "images": 5},
        index=["baseline", "method"],
    ).to_csv(tmp_path / "scores.csv")  # fmt: skip
    text = write_results(setup).read_text(encoding="utf-8")
    assert "| method | 91.25 | 81 | 83 |" in text
    assert "(missing:" in text and "separation.csv" in text  # said, not silently dropped
    # What the two rows differ in, and how far one seed can be trusted.
    assert "differ only in variant A: both train the class-attention head with ASL" in text
    assert "within the seed spread" in text and "BCE" not in text


def test_a_runs_folder_that_cannot_be_made_names_mlrkit_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder would go")  # as a read-only checkout fails
    monkeypatch.setenv("MLRKIT_RUNS", str(blocker / "runs"))
    with pytest.raises(RunDirectoryError, match=r"cannot create .*set MLRKIT_RUNS to a writable"):
        notebook_setup()
