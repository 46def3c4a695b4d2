"""The command line: flags map onto the config; train / evaluate / predict / embed / generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from mlrkit.cli import build_parser, main, train_config
from mlrkit.config import sadcl_stage1_epochs
from mlrkit.data import build_dataset, make_digit_scenes
from mlrkit.data.digits import MARKER
from mlrkit.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    make_digit_scenes(root / "digits", n_train=64, n_val=30, image_size=32, digit_size=(12, 18))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(tiny_train_args(root / "digits", root / "run"))
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return root / "digits", root / "run"


def tiny_train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--preset", "digits", "--loss", "disc-contrastive", "--out", str(out),
        "--data", str(data), "--epochs", "2", "--seed", "3", "--device", "cpu",
        "--batch-size", "16", "--set", "data.image_size=32", "--no-progress", *extra,
    ]  # fmt: skip


def test_flags_map_onto_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        tiny_train_args(tmp_path, tmp_path / "o", "--lr", "0.01", "--set", "train.ema_decay=0.99")
    )
    cfg = train_config(args)
    assert (cfg.train.epochs, cfg.train.seed, cfg.train.device) == (2, 3, "cpu")
    assert (cfg.data.root, cfg.data.image_size) == (str(tmp_path), 32)
    assert (cfg.optim.batch_size, cfg.optim.lr, cfg.train.ema_decay) == (16, 0.01, 0.99)
    assert cfg.train.progress is False and cfg.loss.setup == "disc-contrastive"
    args = ["train", "--loss", "sadcl", "--epochs", "3", "--out", "x"]
    sadcl = train_config(build_parser().parse_args(args))
    assert sadcl.loss.setup == "sadcl" and sadcl_stage1_epochs(sadcl) == 1


def test_train_writes_the_run(trained_run) -> None:
    _, run = trained_run
    assert {"config.json", "metrics.jsonl", "last.pt", "best.pt"} <= {p.name for p in run.iterdir()}
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 2 and state["config"]["train"]["seed"] == 3


def test_train_refuses_an_existing_run_without_resume(trained_run, capsys) -> None:
    data, run = trained_run
    assert main(tiny_train_args(data, run)) == 2
    assert "--resume" in capsys.readouterr().err


def test_predict_csv_and_evaluate_agree_with_sklearn(trained_run, tmp_path: Path, capsys) -> None:
    data, run = trained_run
    csv = tmp_path / "scores.csv"
    assert main(["predict", str(run), "--out", str(csv), "--device", "cpu"]) == 0
    frame = pd.read_csv(csv)
    val = build_dataset("digits", data, "val")
    assert list(frame.columns) == ["image", *val.classes]
    assert len(frame) == 30 and frame["image"].tolist() == [str(p) for p in val.paths]
    scores = frame[list(val.classes)].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    targets = val.targets.numpy()
    expected = np.mean([average_precision_score(targets[:, k], scores[:, k]) for k in range(10)])
    capsys.readouterr()
    assert main(["evaluate", str(run / "best.pt"), "--device", "cpu", "--per-class"]) == 0
    out = capsys.readouterr().out
    printed = float(next(line for line in out.splitlines() if "mAP" in line).split()[-1])
    # sigmoid is monotone, so the CSV's probabilities rank like the logits.
    assert printed == pytest.approx(100 * expected, abs=0.006)
    assert "AP zero" in out and "CF1" in out


def test_embed_writes_class_features(trained_run, tmp_path: Path) -> None:
    data, run = trained_run
    out = tmp_path / "features.npz"
    assert main(["embed", str(run), "--out", str(out), "--split", "train", "--limit", "20"]) == 0
    arrays = np.load(out)
    train = build_dataset("digits", data, "train")
    assert arrays["features"].shape[:2] == (20, 10) and arrays["features"].ndim == 3
    np.testing.assert_array_equal(arrays["targets"], train.targets[:20].numpy())
    assert list(arrays["classes"]) == list(train.classes)
    assert arrays["logits"].shape == (20, 10)


def test_resume_continues_and_onecycle_extension_is_refused(
    trained_run, tmp_path: Path, capsys
) -> None:
    data, _ = trained_run
    run = tmp_path / "run"
    assert main(tiny_train_args(data, run, "--set", "optim.schedule=constant")) == 0
    # `train --out DIR --resume` (no preset) continues DIR/config.json; --epochs extends it.
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--no-progress"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert "epoch   3" in capsys.readouterr().out
    once = tmp_path / "once"
    assert main(tiny_train_args(data, once)) == 0
    args = tiny_train_args(data, once, "--resume")
    args[args.index("--epochs") + 1] = "4"
    assert main(args) == 2
    assert "OneCycle" in capsys.readouterr().err


def test_generate_prints_the_summary(tmp_path: Path, capsys) -> None:
    root = tmp_path / "gen"
    assert main(["generate", "--root", str(root), "--n-train", "12", "--n-val", "6"]) == 0
    out = capsys.readouterr().out
    assert "images" in out and str(root) in out
    assert (root / "annotations" / "instances_train.json").exists()


def test_demo_executes_numbered_notebooks_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import nbformat

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data" / "digits"  # pretend the embedded dataset exists: no generation
    (root / "annotations").mkdir(parents=True)
    (root / MARKER).write_text("{}")
    for split in ("train", "val"):
        (root / "annotations" / f"instances_{split}.json").write_text("{}")
    books = tmp_path / "notebooks"
    books.mkdir()
    for name, code in [("02_b", "open('order.txt', 'a').write('b')"), ("01_a", "x = 6 * 7\nx")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(nb, books / f"{name}.ipynb")
    (books / "notes.ipynb").write_text("not a numbered notebook, not executed")
    assert main(["demo", "--out", "runs/demo", "--timeout", "120"]) == 0
    executed = nbformat.read(tmp_path / "runs" / "demo" / "01_a.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["data"]["text/plain"] == "42"
    assert (books / "order.txt").read_text() == "b"  # ran in the notebook's folder
    out = capsys.readouterr().out
    assert out.index("01_a") < out.index("02_b")
    assert main(["demo", "--notebooks", str(tmp_path / "empty")]) == 1


def test_help_lists_the_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrkit", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for command in ("train", "evaluate", "predict", "embed", "generate"):
        assert command in proc.stdout
    text = subprocess.run(
        [sys.executable, "-m", "mlrkit", "train", "--help"], capture_output=True, text=True
    ).stdout
    for flag in ("--epochs", "--seed", "--device", "--data", "--resume", "--set", "--loss"):
        assert flag in text
