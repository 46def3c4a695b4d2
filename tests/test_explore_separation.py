"""Separation measures against hand-computed values, sklearn and slow loops over the definitions."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score, silhouette_samples, silhouette_score

import mlrkit.explore._measures as measures_module  # the block size: tests shrink it
from mlrkit.errors import InvalidInputError
from mlrkit.explore.embeddings import ClassEmbeddings
from mlrkit.explore.separation import compare_separation, separation_report

COLUMNS = [
    "n",
    "silhouette",
    "knn_precision_at_1",
    "intra_cos",
    "inter_cos",
    "nc1",
    "alignment",
    "uniformity",
    "presence_auroc",
]


def unit(v):
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def dot(u, v):
    return sum(a * b for a, b in zip(u, v, strict=True))


def sqdist(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v, strict=True))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def oracle(vectors, labels, groups=None):
    """Every column from its definition, with plain loops (labels: 0..K-1, all present)."""
    z = [unit(list(map(float, v))) for v in vectors]
    n = len(z)
    groups = list(range(n)) if groups is None else list(groups)
    classes = sorted(set(labels))
    rows_of = {c: [i for i in range(n) if labels[i] == c] for c in classes}
    mu = {c: [mean(z[i][d] for i in rows_of[c]) for d in range(len(z[0]))] for c in classes}
    m = {c: unit(mu[c]) for c in classes}

    def cosdist(i, j):
        return 0.0 if i == j else min(2.0, max(0.0, 1.0 - dot(z[i], z[j])))

    sil = []
    for i in range(n):
        own = rows_of[labels[i]]
        if len(own) == 1:
            sil.append(0.0)
            continue
        a = sum(cosdist(i, j) for j in own if j != i) / (len(own) - 1)
        b = min(mean(cosdist(i, j) for j in rows_of[c]) for c in classes if c != labels[i])
        sil.append((b - a) / max(a, b))

    hits = {}
    for i in range(n):
        others = [j for j in range(n) if groups[j] != groups[i]]
        if others:
            nearest = max(others, key=lambda j: dot(z[i], z[j]))
            hits[i] = float(labels[nearest] == labels[i])

    table = {}
    for c in classes:
        table[str(c)] = {
            "n": len(rows_of[c]),
            "silhouette": mean(sil[i] for i in rows_of[c]),
            "knn_precision_at_1": mean(hits[i] for i in rows_of[c] if i in hits),
            "intra_cos": mean(dot(z[i], m[c]) for i in rows_of[c]),
            "inter_cos": mean(dot(m[c], m[d]) for d in classes if d != c),
            "presence_auroc": float("nan"),  # every row is present: no absent row to rank
        }
    positives = [
        sqdist(z[i], z[j])
        for i, j in itertools.combinations(range(n), 2)
        if labels[i] == labels[j] and groups[i] != groups[j]
    ]
    kernel = [math.exp(-2 * sqdist(z[i], z[j])) for i, j in itertools.permutations(range(n), 2)]
    table["overall"] = {
        "n": n,
        "silhouette": mean(sil),
        "knn_precision_at_1": mean(hits.values()),
        "intra_cos": mean(dot(z[i], m[labels[i]]) for i in range(n)),
        "inter_cos": mean(dot(m[c], m[d]) for c, d in itertools.combinations(classes, 2)),
        "nc1": nc1_numpy(np.array(z), np.array(labels)),
        "alignment": mean(positives),
        "uniformity": math.log(mean(kernel)),
        "presence_auroc": float("nan"),
    }
    return pd.DataFrame.from_dict(table, orient="index")[COLUMNS]


def nc1_numpy(z, y, rcond=1e-6):
    """``tr(S_W S_B^+) / K`` with the explicit ``(D, D)`` scatter matrices and np.linalg.pinv."""
    classes = np.unique(y)
    mu = np.stack([z[y == c].mean(axis=0) for c in classes])
    mu_g = mu.mean(axis=0)
    s_w = sum(np.outer(zi - mu[np.searchsorted(classes, yi)], zi - mu[np.searchsorted(classes, yi)])
              for zi, yi in zip(z, y, strict=True)) / len(z)  # fmt: skip
    s_b = sum(np.outer(m - mu_g, m - mu_g) for m in mu) / len(classes)
    return float(np.trace(s_w @ np.linalg.pinv(s_b, rcond=rcond)) / len(classes))


def assert_matches(report, expected, atol=1e-10):
    assert list(report.columns) == COLUMNS
    assert list(report.index) == list(expected.index)
    np.testing.assert_array_equal(report["n"], expected["n"])
    for col in COLUMNS[1:5]:
        np.testing.assert_allclose(report[col], expected[col], rtol=0, atol=atol, err_msg=col)
    for col in COLUMNS[5:8]:
        assert report[col].iloc[:-1].isna().all(), col
        assert report.loc["overall", col] == pytest.approx(expected.loc["overall", col], abs=atol)
    np.testing.assert_allclose(report["presence_auroc"], expected["presence_auroc"], atol=atol)


# ---------------------------------------------------------------- the tiny hand example

# 6 rows on the unit circle (two rescaled), angles in degrees; three images of two rows each.
ANGLES = [0, 10, 40, 100, 120, 200]
SCALE = [1.0, 3.0, 1.0, 1.0, 0.5, 2.0]
LABELS = [0, 1, 0, 1, 1, 2]  # cat, dog, cat, dog, dog, bird
GROUPS = ["A", "A", "B", "B", "C", "C"]
NAMES = ["cat", "dog", "bird"]
TINY = np.array(
    [
        [s * math.cos(math.radians(a)), s * math.sin(math.radians(a))]
        for a, s in zip(ANGLES, SCALE, strict=True)
    ]
)


def test_tiny_example_every_column_equals_the_definitions():
    report = separation_report(TINY, LABELS, GROUPS, classes=NAMES)
    expected = oracle(TINY, LABELS, GROUPS).set_axis([*NAMES, "overall"])
    assert_matches(report, expected)
    assert report.index.name == "class"
    # by hand: nearest row of another image, 0deg->40 cat (hit), 10->40 cat, 40->10 dog,
    # 100->120 dog (hit), 120->100 dog (hit), 200->100 dog
    np.testing.assert_allclose(report["knn_precision_at_1"], [1 / 2, 2 / 3, 0, 3 / 6])
    # by hand: same-class pairs of different images, angles 40 (cat), 90, 110, 20 (dog)
    chords = [2 - 2 * math.cos(math.radians(a)) for a in (40, 90, 110, 20)]
    assert report.loc["overall", "alignment"] == pytest.approx(sum(chords) / 4, abs=1e-12)
    assert report.loc["bird", "silhouette"] == 0.0  # one row: sklearn's convention
    assert report.loc["bird", "intra_cos"] == pytest.approx(1.0)


def test_group_rule_skips_the_other_class_of_the_same_image():
    grouped = separation_report(TINY, LABELS, GROUPS, classes=NAMES)
    plain = separation_report(TINY, LABELS, classes=NAMES)
    assert_matches(plain, oracle(TINY, LABELS).set_axis([*NAMES, "overall"]))
    # row 0 (cat, 0deg): its nearest row is row 1, the dog of the same image; with the groups
    # it is row 2 (cat, 40deg) instead. Without groups: 10->0 cat, 40->10 dog, 200->120 dog.
    np.testing.assert_allclose(plain["knn_precision_at_1"], [0, 2 / 3, 0, 2 / 6])
    assert grouped.loc["cat", "knn_precision_at_1"] == 0.5
    assert (
        grouped.loc["overall", "knn_precision_at_1"] != plain.loc["overall", "knn_precision_at_1"]
    )
    # columns that do not look at the groups are unchanged
    for col in ["silhouette", "intra_cos", "inter_cos", "nc1", "uniformity"]:
        np.testing.assert_array_equal(grouped[col], plain[col])


def test_alignment_leaves_out_two_rows_of_one_class_in_one_image():
    # image 0 shows the digit "1" twice (rows 0, 1); image 1 shows it once
    vectors = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.6, 0.8]])
    labels, groups = [1, 1, 1, 0], [0, 0, 1, 1]
    report = separation_report(vectors, labels, groups)
    z = [unit(v) for v in vectors]
    expected = mean([sqdist(z[0], z[2]), sqdist(z[1], z[2])])  # not the pair (0, 1)
    assert report.loc["overall", "alignment"] == pytest.approx(expected, abs=1e-12)
    assert list(report.index) == ["0", "1", "overall"]
    assert_matches(report, oracle(vectors, labels, groups).set_axis(["0", "1", "overall"]))


def test_random_case_equals_the_loops():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 5)) + 1.5 * np.eye(5)[rng.integers(0, 4, 40)]
    labels = rng.integers(0, 4, 40).tolist()
    groups = (np.arange(40) // 3).tolist()  # images of 3 rows; some share a class
    expected = oracle(vectors, labels, groups)
    assert_matches(separation_report(vectors, labels, groups), expected, atol=1e-9)


def test_rows_with_no_other_group_are_left_out_and_nan_when_none():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    alone = separation_report(vectors, [0, 1, 0], ["x", "x", "x"])  # one image: no candidate
    assert alone["knn_precision_at_1"].isna().all()
    assert np.isnan(alone.loc["overall", "alignment"])
    part = separation_report(vectors, [0, 1, 0], ["x", "x", "y"])
    # rows 0, 1 (image x) see only row 2; row 2 sees rows 0, 1 and picks row 0 (cat)
    np.testing.assert_allclose(part["knn_precision_at_1"], [1.0, 0.0, 2 / 3])


# ---------------------------------------------------------------- against sklearn and numpy


def test_silhouette_equals_sklearn_on_random_data():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 12)).astype(np.float32)
    labels = rng.integers(0, 6, 500)
    vectors[:, :6] += 0.8 * np.eye(6, dtype=np.float32)[labels]
    report = separation_report(vectors, labels)
    x = vectors.astype(np.float64)
    expected = silhouette_score(x, labels, metric="cosine")
    assert report.loc["overall", "silhouette"] == pytest.approx(expected, abs=1e-10)
    per_row = silhouette_samples(x, labels, metric="cosine")
    per_class = [per_row[labels == c].mean() for c in range(6)]
    np.testing.assert_allclose(report["silhouette"].iloc[:-1], per_class, rtol=0, atol=1e-10)


def test_torch_and_float32_inputs_agree_with_numpy():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(60, 4)).astype(np.float32)
    labels, groups = rng.integers(0, 3, 60), np.arange(60) // 2
    expected = separation_report(vectors.astype(np.float64), labels, groups)
    got = separation_report(torch.from_numpy(vectors), torch.from_numpy(labels), groups)
    pd.testing.assert_frame_equal(got, expected)
    half = separation_report(torch.from_numpy(vectors).half(), labels, groups)
    assert half.loc["overall", "intra_cos"] == pytest.approx(
        expected.loc["overall", "intra_cos"], abs=1e-3
    )


def test_blocks_give_the_same_numbers_as_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(203, 6))
    labels, groups = rng.integers(0, 5, 203), np.arange(203) // 4
    whole = separation_report(vectors, labels, groups)
    monkeypatch.setattr(measures_module, "BLOCK_ELEMENTS", 203 * 17)  # blocks of 17 rows
    blocked = separation_report(vectors, labels, groups)
    pd.testing.assert_frame_equal(blocked, whole, rtol=0, atol=1e-12)


def old_knn_precision(vectors, labels, groups):
    """kNN@1 as the report computed it before it used cosine_topk: float64 cosines, clipped,
    other groups only, ``argmax`` (ties to the first row); per class, then overall."""
    z = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    gram = np.clip(z @ z.T, -1.0, 1.0)
    gram[groups[:, None] == groups[None, :]] = -np.inf
    best = gram.argmax(axis=1)
    valid = np.isfinite(gram[np.arange(len(z)), best])
    hit = labels[best] == labels
    per_class = [hit[valid & (labels == c)].mean() for c in np.unique(labels)]
    return np.array([*per_class, hit[valid].mean()])


@pytest.mark.parametrize("seed", range(4))
def test_knn_precision_equals_the_float64_search_it_replaced(seed):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(300, 8))
    vectors[rng.integers(0, 300, 60)] = vectors[rng.integers(0, 300, 60)]  # duplicates: ties
    vectors[:40] = np.round(vectors[:40])  # equal cosines between different vectors
    labels, groups = rng.integers(0, 4, 300), rng.integers(0, 120, 300)
    report = separation_report(vectors, labels, groups, sample=None)
    expected = old_knn_precision(vectors, labels, groups)
    np.testing.assert_allclose(report["knn_precision_at_1"], expected, rtol=0, atol=1e-15)


def test_nc1_equals_the_explicit_pinv_formula_when_S_B_is_rank_deficient():
    rng = np.random.default_rng(4)
    k, d = 3, 10  # S_B has rank K - 1 = 2 in 10 dimensions
    labels = np.repeat(np.arange(k), 50)
    vectors = 0.3 * rng.normal(size=(150, d)) + 2.0 * rng.normal(size=(k, d))[labels]
    got = separation_report(vectors, labels).loc["overall", "nc1"]
    z = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = nc1_numpy(z, labels, rcond=1e-6)
    mu = np.stack([z[labels == c].mean(axis=0) for c in range(k)])
    s_b = np.cov(mu.T, bias=True)  # the same S_B
    assert np.linalg.matrix_rank(s_b, tol=1e-8) == k - 1
    assert np.isfinite(got) and got > 0
    assert got == pytest.approx(expected, rel=1e-9)
    # the rank cut matters: a cut-off below the round-off (~1e-17 here) inverts it
    naive = float(np.trace(nc1_s_w(z, labels) @ np.linalg.pinv(s_b, rcond=1e-30)) / k)
    assert not np.isfinite(naive) or abs(naive) > 1e6 * got


def nc1_s_w(z, y):
    mu = {c: z[y == c].mean(axis=0) for c in np.unique(y)}
    return sum(np.outer(zi - mu[yi], zi - mu[yi]) for zi, yi in zip(z, y, strict=True)) / len(z)


# ---------------------------------------------------------------- direction of every measure


def test_separated_clusters_beat_mixed_ones_on_every_measure():
    rng = np.random.default_rng(5)
    k, per, d = 4, 120, 32
    labels = np.repeat(np.arange(k), per)
    groups = rng.permutation(len(labels)) // 3
    simplex = np.eye(k) - 1.0 / k  # K equiangular directions, pairwise cosine -1/(K-1)
    centers = np.zeros((k, d))
    centers[:, :k] = simplex
    separated = centers[labels] + 0.05 * rng.normal(size=(len(labels), d))
    mixed = rng.normal(size=(len(labels), d))  # isotropic: the labels say nothing
    good = separation_report(separated, labels, groups).loc["overall"]
    bad = separation_report(mixed, labels, groups).loc["overall"]
    assert good.silhouette > 0.8 > 0.1 > bad.silhouette
    assert good.knn_precision_at_1 == 1.0 and bad.knn_precision_at_1 < 0.5
    assert good.intra_cos > 0.9 > 0.3 > bad.intra_cos
    assert good.inter_cos == pytest.approx(-1 / (k - 1), abs=0.02) and bad.inter_cos > -0.2
    assert good.nc1 < 0.05 < 10 < bad.nc1
    assert good.alignment < 0.3 < 1.5 < bad.alignment
    # uniformity ignores the labels: tight clusters are *less* uniform (higher) than rows
    # scattered over the sphere, and shuffling the labels does not change it
    assert good.uniformity > bad.uniformity
    shuffled = separation_report(separated, rng.permutation(labels), groups).loc["overall"]
    assert shuffled.uniformity == pytest.approx(good.uniformity, abs=1e-12)
    assert shuffled.silhouette < 0.1 and shuffled.nc1 > 10


# ---------------------------------------------------------------- sampling


def sampling_problem():
    rng = np.random.default_rng(6)
    counts = [6000, 3000, 997, 3]
    labels = np.repeat(np.arange(4), counts)
    vectors = rng.normal(size=(len(labels), 3)) + np.eye(4, 3)[labels]
    return vectors, labels, np.arange(len(labels)) // 2, counts


def test_sampling_is_stratified_and_stated():
    vectors, labels, groups, counts = sampling_problem()
    report = separation_report(vectors, labels, groups, sample=1000, seed=3)
    assert report.attrs == {
        "rows": 10000,
        "sampled": 1000,
        "sample": 1000,
        "seed": 3,
        "metric": "cosine",
    }
    kept = report["n"].iloc[:-1].to_numpy()
    assert kept.sum() == report.loc["overall", "n"] == 1000
    exact = 1000 * np.array(counts) / sum(counts)
    assert kept[3] == 2  # 0.3 rows by proportion, raised to the minimum of 2
    assert (np.abs(kept[:3] - exact[:3]) <= 1).all()


def test_sampling_is_seeded():
    vectors, labels, groups, _ = sampling_problem()
    first = separation_report(vectors, labels, groups, sample=800, seed=11)
    again = separation_report(vectors, labels, groups, sample=800, seed=11)
    other = separation_report(vectors, labels, groups, sample=800, seed=12)
    pd.testing.assert_frame_equal(first, again)
    np.testing.assert_array_equal(first["n"], other["n"])  # same quotas...
    assert first.loc["overall", "intra_cos"] != other.loc["overall", "intra_cos"]  # other rows


def test_sample_none_or_large_uses_every_row():
    vectors, labels, groups, counts = sampling_problem()
    rows = np.r_[0:300, 6000:6100, 9000:9100, 9997:10000]  # 503 rows, all four classes
    v, y, g = vectors[rows], labels[rows], groups[rows]
    every = separation_report(v, y, g, sample=None)
    assert every.attrs["sampled"] == every.attrs["rows"] == 503 and every.attrs["sample"] is None
    assert every.loc["overall", "n"] == 503
    pd.testing.assert_frame_equal(separation_report(v, y, g, sample=503), every)
    tiny = separation_report(v, y, g, sample=10)  # the minimums alone
    assert list(tiny["n"]) == [4, 2, 2, 2, 10]


def test_string_labels_are_sorted_and_named():
    vectors = np.array([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.2, 0.9], [-1.0, 0.1]])
    labels = ["zebra", "zebra", "ant", "ant", "moth"]
    report = separation_report(vectors, labels)
    assert list(report.index) == ["ant", "moth", "zebra", "overall"]
    by_int = separation_report(vectors, [2, 2, 0, 0, 1], classes=["ant", "moth", "zebra"])
    pd.testing.assert_frame_equal(report, by_int)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("vectors", "labels", "groups", "kwargs", "match"),
    [
        (np.ones((3, 2)), [0, 1], None, {}, r"`labels` must have shape \(M,\) = \(3,\)"),
        (np.ones((3, 2)), [0, 1, 1], [0, 1], {}, r"`groups` must have shape \(M,\) = \(3,\)"),
        (np.array([[1.0, np.nan], [1, 1]]), [0, 1], None, {}, r"`vectors` has 1 row.*NaN"),
        (np.array([[1.0, 0], [0, 0], [0, 0]]), [0, 1, 1], None, {}, r"`vectors` has 2 all-zero"),
        (np.ones(4), [0, 1, 0, 1], None, {}, r"`vectors` must have shape \(M, D\)"),
        (np.ones((2, 2)), [0.0, 1.0], None, {}, r"`labels` must be integer"),
        (np.ones((2, 2)), [0, 2], None, {"classes": ["a", "b"]}, r"`classes` names only 2"),
        (np.ones((2, 2)), [0, -1], None, {}, r"`labels` must be class indices >= 0"),
        (np.ones((2, 2)), ["a", "b"], None, {"classes": ["a", "b"]}, r"Drop `classes`"),
        (np.ones((2, 2)), ["a", "overall"], None, {}, r"named 'overall'"),
        (np.ones((2, 2)), [0, 1], None, {"sample": 0}, r"`sample` must be a positive"),
        (np.ones((3, 2)), [0, 1, 1], None, {"present": [1, 0]}, r"`present` must have shape"),
        (np.ones((2, 2)), [0, 1], None, {"present": [1, -1]}, r"boolean or 0/1.*first -1"),
        (np.ones((2, 2)), [0, 1], None, {"present": [1.0, 0.5]}, r"boolean or 0/1.*first 0.5"),
        (np.ones((2, 2)), [0, 1], None, {"present": [1.0, np.nan]}, r"boolean or 0/1"),
        (np.ones((2, 2)), [0, 1], None, {"present": ["yes", "no"]}, r"boolean or 0/1.*dtype"),
        (np.ones((2, 2)), [0, 1], None, {"present": [False, False]}, r"marks no row as present"),
    ],
    ids=[
        "labels-length",
        "groups-length",
        "nan",
        "zero-rows",
        "1d-vectors",
        "float-labels",
        "label-beyond-classes",
        "negative-label",
        "strings-with-classes",
        "class-named-overall",
        "sample-zero",
        "present-length",
        "present-ignored-target",
        "present-fraction",
        "present-nan",
        "present-strings",
        "present-none-present",
    ],
)
def test_invalid_inputs_raise_clear_errors(vectors, labels, groups, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):  # also a ValueError
        separation_report(vectors, labels, groups, **kwargs)


# ---------------------------------------------------------------- presence_auroc


def presence_problem(seed=9):
    """Every (image, class) pair of 40 images x 5 classes, about a third present, with exact
    ties: some absent rows copy a present row of their class, some copy each other."""
    rng = np.random.default_rng(seed)
    images, k, d = 40, 5, 6
    image = np.repeat(np.arange(images), k)
    labels = np.tile(np.arange(k), images)
    present = rng.random(len(labels)) < 0.35
    present[:k] = True  # every class has present rows
    centers = rng.normal(size=(k, d))
    vectors = rng.normal(size=(len(labels), d)) + 1.2 * present[:, None] * centers[labels]
    for c in range(k):
        pos = np.flatnonzero(present & (labels == c))
        neg = np.flatnonzero(~present & (labels == c))
        vectors[neg[0]] = vectors[pos[0]]  # a present and an absent row tie
        vectors[neg[1]] = vectors[neg[2]] = vectors[neg[3]]  # absent rows tie
    return vectors, labels, image, present


def presence_by_sklearn(vectors, labels, present):
    """Per class c: roc_auc_score(present, cos(z, m_c)) over the rows of c, m_c from all
    present rows of c."""
    z = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = {}
    for c in np.unique(labels):
        rows = labels == c
        mu = z[rows & present].mean(axis=0)
        score = z[rows] @ (mu / np.linalg.norm(mu))
        out[str(c)] = roc_auc_score(present[rows], score)
    return pd.Series(out), z


def test_presence_auroc_equals_sklearn_with_ties_and_groups(monkeypatch):
    vectors, labels, image, present = presence_problem()
    expected, z = presence_by_sklearn(vectors, labels, present)
    # the construction really ties a present row with an absent one in every class
    for c in range(5):
        rows = np.flatnonzero(labels == c)
        m = z[(labels == c) & present].mean(axis=0)
        score = z[rows] @ (m / np.linalg.norm(m))
        tied = np.isin(score[~present[rows]], score[present[rows]])
        assert tied.any() and len(np.unique(score)) < len(score)
    report = separation_report(vectors, labels, image, present=present)
    got = report["presence_auroc"]
    np.testing.assert_allclose(got.iloc[:-1], expected, rtol=0, atol=1e-12)
    assert got["overall"] == pytest.approx(expected.mean(), abs=1e-12)
    assert 0.5 < got["overall"] < 1.0  # informative, not perfect
    # the groups, the subsample, the input types and the blocks do not change it
    for other in (
        separation_report(vectors, labels, present=present.astype(int)),
        separation_report(vectors, labels, image, present=torch.from_numpy(present), sample=30),
        separation_report(
            vectors.astype(np.float32).astype(np.float64), labels, image, present=present.tolist()
        ),  # fmt: skip
    ):
        np.testing.assert_allclose(other["presence_auroc"], got, rtol=0, atol=1e-12)
    monkeypatch.setattr(measures_module, "BLOCK_ELEMENTS", 6 * 7)  # blocks of 7 rows
    blocked = separation_report(vectors, labels, image, present=present)
    np.testing.assert_array_equal(blocked["presence_auroc"], got)


def test_presence_auroc_is_nan_for_a_class_with_every_row_present():
    vectors, labels, image, present = presence_problem(seed=10)
    present = present | (labels == 2)  # class 2: no absent row
    report = separation_report(vectors, labels, image, present=present)
    other = labels != 2
    expected, _ = presence_by_sklearn(vectors[other], labels[other], present[other])
    got = report["presence_auroc"]
    assert np.isnan(got["2"])
    np.testing.assert_allclose(got.drop(["2", "overall"]), expected, rtol=0, atol=1e-12)
    assert got["overall"] == pytest.approx(expected.mean(), abs=1e-12)  # over the other 4
    # all present: nothing to rank anywhere, but the counts are stated
    every = separation_report(vectors, labels, image, present=np.ones(len(labels), bool))
    assert every["presence_auroc"].isna().all()
    assert every.attrs["present_rows"] == len(labels) and every.attrs["absent_rows"] == 0
    assert separation_report(vectors, labels, image)["presence_auroc"].isna().all()


@pytest.mark.parametrize("sample", [None, 40])
def test_other_measures_with_present_equal_a_report_of_the_present_rows(sample):
    vectors, labels, image, present = presence_problem(seed=11)
    labels = labels.copy()
    labels[~present & (labels == 4)] = 5  # class "five": absent rows only, so left out
    names = ["zero", "one", "two", "three", "four", "five"]
    got = separation_report(vectors, labels, image, present=present, classes=names,
                            sample=sample, seed=4)  # fmt: skip
    alone = separation_report(vectors[present], labels[present], image[present], classes=names,
                              sample=sample, seed=4)  # fmt: skip
    assert list(got.index) == ["zero", "one", "two", "three", "four", "overall"]
    assert list(got.columns) == COLUMNS
    pd.testing.assert_frame_equal(
        got.drop(columns="presence_auroc"), alone.drop(columns="presence_auroc"), check_exact=True
    )
    assert got.loc["overall", "n"] == (present.sum() if sample is None else sample)
    assert np.isnan(got.loc["four", "presence_auroc"])  # its absent rows went to "five"
    assert got["presence_auroc"].drop(["four", "overall"]).notna().all()
    assert got.attrs == {
        "rows": len(labels),
        "sampled": alone.attrs["sampled"],
        "sample": sample,
        "seed": 4,
        "metric": "cosine",
        "present_rows": int(present.sum()),
        "absent_rows": int((~present).sum()),
    }


def test_class_embeddings_separation_uses_absent_rows_and_drops_ignored_ones():
    vectors, labels, image, present = presence_problem(seed=12)
    target = present.astype(np.int8)
    ignored = np.flatnonzero(~present)[::7]
    target[ignored] = -1
    vectors = vectors.copy()
    vectors[ignored] = 100.0 * vectors[0]  # would move class directions if they were used
    classes = ("a", "b", "c", "d", "e")
    frame = pd.DataFrame({"image": image, "class_index": labels, "target": target})
    emb = ClassEmbeddings(
        frame, vectors.astype(np.float32), "features", classes, Path("run"), "val"
    )
    keep = target != -1
    expected = separation_report(vectors.astype(np.float32)[keep], labels[keep], image[keep],
                                 classes=classes, present=target[keep] == 1)  # fmt: skip
    got = emb.separation()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs == expected.attrs and got.attrs["absent_rows"] == (target == 0).sum()
    assert got["presence_auroc"].notna().all()
    # present rows only (a which="present" extraction): as before, presence_auroc NaN
    shown = target == 1
    only = ClassEmbeddings(
        frame[shown].reset_index(drop=True), vectors[shown], "features", classes, Path("r"), "val"
    )
    plain = separation_report(vectors[target == 1], labels[target == 1], image[target == 1],
                              classes=classes, sample=50)  # fmt: skip
    pd.testing.assert_frame_equal(only.separation(sample=50), plain, check_exact=True)
    assert "present_rows" not in only.separation().attrs


# ---------------------------------------------------------------- compare_separation


def test_compare_separation_puts_the_overall_rows_side_by_side():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 3, 90)
    one = separation_report(rng.normal(size=(90, 4)), labels)
    two = separation_report(rng.normal(size=(90, 4)) + np.eye(4)[labels], labels, sample=60)
    table = compare_separation({"bce": one, "variant A": two})
    assert table.shape == (2, len(COLUMNS))
    assert list(table.index) == ["bce", "variant A"] and table.index.name == "run"
    assert list(table.columns) == COLUMNS
    pd.testing.assert_series_equal(table.loc["bce"], one.loc["overall"], check_names=False)
    pd.testing.assert_series_equal(table.loc["variant A"], two.loc["overall"], check_names=False)
    assert table["n"].tolist() == [90, 60]
    assert table.attrs["runs"] == {"bce": one.attrs, "variant A": two.attrs}
    with pytest.raises(InvalidInputError, match="`reports` is empty"):
        compare_separation({})
    with pytest.raises(InvalidInputError, match=r"`reports\['x'\]` is not a separation_report"):
        compare_separation({"x": one.drop(index="overall")})


@pytest.mark.parametrize("seed", range(5))
def test_identical_vectors_have_no_between_class_spread_so_nc1_is_nan(seed: int) -> None:
    """Round-off in the centroids of identical rows is not spread (it gave nc1 of 1.7-2.0)."""
    rng = np.random.default_rng(seed)
    row = rng.normal(size=(1, 64)).astype(np.float32)
    labels = np.repeat(np.arange(4), 25)
    report = separation_report(np.tile(row, (100, 1)), labels, np.arange(100))
    assert np.isnan(report.loc["overall", "nc1"])
    # a real but small spread is still measured
    moved = np.tile(row, (100, 1)) + 1e-2 * np.eye(64, dtype=np.float32)[labels]
    assert np.isfinite(separation_report(moved, labels, np.arange(100)).loc["overall", "nc1"])
