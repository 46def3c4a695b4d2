"""cross_fit: every training image scored once, by the one run that never trained on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlrkit.audit import cross_fit
from mlrkit.config import Config
from mlrkit.data import assign_folds, holdout_indices
from mlrkit.errors import ConfigError, InvalidInputError
from mlrkit.runs import Run
from mlrkit.train import check_config
from mlrkit.train.recipe import datasets_from_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_folds_are_balanced_disjoint_and_fixed_by_the_seed() -> None:
    fold = assign_folds(11, 3, seed=4)
    assert sorted(np.bincount(fold)) == [3, 4, 4]
    assert np.array_equal(fold, assign_folds(11, 3, seed=4))
    assert not np.array_equal(fold, assign_folds(11, 3, seed=5))
    kept, held = holdout_indices(11, {"folds": 3, "fold": 1, "seed": 4})
    assert np.array_equal(held, np.flatnonzero(fold == 1))
    assert sorted([*kept, *held]) == list(range(11))
    for bad in ({"folds": 1, "fold": 0}, {"folds": 2, "fold": 2}, {"folds": 2, "fold": 0, "x": 1}):
        with pytest.raises(InvalidInputError, match="data.holdout"):
            holdout_indices(11, bad)


def test_a_bad_holdout_is_a_config_error(tiny_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match="fold must be in 0 .. 1"):
        check_config(tiny_config('data.holdout={"folds": 2, "fold": 5}'))


def test_cross_fit_never_scores_an_image_with_a_model_that_trained_on_it(
    tmp_path: Path, tiny_config: Callable[..., Config]
) -> None:
    config = tiny_config("train.epochs=1", loss="bce")
    result = cross_fit(config, tmp_path / "cf", folds=2, seed=3, device="cpu")
    split = Run.load(result.runs[0], "last", device="cpu").split(config.data.train_split)
    all_paths = [str(p) for p in split.paths]
    assert list(result.scores["image"]) == all_paths  # every image once, in the split's order
    assert np.array_equal(result.targets, split.targets.numpy())
    for fold, folder in enumerate(result.runs):
        run = Run.load(folder, "last", device="cpu")
        # the oracle: the training set the fold's run was built with, from its own config
        pre = run.model.preprocessing
        trained_on = {str(p) for p in datasets_from_config(run.config, pre.mean, pre.std)[0].paths}
        scored = result.scores[result.scores["fold"] == fold]
        assert trained_on.isdisjoint(scored["image"]) and len(trained_on) + len(scored) == len(
            split
        )
        # and the scores are that run's own on those images
        full = run.scores(split)
        expected = full.loc[scored.index, list(run.classes)].to_numpy()
        np.testing.assert_allclose(scored[list(run.classes)].to_numpy(), expected, rtol=1e-5)
    assert result.probabilities.shape == (len(split), len(result.classes))


def test_cross_fit_refuses_bad_folds(tmp_path: Path, tiny_config: Callable[..., Config]) -> None:
    with pytest.raises(InvalidInputError, match="folds must be a whole number >= 2"):
        cross_fit(tiny_config(loss="bce"), tmp_path, folds=1)
    holding = tiny_config('data.holdout={"folds": 2, "fold": 0}', loss="bce")
    with pytest.raises(InvalidInputError, match="already holds data.holdout"):
        cross_fit(holding, tmp_path, folds=2)
