"""AP, mAP and the VOC variants against sklearn, torchmetrics and slow reference loops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import (
    MetricsWarning,
    average_precision,
    mean_average_precision,
    voc07_11point_ap,
    voc_interpolated_ap,
)


def make_problem(n=400, k=7, seed=0, decimals=None, ignore=0.0, pos=0.2):
    """Scores correlated with random targets; optional rounding (ties) and -1 entries."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < pos).astype(np.int64)
    scores = rng.normal(size=(n, k)) + 1.2 * targets
    if decimals is not None:
        scores = np.round(scores, decimals)
    if ignore:
        targets[rng.random((n, k)) < ignore] = -1
    return scores, targets


def sklearn_ap(scores, targets):
    """The oracle: sklearn per column on the non-ignored entries; NaN without a positive."""
    out = []
    for k in range(scores.shape[1]):
        valid = targets[:, k] >= 0
        y, s = targets[valid, k], scores[valid, k]
        out.append(average_precision_score(y, s) if (y == 1).any() else np.nan)
    return np.array(out)


def to_signed(targets):
    """Hand conversion to ML-GCN's encoding: present 1 -> 1, absent 0 -> -1, ignored -1 -> 0."""
    return np.select([targets == 1, targets == 0], [1, -1], default=0)


def sklearn_ap_signed(scores, signed):
    """Oracle on ML-GCN targets: per class, drop the 0 (difficult) rows; -1 is the negative."""
    out = []
    for k in range(scores.shape[1]):
        keep = signed[:, k] != 0
        y, s = signed[keep, k] == 1, scores[keep, k]
        out.append(average_precision_score(y, s) if y.any() else np.nan)
    return np.array(out)


# ---------------------------------------------------------------- exact AP vs sklearn


@pytest.mark.parametrize(
    ("decimals", "ignore"),
    [(None, 0.0), (1, 0.0), (None, 0.15), (1, 0.15), (0, 0.3)],
    ids=["continuous", "ties-0.1", "ignore", "ties+ignore", "heavy-ties"],
)
def test_average_precision_equals_sklearn(decimals, ignore):
    scores, targets = make_problem(decimals=decimals, ignore=ignore)
    if decimals is not None:  # the rounding really creates ties
        assert len(np.unique(scores[:, 0])) < len(scores) / 4
    np.testing.assert_allclose(
        average_precision(scores, targets), sklearn_ap(scores, targets), rtol=0, atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 25),
    k=st.integers(1, 4),
    levels=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
)
def test_average_precision_property_small_tied(n, k, levels, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, k)).astype(np.float32) / levels
    targets = rng.integers(-1, 2, size=(n, k))
    if (targets == -1).any() and not (targets == 0).any():  # no negative: wrong encoding
        with pytest.raises(InvalidInputError, match="targets_are='signed'"):
            average_precision(scores, targets)
        with pytest.raises(InvalidInputError, match="targets_are='binary'"):
            average_precision(scores, to_signed(targets), targets_are="signed")
        return
    ap = average_precision(scores, targets)
    np.testing.assert_allclose(ap, sklearn_ap(scores, targets), rtol=0, atol=1e-12)
    signed = average_precision(scores, to_signed(targets), targets_are="signed")
    np.testing.assert_array_equal(signed, ap)


def test_all_negative_class_is_nan_and_named_in_the_mAP_warning():
    scores, targets = make_problem(k=4)
    targets[:, 2] = 0  # no positive at all
    targets[:, 3] = np.where(targets[:, 3] == 1, -1, targets[:, 3])  # positives all ignored
    ap = average_precision(scores, targets)
    assert np.isnan(ap[2]) and np.isnan(ap[3])
    assert np.isfinite(ap[:2]).all()
    with pytest.warns(MetricsWarning, match=r"2 class\(es\).*cat, dog"):
        m = mean_average_precision(scores, targets, classes=["ant", "bee", "cat", "dog"])
    assert m == pytest.approx(np.mean(sklearn_ap(scores, targets)[:2]), abs=1e-12)


def test_mAP_without_missing_classes_does_not_warn():
    scores, targets = make_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mean_average_precision(scores, targets)
    assert m == pytest.approx(np.mean(sklearn_ap(scores, targets)), abs=1e-12)


def test_mAP_equals_torchmetrics_on_tie_free_data():
    from torchmetrics.functional.classification import multilabel_average_precision

    scores, targets = make_problem(n=300, k=9, seed=3)
    expected = multilabel_average_precision(
        torch.from_numpy(scores),
        torch.from_numpy(targets),
        num_labels=9,
        average="macro",
        thresholds=None,
    )
    assert mean_average_precision(scores, targets) == pytest.approx(float(expected), abs=1e-6)


def test_ranking_uses_full_precision_not_fp16_sigmoids():
    # logits 10-12 all saturate to 1.0 as float16 sigmoids: ranking them must not tie
    logits = torch.tensor([[12.0], [10.0], [11.0]])
    targets = torch.tensor([[1.0], [0.0], [1.0]])
    assert average_precision(logits, targets)[0] == 1.0
    saturated = torch.sigmoid(logits).half()
    assert average_precision(saturated, targets)[0] == pytest.approx(2 / 3)  # one 3-way tie


def test_inputs_torch_numpy_half_and_1d_agree():
    scores, targets = make_problem(n=64, k=3, decimals=2)
    expected = sklearn_ap(scores, targets)
    s32 = torch.from_numpy(scores).float()
    t = torch.from_numpy(targets).float()
    np.testing.assert_allclose(average_precision(s32, t), expected, atol=1e-6)
    np.testing.assert_allclose(
        average_precision(scores.astype(np.float32), targets), expected, atol=1e-6
    )
    half = s32.half()
    np.testing.assert_allclose(
        average_precision(half, t), sklearn_ap(half.float().numpy(), targets), atol=1e-12
    )
    assert average_precision(scores[:, 0], targets[:, 0]).shape == (1,)
    assert average_precision(scores[:, 0], targets[:, 0])[0] == pytest.approx(expected[0])


def test_average_precision_doctest_value():
    assert average_precision([[0.9], [0.8], [0.7]], [[1], [0], [1]])[0] == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    ("scores", "targets", "match"),
    [
        (np.array([[np.nan], [0.1]]), np.array([[1], [0]]), "NaN"),
        (np.array([[0.2], [0.1]]), np.array([[0.5], [0]]), "1 \\(present\\), 0"),
        (np.zeros((3, 2)), np.zeros((3, 3)), "same samples"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "N = 0"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "shape \\(N, K\\)"),
    ],
)
def test_invalid_inputs_raise_clear_errors(scores, targets, match):
    with pytest.raises(InvalidInputError, match=match):  # also a ValueError
        average_precision(scores, targets)


# ---------------------------------------------------------------- targets_are: ML-GCN's encoding

RANKING = [average_precision, voc_interpolated_ap, voc07_11point_ap]


@pytest.mark.parametrize("fn", RANKING, ids=lambda fn: fn.__name__)
def test_signed_targets_equal_hand_converted_binary(fn):
    scores, targets = make_problem(n=300, k=6, seed=11, decimals=1, ignore=0.15)
    signed = to_signed(targets)
    assert set(np.unique(signed)) == {-1, 0, 1}
    expected = fn(scores, targets)
    np.testing.assert_array_equal(fn(scores, signed, targets_are="signed"), expected)
    as_tensors = fn(
        torch.from_numpy(scores), torch.from_numpy(signed).float(), targets_are="signed"
    )
    np.testing.assert_array_equal(as_tensors, expected)
    assert mean_average_precision(scores, signed, targets_are="signed") == (
        mean_average_precision(scores, targets)
    )


@pytest.mark.parametrize(("decimals", "difficult"), [(None, 0.1), (1, 0.2), (0, 0.3)])
def test_signed_targets_equal_sklearn_without_the_difficult_rows(decimals, difficult):
    rng = np.random.default_rng(12)
    signed = np.where(rng.random((350, 6)) < 0.25, 1, -1)
    signed[rng.random(signed.shape) < difficult] = 0
    scores = rng.normal(size=signed.shape) + 1.0 * (signed == 1)
    if decimals is not None:
        scores = np.round(scores, decimals)
    expected = sklearn_ap_signed(scores, signed)
    got = average_precision(scores, signed, targets_are="signed")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    m = mean_average_precision(scores, signed, targets_are="signed")
    assert m == pytest.approx(np.mean(expected), abs=1e-12)


@pytest.mark.parametrize("fn", [*RANKING, mean_average_precision], ids=lambda fn: fn.__name__)
def test_unconverted_signed_targets_raise_naming_targets_are(fn):
    scores, targets = make_problem(n=200, k=5, seed=13)  # no ignored entry
    signed = to_signed(targets)  # only 1 and -1: read as binary, every negative is ignored
    assert set(np.unique(signed)) == {-1, 1}
    with pytest.raises(InvalidInputError, match="1 = positive, 0 = negative, -1 = ignore") as err:
        fn(scores, signed)
    assert "ML-GCN" in str(err.value) and "targets_are='signed'" in str(err.value)
    assert isinstance(err.value, ValueError)
    converted = fn(scores, signed, targets_are="signed")  # the fix the message names
    np.testing.assert_allclose(converted, fn(scores, targets), rtol=0, atol=0)
    assert np.all(np.asarray(converted) < 1.0)  # not the silent 1.0 of every negative ignored


def test_binary_targets_passed_as_signed_raise_naming_targets_are():
    scores, targets = make_problem(n=100, k=3, seed=14)  # 1 and 0 only
    with pytest.raises(InvalidInputError, match="targets_are='binary'"):
        average_precision(scores, targets, targets_are="signed")  # every 0 read as difficult


def test_targets_are_is_checked_and_values_follow_the_encoding():
    scores, targets = make_problem(n=50, k=2, seed=15, ignore=0.1)
    with pytest.raises(InvalidInputError, match="not one of"):
        average_precision(scores, targets, targets_are="ml-gcn")
    bad = to_signed(targets)
    bad[0, 0] = 2
    with pytest.raises(InvalidInputError, match=r"-1 \(absent\) or 0 \(difficult.*found \[2\]"):
        average_precision(scores, bad, targets_are="signed")
    # the entries ignored by each encoding really take no part
    binary_ap = average_precision(scores, targets)
    moved = scores.copy()
    moved[targets == -1] = 100.0
    np.testing.assert_array_equal(average_precision(moved, targets), binary_ap)
    np.testing.assert_array_equal(
        average_precision(moved, to_signed(targets), targets_are="signed"), binary_ap
    )


# ---------------------------------------------------------------- VOC variants


def script_voc(scores, labels, eleven_point):
    """Slow transcription of the SSGRL/Q2L `voc_ap` and the VOC devkit 11-point loop.

    Ranks samples one by one (not tie-aware) and counts labels <= 0 as negatives.
    """
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(labels[order] > 0).astype(float)
    fp = np.cumsum(labels[order] <= 0).astype(float)
    rec = tp / float((labels > 0).sum())
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if eleven_point:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def unique_threshold_voc(scores, labels, eleven_point):
    """Slow tie-aware reference: one operating point per unique score, -1 ignored."""
    valid = labels >= 0
    s, y = scores[valid], labels[valid]
    npos = (y == 1).sum()
    points = []
    for tau in np.unique(s)[::-1]:
        tp, pred = ((s >= tau) & (y == 1)).sum(), (s >= tau).sum()
        points.append((tp / npos, tp / pred))
    rec, prec = np.array(points).T
    if eleven_point:
        return sum(prec[rec >= t].max(initial=0.0) for t in np.arange(0.0, 1.1, 0.1)) / 11.0
    prev = np.concatenate(([0.0], rec[:-1]))
    return sum((rec[n] - prev[n]) * prec[n:].max() for n in range(len(rec)))


@pytest.mark.parametrize("eleven_point", [False, True], ids=["interpolated", "11-point"])
def test_voc_variants_equal_the_published_scripts_on_tie_free_data(eleven_point):
    scores, targets = make_problem(n=300, k=6, seed=5)
    fn = voc07_11point_ap if eleven_point else voc_interpolated_ap
    expected = [script_voc(scores[:, k], targets[:, k], eleven_point) for k in range(6)]
    np.testing.assert_allclose(fn(scores, targets), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("eleven_point", [False, True], ids=["interpolated", "11-point"])
def test_voc_variants_tie_aware_with_ignore(eleven_point):
    scores, targets = make_problem(n=250, k=5, seed=6, decimals=1, ignore=0.2)
    targets[:, 4] = np.minimum(targets[:, 4], 0)  # no positive
    fn = voc07_11point_ap if eleven_point else voc_interpolated_ap
    got = fn(scores, targets)
    expected = [unique_threshold_voc(scores[:, k], targets[:, k], eleven_point) for k in range(4)]
    np.testing.assert_allclose(got[:4], expected, rtol=0, atol=1e-12)
    assert np.isnan(got[4])


def test_interpolated_ap_bounds_plain_ap():
    scores, targets = make_problem(n=200, k=8, seed=9, decimals=1)
    plain, interp = average_precision(scores, targets), voc_interpolated_ap(scores, targets)
    assert (interp >= plain - 1e-12).all() and (interp > plain + 1e-6).any()
