"""Class embeddings of a run: one row per selected (image, class) pair, in both spaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlrkit.config import apply_overrides
from mlrkit.errors import InvalidInputError
from mlrkit.explore import extract_embeddings
from mlrkit.presets import preset
from mlrkit.runs import Run
from mlrkit.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_overrides: list[str]) -> dict[str, Path]:
    """A tiny trained run per head/loss setup the tests need (one epoch each)."""
    root = tmp_path_factory.mktemp("explore")
    made = {}
    for name, loss, extra in [
        ("method", "disc-contrastive", []),
        ("bce", "bce", []),
        ("gap", "bce", ["model.head=gap"]),
    ]:
        cfg = apply_overrides(
            preset("digits", loss=loss), [*tiny_overrides, "train.epochs=1", *extra]
        )
        fit(cfg, root / name)
        made[name] = root / name
    return made


def _dense(run_dir: Path):
    run = Run.load(run_dir, device="cpu")
    dense = run.features()  # the (N, K, D) path, independent
    return run, dense


def test_one_row_per_present_pair_with_the_dense_features(runs) -> None:
    run, dense = _dense(runs["method"])
    got = extract_embeddings(run, space="features", progress=False)
    images, classes = np.nonzero(dense["targets"] == 1)  # row-major: image, then class
    assert len(got.frame) == len(images) == len(got.vectors)
    np.testing.assert_array_equal(got.frame["image"], images)
    np.testing.assert_array_equal(got.frame["class_index"], classes)
    assert list(got.frame["class"]) == [run.classes[k] for k in classes]
    assert (got.frame["target"] == 1).all()
    np.testing.assert_allclose(got.vectors, dense["features"][images, classes], atol=1e-5)
    scores = 1 / (1 + np.exp(-dense["logits"][images, classes]))
    np.testing.assert_allclose(got.frame["score"], scores, atol=1e-5)
    assert (got.frame["predicted"] == (got.frame["score"] >= 0.5)).all()
    assert got.vectors.dtype == np.float32 and got.space == "features"


def test_embedding_space_is_the_normalised_projection(runs) -> None:
    run, dense = _dense(runs["method"])
    got = extract_embeddings(run, space="embedding", progress=False)
    images, classes = np.nonzero(dense["targets"] == 1)
    with torch.no_grad():
        features = torch.from_numpy(dense["features"][images, classes])
        expected = F.normalize(run.objective.projection(features), dim=-1).numpy()
    np.testing.assert_allclose(got.vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got.vectors, axis=1), 1.0, atol=1e-5)
    assert "where the loss acts" in got.title


def test_all_pairs_and_max_items(runs) -> None:
    run, dense = _dense(runs["method"])
    n, k = dense["targets"].shape
    every = extract_embeddings(run, space="features", which="all", progress=False)
    assert len(every.frame) == n * k
    np.testing.assert_array_equal(every.frame["target"], dense["targets"].reshape(-1))
    wrong = every.frame["predicted"] != (every.frame["target"] == 1)
    assert (every.frame["correct"] == ~wrong).all()
    few = extract_embeddings(run, space="features", which="all", max_items=23, progress=False)
    assert len(few.frame) == len(few.vectors) == 23
    np.testing.assert_array_equal(few.vectors, every.vectors[:23])


def test_runs_without_the_space_say_so(runs) -> None:
    with pytest.raises(InvalidInputError, match=r"no projection head.*space='features'"):
        extract_embeddings(runs["bce"], space="embedding", device="cpu", progress=False)
    assert len(extract_embeddings(runs["bce"], space="features", progress=False).frame) > 0
    with pytest.raises(InvalidInputError, match="'gap' head has no class features"):
        extract_embeddings(runs["gap"], space="features", device="cpu", progress=False)
    with pytest.raises(InvalidInputError, match="unknown space 'pixels'"):
        extract_embeddings(runs["method"], space="pixels", device="cpu", progress=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_items": 2.5}, "max_items must be a whole number >= 1"),
        ({"max_items": 0}, "max_items must be a whole number >= 1"),
        ({"max_items": True}, "max_items must be a whole number >= 1"),
        ({"threshold": 2}, r"threshold is on the sigmoid score, so it must be in \[0, 1\]"),
        ({"threshold": -0.1}, r"must be in \[0, 1\], got -0.1"),
    ],
)
def test_bad_options_are_one_clear_error(runs, options, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        extract_embeddings(runs["method"], space="features", progress=False, **options)
