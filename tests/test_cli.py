"""The command line: flags map onto the config; train / evaluate / predict / embed / generate."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve

from mlrkit.cli import build_parser, main
from mlrkit.cli.train import train_config
from mlrkit.config import sadcl_stage1_epochs
from mlrkit.data import build_dataset
from mlrkit.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_digits: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(tiny_train_args(tiny_digits, root / "run"))
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return tiny_digits, root / "run"


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
    assert len(frame) == 37 and frame["image"].tolist() == [str(p) for p in val.paths]
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


def test_evaluate_under_a_published_protocol(trained_run, tmp_path: Path, capsys) -> None:
    data, run = trained_run
    csv = tmp_path / "scores.csv"
    assert main(["predict", str(run), "--out", str(csv), "--device", "cpu"]) == 0
    val = build_dataset("digits", data, "val")
    scores = pd.read_csv(csv)[list(val.classes)].to_numpy()
    # q2l: VOC-interpolated AP; an independent oracle is the precision envelope of sklearn's curve.
    aps = []
    for k in range(10):
        precision, recall, _ = precision_recall_curve(val.targets[:, k].numpy(), scores[:, k])
        envelope = np.maximum.accumulate(precision)  # recall is decreasing along the arrays
        aps.append(float(np.sum(-np.diff(recall) * envelope[:-1])))
    capsys.readouterr()
    argv = ["evaluate", str(run / "best.pt"), "--device", "cpu", "--protocol", "q2l"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = float(next(line for line in out.splitlines() if "mAP" in line).split()[-1])
    assert "protocol q2l" in out
    assert printed == pytest.approx(100 * np.mean(aps), abs=0.006)
    assert main([*argv, "--per-class"]) == 2
    assert "--per-class is for the default protocol" in capsys.readouterr().err


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

    import mlrkit.train

    trained = []  # the two runs are trained by ensure_run (tested in test_demo.py); not here
    monkeypatch.setattr(mlrkit.train, "ensure_run", lambda cfg, path: trained.append(path.name))
    # results.md is measured on the runs (tested in test_demo.py); a stand-in table here
    table = pd.DataFrame({"mAP": [1.5]}, index=["method"])
    monkeypatch.setattr(
        "mlrkit.cli.demo.demo_tables", lambda setup: {"scores": table, "separation": table}
    )
    monkeypatch.setenv("MLRKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    books = tmp_path / "notebooks"
    books.mkdir()
    cells = [("02_b", "open('order.txt', 'a').write('b')"), ("01_a", "x = 6 * 7\nx"),
             ("09_z", "raise RuntimeError('beyond --upto, never run')")]  # fmt: skip
    for name, code in cells:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(nb, books / f"{name}.ipynb")
    (books / "notes.ipynb").write_text("not a numbered notebook, not executed")
    assert main(["demo", "--out", "runs/demo", "--timeout", "120"]) == 0
    assert trained == ["baseline", "method"]
    out_dir = tmp_path / "runs" / "demo"
    executed = nbformat.read(out_dir / "notebooks" / "01_a.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["data"]["text/plain"] == "42"
    assert (out_dir / "notebooks" / "01_a.html").is_file()
    assert (books / "order.txt").read_text() == "b"  # ran in the notebook's folder
    assert not (out_dir / "notebooks" / "09_z.ipynb").exists()
    out = capsys.readouterr().out
    assert out.index("01_a") < out.index("02_b")
    assert "| method | 1.5 |" in (out_dir / "results.md").read_text()
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


# --- Errors: one line on stderr, exit status 2, no traceback -------------------------------------


def error_line(code: int, err: str, *needles: str) -> str:
    """Check an error exit (status 2, one ``error:`` line, no traceback); return the line."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and lines[0].strip(), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def tree_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (relative) with its bytes; None for a directory."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    ("override", "field", "typo", "valid"),
    [
        ('loss.objective_kwargs={"disc_weigth":0.5}', "loss.objective_kwargs", "disc_weigth",
         "disc_weight"),
        ('model.head_kwargs={"temprature": 2}', "model.head_kwargs", "temprature", "temperature"),
        ('data.policy={"keep_unanotated": true}', "data.policy", "keep_unanotated",
         "keep_unannotated"),
    ],
)  # fmt: skip
def test_dict_field_typo_fails_before_the_datasets_are_built(
    tmp_path: Path, capsys, override: str, field: str, typo: str, valid: str
) -> None:
    """A misspelt key of a dict field names the field, the key and the valid keys, before data."""
    data, out = tmp_path / "no-such-data", tmp_path / "out"
    # Without generate_if_missing a later failure would be a quick MissingFileError on `data`.
    extra = ("--set", override, "--set", "data.generate_if_missing=false")
    code = main(tiny_train_args(data, out, *extra))
    line = error_line(code, capsys.readouterr().err, "ConfigError", field, repr(typo))
    assert repr(valid) in line.split("valid keys:", 1)[1]
    assert str(data) not in line and not data.exists() and not out.exists()


def test_dict_override_merges_into_the_preset_and_null_removes_a_key() -> None:
    """voc07's ``reduction: mean`` survives a dict override; ``null`` removes it."""

    def kwargs(*sets: str) -> dict[str, Any]:
        argv = ["train", "--preset", "voc07", "--out", "x"]
        for item in sets:
            argv += ["--set", item]
        return train_config(build_parser().parse_args(argv)).loss.objective_kwargs

    assert kwargs() == {"reduction": "mean"}
    assert kwargs('loss.objective_kwargs={"disc_weight":0.5}') == {
        "reduction": "mean",
        "disc_weight": 0.5,
    }
    assert kwargs('loss.objective_kwargs={"reduction": null}') == {}
    assert kwargs(
        'loss.objective_kwargs={"disc_weight":0.5}', 'loss.objective_kwargs={"reduction": null}'
    ) == {"disc_weight": 0.5}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:3"])
def test_missing_device_is_one_line(trained_run, tmp_path: Path, capsys, device: str) -> None:
    """``--device`` naming a device this machine lacks: exit 2 suggesting auto or cpu."""
    data, run = trained_run
    out = tmp_path / "out"
    args = tiny_train_args(data, out)
    args[args.index("--device") + 1] = device
    for argv in (args, ["evaluate", str(run), "--device", device]):
        line = error_line(main(argv), capsys.readouterr().err, "DeviceError", repr(device))
        assert "auto" in line and "cpu" in line
    assert not out.exists()


@pytest.mark.parametrize("flags", [("--lr", "-0.1"), ("--set", "optim.lr=-1")])
def test_non_positive_learning_rate_is_one_line(
    tmp_path: Path, capsys, flags: tuple[str, str]
) -> None:
    """A learning rate <= 0 is refused naming ``optim.lr``."""
    code = main(tiny_train_args(tmp_path / "data", tmp_path / "out", *flags))
    error_line(code, capsys.readouterr().err, "ConfigError", "optim.lr")
    assert not (tmp_path / "out").exists()


def test_missing_pretrained_weights_file_is_one_line(
    trained_run, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``model.pretrained=PATH`` with no file there: exit 2 naming the path; nothing downloaded."""
    import mlrkit.models.weights as weights

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"download attempted: {args}")

    monkeypatch.setattr(weights, "download_file", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    data, _ = trained_run
    missing = "/nonexistent/weights.pth"
    extra = ("--set", "model.backbone=resnet18", "--set", f'model.pretrained="{missing}"')
    code = main(tiny_train_args(data, tmp_path / "out", *extra))
    error_line(code, capsys.readouterr().err, "PretrainedWeightsError", missing)
    assert not (tmp_path / "torch-home").exists()


def write_csv_dataset(root: Path, corrupt: str) -> None:
    """A small CSV dataset (``train.csv``: 3 images and ``corrupt``; ``val.csv``: 2 images)."""
    from PIL import Image

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(5):
        pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img{i}.jpg")
        rows.append(f"img{i}.jpg,{'a' if i % 2 else 'a|b'}")
    (root / corrupt).write_bytes(b"this is not a JPEG \x00\x01\x02" * 8)
    # 4 training rows in batches of 2: no batch is dropped, so epoch 1 meets the corrupt file.
    (root / "train.csv").write_text("\n".join(["image,labels", *rows[:3], f"{corrupt},b"]) + "\n")
    (root / "val.csv").write_text("\n".join(["image,labels", *rows[3:]]) + "\n")


@pytest.mark.slow
def test_corrupt_image_in_a_dataloader_worker_is_one_line(tmp_path: Path) -> None:
    """A corrupt image met by the training loader's worker: one line naming file and worker.

    Run as ``python -m mlrkit``: in-process, collecting the failed loader's workers later stalls
    for ~10 s (5 s per worker join), which would land in whichever test runs next.
    """
    data = tmp_path / "photos"
    write_csv_dataset(data, "broken.jpg")
    extra = ("--workers", "1", "--set", "data.kind=csv", "--set", "data.cache=false")
    args = tiny_train_args(data, tmp_path / "out", *extra)
    args[args.index("--batch-size") + 1] = "2"
    proc = run_module(args)
    line = error_line(
        proc.returncode, proc.stderr, "error: ImageFileError: ", str(data / "broken.jpg")
    )
    assert line.endswith("(raised in DataLoader worker process 0)"), line
    assert "Original Traceback" not in line and 'File "' not in line, line
    assert "epoch   1" not in proc.stdout  # epoch 1 already meets it (4 images, batches of 2)


def run_module(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m mlrkit ARGS`` from the repository root, one thread, 60 s at most."""
    return subprocess.run(
        [sys.executable, "-m", "mlrkit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_run_directory_needs_resume_or_overwrite(trained_run, tmp_path: Path, capsys) -> None:
    """A run dir missing last.pt is left alone without a flag; --resume uses best.pt."""
    data, _ = trained_run
    run = tmp_path / "run"
    assert main(tiny_train_args(data, run)) == 0
    (run / "last.pt").unlink()
    kept = {name: (run / name).read_bytes() for name in ("best.pt", "metrics.jsonl")}
    capsys.readouterr()
    error_line(main(tiny_train_args(data, run)), capsys.readouterr().err, "--resume", "--overwrite")
    assert {name: (run / name).read_bytes() for name in kept} == kept
    assert not (run / "last.pt").exists()
    best_epoch = load_checkpoint(run / "best.pt")["epoch"]
    with pytest.warns(UserWarning, match=f"from best.pt \\(epoch {best_epoch}\\)"):
        assert main(tiny_train_args(data, run, "--resume")) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    (run / "last.pt").unlink()
    assert main(tiny_train_args(data, run, "--overwrite")) == 0
    out = capsys.readouterr().out
    assert "epoch   1" in out and "epoch   2" in out  # trained again from the start
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_evaluate_never_writes_into_a_user_data_folder(trained_run, tmp_path: Path, capsys) -> None:
    """``--data DIR`` without annotations: exit 2; DIR keeps its files, byte for byte."""
    _, run = trained_run
    data = tmp_path / "mine"
    (data / "train").mkdir(parents=True)
    (data / "train" / "000001.jpg").write_bytes(b"my own bytes, not an image")
    before = tree_snapshot(data)
    code = main(["evaluate", str(run), "--data", str(data), "--device", "cpu"])
    error_line(code, capsys.readouterr().err, str(data))
    assert tree_snapshot(data) == before


def forward_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Put each line of ``stream`` on ``lines``, then ``""`` at its end (a reader thread)."""
    for line in stream:
        lines.put(line)
    lines.put("")


@pytest.mark.slow
def test_ctrl_c_keeps_last_pt_and_says_how_to_resume(trained_run, tmp_path: Path) -> None:
    """SIGINT during training: exit 130, last stderr line names last.pt's epoch and ``--resume``.

    The signal is sent when an epoch's line is printed, i.e. after its checkpoints are written
    (the tests below interrupt while they are being written).
    """
    data, _ = trained_run
    out = tmp_path / "run"
    args = tiny_train_args(data, out, "--set", "optim.schedule=constant")
    args[args.index("--epochs") + 1] = "500"  # far more than run before the interrupt
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlrkit", *args],
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            cwd=REPO,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=forward_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        line = "training"
        while not line.startswith("epoch"):
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line, f"exited before an epoch finished: {stderr.read_text()}"
        assert len((out / "metrics.jsonl").read_text().splitlines()) >= 1
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=5)
        proc.stdout.close()
    err = stderr.read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    epoch = load_checkpoint(out / "last.pt")["epoch"]
    assert 1 <= epoch < 500
    assert f"last.pt holds epoch {epoch} and is kept" in last, last
    assert f"python -m mlrkit train --out {out} --resume" in last, last


def interrupt_at(monkeypatch: pytest.MonkeyPatch, epoch: int, mid_write: bool) -> None:
    """Raise KeyboardInterrupt when last.pt of ``epoch`` is saved: before it, or mid-write."""
    import mlrkit.train.fitting as fitting

    real_save, real_torch_save = fitting.save_checkpoint, torch.save

    class Interrupted:
        """A file whose second write is interrupted, as by a SIGINT during torch.save."""

        def __init__(self, handle: Any) -> None:
            self.handle, self.writes = handle, 0

        def write(self, data: bytes) -> int:
            self.writes += 1
            if self.writes == 2:
                raise KeyboardInterrupt
            return self.handle.write(data)

        def flush(self) -> None:
            self.handle.flush()

    def save(state: dict[str, Any], path: Path) -> Path:
        if Path(path).name == "last.pt" and state["epoch"] == epoch:
            if not mid_write:
                raise KeyboardInterrupt
            with monkeypatch.context() as patch:
                patch.setattr(torch, "save", lambda obj, f: real_torch_save(obj, Interrupted(f)))
                return real_save(state, path)
        return real_save(state, path)

    monkeypatch.setattr(fitting, "save_checkpoint", save)


def test_ctrl_c_during_a_checkpoint_write_exits_130(
    trained_run, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt while last.pt is being written still exits 130 with the resume line."""
    data, _ = trained_run
    interrupt_at(monkeypatch, epoch=2, mid_write=True)
    assert main(tiny_train_args(data, tmp_path / "run")) == 130
    assert "--resume" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("epoch", [1, 2])
def test_ctrl_c_between_metrics_and_last_pt_gives_true_advice(
    trained_run, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, epoch: int
) -> None:
    """Interrupted after metrics.jsonl got its row but before last.pt: the advice still holds."""
    data, _ = trained_run
    run = tmp_path / "run"
    interrupt_at(monkeypatch, epoch=epoch, mid_write=False)
    assert main(tiny_train_args(data, run)) == 130
    last = capsys.readouterr().err.splitlines()[-1]
    monkeypatch.undo()
    resume = ["train", "--out", str(run), "--resume", "--no-progress"]
    if (run / "last.pt").exists():
        kept = load_checkpoint(run / "last.pt")["epoch"]
        assert f"last.pt holds epoch {kept} and" in last, last
        assert main(resume) == 0, last  # the suggested command works
    else:
        assert "no checkpoint was saved yet" in last, last
        with pytest.warns(UserWarning, match="starting from scratch"):
            assert main(resume) == 0, last


def test_resume_without_a_run_to_continue_names_the_fix(tmp_path: Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path / "new"), "--resume", "--no-progress"]) == 2
    error_line(2, capsys.readouterr().err, "config.json does not exist", "--preset")


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--workers", "-1"], "data.num_workers"),
        (["--set", "optim.pct_start=1.5"], "optim.pct_start"),
        (["--set", "data.limit_train=0"], "data.limit_train"),
        (["--set", 'loss.objective_kwargs={"disc_weight": "x"}'], "loss.objective_kwargs"),
    ],
)
def test_bad_values_are_one_line_not_a_traceback(
    trained_run, tmp_path: Path, capsys, flags: list[str], named: str
) -> None:
    data, _ = trained_run
    code = main(tiny_train_args(data, tmp_path / "run", *flags))
    error_line(code, capsys.readouterr().err, named)


# --- One module per command: its flags, its example, its handler ---------------------------------


def test_every_command_module_owns_its_flags_examples_and_handler() -> None:
    """``mlrkit.cli.<module>`` adds its commands' subparsers and runs them; every command's
    ``--help`` and the top-level ``--help`` show an example of it."""
    import mlrkit.cli as cli

    parser = build_parser()
    top = parser.format_help()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == list(cli.COMMANDS)
    for module in cli.MODULES:
        assert callable(module.add_arguments) and callable(module.run)
        for command in module.COMMANDS:
            assert cli.COMMANDS[command] is module.run
            example = f"python -m mlrkit {command} "
            assert example in subparsers.choices[command].format_help(), command
            assert example in top, command


def test_the_library_log_reads_as_lines_on_stdout_while_a_command_runs(capsys) -> None:
    """What the library logs at INFO (e.g. the UMAP cache file read) is a plain stdout line of
    the command; outside a command, and after it, nothing is added to the logger."""
    import logging

    from mlrkit.cli import library_messages_on_stdout

    logger = logging.getLogger("mlrkit.explore.umap_cache")
    parent = logging.getLogger("mlrkit")
    handlers, level = list(parent.handlers), parent.level
    with library_messages_on_stdout():
        logger.info("umap_embed: coordinates read from %s", "x.npz")
    assert capsys.readouterr().out == "umap_embed: coordinates read from x.npz\n"
    assert (parent.handlers, parent.level) == (handlers, level)


@pytest.mark.parametrize("limit", ["0", "-3", "2.5", "x"])
def test_a_bad_limit_is_one_usage_line_before_the_run_is_opened(trained_run, limit, capsys) -> None:
    _, run = trained_run
    for command in ("evaluate", "predict", "embed"):
        extra = [] if command == "evaluate" else ["--out", str(run.parent / "never")]
        with pytest.raises(SystemExit) as exit_info:
            main([command, str(run), "--limit", limit, *extra])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "--limit" in err and ">= 1" in err and "MetricAccumulator" not in err
    assert not (run.parent / "never").exists()


def test_the_library_refuses_a_bad_limit_too(trained_run) -> None:
    from mlrkit.errors import InvalidInputError
    from mlrkit.runs import Run

    _, run = trained_run
    opened = Run.load(run, device="cpu")
    for limit in (0, -3, 2.5, True):
        with pytest.raises(InvalidInputError, match="limit must be a whole number >= 1"):
            opened.split(limit=limit)
    assert len(opened.split(limit=3)) == 3


def test_embed_names_the_file_numpy_writes(trained_run, tmp_path: Path, capsys) -> None:
    _, run = trained_run
    assert main(["embed", str(run), "--out", str(tmp_path / "feat"), "--limit", "4"]) == 0
    assert (tmp_path / "feat.npz").is_file() and not (tmp_path / "feat").exists()
    assert capsys.readouterr().out.strip().endswith(f"to {tmp_path / 'feat.npz'}")


def test_an_output_path_of_the_wrong_kind_is_a_usage_error_before_any_work(
    trained_run, tmp_path: Path, capsys
) -> None:
    _, run = trained_run
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    cases = [
        (["train", "--preset", "digits", "--out", str(a_file)], "is a file, not a folder"),
        (["predict", str(run), "--out", str(tmp_path)], "is a folder; give a file path"),
        (["predict", str(run), "--out", str(a_file / "x.csv")], "is a file, so"),
        (["embed", str(run), "--out", str(a_file / "f")], "is a file, so"),
        (["explore", str(run), "--out", str(a_file)], "is a file, not a folder"),
        (["demo", "--out", str(a_file)], "is a file, not a folder"),
        (["ablation", "--out", str(a_file / "x")], "is a file, so"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        assert message in capsys.readouterr().err, argv
    assert a_file.read_text() == "mine"
