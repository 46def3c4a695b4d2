"""The loss ablation: loss setups x seeds x presets, trained (or reused), measured, summarised.

One run per :class:`AblationRun` in ``out/<preset>/<label>/seed<seed>/``. A run is measured on
its validation split from ``last.pt`` (the fixed budget of epochs, not the best epoch: picking
the best epoch on the split it is scored on would flatter every loss), and the measurement is
saved beside it as ``ablation.json``. So the ablation can be run in parts: a measured run is
read back, a finished but unmeasured one is only measured, an interrupted one resumes.

Each row of :func:`run_ablation`'s table holds the run's ``mAP``, ``CF1`` and ``OF1`` (percent,
threshold 0.5) and the ``overall`` row of :func:`mlrkit.explore.separation_report` in both
spaces, prefixed ``features_`` (the head's class features) and ``embedding_`` (the objective's
projection output; NaN for ``bce`` and ``asl``, which have none).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mlrkit.config import LOSS_SETUP_NAMES, apply_overrides
from mlrkit.errors import ConfigError
from mlrkit.explore import SPACES, extract_embeddings
from mlrkit.presets import PRESETS, preset
from mlrkit.runs import evaluate_split, load_run, split_dataset
from mlrkit.train import ensure_run
from mlrkit.train.rundir import run_finished

__all__ = [
    "ABLATION_EPOCHS",
    "ABLATION_LOSSES",
    "SEPARATION_COLUMNS",
    "AblationRun",
    "format_summary",
    "lambda_table",
    "lambda_sweep",
    "plan_ablation",
    "run_ablation",
    "summarize_ablation",
]

ABLATION_LOSSES: tuple[str, ...] = LOSS_SETUP_NAMES
# Epochs per preset, chosen so the 30 runs of `make ablation` (5 losses x 3 seeds x 2 presets)
# fit in about 90 minutes on a 2-core CPU; docs/ablation.md states the measured time.
ABLATION_EPOCHS: dict[str, int] = {"digits": 5, "digits-hard": 12}
SCORE_COLUMNS: tuple[str, ...] = ("mAP", "CF1", "OF1")
SEPARATION_COLUMNS: tuple[str, ...] = ("silhouette", "knn_precision_at_1", "intra_cos", "inter_cos")
ROW_FILE = "ablation.json"
DEFAULT_DISC_WEIGHT = 1.0  # mlrkit.losses.setups: lambda of variants A and B


@dataclass(frozen=True)
class AblationRun:
    """One run of the ablation.

    Attributes:
        preset: a preset name (:data:`mlrkit.presets.PRESETS`).
        loss: a loss setup (:data:`mlrkit.config.LOSS_SETUP_NAMES`).
        seed: the training seed (``train.seed``); the data stay the same.
        epochs: training epochs.
        overrides: ``--set``-style ``key=value`` strings applied last.
        label: the name in tables and folders (the loss, or e.g. ``disc-contrastive@0.5``).
    """

    preset: str
    loss: str
    seed: int
    epochs: int
    overrides: tuple[str, ...] = ()
    label: str = ""

    def directory(self, out: str | Path) -> Path:
        return Path(out) / self.preset / (self.label or self.loss) / f"seed{self.seed}"


def plan_ablation(
    presets: Sequence[str] = ("digits", "digits-hard"),
    losses: Sequence[str] = ABLATION_LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: Mapping[str, int] | None = None,
    overrides: Sequence[str] = (),
) -> list[AblationRun]:
    """Every (preset, loss, seed), in that order (so a partial ablation covers whole presets).

    Args:
        epochs: per preset; default :data:`ABLATION_EPOCHS`, else the preset's own.

    Raises:
        ConfigError: an unknown preset or loss.
    """
    for name in presets:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    for loss in losses:
        if loss not in LOSS_SETUP_NAMES:
            raise ConfigError(f"unknown loss setup {loss!r}; choose from {LOSS_SETUP_NAMES}")
    epochs = epochs or {}
    return [
        AblationRun(p, loss, int(s), _epochs(p, epochs.get(p)), tuple(overrides), loss)
        for p in presets
        for loss in losses
        for s in seeds
    ]


def lambda_sweep(
    preset_name: str = "digits-hard",
    weights: Iterable[float] = (0.1, 0.5, 1.0, 2.0),
    seed: int = 0,
    epochs: int | None = None,
    loss: str = "disc-contrastive",
) -> list[AblationRun]:
    """Runs of ``loss`` with ``loss.objective_kwargs.disc_weight`` = each of ``weights``.

    Labelled ``<loss>@<weight>``, except the setup's default weight (1): that run is the plain
    ablation's run of ``loss`` at ``seed`` (same folder, so it is reused, not trained twice).
    """
    n = _epochs(preset_name, epochs)
    return [
        AblationRun(preset_name, loss, seed, n, (_disc_weight(w),), f"{loss}@{w:g}")
        if w != DEFAULT_DISC_WEIGHT
        else AblationRun(preset_name, loss, seed, n, (), loss)
        for w in weights
    ]


def lambda_table(results: pd.DataFrame, loss: str = "disc-contrastive") -> pd.DataFrame:
    """The sweep's rows of ``results`` with their ``disc_weight``, sorted by weight.

    A row belongs to the sweep when its label is ``<loss>@<w>``, or ``loss`` itself (weight 1)
    at a preset and seed where some ``<loss>@<w>`` row exists.
    """
    swept = results[results["label"].str.startswith(f"{loss}@")]
    weights = swept["label"].str.removeprefix(f"{loss}@").astype(float)
    keys = set(zip(swept["preset"], swept["seed"], strict=True))
    plain = results[results["label"] == loss]
    plain = plain[[k in keys for k in zip(plain["preset"], plain["seed"], strict=True)]]
    table = pd.concat([swept.assign(disc_weight=weights), plain.assign(disc_weight=1.0)])
    return table.sort_values(["preset", "seed", "disc_weight"]).reset_index(drop=True)


def _epochs(preset_name: str, given: int | None) -> int:
    """``given``, else :data:`ABLATION_EPOCHS`, else the preset's own epochs."""
    if given is not None:
        return given
    return ABLATION_EPOCHS.get(preset_name, preset(preset_name).train.epochs)


def _disc_weight(weight: float) -> str:
    return "loss.objective_kwargs=" + json.dumps({"disc_weight": float(weight)})


def _config(run: AblationRun) -> Any:
    cfg = preset(run.preset, loss=run.loss)
    cfg.train.epochs = run.epochs
    cfg.train.seed = run.seed
    return apply_overrides(cfg, list(run.overrides))


def _measure(run_dir: Path, max_items: int | None, progress: bool) -> dict[str, float]:
    """Scores of ``last.pt`` on the validation split and the separation in both spaces."""
    trained = load_run(run_dir / "last.pt", device="cpu")
    scores = evaluate_split(trained, split_dataset(trained))
    row = {name: 100.0 * float(scores[name]) for name in SCORE_COLUMNS}
    for space in SPACES:
        if space == "embedding" and trained.objective.projection is None:
            row |= {f"{space}_{c}": math.nan for c in SEPARATION_COLUMNS}
            continue
        emb = extract_embeddings(trained, space=space, max_items=max_items, progress=progress)
        report = emb.separation()
        row |= {f"{space}_{c}": float(report.loc["overall", c]) for c in SEPARATION_COLUMNS}
    return row


def run_ablation(
    runs: Sequence[AblationRun],
    out: str | Path,
    *,
    max_items: int | None = 4000,
    progress: bool = True,
    results: str | Path | None = None,
) -> pd.DataFrame:
    """Train (or reuse) and measure every run; one row per run, written as it completes.

    Args:
        runs: from :func:`plan_ablation` and/or :func:`lambda_sweep`.
        out: the folder of the run directories.
        max_items: (image, class) pairs per run for the separation measures (the first ones of
            the validation split), so each report costs seconds.
        progress: a bar over the runs (and the training's own output).
        results: the CSV rewritten after each run (default ``out/results.csv``).

    Returns:
        One row per run: ``preset, label, loss, seed, epochs, overrides``, the scores, the
        separation columns, ``train_seconds`` (0 for a reused run) and ``run_dir``.
    """
    out = Path(out)
    csv = Path(results) if results is not None else out / "results.csv"
    rows: list[dict[str, Any]] = []
    runs = list({run.directory(out): run for run in runs}.values())  # one row per folder
    bar = tqdm(runs, desc="ablation", unit="run", disable=not progress)
    for run in bar:
        run_dir = run.directory(out)
        bar.set_postfix_str(f"{run.preset} {run.label or run.loss} seed {run.seed}")
        saved = run_dir / ROW_FILE
        if saved.is_file() and run_finished(run_dir, run.epochs):
            row = json.loads(saved.read_text(encoding="utf-8"))
        else:
            start = time.perf_counter()
            trained = ensure_run(_config(run), run_dir, verbose=False)
            seconds = time.perf_counter() - start if trained else 0.0
            row = asdict(run) | {"overrides": " ".join(run.overrides)}
            row |= _measure(run_dir, max_items, progress=False)
            row |= {"train_seconds": round(seconds, 1), "run_dir": str(run_dir)}
            saved.write_text(json.dumps(row, indent=1), encoding="utf-8")
        rows.append(row)
        csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(csv, index=False)
    return pd.DataFrame(rows)


def summarize_ablation(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) over seeds per (preset, label).

    Returns:
        Indexed by ``(preset, label)`` in first-seen order, columns ``(measure, "mean" | "std")``
        plus ``("seeds", "n")``; the std is NaN for a single seed.
    """
    measures = list(SCORE_COLUMNS) + [
        f"{s}_{c}" for s in SPACES for c in SEPARATION_COLUMNS if f"{s}_{c}" in results
    ]
    grouped = results.groupby(["preset", "label"], sort=False)
    summary = grouped[measures].agg(["mean", "std"])
    summary[("seeds", "n")] = grouped["seed"].count()
    return summary


def format_summary(summary: pd.DataFrame, measures: Sequence[str] = SCORE_COLUMNS) -> pd.DataFrame:
    """``mean ± std`` strings of ``measures`` (2 decimals for percentages, 3 for the rest)."""
    cells = {}
    for m in measures:
        digits = 2 if m in SCORE_COLUMNS else 3
        mean, std = summary[(m, "mean")], summary[(m, "std")]
        cells[m] = [
            "n/a" if np.isnan(a) else f"{a:.{digits}f} ± {b:.{digits}f}" if not np.isnan(b)
            else f"{a:.{digits}f}"
            for a, b in zip(mean, std, strict=True)
        ]  # fmt: skip
    frame = pd.DataFrame(cells, index=summary.index)
    frame["seeds"] = summary[("seeds", "n")]
    return frame
