"""CP/CR/CF1/OP/OR/OF1 (and top-k) against sklearn and a slow per-image loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import MetricsWarning, threshold_metrics


def make_logits(n=300, k=6, seed=0, ignore=0.0):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.3).astype(np.int64)
    logits = rng.normal(size=(n, k)) + 2.0 * targets - 1.0
    if ignore:
        targets[rng.random((n, k)) < ignore] = -1
    return logits, targets


def sklearn_metrics(pred, targets):
    """Oracle without -1 entries: sklearn macro P/R over classes with a positive, micro F1."""
    has = np.flatnonzero((targets == 1).any(axis=0))
    cp = precision_score(targets, pred, labels=has, average="macro", zero_division=0)
    cr = recall_score(targets, pred, labels=has, average="macro", zero_division=0)
    return {
        "CP": cp,
        "CR": cr,
        "CF1": 2 * cp * cr / (cp + cr),
        "OP": precision_score(targets, pred, average="micro", zero_division=0),
        "OR": recall_score(targets, pred, average="micro", zero_division=0),
        "OF1": f1_score(targets, pred, average="micro", zero_division=0),
    }


def assert_metrics_close(got, expected):
    assert set(got) == {"CP", "CR", "CF1", "OP", "OR", "OF1"}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_threshold_metrics_equal_sklearn_on_logits_and_probabilities():
    logits, targets = make_logits()
    expected = sklearn_metrics((logits >= 0).astype(int), targets)
    assert_metrics_close(threshold_metrics(logits, targets, scores_are="logits"), expected)
    probs = 1.0 / (1.0 + np.exp(-logits))
    assert_metrics_close(threshold_metrics(probs, targets, scores_are="probabilities"), expected)
    tensors = threshold_metrics(
        torch.from_numpy(logits).float(), torch.from_numpy(targets).float(), scores_are="logits"
    )
    assert_metrics_close(tensors, expected)


def test_other_threshold_is_applied_on_the_probability_scale():
    logits, targets = make_logits(seed=1)
    probs = 1.0 / (1.0 + np.exp(-logits))
    expected = sklearn_metrics((probs >= 0.7).astype(int), targets)
    got = threshold_metrics(logits, targets, scores_are="logits", threshold=0.7)
    assert_metrics_close(got, expected)


def test_cf1_is_harmonic_mean_of_cp_cr_not_sklearn_macro_f1():
    # class 0: perfect; class 1: predicts everything -> P=0.5, R=1; class 2: one hit of two
    targets = np.array([[1, 1, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]])
    pred = np.array([[1, 1, 1], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
    got = threshold_metrics(pred.astype(float), targets, scores_are="probabilities")
    cp, cr = (1 + 0.5 + 1) / 3, (1 + 1 + 0.5) / 3
    assert got["CP"] == pytest.approx(cp) and got["CR"] == pytest.approx(cr)
    assert got["CF1"] == pytest.approx(2 * cp * cr / (cp + cr))
    macro_f1 = f1_score(targets, pred, average="macro")
    assert abs(got["CF1"] - macro_f1) > 0.02  # the two definitions really differ here
    assert got["OF1"] == pytest.approx(f1_score(targets, pred, average="micro"))


def test_ignored_entries_take_no_part():
    logits, targets = make_logits(seed=2, ignore=0.2)
    pred = logits >= 0
    got = threshold_metrics(logits, targets, scores_are="logits")
    valid = targets >= 0
    # overall metrics: binary P/R/F1 over the non-ignored entries, flattened
    assert got["OP"] == pytest.approx(precision_score(targets[valid], pred[valid]))
    assert got["OR"] == pytest.approx(recall_score(targets[valid], pred[valid]))
    assert got["OF1"] == pytest.approx(f1_score(targets[valid], pred[valid]))
    # per class: the same on each column's non-ignored entries
    cps = [precision_score(targets[v, k], pred[v, k]) for k, v in enumerate(valid.T)]
    crs = [recall_score(targets[v, k], pred[v, k]) for k, v in enumerate(valid.T)]
    assert got["CP"] == pytest.approx(np.mean(cps)) and got["CR"] == pytest.approx(np.mean(crs))


def test_class_without_positive_left_out_of_cp_cr_with_warning_but_counts_in_op():
    logits, targets = make_logits(seed=3, k=4)
    targets[:, 3] = 0
    logits[:5, 3] = 5.0  # five false positives on the class without positives
    with pytest.warns(MetricsWarning, match="CP/CR: zebra"):
        got = threshold_metrics(
            logits, targets, scores_are="logits", classes=["a", "b", "c", "zebra"]
        )
    assert_metrics_close(got, sklearn_metrics((logits >= 0).astype(int), targets))


def test_class_never_predicted_has_precision_zero():
    targets = np.array([[1, 1], [0, 1], [1, 0]])
    probs = np.array([[0.9, 0.1], [0.2, 0.2], [0.8, 0.3]])
    got = threshold_metrics(probs, targets, scores_are="probabilities")
    assert got["CP"] == pytest.approx(0.5)  # class 1 predicts nothing: precision 0
    assert got["CR"] == pytest.approx(0.5)


def slow_top_k(scores, k, threshold_logit):
    """Each image: the k best classes (ties to the lower index) that also pass the threshold."""
    pred = np.zeros(scores.shape, dtype=int)
    for i, row in enumerate(scores):
        ranked = sorted(range(len(row)), key=lambda c: (-row[c], c))
        for c in ranked[:k]:
            pred[i, c] = int(row[c] >= threshold_logit)
    return pred


@pytest.mark.parametrize("decimals", [None, 0], ids=["continuous", "ties"])
def test_top3_variants_match_a_slow_loop(decimals):
    logits, targets = make_logits(n=200, k=8, seed=4)
    logits = logits + 1.5  # many classes pass the threshold, so top-3 really cuts
    if decimals is not None:
        logits = np.round(logits, decimals)
    pred = slow_top_k(logits, 3, 0.0)
    assert (pred.sum(axis=1) <= 3).all() and ((logits >= 0).sum(axis=1) > 3).any()
    got = threshold_metrics(logits, targets, scores_are="logits", top_k=3)
    assert_metrics_close(got, sklearn_metrics(pred, targets))


def test_scores_are_is_required_and_checked():
    logits, targets = make_logits(n=10)
    with pytest.raises(TypeError):
        threshold_metrics(logits, targets)  # no guessing between logits and probabilities
    with pytest.raises(InvalidInputError, match="scores_are='logits'"):
        threshold_metrics(logits, targets, scores_are="probabilities")
    with pytest.raises(InvalidInputError, match="not one of"):
        threshold_metrics(logits, targets, scores_are="sigmoid")
    with pytest.raises(InvalidInputError, match="strictly between"):
        threshold_metrics(logits, targets, scores_are="logits", threshold=1.0)


def test_threshold_is_not_rounded_to_the_score_dtype():
    # float32(0.7) is 0.69999998...: below a 0.7 threshold, although float32(0.7) == 0.7f
    probs = np.array([[np.float32(0.7)], [np.float32(0.9)]], dtype=np.float32)
    targets = np.array([[1], [1]])
    got = threshold_metrics(probs, targets, scores_are="probabilities", threshold=0.7)
    assert got["OR"] == pytest.approx(0.5)


# ---------------------------------------------------------------- targets_are: ML-GCN's encoding


def to_signed(targets):
    """Hand conversion to ML-GCN's encoding: present 1 -> 1, absent 0 -> -1, ignored -1 -> 0."""
    return np.select([targets == 1, targets == 0], [1, -1], default=0)


@pytest.mark.parametrize("top_k", [None, 3], ids=["plain", "top-3"])
def test_signed_targets_equal_hand_converted_binary(top_k):
    logits, targets = make_logits(seed=5, ignore=0.2)
    signed = to_signed(targets)
    assert set(np.unique(signed)) == {-1, 0, 1}
    got = threshold_metrics(logits, signed, scores_are="logits", top_k=top_k, targets_are="signed")
    assert got == threshold_metrics(logits, targets, scores_are="logits", top_k=top_k)


def test_signed_targets_equal_sklearn_without_the_difficult_entries():
    rng = np.random.default_rng(6)
    signed = np.where(rng.random((300, 6)) < 0.3, 1, -1)
    signed[rng.random(signed.shape) < 0.2] = 0  # difficult
    logits = rng.normal(size=signed.shape) + 2.0 * (signed == 1) - 1.0
    pred = logits >= 0
    got = threshold_metrics(logits, signed, scores_are="logits", targets_are="signed")
    keep = signed != 0
    y = signed == 1
    # overall metrics: binary P/R/F1 over the entries that are not difficult, flattened
    assert got["OP"] == pytest.approx(precision_score(y[keep], pred[keep]), abs=1e-12)
    assert got["OR"] == pytest.approx(recall_score(y[keep], pred[keep]), abs=1e-12)
    assert got["OF1"] == pytest.approx(f1_score(y[keep], pred[keep]), abs=1e-12)
    # per class: the same on each column, its difficult rows dropped
    cps = [precision_score(y[v, k], pred[v, k]) for k, v in enumerate(keep.T)]
    crs = [recall_score(y[v, k], pred[v, k]) for k, v in enumerate(keep.T)]
    assert got["CP"] == pytest.approx(np.mean(cps), abs=1e-12)
    assert got["CR"] == pytest.approx(np.mean(crs), abs=1e-12)


def test_unconverted_signed_targets_raise_naming_targets_are():
    logits, targets = make_logits(seed=7)
    signed = to_signed(targets)  # 1 and -1 only
    with pytest.raises(InvalidInputError, match="pass targets_are='signed'"):
        threshold_metrics(logits, signed, scores_are="logits")
    with pytest.raises(InvalidInputError, match="pass targets_are='binary'"):
        threshold_metrics(logits, targets, scores_are="logits", targets_are="signed")
    with pytest.raises(InvalidInputError, match="not one of"):
        threshold_metrics(logits, targets, scores_are="logits", targets_are="pm1")
