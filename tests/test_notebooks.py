"""The numbered notebooks: committed clean, and every one executes top to bottom in fast mode
through the demo command (which also writes the HTML exports, the figures and results.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
EXPECTED = [f"{n:02d}" for n in range(1, 9)]


def test_the_eight_numbered_notebooks_exist() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)
    ]  # fmt: skip
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "notebook_setup(" in "".join(first_code["source"]), "first cell: paths, seed, mode"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_opens_with_what_it_needs_produces_and_trains(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    opening = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "markdown"
    lines = [line.strip() for line in opening.splitlines()]
    for marker in ("**Needs:**", "**Produces:**", "**If missing, trains:**"):
        assert any(line.startswith(marker) for line in lines), f"{path.name}: no {marker} line"


@pytest.mark.slow
def test_every_notebook_runs_in_fast_mode_through_the_demo(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    shared = tmp_path_factory.mktemp("fast-notebooks")
    out, data = shared / "runs", shared / "data"
    monkeypatch.setenv("MLRKIT_FAST", "1")
    monkeypatch.setenv("MLRKIT_RUNS", str(out))
    monkeypatch.setenv("MLRKIT_DATA", str(data))
    monkeypatch.setenv("MLRKIT_CACHE", str(shared / "cache"))
    argv = ["demo", "--fast", "--out", str(out), "--notebooks", str(ROOT / "notebooks")]
    assert main([*argv, "--upto", "8"]) == 0
    printed = capsys.readouterr().out
    for path in NOTEBOOKS:
        assert f"running {path.name}" in printed
        executed = json.loads((out / "notebooks" / path.name).read_text(encoding="utf-8"))
        errors = [
            o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]
            if o["output_type"] == "error"
        ]  # fmt: skip
        assert not errors
        assert (out / "notebooks" / path.with_suffix(".html").name).stat().st_size > 10_000
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"02_training_curves.png", "03_per_class_ap.png", "04_umap.png"} <= figures
    results = (out / "results.md").read_text(encoding="utf-8")
    for row in ("| baseline |", "| method |", "| method · projection output |"):
        assert row in results
    # The demo trained the two runs; the notebooks loaded them (02 says so).
    outcomes = [line.strip() for line in printed.splitlines()]
    assert outcomes.count("trained") == 2
    train_nb = json.loads((out / "notebooks" / "02_train.ipynb").read_text(encoding="utf-8"))
    said = "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in train_nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]
    )  # fmt: skip
    assert said.count("'reused'") == 2 and "'trained'" not in said  # run.origin of each
