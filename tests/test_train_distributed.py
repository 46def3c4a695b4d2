"""Multi-process training/evaluation on CPU: torchrun, 2 processes, gloo backend.

One torchrun launch (~15-25 s) evaluates a checkpoint sharded over 2 ranks and trains one DDP
epoch; the sharded mAP / per-class AP must equal the single-process evaluation of the same
weights, and the DDP run's checkpoint must have the single-process format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlrkit.config import save_config
from mlrkit.distributed import DistInfo, ShardSampler, env_dist_info
from mlrkit.runs import Run
from mlrkit.train import fit
from mlrkit.train.checkpoint import load_checkpoint

CHILD = r"""
import json, sys
import torch
torch.set_num_threads(1)
from torch.utils.data import DataLoader
from mlrkit.config import load_config
from mlrkit.distributed import ShardSampler, cleanup, dist_info, init_distributed
from mlrkit.train import fit
from mlrkit.runs import Run
from mlrkit.train import evaluate

checkpoint, config, result_file, fit_out = sys.argv[1:5]
info = init_distributed()
assert dist_info().world_size == 2 and torch.distributed.get_backend() == "gloo"
trained = Run.load(checkpoint, device="cpu")
dataset = trained.split()
sampler = ShardSampler(dataset)
loader = DataLoader(dataset, batch_size=5, sampler=sampler)
result = evaluate(trained.model, loader, device=torch.device("cpu"))
if info.is_main:
    Path = __import__("pathlib").Path
    Path(result_file).write_text(json.dumps(
        {"mAP": result["mAP"], "AP": result["AP"].tolist(), "images": result["images"],
         "shard": len(sampler), "CF1": result["CF1"], "OF1": result["OF1"]}))
fit(load_config(config), fit_out)
cleanup()
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def test_env_info_and_unpadded_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert env_dist_info() == DistInfo(rank=1, world_size=3, local_rank=1)
    data = list(range(10))
    shards = [list(ShardSampler(data, rank=r, world_size=3)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == data  # each item exactly once, no padding
    assert [len(ShardSampler(data, rank=r, world_size=3)) for r in range(3)] == [4, 3, 3]


@pytest.mark.slow
def test_two_process_evaluation_equals_one_process_and_checkpoint_format(
    tmp_path: Path, tiny_config
) -> None:
    cfg = tiny_config("train.epochs=1")
    fit(cfg, tmp_path / "single")
    trained = Run.load(tmp_path / "single" / "last.pt", device="cpu")
    expected = trained.evaluate()
    config = save_config(cfg, tmp_path / "config.json")
    (tmp_path / "child.py").write_text(CHILD)
    result_file = tmp_path / "ddp.json"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(tmp_path / "child.py"), str(tmp_path / "single" / "last.pt"), str(config),
        str(result_file), str(tmp_path / "ddp_run"),
    ]  # fmt: skip
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(result_file.read_text())
    assert got["images"] == 37 and got["shard"] == 19  # rank 0 of 2: items 0, 2, ..., 36
    np.testing.assert_allclose(got["AP"], expected["AP"], rtol=0, atol=1e-12)
    assert got["mAP"] == pytest.approx(expected["mAP"], abs=1e-12)
    assert (got["CF1"], got["OF1"]) == pytest.approx((expected["CF1"], expected["OF1"]), abs=1e-12)

    single = load_checkpoint(tmp_path / "single" / "last.pt")
    ddp = load_checkpoint(tmp_path / "ddp_run" / "last.pt")
    assert single.keys() == ddp.keys()
    for part in ("model", "objective"):
        assert single[part].keys() == ddp[part].keys()  # no "module." prefix from DDP
        for name, value in single[part].items():
            assert ddp[part][name].shape == value.shape and ddp[part][name].dtype == value.dtype
    assert len(single["optimizer"]["state"]) == len(ddp["optimizer"]["state"])
    assert single["config"] == ddp["config"] and single["classes"] == ddp["classes"]
    rows = (tmp_path / "ddp_run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1  # written once, by rank 0
    assert json.loads(rows[0])["images"] == 64  # both ranks' images (32 each) counted
    # The mAP logged by the DDP run (sharded evaluation inside fit) is that of its checkpoint.
    ddp_trained = Run.load(tmp_path / "ddp_run" / "last.pt", device="cpu")
    assert ddp_trained.epoch == 1
    logged = json.loads(rows[0])["val_mAP"]
    assert logged == pytest.approx(ddp_trained.evaluate()["mAP"])
