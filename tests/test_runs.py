"""The run as one object (``mlrkit.runs.Run``) and the run folder's names (``RunDir``), checked
against the plain functions and a hand-written forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import protocol_metrics
from mlrkit.runs import Run
from mlrkit.train import CheckpointError, RunDir, evaluate, outputs, predict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_overrides: list[str]) -> Path:
    from mlrkit.config import apply_overrides
    from mlrkit.presets import preset

    out = tmp_path_factory.mktemp("runs") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = apply_overrides(
            preset("digits", loss="disc-contrastive"), [*tiny_overrides, "train.epochs=2"]
        )
        run = Run.ensure(cfg, out)
    finally:
        torch.set_num_threads(threads)
    assert run.epoch == 2 and run.path == out / "last.pt" and run.origin == "trained"
    return out


def test_run_dir_names_the_files_and_picks_checkpoints(tmp_path: Path) -> None:
    folder = RunDir(str(tmp_path))
    assert folder.path == tmp_path
    files = (folder.config_file, folder.history_file, folder.last, folder.best)
    assert [p.name for p in files] == ["config.json", "metrics.jsonl", "last.pt", "best.pt"]
    with pytest.raises(CheckpointError, match=f"{tmp_path} holds no best.pt or last.pt"):
        folder.checkpoint("best")
    folder.last.write_bytes(b"x")
    assert folder.checkpoint("best") == folder.last  # no best.pt yet: the last one
    folder.best.write_bytes(b"x")
    assert folder.checkpoint("best") == folder.best
    assert folder.checkpoint("last") == folder.last
    with pytest.raises(CheckpointError, match="which must be"):
        folder.checkpoint("newest")  # type: ignore[arg-type]
    assert not folder.finished(1)  # no history
    folder.history_file.write_text(json.dumps({"epoch": 1}) + "\n")
    assert folder.finished(1) and not folder.finished(2)
    assert folder.existing() == ["metrics.jsonl", "last.pt", "best.pt"]


def test_run_loads_what_it_names_and_reads_its_history(finished: Path) -> None:
    assert Run.load(finished).path == finished / "best.pt"
    last = Run.load(finished, "last")
    assert last.path == finished / "last.pt" and last.folder == RunDir(finished)
    rows = [json.loads(line) for line in (finished / "metrics.jsonl").read_text().splitlines()]
    assert last.history == rows and [r["epoch"] for r in rows] == [1, 2]
    # ensure on a finished run loads it without training again
    again = Run.ensure(last.config, finished)
    assert again.origin == "reused" and Run.load(finished).origin == "loaded"
    assert (finished / "metrics.jsonl").read_text().count("\n") == 2
    for (name, a), b in zip(
        again.model.state_dict().items(), last.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_run_methods_equal_the_plain_functions(finished: Path) -> None:
    run = Run.load(finished, "last", device="cpu")
    val = run.split()
    loader = run.loader(val)
    expected = evaluate(run.model, loader, device=run.device, classes=run.classes)
    got = run.evaluate()
    assert got["mAP"] == expected["mAP"] and np.array_equal(got["AP"], expected["AP"])
    # another protocol: protocol_metrics of the sigmoid scores, as the released codes rank them
    logits = predict(run.model, loader, device=run.device)["logits"]
    probs = torch.sigmoid(logits).numpy()
    oracle = protocol_metrics(probs, val.targets, protocol="asl", scores_are="probabilities")
    assert run.evaluate(val, protocol="asl") == pytest.approx(oracle, abs=0, rel=0)
    with pytest.raises(InvalidInputError, match="unknown protocol 'nope'"):
        run.evaluate(protocol="nope")
    scores = run.scores(val)
    assert list(scores.columns) == ["image", *run.classes]
    np.testing.assert_array_equal(scores[list(run.classes)].to_numpy(), probs)
    dense = run.features(val)
    assert dense["features"].shape == (len(val), len(run.classes), run.model.feature_dim)


def test_attention_is_the_models_own_in_eval_mode(finished: Path) -> None:
    run = Run.load(finished, "last", device="cpu")
    val = run.split()
    run.model.train()  # the method must not depend on the mode it finds, and must restore it
    maps = run.attention(val, [0, 2])
    assert run.model.training
    run.model.eval()
    with torch.no_grad():
        direct = run.model(torch.stack([val[0][0], val[2][0]])).attention
    assert maps.shape == direct.shape and maps.dtype == torch.float32
    torch.testing.assert_close(maps, direct, rtol=0, atol=0)
    # from a PIL image: the run's evaluation transform, as the dataset applies it
    picture = Image.open(val.paths[2]).convert("RGB")
    with torch.no_grad():
        alone = run.model(val[2][0][None]).attention  # a batch of one, as below
    torch.testing.assert_close(run.attention([picture]), alone, rtol=0, atol=0)


def test_outputs_restores_the_mode_even_when_stopped_early(finished: Path) -> None:
    run = Run.load(finished, "last", device="cpu")
    loader = run.loader(run.split())
    run.model.train()
    batches = outputs(run.model, loader, device=run.device)
    output, targets = next(batches)
    assert not run.model.training  # eval mode while it runs
    assert targets.dtype == torch.float32 and output.logits.shape == targets.shape
    batches.close()
    assert run.model.training


def test_embeddings_are_the_explore_rows_of_the_run(finished: Path) -> None:
    from mlrkit.explore import extract_embeddings

    run = Run.load(finished, "last", device="cpu")
    emb = run.embeddings(space="embedding", progress=False)
    oracle = extract_embeddings(
        finished / "last.pt", space="embedding", device="cpu", progress=False
    )
    np.testing.assert_array_equal(emb.vectors, oracle.vectors)
    assert emb.frame.equals(oracle.frame)


def test_a_damaged_history_is_one_error_naming_the_file_and_line(
    tmp_path: Path, tiny_config
) -> None:
    from mlrkit.cli import main
    from mlrkit.config import save_config
    from mlrkit.errors import RunDirectoryError
    from mlrkit.train import ensure_run

    folder = RunDir(tmp_path / "run")
    folder.path.mkdir()
    folder.history_file.write_text('{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "lo\n')
    with pytest.raises(
        RunDirectoryError, match=r"metrics.jsonl is damaged at line 2 .*--overwrite"
    ):
        folder.history()
    folder.history_file.write_text('{"epoch": 1}\n["not", "a", "row"]\n')
    folder.last.write_bytes(b"")  # finished() reads the history once a last.pt is there
    with pytest.raises(RunDirectoryError, match="damaged at line 2"):
        folder.finished(1)
    # the paths that read it on the way: ensure_run (resume), the CLI (one line, exit 2)
    cfg = tiny_config("train.epochs=1", loss="bce")
    save_config(cfg, folder.config_file)
    with pytest.raises(RunDirectoryError, match="damaged at line 2"):
        ensure_run(cfg, folder.path)
    assert main(["train", "--out", str(folder.path), "--resume"]) == 2
