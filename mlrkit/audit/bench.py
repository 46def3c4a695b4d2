"""The audit benchmark: does a loss's feature space help find wrong labels?

Planted errors at each noise level (:data:`NOISE_LEVELS`: a level ``r`` plants each kind,
missing, spurious and swapped, at rate ``r``; see :mod:`mlrkit.data.label_noise`) in the
training split of the embedded ``digits``; every loss setup trained on the noisy labels, as in
the loss ablation (:func:`mlrkit.ablation.plan_ablation`: the same epochs, SADCL's stage 2 and
its control from the ``asl`` run), over several seeds; each run measured twice:

- on the **clean** validation split (noise is planted in the training split only): mAP and the
  separation of :func:`mlrkit.ablation.run_ablation`;
- as an **auditor** of its own training split (:func:`mlrkit.audit.audit_run`, in-sample
  scores, class features with ``k`` neighbours): ROC AUC and average precision of finding the
  planted (image, class) errors, by scores, by features and combined.

Resumable like the ablation: runs are trained unless finished, and each run's audit is saved
beside it as ``audit.json`` (atomically) and read back while its checkpoint is the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from mlrkit.ablation import plan_ablation, run_ablation
from mlrkit.audit.detection import OVERALL
from mlrkit.audit.report import audit_run
from mlrkit.errors import InvalidInputError
from mlrkit.files import OutputFolder, write_text
from mlrkit.runs import Run
from mlrkit.train import RunDir

__all__ = [
    "BENCH_LOSSES", "BENCH_MEASURES", "NOISE_LEVELS", "audit_bench", "noise_rates",
    "summarize_audit_bench",
]  # fmt: skip

NOISE_LEVELS: tuple[float, ...] = (0.05, 0.10)
BENCH_LOSSES: tuple[str, ...] = ("bce", "asl", "disc-contrastive", "sadcl")
AUDIT_FILE = "audit.json"


def noise_rates(level: float) -> dict[str, float]:
    """The ``label_noise`` of a noise level: each kind at rate ``level``."""
    if not 0 < level <= 0.5:
        raise InvalidInputError(f"a noise level must be in (0, 0.5], got {level!r}")
    return {"missing": level, "spurious": level, "swapped": level}


def _tag(level: float) -> str:
    return f"noise{round(100 * level):02d}"


def audit_bench(
    out: str | Path,
    *,
    levels: Sequence[float] = NOISE_LEVELS,
    losses: Sequence[str] = BENCH_LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    data: str | Path = "data",
    k: int = 10,
    sample: int | None = 4000,
    scenes: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    epochs: Mapping[str, int] | None = None,
    stage2_epochs: Mapping[str, int] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or reuse), measure and audit every (level, loss, seed); one row per run.

    Args:
        out: ``out/<noiseNN>/`` holds each level's runs, as an ablation folder.
        data: the noisy datasets go to ``data/digits-<noiseNN>`` (generated when missing).
        k: neighbours of the feature suspicion.
        sample: the ablation's separation sample (present pairs per report).
        scenes: more :func:`mlrkit.data.make_digit_scenes` options of the noisy data (a
            smaller dataset, for a quick look or a test).
        overrides, epochs, stage2_epochs: as :func:`mlrkit.ablation.plan_ablation`'s (default:
            the ablation's epochs on ``digits``).

    Returns:
        One row per run: ``level``, ``error_share`` (wrong labels among the judged (image,
        class) pairs of the training split), the ablation's columns (``label``, ``seed``,
        ``mAP`` on the clean validation split, ...), and per method (``scores``,
        ``features``, ``combined``) ``<method>_auroc`` and ``<method>_ap``.
    """
    out = Path(out)
    tables = OutputFolder(out, fix="choose another --out")
    tables.check(["results.csv"])
    rows = []
    for level in levels:
        tag = _tag(level)
        trial = [
            f"data.root={Path(data) / f'digits-{tag}'}",
            "data.generate=" + json.dumps({**(scenes or {}), "label_noise": noise_rates(level)}),
            *overrides,
        ]
        runs = plan_ablation(["digits"], losses, seeds, epochs, trial, stage2_epochs)
        measured = run_ablation(runs, out / tag, sample=sample, progress=progress)
        bar = tqdm(
            list(measured.itertuples(index=False)), desc=f"audit {tag}", disable=not progress
        )
        for trial in bar:
            row = {"level": level, **trial._asdict()}
            row |= _audited(Path(trial.run_dir), k, progress)
            rows.append(row)
        frame = pd.DataFrame(rows)
        tables.write({"results.csv": lambda path, frame=frame: frame.to_csv(path, index=False)})
    return pd.DataFrame(rows)


def _audited(run_dir: Path, k: int, progress: bool) -> dict[str, Any]:
    """The audit row of one run, read back from ``audit.json`` while its checkpoint is the
    one it was measured on, else measured and saved."""
    saved = run_dir / AUDIT_FILE
    stamp = RunDir(run_dir).last.stat().st_mtime_ns
    if saved.is_file():
        try:
            row = json.loads(saved.read_text(encoding="utf-8"))
        except ValueError:
            row = {}
        if row.get("checkpoint_mtime_ns") == stamp and row.get("k") == k:
            return {key: v for key, v in row.items() if key not in ("checkpoint_mtime_ns", "k")}
    audit = audit_run(Run.load(run_dir, "last", device="cpu"), method="both", k=k,
                      progress=progress)  # fmt: skip
    if audit.detection is None:
        raise InvalidInputError(f"{run_dir}: its data hold no planted errors to measure")
    overall = audit.detection.loc[OVERALL].set_index("method")
    judged = audit.is_error[audit.suspects["image"], audit.suspects["class_index"]]
    row = {"error_share": float(judged.mean())}
    for method in ("scores", "features", "combined"):
        for column, name in (("auroc", "auroc"), ("average_precision", "ap")):
            row[f"{method}_{name}"] = (
                float(overall.loc[method, column]) if method in overall.index else float("nan")
            )
    write_text(saved, json.dumps(row | {"checkpoint_mtime_ns": stamp, "k": k}, indent=1))
    return row


BENCH_MEASURES: tuple[str, ...] = (
    "mAP", "scores_auroc", "features_auroc", "combined_auroc", "scores_ap", "features_ap",
    "combined_ap",
)  # fmt: skip


def summarize_audit_bench(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds (``ddof=1``) of :data:`BENCH_MEASURES` and the
    error share, per noise level and run label; columns ``<measure>_mean``, ``<measure>_std``
    and ``seeds``."""
    measures = [m for m in (*BENCH_MEASURES, "error_share") if m in results]
    grouped = results.groupby(["level", "label"], sort=False)[measures]
    summary = grouped.agg(["mean", "std"])
    summary.columns = [f"{measure}_{stat}" for measure, stat in summary.columns]
    summary["seeds"] = grouped.size()
    return summary
