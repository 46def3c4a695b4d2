"""Checkpoints: atomic writes, weights_only loading, truncation, mismatch errors, RNG states."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from mlrkit.train.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    CheckpointMismatchError,
    capture_rng_state,
    check_compatible,
    checkpoint_differences,
    load_checkpoint,
    load_module_state,
    restore_rng_state,
    save_checkpoint,
)

CLASSES = ["cat", "dog", "bird"]
MODEL_CFG = {
    "backbone": "digitnet",
    "head": "class_attention",
    "embed_dim": None,
    "head_kwargs": {},
}


def make_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    layer = torch.nn.Linear(4, 3)
    return {
        "format": FORMAT,
        "version": VERSION,
        "epoch": 2,
        "classes": list(CLASSES),
        "config": {"model": dict(MODEL_CFG), "train": {"seed": 0}},
        "model": layer.state_dict(),
        "rng": capture_rng_state(),
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_with_weights_only(tmp_path: Path) -> None:
    state = make_state()
    path = save_checkpoint(state, tmp_path / "last.pt")
    loaded = torch.load(path, weights_only=True)  # the stored types are all weights_only-safe
    assert loaded["classes"] == CLASSES and loaded["epoch"] == 2
    for name, value in state["model"].items():
        assert torch.equal(loaded["model"][name], value)
    assert load_checkpoint(path)["config"] == state["config"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_crash_mid_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(make_state(0), tmp_path / "last.pt")
    before = digest(path)

    def crashing_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(make_state(1), path)
    assert digest(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path)["epoch"] == 2


def test_truncated_file_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    good = save_checkpoint(make_state(), tmp_path / "best.pt")
    bad = tmp_path / "last.pt"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value) and "best.pt" in str(info.value)
    assert load_checkpoint(good)["epoch"] == 2  # the other checkpoint is intact


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mlrkit checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


@pytest.mark.parametrize(
    ("classes", "model", "expected"),
    [
        (["cat", "dog"], MODEL_CFG, ["class count: checkpoint has 3, data has 2"]),
        (["cat", "dog", "fish"], MODEL_CFG, ["only in checkpoint ['bird'], only in data ['fish']"]),
        (["dog", "cat", "bird"], MODEL_CFG, ["same names in a different order"]),
        (CLASSES, {**MODEL_CFG, "backbone": "resnet18"}, ["model.backbone: checkpoint 'digitnet'"]),
        (CLASSES, {**MODEL_CFG, "embed_dim": 64}, ["model.embed_dim: checkpoint None, config 64"]),
    ],
)
def test_mismatch_says_what_differs(classes, model, expected) -> None:
    state = make_state()
    diffs = checkpoint_differences(state, classes, model)
    for text in expected:
        assert any(text in d for d in diffs), diffs
    with pytest.raises(CheckpointMismatchError, match="does not match this run"):
        check_compatible(state, classes, model, "runs/x/last.pt")
    assert checkpoint_differences(state, CLASSES, MODEL_CFG) == []


def test_state_dict_mismatch_names_the_file_and_part() -> None:
    state = make_state()
    with pytest.raises(CheckpointMismatchError, match=r"runs/x/last\.pt: the saved model"):
        load_module_state(torch.nn.Linear(4, 5), state["model"], "model", "runs/x/last.pt")


def test_rng_states_round_trip(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = make_state()  # captures the RNG state (after make_state's own seeding)
    path = save_checkpoint(state, tmp_path / "last.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(1), expected[2])


def test_version_one_checkpoints_load_with_the_composed_objective_names(tmp_path: Path) -> None:
    """Version 1 named the objective's parts center.*, bank.*, pscl.*; they load as version 2."""
    from mlrkit.losses import build_objective

    objective = build_objective("sadcl", 3, 4, stage=2, bank_size=2)
    v2 = objective.state_dict()
    old_names = {"sadcl.bank.": "bank.", "sadcl.pscl.": "pscl.", "discriminative.": "center."}

    def to_v1(key: str) -> str:
        for new, old in old_names.items():
            if key.startswith(new):
                return old + key[len(new) :]
        return key

    state = {**make_state(), "version": 1, "objective": {to_v1(k): v for k, v in v2.items()}}
    assert "bank.features" in state["objective"] and "pscl.prototypes" in state["objective"]
    save_checkpoint(state, tmp_path / "v1.pt")
    loaded = load_checkpoint(tmp_path / "v1.pt")
    assert loaded["version"] == VERSION == 2
    fresh = build_objective("sadcl", 3, 4, stage=2, bank_size=2)
    load_module_state(fresh, loaded["objective"], "objective", tmp_path / "v1.pt")
    for key, value in v2.items():
        assert torch.equal(fresh.state_dict()[key], value), key
    centre = build_objective("disc-center", 3, 4).state_dict()
    state = {**make_state(), "version": 1, "objective": {to_v1(k): v for k, v in centre.items()}}
    save_checkpoint(state, tmp_path / "v1c.pt")
    assert set(load_checkpoint(tmp_path / "v1c.pt")["objective"]) == set(centre)


def test_an_unknown_format_version_is_refused_naming_it(tmp_path: Path) -> None:
    save_checkpoint({**make_state(), "version": 7}, tmp_path / "future.pt")
    with pytest.raises(
        CheckpointError, match="format version 7; this mlrkit reads versions 1 and 2"
    ):
        load_checkpoint(tmp_path / "future.pt")


def test_a_version_one_run_with_options_its_setup_ignores_still_loads(
    tmp_path: Path, tiny_config
) -> None:
    """Version 1 accepted any objective option on any setup (e.g. center_margin on bce)."""
    from mlrkit.runs import Run
    from mlrkit.train import fit

    fit(tiny_config("train.epochs=1", loss="bce"), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    state["version"] = 1
    state["config"]["loss"]["objective_kwargs"] = {"center_margin": 2.0, "reduction": "sum"}
    save_checkpoint(state, tmp_path / "run" / "last.pt")
    (tmp_path / "run" / "best.pt").unlink()
    with pytest.warns(UserWarning, match=r"\['center_margin'\] are not options of setup 'bce'"):
        run = Run.load(tmp_path / "run", device="cpu")
    assert run.config.loss.objective_kwargs == {"reduction": "sum"}


class _Payload:
    """Unpickling this would run code: touch a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_holding_code_is_refused_as_such_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "mlrkit", "model": _Payload(marker)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "holds Python objects other than tensors" in message and "refuses to load" in message
    assert "weights_only=False" not in message and "truncated" not in message
    assert not marker.exists()
