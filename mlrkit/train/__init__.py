"""The training side: from a config to a run directory.

=============== ==========================================================================
module          what it holds
=============== ==========================================================================
``fitting``     :func:`fit`: epochs, evaluation, checkpoints, logging, exact resume;
                :func:`ensure_run`: fit unless the run is already finished
``loops``       :func:`train_one_epoch`, :func:`evaluate`, :func:`predict` (plain functions)
                over :func:`outputs`, the one inference loop
``trained``     :class:`TrainedRun`: a run rebuilt from a checkpoint, and what its model does
``recipe``      config -> datasets, model, objective, loaders; :func:`check_config`
``stages``      SADCL's two stages (stage switch, prototype initialisation)
``optim``       optimiser parameter groups and per-iteration lr schedules
``state``       the mutable state of a run and its checkpoint round trip
``checkpoint``  atomic saves, ``weights_only`` loading, mismatch errors
``rundir``      :class:`RunDir`: the one place that names a run directory's files; what a
                new run may do to it
``ema``         exponential moving average of the weights
=============== ==========================================================================

Notebooks, scripts and tests import public names from here (``from mlrkit.train import fit``);
modules inside mlrkit import from the defining module, which keeps imports free of cycles. Using
a finished run (evaluate, score, embed) is :class:`mlrkit.runs.Run`.
"""

from mlrkit.train.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from mlrkit.train.ema import ModelEMA
from mlrkit.train.fitting import (
    LOGGED_METRICS,
    RunResult,
    check_same_experiment,
    ensure_run,
    fit,
)
from mlrkit.train.loops import (
    NonFiniteLossError,
    NonFiniteStateError,
    evaluate,
    outputs,
    predict,
    train_one_epoch,
)
from mlrkit.train.optim import build_optimizer, build_scheduler, param_groups
from mlrkit.train.recipe import check_config
from mlrkit.train.rundir import RUN_FILES, RunDir
from mlrkit.train.stages import init_prototypes
from mlrkit.train.trained import TrainedRun

__all__ = [
    "LOGGED_METRICS",
    "RUN_FILES",
    "CheckpointError",
    "CheckpointMismatchError",
    "ModelEMA",
    "NonFiniteLossError",
    "NonFiniteStateError",
    "RunDir",
    "RunResult",
    "TrainedRun",
    "build_optimizer",
    "build_scheduler",
    "check_config",
    "check_same_experiment",
    "ensure_run",
    "evaluate",
    "fit",
    "init_prototypes",
    "load_checkpoint",
    "outputs",
    "param_groups",
    "predict",
    "save_checkpoint",
    "train_one_epoch",
]
