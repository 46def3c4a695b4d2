"""mlrkit.inputs on its own: what each check returns (shapes, dtypes, codes, centroids) against
oracles written here from the definitions, and what it refuses, naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import (
    as_float32_vectors,
    as_groups,
    as_labels,
    as_nonzero_vectors,
    as_pair,
    as_present,
    as_scores,
    as_targets,
    check_scores_are,
    check_target_encoding,
    check_targets_are,
    class_centroids,
    class_names,
    label_codes,
    signed_to_binary,
    to_numpy,
    unit_rows,
)

# ---------------------------------------------------------------- arrays, scores, targets


def test_to_numpy_widens_half_tensors_and_keeps_everything_else() -> None:
    assert to_numpy(torch.ones(2, dtype=torch.float16), "x").dtype == np.float32
    assert to_numpy(torch.ones(2, dtype=torch.bfloat16), "x").dtype == np.float32
    assert to_numpy(torch.ones(2, dtype=torch.float64, requires_grad=True), "x").dtype == np.float64
    assert to_numpy(torch.arange(3), "x").dtype == np.int64
    assert to_numpy([[1, 2]], "x").shape == (1, 2)
    a = np.zeros(3, dtype=np.float16)
    assert to_numpy(a, "x") is a  # arrays pass through, never narrowed nor copied


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (np.bool_, np.float64),
    ],
)
def test_as_scores_keeps_or_widens_the_precision(dtype: type, expected: type) -> None:
    scores = as_scores(np.ones((4, 3), dtype=dtype))
    assert scores.shape == (4, 3) and scores.dtype == expected


def test_as_scores_reads_one_dimension_as_one_class_and_refuses_nan_naming_it() -> None:
    assert as_scores(torch.zeros(5, dtype=torch.float16)).shape == (5, 1)
    scores = np.zeros((3, 4))
    scores[2, 1] = scores[2, 3] = np.nan
    with pytest.raises(InvalidInputError, match=r"`scores` holds 2 NaN value\(s\).*\(2, 1\)"):
        as_scores(scores)
    with pytest.raises(InvalidInputError, match=r"`scores` must have shape \(N, K\)"):
        as_scores(np.zeros((2, 3, 4)))


def test_targets_in_either_encoding_come_out_in_mlrkits() -> None:
    rng = np.random.default_rng(0)
    signed = rng.choice([1, -1, 0], size=(30, 4))
    meaning = {1: 1, -1: 0, 0: -1}  # ML-GCN: present, absent, difficult (ignored)
    expected = np.vectorize(meaning.get)(signed)
    for got in (
        as_targets(signed, "signed"),
        as_targets(torch.from_numpy(signed).float(), "signed"),
        signed_to_binary(signed.astype(np.int8)),
    ):
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int8
    binary = as_targets(expected.astype(np.float32))
    np.testing.assert_array_equal(binary, expected)
    assert binary.dtype == np.int8 and as_targets([True, False]).shape == (2, 1)


@pytest.mark.parametrize("bad", [0.5, 2, -2, np.nan])
def test_targets_outside_the_encoding_are_refused_naming_them(bad: float) -> None:
    targets = np.array([[1.0, 0.0], [0.0, bad]])
    with pytest.raises(InvalidInputError, match=r"`targets` must hold 1 \(present\)"):
        as_targets(targets)


def test_targets_in_the_other_encoding_are_refused_unless_told_not_to_check() -> None:
    signed = np.array([[1, -1], [-1, 1]])  # no 0: read as binary, every negative is "ignore"
    with pytest.raises(InvalidInputError, match="targets_are='signed'"):
        as_targets(signed)
    np.testing.assert_array_equal(as_targets(signed, check_encoding=False), signed)
    with pytest.raises(InvalidInputError, match="targets_are='binary'"):
        as_targets([[1, 0], [0, 1]], "signed")
    with pytest.raises(InvalidInputError, match="contain -1 but no 0"):
        check_target_encoding(np.array([[1, -1]], dtype=np.int8), "binary")
    check_target_encoding(np.array([[1, -1, 0]], dtype=np.int8), "binary")


def test_a_pair_needs_one_shape_and_a_sample() -> None:
    s, t = as_pair(np.zeros((3, 2), dtype=np.float32), [[1, 0], [0, 1], [0, 0]])
    assert (s.dtype, t.dtype, s.shape, t.shape) == (np.float32, np.int8, (3, 2), (3, 2))
    with pytest.raises(InvalidInputError, match=r"`scores` has shape \(3, 2\).*`targets`"):
        as_pair(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(InvalidInputError, match="N = 0 rows"):
        as_pair(np.zeros((0, 2)), np.zeros((0, 2)))


def test_the_kind_arguments_are_never_guessed() -> None:
    check_scores_are("logits")
    check_targets_are("signed")
    with pytest.raises(InvalidInputError, match="scores_are='sigmoid'"):
        check_scores_are("sigmoid")
    with pytest.raises(InvalidInputError, match="targets_are='ternary'"):
        check_targets_are("ternary")


# ---------------------------------------------------------------- class names and labels


def test_class_names_are_strings_one_per_class_none_twice() -> None:
    assert class_names(None, 3) == ["class 0", "class 1", "class 2"]
    assert class_names(np.array(["cat", "dog"]), 2) == ["cat", "dog"]
    assert class_names((7, "dog")) == ["7", "dog"]  # any number without num_classes
    with pytest.raises(InvalidInputError, match=r"`classes` holds 1 name\(s\) for 2 score columns"):
        class_names(["cat"], 2)
    with pytest.raises(InvalidInputError, match=r"for 3 columns of `targets`"):
        class_names(["cat"], 3, "columns of `targets`")
    with pytest.raises(InvalidInputError, match="`classes` must be a sequence.*'ab'"):
        class_names("ab", 2)  # two characters, not two names
    with pytest.raises(InvalidInputError, match="`classes` repeats a name"):
        class_names(["cat", 1, "1"], 3)  # 1 and "1" are the same name once printed
    with pytest.raises(InvalidInputError, match="`classes` is None"):
        class_names(None)


def test_label_codes_are_the_index_of_each_rows_class() -> None:
    rng = np.random.default_rng(1)
    names = ["zebra", "ant", "moth", "bee"]
    picked = rng.choice(names, size=50)
    lookup = {"zebra": 0, "ant": 1, "moth": 2, "bee": 3}  # the order of `names`, not sorted
    expected = np.array([lookup[n] for n in picked])
    for labels in (picked, picked.tolist(), picked.astype(object), picked.astype("S")):
        got = label_codes(labels, 50, names)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int64
    np.testing.assert_array_equal(label_codes(torch.from_numpy(expected), 50, names), expected)
    np.testing.assert_array_equal(label_codes(expected.astype(np.uint8), 50, names), expected)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 1], r"`labels` must have shape \(M,\) = \(3,\)"),
        ([[0], [1], [1]], r"`labels` must have shape \(M,\) = \(3,\)"),
        ([0, -1, 1], r"integer `labels` must be class indices >= 0, found -1"),
        ([0, 2, 1], r"integer `labels` go up to 2 but `classes` names only 2"),
        (["a", "c", "d"], r"`labels` holds \['c', 'd'\], not names in `classes`"),
        ([0.0, 1.0, 1.0], r"`labels` must be integer class indices or class-name strings"),
        (np.array([0, "a", 1], dtype=object), r"class-name strings, got dtype object"),
    ],
)
def test_label_codes_refuse_naming_labels(labels: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        label_codes(labels, 3, ["a", "b"])


def test_as_labels_codes_the_classes_present_in_label_order() -> None:
    rng = np.random.default_rng(2)
    labels = rng.choice([5, 2, 7], size=40)
    present = sorted(set(labels.tolist()))  # [2, 5, 7]: classes 0, 1, 3, 4, 6 have no row
    expected = np.array([present.index(x) for x in labels])
    classes = [f"c{k}" for k in range(8)]
    codes, names = as_labels(labels, 40, classes)
    np.testing.assert_array_equal(codes, expected)
    assert names == ["c2", "c5", "c7"] and codes.dtype == np.int64
    assert as_labels(labels, 40)[1] == ["2", "5", "7"]
    words = np.array(["moth", "ant", "zebra"])[expected]
    codes, names = as_labels(words, 40)
    assert names == ["ant", "moth", "zebra"]  # sorted by name
    np.testing.assert_array_equal(codes, [names.index(w) for w in words])
    with pytest.raises(InvalidInputError, match="Drop `classes`"):
        as_labels(words, 40, names)
    with pytest.raises(InvalidInputError, match="`classes` repeats a name"):
        as_labels([0, 1], 2, ["a", "b", "a"])


def test_groups_are_dense_codes_of_the_image_ids() -> None:
    ids = ["img9", "img1", "img9", "img4", "img1"]
    rank = {name: k for k, name in enumerate(sorted(set(ids)))}
    np.testing.assert_array_equal(as_groups(ids, 5), [rank[i] for i in ids])
    np.testing.assert_array_equal(as_groups(None, 4), np.arange(4))
    assert as_groups(torch.tensor([3, 3, 1]), 3).dtype == np.int64
    with pytest.raises(InvalidInputError, match=r"`groups` must have shape \(M,\) = \(4,\)"):
        as_groups(ids, 4)
    with pytest.raises(InvalidInputError, match="`groups` must hold comparable image ids"):
        as_groups(np.array([1, "a"], dtype=object), 2)


def test_present_is_a_bool_mask_with_a_present_row() -> None:
    expected = np.array([True, False, True])
    for flags in (expected, [1, 0, 1], np.array([1.0, 0.0, 1.0]), torch.tensor([1, 0, 1])):
        got = as_present(flags, 3)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.bool_
    for flags, match in [
        ([1, -1, 0], r"boolean or 0/1, found 1 other value\(s\) \(first -1\)"),
        ([1.0, np.nan, 0.0], r"boolean or 0/1"),
        (["yes", "no", "no"], r"boolean or 0/1, got dtype"),
        ([0, 0, 0], "marks no row as present"),
        ([1, 0], r"`present` must have shape \(M,\) = \(3,\)"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            as_present(flags, 3)


# ---------------------------------------------------------------- vectors and centroids


def test_nonzero_vectors_keep_their_dtype_and_refuse_bad_rows_across_chunks() -> None:
    for dtype in (np.float32, np.float64, np.int64):
        assert as_nonzero_vectors(np.ones((3, 2), dtype=dtype)).dtype == dtype
    assert as_nonzero_vectors(torch.ones(3, 2, dtype=torch.float16)).dtype == np.float32
    v = np.ones((70_000, 1), dtype=np.float32)  # more rows than one checked chunk
    v[[66_000, 69_000]] = 0.0
    with pytest.raises(InvalidInputError, match=r"2 all-zero row\(s\) \(first at row 66000\)"):
        as_nonzero_vectors(v)
    v[[66_000, 69_000]] = 1.0
    v[67_000] = np.inf
    with pytest.raises(InvalidInputError, match=r"1 row\(s\) holding NaN or inf.*row 67000"):
        as_nonzero_vectors(v)
    for bad, match in [
        (np.ones(3), r"`vectors` must have shape \(M, D\)"),
        (np.ones((0, 2)), "`vectors` is empty"),
        (np.ones((2, 2), dtype=bool), "`vectors` must hold numbers"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            as_nonzero_vectors(bad)


def test_float32_vectors_are_contiguous_and_finite_after_the_conversion() -> None:
    x = as_float32_vectors(np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2)))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, np.arange(6).reshape(3, 2))
    assert as_float32_vectors(torch.zeros(2, 3, dtype=torch.float64)).dtype == np.float32
    with pytest.raises(InvalidInputError, match=r"1 NaN or infinite value\(s\).*row 1, column 0"):
        as_float32_vectors(np.array([[1.0, 2.0], [1e39, 0.0]]))  # beyond float32's range
    for bad, match in [
        (torch.ones(2, 2, dtype=torch.complex64), "real numbers"),
        (torch.ones(2, 2, dtype=torch.bool), "real numbers"),
        (np.ones(3), r"vectors.reshape\(-1, 1\)"),
        (np.ones((2, 2, 2)), "Flatten the extra dimensions"),
        (np.ones((2, 0)), "no feature column"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            as_float32_vectors(bad)


def test_unit_rows_have_length_one_in_float64_and_leave_the_input_alone() -> None:
    v = np.array([[3, 4], [0, -2]], dtype=np.float32)
    z = unit_rows(v)
    assert z.dtype == np.float64
    np.testing.assert_allclose(z, [[0.6, 0.8], [0.0, -1.0]], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(v, [[3, 4], [0, -2]])


def test_class_centroids_follow_the_definition() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(60, 5))
    codes = rng.integers(0, 4, 60)  # classes 0..3 of K = 6: classes 4 and 5 have no row
    z = v / np.linalg.norm(v, axis=1, keepdims=True)
    got = class_centroids(unit_rows(v), codes, 6)
    for c in range(6):
        rows = [z[i] for i in range(60) if codes[i] == c]
        if not rows:
            assert np.isnan(got.mean[c]).all() and np.isnan(got.norm[c])
            assert np.isnan(got.direction[c]).all()
            continue
        mu = np.mean(rows, axis=0)  # mu_c, then m_c = mu_c / ||mu_c||
        np.testing.assert_allclose(got.mean[c], mu, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.norm[c], np.linalg.norm(mu), rtol=1e-12)
        np.testing.assert_allclose(got.direction[c], mu / np.linalg.norm(mu), rtol=1e-12)
        # ||mu_c|| is the mean cosine of the class's rows to its direction
        cosines = [float(r @ got.direction[c]) for r in rows]
        assert got.norm[c] == pytest.approx(np.mean(cosines), rel=1e-12)
    assert got.mean.dtype == got.direction.dtype == np.float64


def test_a_centroid_at_the_origin_has_no_direction_and_codes_are_checked() -> None:
    z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    got = class_centroids(z, np.array([0, 0, 1]), 2)
    np.testing.assert_array_equal(got.mean[0], [0.0, 0.0])
    assert np.isnan(got.norm[0]) and np.isnan(got.direction[0]).all()
    np.testing.assert_array_equal(got.direction[1], [0.0, 1.0])
    with pytest.raises(InvalidInputError, match=r"`codes` must lie in 0\.\.1, found 0\.\.2"):
        class_centroids(z, np.array([0, 2, 1]), 2)
    with pytest.raises(InvalidInputError, match=r"`codes` must have shape \(M,\) = \(3,\)"):
        class_centroids(z, np.array([0, 1]), 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (7, True), (np.int64(3), True), (0, False), (-2, False), (2.0, False),
     (2.5, False), (True, False), ("3", False), (None, False)],
)  # fmt: skip
def test_is_count_is_a_whole_number_of_at_least_one(value, expected) -> None:
    from mlrkit.inputs import is_count

    assert is_count(value) is expected
