"""Folds of a split, for cross-fitting: every image judged by a model that never trained on it.

:func:`assign_folds` deals the ``n`` items of a split into ``folds`` folds of equal size (to
one item), at random but fixed by ``seed``: a permutation of ``range(n)`` from
``numpy.random.default_rng(seed)``, item ``perm[j]`` in fold ``j % folds``. A run configured with
``data.holdout = {"folds": F, "fold": f, "seed": s}`` trains on the items outside fold ``f``
(:func:`holdout_indices`), and the items of fold ``f`` are the ones it may judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import is_count

__all__ = ["HOLDOUT_KEYS", "assign_folds", "check_holdout", "holdout_indices"]

HOLDOUT_KEYS = ("folds", "fold", "seed")


def assign_folds(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (in ``0 .. folds - 1``) of each of ``n`` items: ``(n,)`` int64, fold sizes
    differing by at most one.

    Raises:
        InvalidInputError: ``folds`` is not a whole number >= 2, or above ``n``.
    """
    if not is_count(folds) or folds < 2:
        raise InvalidInputError(f"folds must be a whole number >= 2, got {folds!r}")
    if folds > n:
        raise InvalidInputError(f"{folds} folds of {n} items would leave a fold empty; use fewer")
    perm = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[perm] = np.arange(n) % folds
    return fold


def check_holdout(holdout: Mapping[str, Any]) -> dict[str, int]:
    """``data.holdout`` completed (``seed`` 0 by default) and checked.

    Raises:
        InvalidInputError: an unknown key, ``folds`` below 2, or ``fold`` outside
            ``0 .. folds - 1``.
    """
    unknown = sorted(set(holdout) - set(HOLDOUT_KEYS))
    if unknown:
        raise InvalidInputError(
            f"data.holdout has unknown keys {unknown}; it takes {list(HOLDOUT_KEYS)}, e.g. "
            '{"folds": 2, "fold": 0, "seed": 0}'
        )
    folds, fold, seed = holdout.get("folds"), holdout.get("fold"), holdout.get("seed", 0)
    if not is_count(folds) or folds < 2:
        raise InvalidInputError(f"data.holdout folds must be a whole number >= 2, got {folds!r}")
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < folds:
        raise InvalidInputError(f"data.holdout fold must be in 0 .. {folds - 1}, got {fold!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InvalidInputError(f"data.holdout seed must be an integer, got {seed!r}")
    return {"folds": int(folds), "fold": fold, "seed": seed}


def holdout_indices(n: int, holdout: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)``: the sorted indices of the ``n`` items outside and inside the
    held-out fold of ``holdout`` (``data.holdout``)."""
    spec = check_holdout(holdout)
    fold = assign_folds(n, spec["folds"], spec["seed"])
    return np.flatnonzero(fold != spec["fold"]), np.flatnonzero(fold == spec["fold"])
