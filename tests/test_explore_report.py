"""The ``explore`` command: separation table, UMAP figure and embeddings table for runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlrkit.explore.report as report
from mlrkit.cli import main
from mlrkit.config import apply_overrides
from mlrkit.errors import InvalidInputError
from mlrkit.explore import COLUMNS, explore_runs
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


def _relabelled(run: Path, data_root: Path, tmp_path: Path, renames: dict[str, str]) -> Path:
    """A copy of ``run`` on a copy of its dataset whose classes are renamed: a run that
    extracts and embeds fine on its own, with another class list."""
    data = tmp_path / "relabelled-data"
    shutil.copytree(data_root, data)
    for path in (data / "annotations").glob("*.json"):
        coco = json.loads(path.read_text())
        for category in coco["categories"]:
            category["name"] = renames.get(category["name"], category["name"])
        path.write_text(json.dumps(coco))
    state = load_checkpoint(run / "last.pt")
    state["classes"] = [renames.get(name, name) for name in state["classes"]]
    state["config"]["data"]["root"] = str(data)
    copy = tmp_path / "relabelled"
    copy.mkdir()
    save_checkpoint(state, copy / "last.pt")
    return copy


def test_runs_with_different_classes_are_refused_before_extraction(
    runs, tiny_digits: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    other = _relabelled(runs["method"], tiny_digits, tmp_path, {"zero": "nought", "one": "unit"})
    started: list[str] = []
    for name in ("extract_embeddings", "umap_embed"):  # the long work: must not begin
        original = getattr(report, name)

        def record(
            *args: object, _name: str = name, _original=original, **kwargs: object
        ) -> object:
            started.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(report, name, record)
    out = tmp_path / "out"
    args = ["explore", str(runs["method"]), str(other), "--out", str(out), "--device", "cpu"]
    code = main([*args, "--space", "features"])
    _one_error_line(
        code,
        capsys.readouterr().err,
        f"'method' ({runs['method']})",
        f"'relabelled' ({other})",
        "only in 'method': 'zero', 'one'; only in 'relabelled': 'nought', 'unit'",
        "same classes",
        "one at a time",
    )
    assert started == [] and not out.exists()
    swapped = {"zero": "one", "one": "zero"}  # the same names, in another logit order
    reordered = _relabelled(runs["method"], tiny_digits, tmp_path / "swapped", swapped)
    with pytest.raises(InvalidInputError, match="the same 10 classes in another order"):
        explore_runs([runs["method"], reordered], out, space="features", device="cpu")
    assert started == [] and not out.exists()


def test_explore_writes_its_three_files_as_a_set(
    runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second explore that dies while drawing leaves the first one's three files, never this
    # run's table beside the earlier run's figure.
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    common = ["--out", str(out), "--space", "features", "--device", "cpu"]
    assert main(["explore", str(runs["bce"]), *common]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def dies(self: Figure, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the figure could not be drawn")

    monkeypatch.setattr(Figure, "savefig", dies)
    with pytest.raises(RuntimeError):
        main(["explore", str(runs["method"]), *common])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
