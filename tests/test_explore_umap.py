"""umap_embed: properties of the layout (not coordinates), the disk cache, kNN reuse, bad inputs.

UMAP is stochastic, so nothing here compares coordinates with stored values: the layout is
checked by trustworthiness (against sklearn as an oracle) and by how well a 1-NN classifier
separates the clusters in 2-D; the cache by identical arrays and by the computing functions
being forbidden or counted (monkeypatched). One module-scoped warm-up compiles umap-learn's
numba code once; every later fit is small (300 rows, 50 epochs) and takes a fraction of a second.

The tests that fit UMAP are marked slow: importing umap and compiling its code takes 10 s (numba's
on-disk cache warm) to 22 s (cold) on a 2-core CPU, so with them the module takes 15 to 28 s.
The bad-input tests never import umap and stay in ``make test-fast``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness

import mlrkit.explore.umap_cache as umap_cache
from mlrkit.errors import InvalidInputError
from mlrkit.explore.umap_cache import DEFAULT_CACHE, UmapResult, default_cache_dir, umap_embed

ROWS, CLUSTERS, DIM = 300, 5, 32
FAST = {"n_epochs": 50, "seed": 0}


def clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(300, 32)`` float32 rows in 5 well-separated Gaussian clusters, and their labels."""
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.normal(size=(CLUSTERS, DIM))
    labels = np.repeat(np.arange(CLUSTERS), ROWS // CLUSTERS)
    x = centers[labels] + 0.5 * rng.normal(size=(ROWS, DIM))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def warm_up() -> None:
    """Compile umap-learn's numba code once for the module (exact-kNN path, seeded)."""
    x, _ = clusters(seed=1)
    umap_embed(x[:60], n_neighbors=5, n_epochs=5, seed=0, cache_dir=None)


def fits(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that fits UMAP: slow (compilation on first use), after the warm-up."""
    return pytest.mark.slow(pytest.mark.usefixtures("warm_up")(test))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    return clusters()


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make the named computing functions of the module raise when called."""
    for name in names:

        def refuse(*args: object, _name: str = name, **kwargs: object) -> None:
            raise AssertionError(f"{_name} was called, but the result should come from the cache")

        monkeypatch.setattr(umap_cache, name, refuse)


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Wrap a computing function of the module; the returned list grows by one per call."""
    calls: list[int] = []
    original = getattr(umap_cache, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(umap_cache, name, counted)
    return calls


def one_nn_accuracy(coords: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy in 2-D: does each point's nearest other point share its label."""
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)  # (M, M)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(axis=1)] == labels).mean())


# ---------------------------------------------------------------------------------------------
# the layout


@fits
def test_clusters_are_trustworthy_and_stay_separated(data, tmp_path):
    x, labels = data
    result = umap_embed(x, cache_dir=tmp_path, **FAST)

    assert isinstance(result, UmapResult)
    assert result.coords.shape == (ROWS, 2) and result.coords.dtype == np.float32
    assert np.isfinite(result.coords).all()
    assert result.trustworthiness >= 0.8
    # oracle: sklearn on the same rows (300 < 5000, so no subsample) and the same settings
    expected = trustworthiness(x, result.coords, n_neighbors=5, metric="cosine")
    assert abs(result.trustworthiness - expected) <= 1e-9
    assert one_nn_accuracy(result.coords, labels) > 0.95

    p = result.params
    assert (p["n_neighbors"], p["min_dist"], p["metric"], p["seed"], p["n_epochs"]) == (
        15,
        0.1,
        "cosine",
        0,
        50,
    )
    assert (p["rows"], p["dim"], p["n_components"], p["n_jobs"], p["knn"]) == (
        ROWS,
        DIM,
        2,
        1,
        "exact",
    )
    assert (p["trust_neighbors"], p["trust_rows"]) == (5, ROWS)
    assert p["umap_learn"] and p["pynndescent"] and len(p["data_sha256"]) == 64
    assert result.cached is False and result.path is not None and result.path.is_file()


@fits
def test_a_seed_makes_the_layout_reproducible(data):
    x, _ = data
    first = umap_embed(x, cache_dir=None, **FAST)
    second = umap_embed(x, cache_dir=None, **FAST)
    np.testing.assert_array_equal(first.coords, second.coords)
    assert first.path is None and first.cached is False


@fits
def test_trustworthiness_uses_a_seeded_subsample_above_the_limit(data, monkeypatch):
    x, _ = data
    monkeypatch.setattr(umap_cache, "TRUST_MAX_ROWS", 100)
    result = umap_embed(x, cache_dir=None, n_epochs=50, seed=3)
    pick = np.sort(np.random.default_rng(3).choice(ROWS, 100, False))
    expected = trustworthiness(x[pick], result.coords[pick], n_neighbors=5, metric="cosine")
    assert abs(result.trustworthiness - expected) <= 1e-9
    assert (result.params["trust_rows"], result.params["trust_seed"]) == (100, 3)


@fits  # and pynndescent's numba code compiles on first use: another ~25 s on 2 cores
def test_the_approximate_knn_path_gives_a_good_layout(data, monkeypatch):
    x, labels = data
    monkeypatch.setattr(umap_cache, "_EXACT_KNN_MAX_ROWS", 100)  # 300 rows: pynndescent
    result = umap_embed(x, cache_dir=None, **FAST)
    assert result.params["knn"] == "nndescent"
    assert result.trustworthiness >= 0.8
    assert one_nn_accuracy(result.coords, labels) > 0.95


# ---------------------------------------------------------------------------------------------
# the cache


@fits
def test_a_second_call_reads_the_cache_without_computing(data, tmp_path, monkeypatch):
    x, _ = data
    first = umap_embed(x, cache_dir=tmp_path, **FAST)
    forbid(monkeypatch, "_fit_umap", "_knn_graph")
    second = umap_embed(x, cache_dir=tmp_path, **FAST)

    assert second.cached is True and first.cached is False
    np.testing.assert_array_equal(second.coords, first.coords)
    assert second.coords.dtype == np.float32
    assert second.trustworthiness == first.trustworthiness
    assert second.params == first.params
    assert second.path == first.path == tmp_path / f"{first.path.stem}.npz"
    (knn_file,) = tmp_path.glob("knn-*.npz")
    names = sorted(p.name for p in tmp_path.iterdir())  # no temporary file left behind
    assert names == sorted([first.path.name, knn_file.name])
    umask = os.umask(0)
    os.umask(umask)
    for path in (first.path, knn_file):  # the user's usual permissions, not mkstemp's 0600
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@fits
def test_torch_and_float64_inputs_share_the_float32_key(data, tmp_path, monkeypatch):
    x, _ = data
    first = umap_embed(x, cache_dir=tmp_path, **FAST)
    forbid(monkeypatch, "_fit_umap", "_knn_graph")
    from_torch = umap_embed(torch.from_numpy(x), cache_dir=tmp_path, **FAST)
    from_float64 = umap_embed(x.astype(np.float64), cache_dir=tmp_path, **FAST)
    assert from_torch.cached and from_float64.cached
    assert from_torch.path == from_float64.path == first.path


@fits
@pytest.mark.parametrize(
    "change",
    ["data", "n_neighbors", "min_dist", "metric", "seed", "n_epochs"],
)
def test_changing_one_value_or_parameter_recomputes(data, tmp_path, change):
    x, _ = data
    kwargs = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", **FAST}
    first = umap_embed(x, cache_dir=tmp_path, **kwargs)
    if change == "data":
        x = x.copy()
        x[7, 3] += 1e-3
    else:
        kwargs[change] = {
            "n_neighbors": 10,
            "min_dist": 0.25,
            "metric": "euclidean",
            "seed": 1,
            "n_epochs": 40,
        }[change]
    second = umap_embed(x, cache_dir=tmp_path, **kwargs)
    assert second.cached is False
    assert second.path != first.path and second.path.is_file()
    if change != "data":
        assert second.params[change] == kwargs[change]
    assert umap_embed(x, cache_dir=tmp_path, **kwargs).cached is True


@fits
def test_knn_graph_is_computed_once_across_min_dist(data, tmp_path, monkeypatch):
    x, labels = data
    knn_calls = count_calls(monkeypatch, "_knn_graph")
    fit_calls = count_calls(monkeypatch, "_fit_umap")
    results = [umap_embed(x, min_dist=m, cache_dir=tmp_path, **FAST) for m in (0.0, 0.1, 0.5)]

    assert len(knn_calls) == 1  # the graph of the first call serves the other two
    assert len(fit_calls) == 3
    assert len({r.path for r in results}) == 3
    assert len(list(tmp_path.glob("knn-*.npz"))) == 1
    for r in results:
        assert not r.cached and one_nn_accuracy(r.coords, labels) > 0.95
    # a new n_neighbors is a new graph
    umap_embed(x, n_neighbors=10, cache_dir=tmp_path, **FAST)
    assert len(knn_calls) == 2


@fits
def test_the_cached_knn_graph_is_the_computed_one(data, tmp_path):
    x, _ = data
    umap_embed(x, n_neighbors=7, cache_dir=tmp_path, **FAST)
    (knn_file,) = tmp_path.glob("knn-*.npz")
    with np.load(knn_file) as f:
        indices, distances = f["indices"], f["distances"]
        params = json.loads(str(f["params"]))
    expected, expected_dist, method = umap_cache._knn_graph(
        x, 7, "cosine", 0, n_jobs=1, verbose=False
    )
    assert method == params["knn"] == "exact"
    assert indices.shape == distances.shape == (ROWS, 7)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(distances, expected_dist)
    np.testing.assert_array_equal(indices[:, 0], np.arange(ROWS))  # each row is its own first


@fits
def test_a_damaged_cache_file_is_recomputed_and_rewritten(data, tmp_path):
    x, _ = data
    first = umap_embed(x, cache_dir=tmp_path, **FAST)
    first.path.write_bytes(b"not an npz file")
    for knn_file in tmp_path.glob("knn-*.npz"):
        knn_file.write_bytes(first.path.read_bytes()[:5])
    again = umap_embed(x, cache_dir=tmp_path, **FAST)
    assert again.cached is False and again.path == first.path
    np.testing.assert_array_equal(again.coords, first.coords)  # same seed: same layout
    assert umap_embed(x, cache_dir=tmp_path, **FAST).cached is True


def test_cached_coordinates_with_nan_are_a_miss_recomputed_with_a_warning(
    data, tmp_path, monkeypatch
):
    x, _ = data
    small = x[:40]  # tiny, and the computations are stand-ins: no umap import, no numba

    def knn(x: np.ndarray, k: int, *args: object, **kwargs: object) -> tuple:
        indices = (np.arange(len(x))[:, None] + np.arange(k)) % len(x)
        return indices.astype(np.int32), np.ones(indices.shape, np.float32), "exact"

    def fit(x: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        return np.ascontiguousarray(x[:, :2], dtype=np.float32)

    monkeypatch.setattr(umap_cache, "_knn_graph", knn)
    monkeypatch.setattr(umap_cache, "_fit_umap", fit)
    fit_calls = count_calls(monkeypatch, "_fit_umap")
    first = umap_embed(small, n_neighbors=5, cache_dir=tmp_path, **FAST)
    with np.load(first.path) as f:
        content = {name: f[name] for name in f.files}
    content["coords"][3, 1] = np.nan  # a damaged or badly written file that still loads
    with open(first.path, "wb") as f:
        np.savez(f, **content)

    with pytest.warns(
        UserWarning, match=rf"cache file {re.escape(str(first.path))} holds NaN .* in coords"
    ):
        again = umap_embed(small, n_neighbors=5, cache_dir=tmp_path, **FAST)
    assert again.cached is False and again.path == first.path and len(fit_calls) == 2
    np.testing.assert_array_equal(again.coords, first.coords)
    with np.load(first.path) as f:  # overwritten: the next call is a clean hit
        np.testing.assert_array_equal(f["coords"], first.coords)
    third = umap_embed(small, n_neighbors=5, cache_dir=tmp_path, **FAST)
    assert third.cached is True and len(fit_calls) == 2


@fits
def test_a_failed_write_leaves_no_file_and_warns(data, tmp_path, monkeypatch):
    x, _ = data

    def broken_savez(file: object, **arrays: object) -> None:
        file.write(b"half a file")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(umap_cache.np, "savez", broken_savez)
    with pytest.warns(UserWarning, match="could not write the cache file"):
        result = umap_embed(x, cache_dir=tmp_path, **FAST)
    assert result.path is None and result.cached is False and result.coords.shape == (ROWS, 2)
    assert list(tmp_path.iterdir()) == []  # neither a cache file nor a temporary one


@fits
def test_cache_dir_none_writes_nothing(data, tmp_path, monkeypatch):
    x, _ = data
    monkeypatch.setenv("MLRKIT_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    first = umap_embed(x, cache_dir=None, **FAST)
    second = umap_embed(x, cache_dir=None, **FAST)
    assert first.path is None and second.cached is False
    assert list(tmp_path.iterdir()) == []


@fits
def test_the_default_cache_dir_follows_mlrkit_cache(data, tmp_path, monkeypatch):
    x, _ = data
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLRKIT_CACHE", raising=False)
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mlrkit" / "umap"
    monkeypatch.setenv("MLRKIT_CACHE", str(tmp_path / "cache"))  # read at call time
    assert default_cache_dir() == tmp_path / "cache" / "umap"
    result = umap_embed(x, **FAST)  # cache_dir=DEFAULT_CACHE
    assert result.path is not None and result.path.parent == tmp_path / "cache" / "umap"
    assert umap_embed(x, cache_dir=DEFAULT_CACHE, **FAST).cached is True
    assert not (tmp_path / "home").exists()


@fits
def test_quiet_unless_progress(data, tmp_path, capfd, caplog):
    x, _ = data
    caplog.set_level(logging.INFO, logger="mlrkit")
    umap_embed(x, cache_dir=tmp_path, **FAST)
    umap_embed(x, cache_dir=tmp_path, **FAST)
    assert capfd.readouterr() == ("", "") and caplog.records == []
    umap_embed(x, min_dist=0.3, cache_dir=tmp_path, progress=True, **FAST)
    out, err = capfd.readouterr()
    assert {(r.name, r.levelno) for r in caplog.records} == {(umap_cache.__name__, logging.INFO)}
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "kNN graph read from" in said[0] and "written to" in said[1]
    assert "umap_embed:" not in out  # logged, not printed: the command line shows the log
    assert "Epochs completed" in err  # umap-learn's tqdm bar, and nothing else of umap-learn:
    for noise in ("UMAP(", "Construct embedding", "completed  0  /", "Nearest Neighbor"):
        assert noise not in out + err, f"umap-learn's log ({noise!r}) printed with progress=True"


@fits
def test_verbose_prints_umap_learns_own_log(data, tmp_path, capfd):
    x, _ = data
    umap_embed(x, cache_dir=tmp_path, verbose=True, **FAST)  # graph and layout computed
    out, err = capfd.readouterr()
    for said in ("Finding Nearest Neighbors", "UMAP(", "Construct embedding", "completed  0  /"):
        assert said in out + err, f"{said!r} missing from umap-learn's verbose log"
    assert "Epochs completed" in err  # the bar comes with the log


# ---------------------------------------------------------------------------------------------
# bad inputs


def nan_rows() -> np.ndarray:
    x, _ = clusters()
    x[4, 2] = np.nan
    return x


def inf_rows() -> np.ndarray:
    x, _ = clusters()
    x[9, 0] = np.inf
    return x


@pytest.mark.parametrize(
    ("vectors", "kwargs", "match"),
    [
        (np.zeros((16, 4), np.float32), {}, r"16 row\(s\); n_neighbors=15 needs at least 17"),
        (np.zeros((6, 4), np.float32), {"n_neighbors": 5}, "needs at least 7"),
        (nan_rows(), {}, r"1 NaN or infinite value\(s\).*row 4, column 2"),
        (inf_rows(), {}, "row 9, column 0"),
        (np.full((30, 4), 1e39), {}, "after conversion to float32"),
        (np.zeros(300, np.float32), {}, r"shape \(M, D\).*reshape\(-1, 1\)"),
        (np.zeros((30, 4, 2), np.float32), {}, r"shape \(M, D\).*Flatten"),
        (np.zeros((30, 0), np.float32), {}, "no feature column"),
        (np.array([["a", "b"]] * 30), {}, "real numbers"),
        (torch.zeros(30, 4, dtype=torch.bool), {}, "real numbers"),
        (clusters()[0], {"n_neighbors": 1}, "`n_neighbors` must be an int >= 2"),
        (clusters()[0], {"n_neighbors": 2.5}, "`n_neighbors` must be an int >= 2"),
        (clusters()[0], {"min_dist": -0.1}, r"`min_dist` must be a number in \[0, 1\]"),
        (clusters()[0], {"min_dist": 1.5}, r"`min_dist` must be a number in \[0, 1\]"),
        (clusters()[0], {"metric": "cosinus"}, "`metric` must be one of cosine"),
        (clusters()[0], {"seed": -1}, r"`seed` must be None or an int in \[0, 2\*\*32\)"),
        (clusters()[0], {"seed": 1.0}, "`seed` must be None or an int"),
        (clusters()[0], {"n_epochs": 0}, "`n_epochs` must be None"),
    ],
    ids=[
        "too-few-rows",
        "too-few-rows-k5",
        "nan",
        "inf",
        "float32-overflow",
        "1-d",
        "3-d",
        "no-columns",
        "strings",
        "bool-tensor",
        "n_neighbors-1",
        "n_neighbors-float",
        "min_dist-negative",
        "min_dist-above-spread",
        "metric-unknown",
        "seed-negative",
        "seed-float",
        "n_epochs-0",
    ],
)
def test_bad_inputs_raise_invalid_input(vectors, kwargs, match, tmp_path, monkeypatch):
    forbid(monkeypatch, "_fit_umap", "_knn_graph")
    with pytest.raises(InvalidInputError, match=match) as info:
        umap_embed(vectors, cache_dir=tmp_path, **kwargs)
    assert isinstance(info.value, ValueError)  # `except ValueError` keeps working
    assert list(tmp_path.iterdir()) == []


def test_a_cache_dir_that_is_a_file_raises(data, tmp_path, monkeypatch):
    x, _ = data
    forbid(monkeypatch, "_fit_umap", "_knn_graph")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match="`cache_dir`.*cache_dir=None"):
        umap_embed(x, cache_dir=blocker / "umap", **FAST)


@fits
def test_exactly_enough_rows_work():
    x, _ = clusters()
    result = umap_embed(x[:12], n_neighbors=10, cache_dir=None, **FAST)
    assert result.coords.shape == (12, 2) and np.isfinite(result.coords).all()
    assert 0.0 <= result.trustworthiness <= 1.0
