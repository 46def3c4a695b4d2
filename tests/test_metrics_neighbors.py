"""cosine_topk against a dense reference written from its definition, and against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import cosine_topk


def reference(vectors, k, groups=None, blocks=None):
    """The definition, densely: the full similarity matrix, then a stable sort of each row."""
    v = np.asarray(vectors, dtype=np.float64)
    n = len(v)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    z = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    z = np.rint(z * 2.0**26) / 2.0**26
    s = np.clip(z @ z.T, -1.0, 1.0)  # exact: multiples of 2**-52 below 2
    g = np.arange(n) if groups is None else np.asarray(groups)
    b = np.zeros(n) if blocks is None else np.asarray(blocks)
    idx = np.full((n, k), -1, dtype=np.int64)
    sim = np.full((n, k), np.nan)
    for i in range(n):
        cand = np.flatnonzero((g != g[i]) & (b == b[i]) & (np.arange(n) != i))
        best = cand[np.argsort(-s[i, cand], kind="stable")][:k]  # ties: lower index first
        idx[i, : len(best)] = best
        sim[i, : len(best)] = s[i, best]
    return idx, sim


def check(vectors, k, **kwargs):
    idx, sim = cosine_topk(vectors, k, **kwargs)
    ref_idx, ref_sim = reference(
        vectors.float().cpu().numpy() if isinstance(vectors, torch.Tensor) else vectors,
        k,
        kwargs.get("groups"),
        kwargs.get("blocks"),
    )
    assert idx.dtype == np.int64 and sim.dtype == np.float32
    assert idx.shape == sim.shape == (len(ref_idx), k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sim, ref_sim.astype(np.float32))
    return idx, sim


def messy(rng, n, d, dtype=np.float32):
    """Random rows with exact duplicates, integer-valued rows (many equal cosines) and zeros."""
    v = rng.normal(size=(n, d))
    v[: n // 3] = np.round(v[: n // 3])
    v[rng.integers(0, n, n // 4)] = v[rng.integers(0, n, n // 4)]
    v[rng.integers(0, n, 2)] = 0.0
    return v.astype(dtype)


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_definition_with_ties_groups_blocks_and_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(2, 90)), int(rng.integers(1, 12)), int(rng.integers(1, 9))
    v = messy(rng, n, d, np.float32 if seed % 2 else np.float64)
    groups = rng.integers(0, max(1, n // 3), n) if seed % 3 else None
    blocks = rng.integers(0, 3, n) if seed % 4 < 2 else None
    chunk = [None, 1, 7, n + 5][seed % 4]
    check(v, k, groups=groups, blocks=blocks, chunk_rows=chunk)


@pytest.mark.parametrize(("n", "chunk"), [(600, 16), (701, 37), (512, 64)])
def test_panels_across_tiles_equal_the_definition(n: int, chunk: int) -> None:
    # with chunk_rows c the rows are multiplied in tiles of 8c rows, then panels of c rows
    # against the later tiles: these sizes run that pass, with sizes that do not divide n
    rng = np.random.default_rng(n)
    centres = rng.normal(size=(6, 24))
    v = centres[rng.integers(0, 6, n)] + 0.05 * rng.normal(size=(n, 24))
    v[rng.integers(0, n, n // 5)] = v[rng.integers(0, n, n // 5)]
    check(v.astype(np.float32), 5, groups=rng.integers(0, n // 3, n), chunk_rows=chunk)
    check(v, 3, blocks=rng.integers(0, 2, n), chunk_rows=chunk)


def test_the_result_does_not_depend_on_the_chunk_size() -> None:
    rng = np.random.default_rng(0)
    v = messy(rng, 300, 8)
    groups = rng.integers(0, 100, 300)
    first = cosine_topk(v, 6, groups=groups)
    for chunk in (1, 5, 13, 64, 299, 1000):
        idx, sim = cosine_topk(v, 6, groups=groups, chunk_rows=chunk)
        np.testing.assert_array_equal(idx, first[0])
        np.testing.assert_array_equal(sim, first[1])


def test_ties_go_to_the_lower_index() -> None:
    # rows 1, 2, 4 and 5 are one vector (5 scaled); rows 3 and 6 are another
    v = np.array([[1, 0], [1, 1], [1, 1], [0, 1], [1, 1], [2, 2], [0, 1]], dtype=np.float32)
    idx, sim = check(v, 4)
    assert idx[0].tolist() == [1, 2, 4, 5]  # four equal similarities, in index order
    assert idx[1].tolist() == [2, 4, 5, 0]  # its copies, then 0, 3 and 6 tie at cos 45°: 0
    assert idx[3].tolist() == [6, 1, 2, 4]
    assert sim[1, :3].tolist() == [1.0, 1.0, 1.0]


def test_a_crowd_of_duplicates_larger_than_the_kept_candidates_is_exact() -> None:
    # 60 copies of one vector: more near-ties than the k + 8 candidates a row keeps
    rng = np.random.default_rng(1)
    v = rng.normal(size=(200, 16)).astype(np.float32)
    v[rng.choice(200, 60, replace=False)] = v[7]
    idx, _ = check(v, 3, chunk_rows=9)
    copies = np.flatnonzero((v == v[7]).all(axis=1))
    assert idx[copies[-1]].tolist() == copies[:3].tolist()


def test_zero_rows_have_similarity_zero_with_every_row() -> None:
    v = np.array([[0, 0], [1, 0], [-1, 0], [0, 0], [0, 1]], dtype=np.float64)
    idx, sim = check(v, 4)
    assert idx[0].tolist() == [1, 2, 3, 4] and sim[0].tolist() == [0, 0, 0, 0]
    assert idx[1].tolist() == [0, 3, 4, 2] and sim[1].tolist() == [0, 0, 0, -1]


def test_groups_are_excluded_and_blocks_confine_the_search() -> None:
    rng = np.random.default_rng(2)
    n = 120
    v = rng.normal(size=(n, 5))
    groups = rng.integers(0, 30, n)
    blocks = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, n)]
    idx, sim = check(v, 7, groups=groups, blocks=blocks)
    found = idx >= 0
    rows = np.repeat(np.arange(n)[:, None], 7, axis=1)
    assert (groups[idx[found]] != groups[rows[found]]).all()
    assert (blocks[idx[found]] == blocks[rows[found]]).all()
    assert (idx[found] != rows[found]).all()
    assert np.isnan(sim[~found]).all() and (np.diff(np.where(found, sim, -2), axis=1) <= 0).all()


def test_fewer_candidates_than_k_are_padded() -> None:
    v = np.eye(4)
    idx, sim = cosine_topk(v, 3, groups=[0, 0, 1, 2], blocks=[0, 0, 0, 1])
    assert idx.tolist() == [[2, -1, -1], [2, -1, -1], [0, 1, -1], [-1, -1, -1]]
    assert np.isnan(sim[0, 1:]).all() and np.isnan(sim[3]).all() and sim[2, :2].tolist() == [0, 0]
    empty_idx, empty_sim = cosine_topk(np.zeros((0, 3)), 2)
    assert empty_idx.shape == empty_sim.shape == (0, 2)


def test_float32_float64_integers_and_tensors_agree() -> None:
    rng = np.random.default_rng(3)
    v32 = rng.normal(size=(80, 9)).astype(np.float32)
    expected = cosine_topk(v32, 4)
    for same in (v32.astype(np.float64), torch.from_numpy(v32), torch.from_numpy(v32).double()):
        for got, want in zip(cosine_topk(same, 4), expected, strict=True):
            np.testing.assert_array_equal(got, want)
    integers = rng.integers(-3, 4, size=(50, 6))
    check(integers, 5)
    check(torch.from_numpy(integers.astype(np.float16)).to(torch.bfloat16), 2)


def test_scale_does_not_matter_even_near_the_float64_limits() -> None:
    rng = np.random.default_rng(4)
    v = rng.normal(size=(60, 7))
    expected = cosine_topk(v, 5)
    for scale in (2.0**900, 2.0**-1000, 3.7):
        for got, want in zip(cosine_topk(v * scale, 5), expected, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_sklearn_brute_force_cosine_on_random_data(dtype) -> None:
    rng = np.random.default_rng(5)
    v = rng.normal(size=(400, 32)).astype(dtype)
    idx, sim = cosine_topk(v, 10, chunk_rows=23)
    nn = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(v)
    dist, ref = nn.kneighbors(v)  # each row's first neighbour is itself
    assert (ref[:, 0] == np.arange(400)).all()
    np.testing.assert_array_equal(idx, ref[:, 1:])
    np.testing.assert_allclose(sim, 1.0 - dist[:, 1:], atol=2e-6)


@pytest.mark.parametrize(
    ("vectors", "k", "kwargs", "match"),
    [
        (np.ones(3), 1, {}, r"shape \(M, D\)"),
        (np.ones((3, 0)), 1, {}, "no feature column"),
        (np.array([["a", "b"]]), 1, {}, "real numbers"),
        (np.array([[1.0, 0.0], [np.nan, 1.0]]), 1, {}, "NaN or inf .*row 1"),
        (np.array([[1.0, np.inf]]), 1, {}, "NaN or inf .*row 0"),
        (np.ones((3, 2)), 0, {}, "k=0 must be a whole number"),
        (np.ones((3, 2)), 2.5, {}, "k=2.5"),
        (np.ones((3, 2)), True, {}, "k=True"),
        (np.ones((3, 2)), 1, {"chunk_rows": 0}, "chunk_rows=0"),
        (np.ones((3, 2)), 1, {"groups": [0, 1]}, r"`groups` must have shape \(M,\) = \(3,\)"),
        (np.ones((3, 2)), 1, {"blocks": [[0, 1, 2]]}, r"`blocks` must have shape \(M,\)"),
        (np.ones((3, 2)), 1, {"blocks": np.array([0, "a", 1.5], dtype=object)}, "comparable ids"),
    ],
)
def test_invalid_inputs_raise_one_line_errors(vectors, k, kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        cosine_topk(vectors, k, **kwargs)
    assert "\n" not in str(info.value)
