"""The label-audit suspicions and their detection report, against slow loops over the
definitions and against sklearn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from mlrkit.audit import (
    combine_suspicion,
    detection_report,
    feature_suspicion,
    score_suspicion,
)
from mlrkit.errors import InvalidInputError

# ---------------------------------------------------------------- score_suspicion


def slow_score_suspicion(scores, targets, scores_are):
    out = np.empty(scores.shape)
    for n, k in np.ndindex(*scores.shape):
        s = float(scores[n, k])
        p = 1.0 / (1.0 + math.exp(-s)) if scores_are == "logits" else s
        out[n, k] = {1: 1.0 - p, 0: p, -1: math.nan}[int(targets[n, k])]
    return out


@pytest.mark.parametrize("scores_are", ["logits", "probabilities"])
def test_score_suspicion_equals_the_loop(scores_are):
    rng = np.random.default_rng(0)
    scores = rng.normal(scale=3, size=(40, 6))
    if scores_are == "probabilities":
        scores = 1.0 / (1.0 + np.exp(-scores))
    targets = rng.choice([1, 0, -1], size=(40, 6), p=[0.3, 0.6, 0.1])
    got = score_suspicion(scores, targets, scores_are=scores_are)
    expected = slow_score_suspicion(scores, targets, scores_are)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.array_equal(np.isnan(got), targets == -1)
    tensors = score_suspicion(
        torch.from_numpy(scores).float(), torch.from_numpy(targets), scores_are=scores_are
    )
    np.testing.assert_allclose(tensors, expected, rtol=1e-6, atol=1e-7)


def test_confident_logits_keep_their_order_instead_of_rounding_to_zero():
    got = score_suspicion([[40.0, 30.0, -40.0, -30.0]], [[1, 1, 0, 0]], scores_are="logits")[0]
    assert (got > 0).all() and got[0] < got[1] and got[2] < got[3]
    assert got[0] == pytest.approx(math.exp(-40.0), rel=1e-12)


@pytest.mark.parametrize(
    ("scores", "targets", "scores_are", "match"),
    [
        ([[0.5]], [[1]], "probs", "scores_are='probs'"),
        ([[1.5]], [[1]], "probabilities", r"scores span \[1.5, 1.5\]"),
        ([[0.5, 0.2]], [[1]], "logits", "shape"),
        ([[0.5]], [[2]], "logits", "targets"),
        ([[np.nan]], [[1]], "logits", "NaN"),
    ],
)
def test_score_suspicion_refuses_bad_inputs(scores, targets, scores_are, match):
    with pytest.raises(InvalidInputError, match=match):
        score_suspicion(scores, targets, scores_are=scores_are)


# ---------------------------------------------------------------- feature_suspicion


def slow_feature_suspicion(vectors, image, klass, given, k):
    z = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for i in range(len(z)):
        cand = [j for j in range(len(z)) if klass[j] == klass[i] and image[j] != image[i]]
        cand.sort(key=lambda j: (-float(z[i] @ z[j]), j))  # nearest first, ties by index
        near = cand[:k]
        out.append(sum(given[j] != given[i] for j in near) / len(near) if near else math.nan)
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_feature_suspicion_equals_the_loop(seed):
    rng = np.random.default_rng(seed)
    m = 150
    vectors = rng.normal(size=(m, 6))
    image = rng.integers(0, 40, m)
    klass = rng.integers(0, 4, m)
    given = rng.integers(0, 2, m)
    k = [1, 3, 10, 200][seed]
    got = feature_suspicion(vectors, image, klass, given, k=k)
    expected = slow_feature_suspicion(vectors, image, klass, given, k)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_feature_suspicion_is_nan_without_rows_of_the_class_in_other_images():
    vectors = np.eye(4)
    got = feature_suspicion(vectors, [0, 0, 1, 2], [5, 5, 7, 5], [True, False, True, True])
    # rows 0 and 1 share image 0: each sees only row 3; row 2 is the only one of class 7
    assert got[:2].tolist() == [0.0, 1.0] and math.isnan(got[2])
    assert got[3] == 0.5  # rows 0 (given 1) and 1 (given 0)


def make_planted(seed, classes=4, images=300, rate=0.06):
    """(image, class) rows in well-separated clusters (one per class and true label), and the
    given labels with a share ``rate`` flipped."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(classes, 2, 32))
    image = np.repeat(np.arange(images), classes)
    klass = np.tile(np.arange(classes), images)
    truth = rng.random(len(image)) < 0.4
    vectors = centres[klass, truth.astype(int)] + rng.normal(size=(len(image), 32))
    flipped = rng.random(len(image)) < rate
    return vectors, image, klass, truth ^ flipped, flipped


def test_feature_suspicion_finds_planted_errors_in_separated_clusters():
    vectors, image, klass, given, flipped = make_planted(0)
    suspicion = feature_suspicion(vectors, image, klass, given, k=10)
    assert roc_auc_score(flipped, suspicion) > 0.95
    report = detection_report(suspicion, flipped, ks=(50,))
    assert report.loc["overall", "auroc"] > 0.95


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image": [0, 1]}, r"`image` must have shape \(M,\) = \(4,\)"),
        ({"class_index": np.zeros((4, 1))}, "`class_index` must have shape"),
        ({"given": [1, 0, -1, 1]}, "drop the ignored rows"),
        ({"given": [0.5, 0, 1, 1]}, "`given` must hold 0"),
        ({"k": 0}, "k=0"),
        ({"vectors": np.full((4, 2), np.nan)}, "NaN or inf"),
    ],
)
def test_feature_suspicion_refuses_bad_inputs(kwargs, match):
    args = {"vectors": np.eye(4), "image": [0, 1, 2, 3], "class_index": [0] * 4}
    args |= {"given": [1, 0, 1, 0], **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        feature_suspicion(
            args["vectors"], args["image"], args["class_index"], args["given"], k=args.get("k", 2)
        )


# ---------------------------------------------------------------- combine_suspicion


def slow_unit_ranks(values):
    ok = [v for v in values if not math.isnan(v)]
    out = []
    for v in values:
        if math.isnan(v):
            out.append(math.nan)
        elif len(ok) == 1:
            out.append(0.5)
        else:
            below = sum(u < v for u in ok)
            equal = sum(u == v for u in ok)
            out.append((below + (equal + 1) / 2 - 1) / (len(ok) - 1))
    return out


def test_combine_suspicion_equals_the_loop():
    rng = np.random.default_rng(1)
    a = rng.random((20, 3))
    b = rng.integers(0, 4, (20, 3)).astype(float)  # many ties
    c = rng.normal(size=(20, 3))
    a[rng.random((20, 3)) < 0.2] = np.nan
    b[rng.random((20, 3)) < 0.3] = np.nan
    a[0, 0] = b[0, 0] = c[0, 0] = np.nan  # scored by none
    c[0, 0] = np.nan
    got = combine_suspicion(a, b, c)
    ranks = np.array([slow_unit_ranks(x.reshape(-1).tolist()) for x in (a, b, c)])
    expected = [
        np.mean([r for r in column if not math.isnan(r)]) if not np.isnan(column).all() else np.nan
        for column in ranks.T
    ]
    assert got.shape == (20, 3)
    np.testing.assert_allclose(got.reshape(-1), expected, rtol=0, atol=1e-15)
    assert math.isnan(got[0, 0]) and np.nanmin(got) >= 0 and np.nanmax(got) <= 1


def test_combine_suspicion_of_one_is_its_ranks_and_order_is_kept():
    s = np.array([0.3, 0.1, 0.3, 0.9])
    assert combine_suspicion(s).tolist() == [0.5, 0.0, 0.5, 1.0]
    assert combine_suspicion(torch.tensor([5.0]), [np.nan]).tolist() == [0.5]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((), "at least one"),
        (([1.0, 2.0], [1.0]), r"shape \(1,\) but `suspicions\[0\]` has shape \(2,\)"),
        ((["a", "b"],), "real numbers"),
    ],
)
def test_combine_suspicion_refuses_bad_inputs(args, match):
    with pytest.raises(InvalidInputError, match=match):
        combine_suspicion(*args)


# ---------------------------------------------------------------- detection_report


def slow_top(s, y, k):
    """Precision and recall at k, the tied block at the cut shared in proportion."""
    order = sorted(range(len(s)), key=lambda i: -s[i])
    k = min(k, len(s))
    t = s[order[k - 1]]
    above = [i for i in order if s[i] > t]
    at = [i for i in order if s[i] == t]
    hits = sum(y[i] for i in above) + (k - len(above)) * sum(y[i] for i in at) / len(at)
    return hits / k, hits / sum(y)


def test_detection_report_equals_sklearn_and_the_loops_overall_and_per_kind():
    rng = np.random.default_rng(2)
    shape = (60, 5)
    error = rng.random(shape) < 0.15
    suspicion = np.round(rng.random(shape) + 0.4 * error, 1)  # ties
    suspicion[rng.random(shape) < 0.05] = np.nan
    kinds = np.where(rng.random(shape) < 0.5, "missing", "spurious")
    report = detection_report(suspicion, error, kinds=kinds, ks=(10, 40, 1000))
    assert list(report.index) == ["overall", "missing", "spurious"]
    assert report.index.name == "errors"
    s, y, kind = suspicion.reshape(-1), error.reshape(-1), kinds.reshape(-1)
    for name, use in [
        ("overall", np.ones(s.size, bool)),
        ("missing", ~y | (kind == "missing")),
        ("spurious", ~y | (kind == "spurious")),
    ]:
        row = report.loc[name]
        scored = use & ~np.isnan(s)
        ss, yy = s[scored], y[scored]
        assert row["n"] == scored.sum() and row["errors"] == yy.sum()
        assert row["excluded"] == (use & np.isnan(s)).sum()
        assert row["auroc"] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
        assert row["average_precision"] == pytest.approx(average_precision_score(yy, ss), abs=1e-12)
        for k in (10, 40, 1000):
            precision, recall = slow_top(ss.tolist(), yy.tolist(), k)
            assert row[f"precision@{k}"] == pytest.approx(precision, abs=1e-12)
            assert row[f"recall@{k}"] == pytest.approx(recall, abs=1e-12)


def test_kinds_per_error_equal_kinds_per_entry_and_flat_equals_two_dimensional():
    rng = np.random.default_rng(3)
    error = rng.random((30, 4)) < 0.2
    suspicion = rng.random((30, 4)) + error
    per_entry = np.where(rng.random((30, 4)) < 0.5, "swapped", "missing")
    per_error = per_entry[error]  # row-major order of the errors
    a = detection_report(suspicion, error, kinds=per_entry, ks=(5,))
    b = detection_report(suspicion.reshape(-1), error.reshape(-1), kinds=per_error, ks=(5,))
    c = detection_report(torch.from_numpy(suspicion), torch.from_numpy(error), kinds=per_error)
    pd.testing.assert_frame_equal(a, b)
    assert c.loc["overall", "auroc"] == a.loc["overall", "auroc"]
    assert a.loc["overall", "recall@5"] == pytest.approx(5 / error.sum())  # perfect ranking


def test_without_errors_the_measures_that_need_them_are_nan():
    report = detection_report([0.1, 0.5], [0, 0], ks=(1,))
    row = report.loc["overall"]
    assert row["n"] == 2 and row["errors"] == 0 and row["precision@1"] == 0.0
    assert np.isnan(row[["auroc", "average_precision", "recall@1"]].astype(float)).all()


@pytest.mark.parametrize(
    ("suspicion", "is_error", "kwargs", "match"),
    [
        ([0.1, 0.2], [1, 0, 0], {}, r"`is_error` has shape \(3,\)"),
        ([0.1, 0.2], [2, 0], {}, "boolean or 0/1"),
        ([0.1, 0.2], [1, 0], {"ks": (0,)}, "ks=\\(0,\\)"),
        ([0.1, 0.2], [1, 0], {"ks": ()}, "ks=\\(\\)"),
        ([0.1, 0.2, 0.3], [1, 1, 0], {"kinds": ["a"]}, "one per error \\(2"),
        (["a", "b"], [1, 0], {}, "real numbers"),
    ],
)
def test_detection_report_refuses_bad_inputs(suspicion, is_error, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        detection_report(suspicion, is_error, **kwargs)
