"""The notebooks' set-up: where things go, fast mode, and the two runs they compare.

The notebooks compare two runs on the embedded digits that differ in one thing only, variant A:

- ``baseline``: the class-attention head trained with ASL (the ``asl`` setup: asymmetric loss,
  gamma- = 4, gamma+ = 0, clip 0.05, summed);
- ``method``: the same head with the same ASL + variant A (``disc-contrastive``: class-specific
  features projected and pulled together per class, pushed apart across classes).

Same head, data, optimiser, epochs and seed: any difference between the two runs comes from
variant A (and, with one seed, may be within the seed spread; ``docs/ablation.md`` measures it).

Every notebook's first cell calls :func:`notebook_setup`, which reads three environment
variables so the same notebooks run for a reader, for ``make demo`` and for the tests:

- ``MLRKIT_FAST=1``: a small dataset (``data/digits-fast``: 600 training and 300 validation
  scenes) and 2 epochs, so every notebook runs in seconds (the tests set it);
- ``MLRKIT_RUNS``: where runs and figures go (default ``runs/demo`` of the repository);
- ``MLRKIT_DATA``: the folder of the datasets (default ``data`` of the repository).

The runs folder is the kit's: :func:`notebook_setup` makes it with a manifest
(:class:`mlrkit.files.OutputFolder`) and refuses a folder of other files, since the notebooks
write their figures and tables there.

``python -m mlrkit demo`` (:mod:`mlrkit.cli.demo`) trains the two runs with this set-up, executes
the notebooks with its environment and writes ``results.md`` from :func:`demo_tables`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlrkit.audit import noise_rates
from mlrkit.config import Config, apply_overrides
from mlrkit.errors import RunDirectoryError
from mlrkit.explore import compare_separation
from mlrkit.files import ForeignFileError, OutputFolder
from mlrkit.metrics import summary_table
from mlrkit.presets import preset
from mlrkit.runs import Run
from mlrkit.train import RunDir

__all__ = [
    "DEMO_LOSSES", "FAST_EPOCHS", "FAST_SCENES", "TRAIN_MINUTES", "NotebookSetup", "demo_config",
    "demo_tables", "notebook_setup",
]  # fmt: skip

# Run name -> loss setup. Same head, same data, same optimiser, same seed, same classification
# loss (ASL): the two runs differ only in variant A (tests/test_demo.py checks the configs).
DEMO_LOSSES: dict[str, str] = {"baseline": "asl", "method": "disc-contrastive"}
FAST_SCENES = {"n_train": 600, "n_val": 300}
FAST_EPOCHS = 2
# One demo run, full mode, measured by `make demo` on an idle 2-core CPU (122 and 126 s).
TRAIN_MINUTES = 2
_REPO = Path(__file__).resolve().parent.parent
_ANOTHER_FOLDER = (
    "set MLRKIT_RUNS to a new folder (or pass notebook_setup(runs=...)) and run the cell again"
)


@dataclass(frozen=True)
class NotebookSetup:
    """Paths and switches of a notebook session (see the module docstring).

    Attributes:
        fast: the small, quick configuration.
        data: the embedded dataset's folder.
        runs: where the two runs and the figures go.
        figures: ``runs/figures``: every PNG a notebook saves.
        seed: the training seed.
        device: ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
    """

    fast: bool
    data: Path
    runs: Path
    figures: Path
    seed: int = 0
    device: str = "auto"
    overrides: tuple[str, ...] = field(default=())

    def config(self, name: str, noise: float | None = None) -> Config:
        """The config of the ``baseline`` or ``method`` run (see :func:`demo_config`); with
        ``noise``, the same run on training labels with planted errors
        (:func:`mlrkit.audit.noise_rates`: each kind at that rate) in their own data folder
        (``digits-noise10``, ``digits-fast-noise10``, ...)."""
        config = demo_config(name, self)
        if noise is None:
            return config
        # data.generate overrides merge into the run's scene options (FAST_SCENES in fast mode)
        generate = {"label_noise": noise_rates(noise)}
        return apply_overrides(config, [
            f"data.root={config.data.root}-{_noise_tag(noise)}",
            "data.generate=" + json.dumps(generate),
        ])  # fmt: skip

    def folder(self, name: str, noise: float | None = None) -> Path:
        """Where the run of :meth:`config` lives: ``runs/<name>`` or ``runs/<name>-noise10``."""
        return self.runs / (name if noise is None else f"{name}-{_noise_tag(noise)}")

    def plan(self, *names: str, noise: float | None = None) -> str:
        """One line per demo run of ``names``: loaded (finished in its folder) or trained now,
        with about how long that takes, so a notebook opened out of order says what it is
        about to train before it trains (``print(setup.plan("baseline", "method"))``)."""
        lines = []
        for name in names:
            folder = self.folder(name, noise)
            epochs = self.config(name, noise).train.epochs
            if RunDir(folder).finished(epochs):
                lines.append(f"{folder.name}: finished in {folder}, loaded")
            else:
                cost = "seconds" if self.fast else f"about {TRAIN_MINUTES} minutes on a 2-core CPU"
                lines.append(f"{folder.name}: not trained yet, trains now into {folder} ({cost})")
        return "\n".join(lines)

    def run(self, name: str, noise: float | None = None) -> Run:
        """The ``baseline`` or ``method`` run (with ``noise``: on noisy labels), trained unless
        a finished one is there, loaded from its ``last.pt`` (the fixed budget of epochs) on the
        setup's device."""
        config = self.config(name, noise)
        return Run.ensure(config, self.folder(name, noise), "last", device=self.device)


def _noise_tag(noise: float) -> str:
    return f"noise{round(100 * noise):02d}"


def notebook_setup(
    fast: bool | None = None,
    seed: int = 0,
    device: str = "auto",
    *,
    runs: str | Path | None = None,
    data: str | Path | None = None,
) -> NotebookSetup:
    """Read ``MLRKIT_FAST``, ``MLRKIT_RUNS`` and ``MLRKIT_DATA`` (arguments win) and make the
    folders. Defaults are relative to the repository this package runs from (or to the current
    folder when it is installed elsewhere): ``data`` and ``runs/demo`` (``runs/demo-fast``).

    Raises:
        RunDirectoryError: a folder cannot be created; the message names the variable to set.
        mlrkit.files.ForeignFileError: the runs folder holds files but was not made by mlrkit
            (the message names the variable to set).
    """
    if fast is None:
        fast = os.environ.get("MLRKIT_FAST", "0") not in ("", "0", "false", "False")
    base = _REPO if (_REPO / "pyproject.toml").is_file() else Path.cwd()
    default_runs = base / "runs" / ("demo-fast" if fast else "demo")
    data = Path(data or os.environ.get("MLRKIT_DATA", base / "data")).resolve()
    runs = Path(runs or os.environ.get("MLRKIT_RUNS", default_runs)).resolve()
    figures = runs / "figures"
    try:
        OutputFolder(runs, fix=_ANOTHER_FOLDER).claim()
        figures.mkdir(parents=True, exist_ok=True)
    except ForeignFileError:
        raise
    except OSError as err:  # a read-only checkout, a file in the way
        raise RunDirectoryError(
            f"cannot create {figures} ({err.strerror or err}); set MLRKIT_RUNS to a writable "
            "folder (e.g. MLRKIT_RUNS=$HOME/mlrkit-runs) before starting Jupyter, or pass "
            "notebook_setup(runs=...), and run the cell again"
        ) from None
    return NotebookSetup(fast, data, runs, figures, seed, device)


def demo_config(name: str, setup: NotebookSetup) -> Config:
    """The ``digits`` preset with the loss of ``name`` (:data:`DEMO_LOSSES`), the setup's data
    folder, seed and device; in fast mode the small dataset and :data:`FAST_EPOCHS` epochs."""
    if name not in DEMO_LOSSES:
        raise KeyError(f"unknown demo run {name!r}; choose one of {sorted(DEMO_LOSSES)}")
    cfg = preset("digits", loss=DEMO_LOSSES[name])
    folder = "digits-fast" if setup.fast else "digits"
    overrides = [
        f"data.root={setup.data / folder}",
        f"train.seed={setup.seed}",
        f"train.device={setup.device}",
    ]
    if setup.fast:
        overrides += [
            "data.generate=" + json.dumps(FAST_SCENES),
            f"train.epochs={FAST_EPOCHS}",
        ]
    return apply_overrides(cfg, overrides + list(setup.overrides))


def demo_tables(setup: NotebookSetup) -> dict[str, pd.DataFrame]:
    """The demo's two tables, measured now on the two runs (trained first unless finished):

    - ``scores``: :func:`mlrkit.metrics.summary_table` of each run on the validation split
      (``mAP, CF1, OF1, CP, CR, OP, OR``, %, threshold 0.5, rounded to 2 decimals as notebook
      03 shows them), one row per run;
    - ``separation``: :func:`mlrkit.explore.compare_separation` of the overall rows in the
      three spaces notebook 04 compares (each run's class features, the method's projection),
      without the row count and the columns no row has.
    """
    runs = {name: setup.run(name) for name in DEMO_LOSSES}
    val = runs["method"].split()
    classes = list(val.classes)
    scores = pd.concat([
        summary_table(run.scores(val)[classes].to_numpy(), val.targets, classes,
                      scores_are="probabilities", name=name)
        for name, run in runs.items()
    ]).round(2)  # fmt: skip
    views = {
        "baseline · class features": runs["baseline"].embeddings(space="features"),
        "method · class features": runs["method"].embeddings(space="features"),
        "method · projection output": runs["method"].embeddings(space="embedding"),
    }
    separation = compare_separation({name: emb.separation() for name, emb in views.items()})
    # presence_auroc needs the absent pairs too, which these rows (present pairs) do not hold
    separation = separation.drop(columns=["n"], errors="ignore").dropna(axis=1, how="all")
    return {"scores": scores[["mAP", "CF1", "OF1", "CP", "CR", "OP", "OR"]],
            "separation": separation}  # fmt: skip
