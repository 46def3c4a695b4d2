"""The ``explore`` command: separation table, UMAP figure and embeddings table for runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlrkit.cli import main
from mlrkit.config import apply_overrides
from mlrkit.explore import COLUMNS
from mlrkit.presets import preset
from mlrkit.runs import Run
from mlrkit.train import fit, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_overrides: list[str]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explore-cli")
    made = {}
    for name, loss, extra in [
        ("bce", "bce", []),
        ("method", "disc-contrastive", []),
        ("gap", "bce", ["model.head=gap"]),
    ]:
        overrides = [*tiny_overrides, "train.epochs=1", *extra]
        fit(apply_overrides(preset("digits", loss=loss), overrides), root / name)
        made[name] = root / name
    return made


@pytest.fixture(autouse=True)
def umap_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRKIT_CACHE", str(tmp_path / "cache"))


def _one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert all(n in lines[0] for n in needles), lines[0]


def test_explore_writes_the_three_files_for_two_runs(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["explore", str(runs["bce"]), str(runs["method"]), "--out", str(out)]
    assert main([*args, "--space", "features", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "class features" in printed and "bce" in printed and "method" in printed
    table = pd.read_csv(out / "separation.csv", index_col=[0, 1])
    assert list(table.columns) == list(COLUMNS)
    assert {("bce", "overall"), ("method", "overall")} <= set(table.index)
    run = Run.load(runs["bce"], device="cpu")
    targets = run.split().targets.numpy()
    present = int((targets == 1).sum())
    assert table.loc[("bce", "overall"), "n"] == present
    assert len(table.loc["bce"]) == 1 + len(np.unique(np.nonzero(targets == 1)[1]))
    frame = pd.read_parquet(out / "embeddings.parquet")
    assert len(frame) == 2 * present
    assert {"run", "image", "class", "score", "correct", "x", "y"} <= set(frame.columns)
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert (out / "umap.png").stat().st_size > 10_000


def test_explore_bad_inputs_are_one_line(runs, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out")
    code = main(["explore", str(runs["gap"]), "--out", out, "--device", "cpu"])
    _one_error_line(code, capsys.readouterr().err, "'gap' head has no class features")
    code = main(["explore", str(runs["bce"]), "--out", out, "--device", "cpu"])
    _one_error_line(code, capsys.readouterr().err, "no projection head", "space='features'")
    moved = tmp_path / "moved"  # a run whose dataset is gone
    moved.mkdir()
    state = load_checkpoint(runs["method"] / "last.pt")
    state["config"]["data"]["root"] = str(tmp_path / "deleted")
    save_checkpoint(state, moved / "last.pt")
    code = main(["explore", str(moved), "--out", out, "--device", "cpu"])
    _one_error_line(code, capsys.readouterr().err, "deleted")
    with pytest.raises(SystemExit) as info:
        main(["explore", str(runs["method"]), "--out", out, "--space", "pixels"])
    assert info.value.code == 2
