"""A training process killed with SIGKILL (mid-epoch, or mid-checkpoint-write) resumes exactly.

Each test starts ``fit`` in a subprocess, kills it from here with SIGKILL once it signals the
chosen point, resumes in a second subprocess, and compares every weight with an uninterrupted
run (torch.equal). Slow-ish: two interpreter start-ups per test (~5-10 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from mlrkit.config import apply_overrides, save_config
from mlrkit.presets import preset
from mlrkit.train import fit
from mlrkit.train.checkpoint import load_checkpoint

CHILD = r"""
import os, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from mlrkit.train import recipe
from mlrkit.config import load_config
from mlrkit.train import fit

config, out, mode, at, marker = sys.argv[1:6]
at = int(at)

def wait_for_kill():
    Path(marker).write_text("ready")
    time.sleep(120)  # the test kills us with SIGKILL here

if mode == "step":  # stop inside the objective's forward at training step `at` (global count)
    real_build, count = recipe.objective_from_config, [0]
    def build(*args, **kwargs):
        objective = real_build(*args, **kwargs)
        forward = objective.forward
        def counted(output, targets):
            count[0] += 1
            if count[0] == at:
                wait_for_kill()
            return forward(output, targets)
        objective.forward = counted
        return objective
    recipe.objective_from_config = build
elif mode == "save":  # stop halfway through writing checkpoint number `at`
    real_save, count = torch.save, [0]
    def save(obj, handle, *args, **kwargs):
        count[0] += 1
        if count[0] == at:
            import io
            buffer = io.BytesIO()
            real_save(obj, buffer)
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            handle.flush()
            wait_for_kill()
        return real_save(obj, handle, *args, **kwargs)
    torch.save = save
fit(load_config(config), out, resume=(mode == "resume"))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_overrides: list[str]):
    root = tmp_path_factory.mktemp("sigkill")
    overrides = [*tiny_overrides, "loss.sadcl_stage1_epochs=1", "train.ema_decay=0.9"]
    cfg = apply_overrides(preset("digits", loss="sadcl"), overrides)
    config = save_config(cfg, root / "config.json")
    (root / "child.py").write_text(CHILD)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the child: the same kernels, the same bits
    try:
        with warnings.catch_warnings():  # tiny stage 1: few confidently-correct samples
            warnings.filterwarnings("ignore", "init_prototypes")
            fit(cfg, root / "reference")
    finally:
        torch.set_num_threads(threads)
    return root, config, load_checkpoint(root / "reference" / "last.pt")


def run_child(root: Path, config: Path, out: Path, mode: str, at: int = 0) -> int:
    marker = out.with_name(out.name + ".marker")
    args = [sys.executable, str(root / "child.py"), str(config), str(out), mode, str(at)]
    proc = subprocess.Popen([*args, str(marker)], cwd=root)
    if mode == "resume":
        return proc.wait(timeout=240)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"child ended (rc={proc.returncode}) before reaching {mode} {at}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=60)


def assert_identical(a: dict, b: dict) -> None:
    for part in ("model", "objective", "ema"):
        assert a[part].keys() == b[part].keys()
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), f"{part}.{name}"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_exact(setup) -> None:
    root, config, reference = setup
    out = root / "killed_step"
    # 4 steps per epoch: step 7 is the 3rd step of epoch 2 (inside SADCL stage 2).
    assert run_child(root, config, out, "step", 7) == -signal.SIGKILL
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert run_child(root, config, out, "resume") == 0
    final = load_checkpoint(out / "last.pt")
    assert final["epoch"] == 3
    assert_identical(final, reference)


@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(setup) -> None:
    root, config, reference = setup
    out = root / "killed_save"
    # Epoch 1 writes last.pt then best.pt (its first evaluation is always the best so far), so
    # torch.save call 3 is epoch 2's last.pt.
    assert run_child(root, config, out, "save", 3) == -signal.SIGKILL
    assert load_checkpoint(out / "last.pt")["epoch"] == 1  # the half-written file never replaced it
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1  # the partial temporary file, never renamed into place
    assert run_child(root, config, out, "resume") == 0
    assert_identical(load_checkpoint(out / "last.pt"), reference)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # stale part removed
