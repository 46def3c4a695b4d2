"""The commands under a careless user: a folder of theirs, a failing notebook, Ctrl-C.

Every case here is one of the promises of docs/promises.md: a command never writes over a file
it did not write (and says so before the long work), a failing notebook is one line naming the
notebook and the cell, and Ctrl-C is one line saying what is kept, with exit status 130.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

import mlrkit.train
from mlrkit.cli import main
from mlrkit.files import MANIFEST
from mlrkit.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("the long work started")


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture
def books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two tiny numbered notebooks; the runs' training and the tables stood in (tested in
    test_demo.py), so a demo here takes the notebooks' time only."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, code in [("01_a", "x = 6 * 7\nx"), ("02_b", "y = 1")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(nb, folder / f"{name}.ipynb")
    monkeypatch.setattr(mlrkit.train, "ensure_run", lambda cfg, path: "reused")
    table = pd.DataFrame({"mAP": [1.5]}, index=["method"])
    monkeypatch.setattr(
        "mlrkit.cli.demo.demo_tables", lambda setup: {"scores": table, "separation": table}
    )
    monkeypatch.setenv("MLRKIT_DATA", str(tmp_path / "data"))
    return folder


def test_demo_refuses_a_folder_it_did_not_make_before_any_work(
    books: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "my-project"
    (theirs / "notebooks").mkdir(parents=True)
    (theirs / "results.md").write_text("my own results")
    (theirs / "notebooks" / "01_a.ipynb").write_text("my own notebook")
    monkeypatch.setattr(mlrkit.train, "ensure_run", _never)
    code = main(["demo", "--notebooks", str(books), "--out", str(theirs)])
    assert code == 2
    _one_line(capsys.readouterr().err, str(theirs), "not made by mlrkit", "choose another --out")
    assert (theirs / "results.md").read_text() == "my own results"
    assert (theirs / "notebooks" / "01_a.ipynb").read_text() == "my own notebook"
    assert not (theirs / MANIFEST).exists()


def test_demo_reruns_in_its_own_folder_but_not_over_a_file_edited_since(
    books: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--notebooks", str(books), "--out", str(out), "--timeout", "120"]
    assert main(args) == 0
    assert main(args) == 0  # its own folder and files: rerun freely
    capsys.readouterr()
    (out / "results.md").write_text("annotated by hand")
    assert main(args) == 2
    _one_line(capsys.readouterr().err, "results.md", "was changed since")
    assert (out / "results.md").read_text() == "annotated by hand"


def test_a_failing_notebook_is_one_line_naming_it_and_its_cell_and_is_saved(
    books: Path, tmp_path: Path, capsys
) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# b"),
        nbformat.v4.new_code_cell("y = 1"),
        nbformat.v4.new_code_cell("raise ValueError('the data folder is empty')"),
        nbformat.v4.new_code_cell("z = 3"),
    ])  # fmt: skip
    nbformat.write(nb, books / "02_b.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
                   books / "03_c.ipynb")  # fmt: skip
    out = tmp_path / "demo"
    code = main(["demo", "--notebooks", str(books), "--out", str(out), "--timeout", "120"])
    assert code == 1
    captured = capsys.readouterr()
    _one_line(
        captured.err, "02_b.ipynb failed at cell 3 (In [2])",
        "ValueError: the data folder is empty", str(out / "notebooks" / "02_b.ipynb"),
    )  # fmt: skip
    saved = nbformat.read(out / "notebooks" / "02_b.ipynb", as_version=4)
    assert saved.cells[2].outputs[0]["output_type"] == "error"
    assert (out / "notebooks" / "02_b.html").is_file()
    assert "03_c" not in captured.out and not (out / "notebooks" / "03_c.ipynb").exists()
    assert not (out / "results.md").exists()  # no results from a demo that did not finish


@pytest.mark.parametrize("where", ["training", "notebooks", "results"])
def test_ctrl_c_in_demo_is_one_line_and_130(
    books: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = {
        "training": "mlrkit.train.ensure_run",
        "notebooks": "mlrkit.cli.demo.run_notebooks",
        "results": "mlrkit.cli.demo.demo_tables",
    }[where]
    monkeypatch.setattr(target, _interrupt)
    out = tmp_path / "demo"
    assert main(["demo", "--notebooks", str(books), "--out", str(out)]) == 130
    line = _one_line(capsys.readouterr().err, "interrupted:", str(out), "run the same command")
    assert "last.pt" in line


def test_ctrl_c_in_ablation_is_one_line_and_130(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlrkit.cli.ablation.run_ablation", _interrupt)
    code = main(["ablation", "--out", str(tmp_path / "abl"), "--presets", "digits",
                 "--losses", "bce", "--seeds", "0"])  # fmt: skip
    assert code == 130
    _one_line(capsys.readouterr().err, "interrupted:", "ablation.json", "run the same command")


def test_ctrl_c_in_another_command_is_one_line_and_130(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlrkit.cli.explore.explore_runs", _interrupt)
    assert main(["explore", str(tmp_path / "run"), "--out", str(tmp_path / "x")]) == 130
    _one_line(capsys.readouterr().err, "interrupted:", "none was left half-written")


def test_the_ablation_tables_never_replace_a_file_of_the_user(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "abl"
    out.mkdir()
    (out / "summary.csv").write_text("my summary")
    monkeypatch.setattr("mlrkit.cli.ablation.run_ablation", _never)
    code = main(["ablation", "--out", str(out), "--presets", "digits", "--losses", "bce",
                 "--seeds", "0"])  # fmt: skip
    assert code == 2
    _one_line(capsys.readouterr().err, str(out / "summary.csv"), "not written by mlrkit")
    assert (out / "summary.csv").read_text() == "my summary"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_overrides: list[str]) -> Path:
    from mlrkit.config import apply_overrides
    from mlrkit.presets import preset

    run = tmp_path_factory.mktemp("outputs") / "run"
    fit(apply_overrides(preset("digits", loss="bce"), [*tiny_overrides, "train.epochs=1"]), run)
    return run


@pytest.mark.parametrize("command", ["predict", "embed", "explore"])
def test_outputs_never_replace_a_file_of_the_user_and_say_so_before_the_work(
    tiny_run: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    name, out = {
        "predict": ("scores.csv", tmp_path / "scores.csv"),
        "embed": ("feat.npz", tmp_path / "feat"),
        "explore": ("umap.png", tmp_path),
    }[command]
    (tmp_path / name).write_bytes(b"the user's file")
    monkeypatch.setattr("mlrkit.cli.runs.open_run", _never)
    monkeypatch.setattr("mlrkit.explore.report.TrainedRun.load", _never)
    assert main([command, str(tiny_run), "--out", str(out)]) == 2
    _one_line(capsys.readouterr().err, str(tmp_path / name), "not written by mlrkit")
    assert (tmp_path / name).read_bytes() == b"the user's file"


def test_predict_replaces_its_own_file_and_writes_it_whole(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "scores.csv"
    args = ["predict", str(tiny_run), "--out", str(out), "--device", "cpu", "--limit", "5"]
    assert main(args) == 0
    first = out.read_bytes()
    assert main(args) == 0 and out.read_bytes() == first  # the kit's own file: replaced

    def dies(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_text("image,one\n0.")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", dies)
    with pytest.raises(OSError):
        main(args)
    assert out.read_bytes() == first
