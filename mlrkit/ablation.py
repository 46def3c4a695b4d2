"""The loss ablation: loss setups x seeds x presets, trained (or reused), measured, summarised.

One run per :class:`AblationRun` in ``out/<preset>/<label>/seed<seed>/``. A run is measured on
its validation split from ``last.pt`` (the fixed budget of epochs, not the best epoch: picking
the best epoch on the split it is scored on would flatter every loss; the best epoch's mAP is
recorded beside it), and the measurement is saved beside it as ``ablation.json``. So the
ablation can be run in parts: a measured run is read back, a finished but unmeasured one is only
measured, an interrupted one resumes.

A run carries its parameters as data: its fields are columns of the results, among them
``disc_weight``, the lambda of variants A and B in effect (NaN for a setup without one). The
lambda sweep (:func:`lambda_sweep`) is the same runs at other weights; the tables of
:mod:`mlrkit.ablation_tables` select rows by that column. The label (e.g.
``disc-contrastive@0.5``) names a run in tables and folders and is never read back as a value.

SADCL is compared like with like. Its stage 1 is the ``asl`` run of the same preset and seed,
reused (not retrained): stage 2 starts from that run's ``best.pt`` and trains
:data:`STAGE2_EPOCHS` more epochs under a fresh schedule (``train.init_from``,
``loss.sadcl_stage1_epochs=0``). Its control, :data:`CONTROL_LABEL`, is the same ``asl`` run
continued from the same weights for the same epochs with the same fresh schedule and no
contrastive term. Both record ``start_mAP``, the validation mAP of the weights they start from.

Each row of :func:`run_ablation`'s table holds the run's scores (percent, threshold 0.5:
``mAP, CP, CR, CF1, OP, OR, OF1``), ``best_mAP`` and ``best_epoch`` from its validation log,
``start_mAP``, and the ``overall`` row of :func:`mlrkit.explore.separation_report` in both
spaces, prefixed ``features_`` (the head's class features) and ``embedding_`` (the objective's
projection output; NaN for ``bce`` and ``asl``, which have none), measured over every (image,
class) pair of the split so that ``presence_auroc`` sees the absent ones.
"""

from __future__ import annotations

import inspect
import json
import math
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from mlrkit.config import LOSS_SETUP_NAMES, apply_overrides
from mlrkit.errors import ConfigError
from mlrkit.explore import SPACES
from mlrkit.files import OutputFolder, write_text
from mlrkit.losses import LOSS_SETUPS
from mlrkit.presets import PRESETS, preset
from mlrkit.runs import Run
from mlrkit.train import check_same_experiment, ensure_run
from mlrkit.train.rundir import RunDir

__all__ = [
    "ABLATION_EPOCHS",
    "ABLATION_LOSSES",
    "CONTROL_LABEL",
    "SCORE_COLUMNS",
    "SEPARATION_COLUMNS",
    "STAGE2_EPOCHS",
    "AblationRun",
    "default_disc_weight",
    "disc_weight_of",
    "lambda_sweep",
    "plan_ablation",
    "run_ablation",
]

ABLATION_LOSSES: tuple[str, ...] = LOSS_SETUP_NAMES
# Epochs per preset; docs/ablation.md states the measured time of `make ablation`.
ABLATION_EPOCHS: dict[str, int] = {"digits": 5, "digits-hard": 12}
# SADCL's stage 2 and its control: epochs after the reused asl run (half its epochs, rounded up).
STAGE2_EPOCHS: dict[str, int] = {"digits": 3, "digits-hard": 6}
CONTROL_LABEL = "asl-continued"
SCORE_COLUMNS: tuple[str, ...] = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")
HISTORY_COLUMNS: tuple[str, ...] = ("best_mAP", "best_epoch", "start_mAP")
SEPARATION_COLUMNS: tuple[str, ...] = (
    "silhouette", "knn_precision_at_1", "intra_cos", "inter_cos", "presence_auroc",
)  # fmt: skip
ROW_FILE = "ablation.json"


def default_disc_weight(setup: str) -> float:
    """The lambda of variant A or B a loss setup trains with unless told (NaN: it has none)."""
    param = inspect.signature(LOSS_SETUPS[setup]).parameters.get("disc_weight")
    return math.nan if param is None else float(param.default)


@dataclass(frozen=True)
class AblationRun:
    """One run of the ablation.

    Attributes:
        preset: a preset name (:data:`mlrkit.presets.PRESETS`).
        loss: a loss setup (:data:`mlrkit.config.LOSS_SETUP_NAMES`).
        seed: the training seed (``train.seed``); the data stay the same.
        epochs: training epochs (of this run; after its start for a run with ``start_from``).
        overrides: ``--set``-style ``key=value`` strings applied to the preset (before
            ``disc_weight``).
        label: the name in tables and folders (the loss, or e.g. ``disc-contrastive@0.5``).
        start_from: the label of the run of the same preset and seed whose ``best.pt`` starts
            this one (``""``: from scratch).
        disc_weight: ``loss.objective_kwargs.disc_weight``, set after ``overrides``; None: the
            setup's (its default unless ``overrides`` set it). The results' ``disc_weight``
            column holds the weight in effect either way (:func:`disc_weight_of`).
    """

    preset: str
    loss: str
    seed: int
    epochs: int
    overrides: tuple[str, ...] = ()
    label: str = ""
    start_from: str = ""
    disc_weight: float | None = None

    def directory(self, out: str | Path) -> Path:
        return Path(out) / self.preset / (self.label or self.loss) / f"seed{self.seed}"

    def start_directory(self, out: str | Path) -> Path | None:
        """The run folder this run starts from (None: from scratch)."""
        if not self.start_from:
            return None
        return Path(out) / self.preset / self.start_from / f"seed{self.seed}"


def plan_ablation(
    presets: Sequence[str] = ("digits", "digits-hard"),
    losses: Sequence[str] = ABLATION_LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: Mapping[str, int] | None = None,
    overrides: Sequence[str] = (),
    stage2_epochs: Mapping[str, int] | None = None,
) -> list[AblationRun]:
    """Every (preset, loss, seed), in that order (so a partial ablation covers whole presets).

    ``sadcl`` stands for three runs per seed: the ``asl`` run (its stage 1; the same run as the
    plain ``asl`` one, so it is trained once), the control (:data:`CONTROL_LABEL`) and SADCL's
    stage 2, both from that run's ``best.pt``.

    Args:
        epochs: per preset; default :data:`ABLATION_EPOCHS`, else the preset's own.
        stage2_epochs: SADCL's stage 2 and its control, per preset; default
            :data:`STAGE2_EPOCHS`, else half the epochs (rounded up).

    Raises:
        ConfigError: an unknown preset or loss.
    """
    for name in presets:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    for loss in losses:
        if loss not in LOSS_SETUP_NAMES:
            raise ConfigError(f"unknown loss setup {loss!r}; choose from {LOSS_SETUP_NAMES}")
    epochs, stage2_epochs = epochs or {}, stage2_epochs or {}
    ov = tuple(overrides)
    runs: list[AblationRun] = []
    for p in presets:
        n = _epochs(p, epochs.get(p))
        n2 = stage2_epochs.get(p, STAGE2_EPOCHS.get(p, math.ceil(n / 2)))
        for loss in losses:
            for s in seeds:
                if loss != "sadcl":
                    runs.append(AblationRun(p, loss, int(s), n, ov, loss))
                    continue
                runs += [
                    AblationRun(p, "asl", int(s), n, ov, "asl"),
                    AblationRun(p, "asl", int(s), n2, ov, CONTROL_LABEL, start_from="asl"),
                    AblationRun(p, "sadcl", int(s), n2, ov, "sadcl", start_from="asl"),
                ]
    return runs


def lambda_sweep(
    preset_name: str = "digits-hard",
    weights: Iterable[float] = (0.1, 0.5, 1.0, 2.0),
    seed: int = 0,
    epochs: int | None = None,
    loss: str = "disc-contrastive",
) -> list[AblationRun]:
    """Runs of ``loss`` with ``disc_weight`` = each of ``weights``.

    Labelled ``<loss>@<weight>`` (their folder names), except the setup's default weight: that
    run is the plain ablation's run of ``loss`` at ``seed`` (same folder, so it is reused, not
    trained twice).
    """
    n = _epochs(preset_name, epochs)
    default = default_disc_weight(loss)
    return [
        AblationRun(preset_name, loss, seed, n, (), f"{loss}@{w:g}", disc_weight=float(w))
        if w != default
        else AblationRun(preset_name, loss, seed, n, (), loss)
        for w in weights
    ]


def disc_weight_of(cfg: Any) -> float:
    """The lambda of variant A or B a config trains with (NaN: its setup has none)."""
    default = default_disc_weight(cfg.loss.setup)
    if math.isnan(default):
        return default
    return float(cfg.loss.objective_kwargs.get("disc_weight", default))


def _epochs(preset_name: str, given: int | None) -> int:
    """``given``, else :data:`ABLATION_EPOCHS`, else the preset's own epochs."""
    if given is not None:
        return given
    return ABLATION_EPOCHS.get(preset_name, preset(preset_name).train.epochs)


def _config(run: AblationRun, out: str | Path = ".") -> Any:
    cfg = preset(run.preset, loss=run.loss)
    cfg.train.epochs = run.epochs
    cfg.train.seed = run.seed
    start = run.start_directory(out)
    if start is not None:
        cfg.train.init_from = str(RunDir(start).best)
        if run.loss == "sadcl":
            cfg.loss.sadcl_stage1_epochs = 0  # stage 1 is the start run
    overrides = list(run.overrides)
    if run.disc_weight is not None:
        overrides.append("loss.objective_kwargs=" + json.dumps({"disc_weight": run.disc_weight}))
    return apply_overrides(cfg, overrides)


def _best(run_dir: Path) -> tuple[float, int]:
    """``(best val mAP in percent, its epoch)`` of a run's validation log."""
    rows = [r for r in RunDir(run_dir).history() if "val_mAP" in r]
    if not rows:
        return math.nan, -1
    best = max(rows, key=lambda r: r["val_mAP"])  # the first of equal values, as best.pt
    return 100.0 * float(best["val_mAP"]), int(best["epoch"])


def _measure(run_dir: Path, sample: int | None, progress: bool) -> dict[str, float]:
    """Scores of ``last.pt`` on the validation split, its best epoch, and the separation in
    both spaces over every (image, class) pair."""
    trained = Run.load(run_dir, "last", device="cpu")
    scores = trained.evaluate()
    row: dict[str, float] = {name: 100.0 * float(scores[name]) for name in SCORE_COLUMNS}
    row["best_mAP"], row["best_epoch"] = _best(run_dir)
    for space in SPACES:
        if space == "embedding" and trained.objective.projection is None:
            row |= {f"{space}_{c}": math.nan for c in SEPARATION_COLUMNS}
            continue
        emb = trained.embeddings(space=space, which="all", progress=progress)
        report = emb.separation(sample=sample)
        row |= {f"{space}_{c}": float(report.loc["overall", c]) for c in SEPARATION_COLUMNS}
    return row


def _columns() -> list[str]:
    """The columns of a measured row, in table order."""
    runs = [f.name for f in AblationRun.__dataclass_fields__.values()]
    spaces = [f"{s}_{c}" for s in SPACES for c in SEPARATION_COLUMNS]
    return [*runs, *SCORE_COLUMNS, *HISTORY_COLUMNS, *spaces, "train_seconds", "run_dir"]


def _saved_row(path: Path) -> dict[str, Any]:
    """The row a finished trial saved, or {} when there is none or it cannot be read (the
    trial is then measured again: the file is the kit's own, nothing is lost)."""
    if not path.is_file():
        return {}
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        warnings.warn(f"{path} is unreadable ({err}); measuring the run again", stacklevel=3)
        return {}
    return row if isinstance(row, dict) else {}


def run_ablation(
    runs: Sequence[AblationRun],
    out: str | Path,
    *,
    sample: int | None = 4000,
    progress: bool = True,
    results: str | Path | None = None,
) -> pd.DataFrame:
    """Train (or reuse) and measure every run; one row per run, written as it completes.

    Args:
        runs: from :func:`plan_ablation` and/or :func:`lambda_sweep`; a run with
            ``start_from`` after the run it starts from.
        out: the folder of the run directories.
        sample: present (image, class) pairs per separation report (a stratified subsample,
            :func:`mlrkit.explore.separation_report`), so each report costs seconds.
        progress: a bar over the runs (and the training's own output).
        results: the CSV rewritten after each run (default ``out/results.csv``), atomically
            and never over a file the kit did not write.

    Returns:
        One row per run, columns: the :class:`AblationRun` fields (``disc_weight``: the weight
        in effect, NaN for a setup without one), the scores, ``best_mAP``, ``best_epoch``,
        ``start_mAP`` (NaN for a run from scratch), the separation columns, ``train_seconds``
        (0 for a reused run) and ``run_dir``.

    Raises:
        ConfigError: a run's ``start_from`` run has no ``best.pt`` (it was not in the plan
            before it).
        mlrkit.files.ForeignFileError: the results file exists and the kit did not write it.
    """
    out = Path(out)
    csv = Path(results) if results is not None else out / "results.csv"
    tables = OutputFolder(csv.parent, fix="choose another --out (or results file)")
    tables.check([csv.name])  # before the first trial: never over a file the kit did not write
    columns = _columns()
    measured = set(columns) - {f.name for f in AblationRun.__dataclass_fields__.values()}
    rows: list[dict[str, Any]] = []
    runs = list({run.directory(out): run for run in runs}.values())  # one row per folder
    bar = tqdm(runs, desc="ablation", unit="run", disable=not progress)
    for run in bar:
        run_dir = run.directory(out)
        bar.set_postfix_str(f"{run.preset} {run.label or run.loss} seed {run.seed}")
        cfg = _config(run, out)
        # The parameter columns come from the plan, the measured ones from the run, so a row
        # saved before a parameter became a column is completed without measuring again.
        params = asdict(run) | {"overrides": " ".join(run.overrides)}
        params["disc_weight"] = disc_weight_of(cfg)
        # A folder of another experiment (another --set, another plan) is refused here, before
        # its saved row could be reported as this trial's result.
        check_same_experiment(cfg, run_dir)
        saved = run_dir / ROW_FILE
        before = _saved_row(saved)
        row = before
        if not measured <= set(row) or not RunDir(run_dir).finished(run.epochs):
            start_dir = run.start_directory(out)
            if start_dir is not None and not RunDir(start_dir).best.is_file():
                raise ConfigError(
                    f"{run_dir} starts from {RunDir(start_dir).best}, which does not exist; "
                    f"put the {run.start_from!r} run of seed {run.seed} before it in the plan"
                )
            start = time.perf_counter()
            trained = ensure_run(cfg, run_dir) != "reused"
            seconds = time.perf_counter() - start if trained else row.get("train_seconds", 0.0)
            row = _measure(run_dir, sample, progress=False)
            row["start_mAP"] = _best(start_dir)[0] if start_dir is not None else math.nan
            row |= {"train_seconds": round(seconds, 1), "run_dir": str(run_dir)}
        row = {name: (row | params)[name] for name in columns}
        if json.dumps(row) != json.dumps(before):  # json: NaN == NaN there
            write_text(saved, json.dumps(row, indent=1))  # a killed run leaves a whole row
        rows.append(row)
        frame = pd.DataFrame(rows, columns=columns)
        tables.write({csv.name: lambda path, frame=frame: frame.to_csv(path, index=False)})
    return pd.DataFrame(rows, columns=columns)
