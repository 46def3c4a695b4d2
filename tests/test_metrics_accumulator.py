"""Streaming accumulator (one process and 2 gloo processes) and the pandas tables."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.metrics import average_precision_score, precision_score, recall_score

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import (
    MetricAccumulator,
    MetricsWarning,
    average_precision,
    mean_average_precision,
    per_class_table,
    summary_table,
    threshold_metrics,
)

CLASSES = ("aero", "bike", "bird", "boat", "bottle")


def make_logits(n=120, k=5, seed=0):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.3).astype(np.float32)
    targets[rng.random((n, k)) < 0.1] = -1
    logits = np.round(rng.normal(size=(n, k)) + 2.0 * (targets == 1) - 1.0, 1).astype(np.float32)
    return logits, targets


def one_shot(logits, targets):
    result = {"AP": average_precision(logits, targets)}
    result["mAP"] = float(np.nanmean(result["AP"]))
    result.update(threshold_metrics(logits, targets, scores_are="logits"))
    return result


def to_signed(targets):
    """Hand conversion to ML-GCN's encoding: present 1 -> 1, absent 0 -> -1, ignored -1 -> 0."""
    return np.select([targets == 1, targets == 0], [1, -1], default=0)


def assert_same_result(got, expected):
    assert set(got) == {"mAP", "AP", "CP", "CR", "CF1", "OP", "OR", "OF1"}
    np.testing.assert_array_equal(got["AP"], expected["AP"])
    for key in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert got[key] == pytest.approx(expected[key], abs=1e-15), key


def test_accumulator_equals_one_shot_over_uneven_batches():
    logits, targets = make_logits()
    acc = MetricAccumulator(scores_are="logits")
    for lo, hi in [(0, 7), (7, 8), (8, 64), (64, 120)]:  # torch, numpy and half batches
        batch = torch.from_numpy(logits[lo:hi])
        acc.update(batch.half() if lo == 7 else batch, targets[lo:hi])
    assert len(acc) == 120
    expected_logits = logits.copy()
    expected_logits[7:8] = torch.from_numpy(logits[7:8]).half().float().numpy()
    assert_same_result(acc.compute(), one_shot(expected_logits, targets))
    acc.reset()
    assert len(acc) == 0
    with pytest.raises(ValueError, match="empty"):
        acc.compute()


def test_accumulator_keeps_no_graph_and_checks_shapes():
    acc = MetricAccumulator(scores_are="probabilities", classes=CLASSES[:2])
    scores = torch.rand(4, 2, requires_grad=True)
    acc.update(scores, torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]))
    gathered, _ = acc.gather()  # plain numpy, detached from the autograd graph
    np.testing.assert_array_equal(gathered, scores.detach().numpy())
    with pytest.raises(InvalidInputError, match="earlier batches had 2"):
        acc.update(torch.rand(3, 3), torch.zeros(3, 3))
    with pytest.raises(InvalidInputError, match="same shape"):
        acc.update(torch.rand(3, 2), torch.zeros(3, 1))
    with pytest.raises(InvalidInputError, match="not one of"):
        MetricAccumulator(scores_are="probs")
    with pytest.raises(InvalidInputError, match="not one of"):
        MetricAccumulator(targets_are="pm1")


def test_accumulator_warns_about_classes_without_positives():
    logits, targets = make_logits(seed=1)
    targets[:, 2] = 0
    acc = MetricAccumulator(classes=CLASSES)
    acc.update(logits, targets)
    with pytest.warns(MetricsWarning, match="bird"):
        result = acc.compute()
    assert np.isnan(result["AP"][2]) and result["mAP"] == pytest.approx(
        np.nanmean(result["AP"]), abs=1e-15
    )


BATCHES = [(0, 7), (7, 8), (8, 64), (64, 120)]


def test_accumulator_signed_targets_batched_equal_one_shot():
    logits, targets = make_logits()
    targets[7] = [1, -1, 1, 1, -1]  # batch (7, 8): positives and ignored only, in both encodings
    signed = to_signed(targets)
    assert not (signed[7:8] == -1).any() and not (targets[7:8] == 0).any()
    for targets_are, fed in (("signed", signed), ("binary", targets)):
        acc = MetricAccumulator(scores_are="logits", targets_are=targets_are)
        for lo, hi in BATCHES:  # no batch is judged alone
            acc.update(torch.from_numpy(logits[lo:hi]), torch.from_numpy(fed[lo:hi]))
        np.testing.assert_array_equal(acc.gather()[1], targets.astype(np.int8))  # converted
        got = acc.compute()
        assert_same_result(got, one_shot(logits, targets))
        # and the one-shot functions given the signed matrix directly
        np.testing.assert_array_equal(
            got["AP"], average_precision(logits, signed, targets_are="signed")
        )
        assert got["mAP"] == mean_average_precision(logits, signed, targets_are="signed")


def test_accumulator_raises_on_unconverted_signed_targets_at_compute_not_update():
    logits, targets = make_logits(seed=4)
    targets[targets == -1] = 0
    signed = to_signed(targets)  # 1 and -1 only: the ML-GCN matrix passed unconverted
    acc = MetricAccumulator(scores_are="logits")
    for lo, hi in BATCHES:
        acc.update(logits[lo:hi], signed[lo:hi])  # one batch may lack 0: never raises here
    with pytest.raises(InvalidInputError, match="pass targets_are='signed'"):
        acc.compute()
    mirrored = MetricAccumulator(scores_are="logits", targets_are="signed")
    for lo, hi in BATCHES:
        mirrored.update(logits[lo:hi], targets[lo:hi])  # binary 1 / 0 read as signed
    with pytest.raises(InvalidInputError, match="pass targets_are='binary'"):
        mirrored.compute()


# ---------------------------------------------------------------- 2 processes, gloo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gather_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        logits, targets = make_logits()
        # uneven shards: rank 0 holds 0..49 in two batches, rank 1 holds 50..119
        shard = slice(0, 50) if rank == 0 else slice(50, 120)
        acc = MetricAccumulator(scores_are="logits")
        rows = np.arange(120)[shard]
        for part in np.array_split(rows, 2):
            acc.update(torch.from_numpy(logits[part]), torch.from_numpy(targets[part]))
        result = acc.compute()
        # a rank with no sample at all still receives everything
        empty = MetricAccumulator(scores_are="logits")
        if rank == 1:
            empty.update(logits, targets)
        result_empty = empty.compute()
        # float64 on one rank, float32 on the other: gathered as float64, nothing narrowed
        mixed = MetricAccumulator(scores_are="logits")
        dtype = torch.float64 if rank == 0 else torch.float32
        mixed.update(torch.from_numpy(logits[shard]).to(dtype), targets[shard])
        gathered_dtype = str(mixed.gather()[0].dtype)
        np.savez(
            f"{out_dir}/rank{rank}.npz",
            AP=result["AP"],
            values=[result[k] for k in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")],
            AP_empty=result_empty["AP"],
            gathered_dtype=gathered_dtype,
            n=len(acc),
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_accumulator_gathers_across_two_gloo_processes(tmp_path):
    mp.spawn(_gather_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    logits, targets = make_logits()
    expected = one_shot(logits, targets)
    values = [expected[k] for k in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")]
    sizes = []
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_array_equal(got["AP"], expected["AP"])
        np.testing.assert_allclose(got["values"], values, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(got["AP_empty"], expected["AP"])
        assert str(got["gathered_dtype"]) == "float64"
        sizes.append(int(got["n"]))
    assert sizes == [50, 70]  # each process kept only its own shard


# ---------------------------------------------------------------- tables


def test_per_class_table_against_sklearn():
    logits, targets = make_logits(seed=2)
    table = per_class_table(logits, targets, CLASSES, scores_are="logits")
    assert list(table.index) == list(CLASSES) and table.index.name == "class"
    assert list(table.columns) == [
        "AP", "positives", "negatives", "ignored", "predicted", "correct",
        "precision", "recall", "F1",
    ]  # fmt: skip
    for k, name in enumerate(CLASSES):
        valid = targets[:, k] >= 0
        y, s = targets[valid, k], logits[valid, k]
        row = table.loc[name]
        assert row["AP"] == pytest.approx(100 * average_precision_score(y, s), abs=1e-10)
        assert row["positives"] == (y == 1).sum() and row["ignored"] == (~valid).sum()
        assert row["precision"] == pytest.approx(100 * precision_score(y, s >= 0))
        assert row["recall"] == pytest.approx(100 * recall_score(y, s >= 0))
        p, r = row["precision"], row["recall"]
        assert row["F1"] == pytest.approx(2 * p * r / (p + r))
    assert table.attrs["scale"].startswith("percent")


def test_summary_table_one_row_x100_with_top3():
    logits, targets = make_logits(seed=3)
    table = summary_table(logits, targets, CLASSES, scores_are="logits", name="run-a")
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["run-a"]
    row = table.loc["run-a"]
    assert row["mAP"] == pytest.approx(100 * np.mean(average_precision(logits, targets)))
    plain = threshold_metrics(logits, targets, scores_are="logits")
    top3 = threshold_metrics(logits, targets, scores_are="logits", top_k=3)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert row[key] == pytest.approx(100 * plain[key])
        assert row[f"{key}@3"] == pytest.approx(100 * top3[key])
    assert row["images"] == 120 and row["classes"] == 5
    both = pd.concat([table, summary_table(logits, targets, scores_are="logits", name="b")])
    assert list(both.index) == ["run-a", "b"]


def test_tables_take_signed_targets():
    logits, targets = make_logits(seed=5)
    signed = to_signed(targets)
    pd.testing.assert_frame_equal(
        per_class_table(logits, signed, CLASSES, scores_are="logits", targets_are="signed"),
        per_class_table(logits, targets, CLASSES, scores_are="logits"),
    )
    pd.testing.assert_frame_equal(
        summary_table(logits, signed, scores_are="logits", targets_are="signed"),
        summary_table(logits, targets, scores_are="logits"),
    )
    targets[targets == -1] = 0
    with pytest.raises(InvalidInputError, match="targets_are='signed'"):
        summary_table(logits, to_signed(targets), scores_are="logits")
