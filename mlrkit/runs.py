"""The run as one object: :class:`Run`, what notebooks and commands hold.

A run is a folder (``config.json``, ``metrics.jsonl``, ``last.pt``, ``best.pt``; named once in
:class:`mlrkit.train.rundir.RunDir`) and, loaded from one of its checkpoints, a trained model
and objective. Open one in a line::

    run = Run.load("runs/x")                     # its best checkpoint
    run = Run.ensure(config, "runs/x")           # train it unless finished, then its last.pt

then ask it what a notebook asks: ``run.config``, ``run.history``, ``run.split()``,
``run.evaluate(protocol="asl")``, ``run.scores()``, ``run.embeddings(space="features")``,
``run.attention(dataset, [0, 1])``. The methods are thin folds over the plain functions of
:mod:`mlrkit.train` and :mod:`mlrkit.explore`, which stay usable on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from mlrkit.config import Config
from mlrkit.explore.embeddings import ClassEmbeddings, extract_embeddings
from mlrkit.train.fitting import ensure_run
from mlrkit.train.trained import TrainedRun

__all__ = ["Run"]


class Run(TrainedRun):
    """A finished run: its config, history, model and objective, and what they compute.

    See :class:`mlrkit.train.trained.TrainedRun` for the attributes and the methods that need
    only the model (``split``, ``evaluate``, ``scores``, ``features``, ``attention``); this
    class adds training unless finished and the class embeddings.

    Attributes:
        origin: how the run came to be here: ``"loaded"`` (:meth:`load`), or what
            :meth:`ensure` did, ``"trained"``, ``"resumed"`` or ``"reused"``.
    """

    origin: str = "loaded"

    @classmethod
    def ensure(
        cls,
        config: Config,
        path: str | Path,
        which: Literal["best", "last"] = "last",
        *,
        device: str = "auto",
    ) -> Self:
        """Train ``config`` into ``path`` unless a finished run of it is there, then load it.

        Args:
            config: the experiment.
            path: the run directory; a run of another experiment there is refused
                (:func:`mlrkit.train.ensure_run`).
            which: the checkpoint to load; ``"last"`` (the default) is the fixed budget,
                ``"best"`` the epoch chosen on the validation split.
            device: where to load the model.

        Returns:
            The run, its :attr:`origin` saying whether it was trained, resumed or reused.
        """
        outcome = ensure_run(config, path)
        run = cls.load(path, which, device=device)
        run.origin = outcome
        return run

    def embeddings(
        self,
        split: str | None = None,
        space: Literal["embedding", "features"] = "features",
        which: Literal["present", "all"] = "present",
        **options: Any,
    ) -> ClassEmbeddings:
        """One row per (image, class) pair of a split, in the class features (``"features"``)
        or the objective's projection output (``"embedding"``), streamed:
        :func:`mlrkit.explore.extract_embeddings` of this run (``options`` go there)."""
        return extract_embeddings(self, split, space, which, **options)
