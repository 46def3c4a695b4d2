"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib
import pytest
import torch

from mlrkit.config import Config, apply_overrides
from mlrkit.data import make_digit_scenes

matplotlib.use("Agg")  # plots render off-screen in tests (and on CI machines without a display)
from mlrkit.presets import preset


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread for the duration of a test.

    Tiny models and tensors run faster on one thread, and the result does not depend on other
    processes competing for the cores. A test module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# A tiny embedded dataset and run config shared by the training, CLI, crash and multi-process
# tests: 64 training scenes (4 batches of 16) and 37 validation scenes (odd on purpose, so two
# ranks get shards of 19 and 18), 32 px, digitnet; a fit takes about a second.
TINY_TRAIN, TINY_VAL = 64, 37


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of the tiny digit-scene dataset (generated once per test session)."""
    root = tmp_path_factory.mktemp("tiny") / "digits"
    make_digit_scenes(
        root, seed=0, n_train=TINY_TRAIN, n_val=TINY_VAL, image_size=32, digit_size=(12, 18)
    )
    return root


@pytest.fixture(scope="session")
def tiny_overrides(tiny_digits: Path) -> list[str]:
    """Overrides that turn the ``digits`` preset into a tiny CPU run on :func:`tiny_digits`."""
    return [
        f"data.root={tiny_digits}",
        "data.image_size=32",
        "data.generate_if_missing=false",
        "optim.batch_size=16",
        "optim.lr=0.003",
        "train.epochs=3",
        "train.device=cpu",
        "train.progress=false",
    ]


@pytest.fixture
def tiny_config(tiny_overrides: list[str]) -> Callable[..., Config]:
    """``tiny_config(*overrides, loss=...)``: the tiny run's config, then ``overrides``."""

    def make(*overrides: str, loss: str = "disc-contrastive") -> Config:
        return apply_overrides(preset("digits", loss=loss), [*tiny_overrides, *overrides])

    return make
