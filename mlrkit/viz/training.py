"""Training curves from a run's history: the loss terms and the val metrics.

Each row of the history (``Run.history``, the rows of the run's ``metrics.jsonl``) is one epoch:
``epoch``,
``stage`` (1, or 2 once SADCL's second stage starts), the training means of the loss terms
(``loss``, the weighted total, and the unweighted ``cls``, ``disc``, ``sscl``, ``pscl`` that the
run has) and, on evaluated epochs, ``val_*`` (and ``ema_val_*``) metrics as fractions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from mlrkit.errors import InvalidInputError

__all__ = ["plot_training_curves"]

LOSS_KEYS = ("loss", "cls", "disc", "sscl", "pscl")
VAL_KEYS = ("val_mAP", "val_CF1", "val_OF1", "ema_val_mAP")
STAGE_LABEL = "SADCL stage 2 starts"


def _rows(history: Any) -> list[dict[str, Any]]:
    """The history rows, sorted by epoch."""
    if isinstance(history, str | Path):
        raise InvalidInputError(
            f"`history` is a path ({history}); pass the rows: `Run.load(path).history`, or "
            "`RunResult.history` from `fit`."
        )
    if not (isinstance(history, Sequence) and all(isinstance(row, Mapping) for row in history)):
        raise InvalidInputError(
            f"`history` must be a list of row dicts, got {type(history).__name__}."
        )
    rows = [dict(row) for row in history]
    if not rows:
        raise InvalidInputError("`history` holds no epoch rows (the run has not logged an epoch).")
    if any("epoch" not in row for row in rows):
        raise InvalidInputError("`history`: every row needs an 'epoch' key.")
    return sorted(rows, key=lambda row: row["epoch"])


def _series(rows: list[dict[str, Any]], key: str, scale: float = 1.0) -> tuple[list, list]:
    """Epochs and values of the rows that have a finite ``key``."""
    points = [
        (row["epoch"], float(row[key]) * scale)
        for row in rows
        if row.get(key) is not None and math.isfinite(float(row[key]))
    ]
    return [e for e, _ in points], [v for _, v in points]


def _stage_change(rows: list[dict[str, Any]]) -> float | None:
    """Half-way between the last stage-1 epoch and the first stage-2 epoch, if any."""
    for before, after in zip(rows, rows[1:], strict=False):
        if before.get("stage") == 1 and after.get("stage") == 2:
            return (before["epoch"] + after["epoch"]) / 2.0
    return None


def plot_training_curves(
    history: Sequence[Mapping[str, Any]],
    axes: Sequence[Axes] | None = None,
) -> list[Axes]:
    """The loss terms (left, log scale) and the validation metrics x100 (right) per epoch.

    Left: every loss term among ``loss`` (the weighted total, solid) and ``cls``, ``disc``,
    ``sscl``, ``pscl`` (unweighted, dashed) that the rows hold; log y scale, or symlog if a term
    is ever <= 0. Right: ``val_mAP``, ``val_CF1``, ``val_OF1`` and, when logged,
    ``ema_val_mAP`` (dotted), x100, on the evaluated epochs. On both, a vertical line (label
    ``"SADCL stage 2 starts"``) between the last stage-1 and the first stage-2 epoch.

    Args:
        history: one dict per epoch, e.g. ``Run.history`` or
            :class:`mlrkit.train.RunResult`'s ``history``.
        axes: two Axes (default: a new row of two).

    Returns:
        ``[loss Axes, metrics Axes]``.

    Raises:
        InvalidInputError: a path instead of rows, no rows, a row without ``epoch``, or a number of
            ``axes`` other than two.
    """
    rows = _rows(history)
    if axes is None:
        _, created = plt.subplots(1, 2, figsize=(12, 4.5))
        axes = list(created)
    if len(axes) != 2:
        raise InvalidInputError(f"`axes` must hold two Axes (losses, metrics), got {len(axes)}.")
    loss_ax, metric_ax = axes
    lowest = math.inf
    for key in LOSS_KEYS:
        epochs, values = _series(rows, key)
        if not epochs:
            continue
        lowest = min(lowest, *values)
        total = key == "loss"
        loss_ax.plot(
            epochs,
            values,
            linestyle="-" if total else "--",
            linewidth=2.0 if total else 1.3,
            marker="o" if len(epochs) < 30 else None,
            markersize=3,
            label="loss (weighted total)" if total else f"{key} (unweighted)",
        )
    if math.isfinite(lowest):
        loss_ax.set_yscale("log" if lowest > 0 else "symlog")
        loss_ax.legend(fontsize="small")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss (epoch mean)")
    loss_ax.set_title("Training loss terms" + (" (log scale)" if lowest > 0 else ""))

    drawn = False
    for key in VAL_KEYS:
        epochs, values = _series(rows, key, 100.0)
        if not epochs:
            continue
        drawn = True
        metric_ax.plot(
            epochs,
            values,
            linestyle=":" if key.startswith("ema_") else "-",
            marker="o" if len(epochs) < 30 else None,
            markersize=3,
            label=key,
        )
    if drawn:
        metric_ax.legend(fontsize="small")
    else:
        metric_ax.text(
            0.5, 0.5, "no validation metrics logged", ha="center", transform=metric_ax.transAxes
        )
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel("x100")
    metric_ax.set_title("Validation metrics (x100)")

    change = _stage_change(rows)
    if change is not None:
        for ax in axes:
            ax.axvline(change, color="black", linestyle="-.", linewidth=1, label=STAGE_LABEL)
            ax.legend(fontsize="small")
    first, last = rows[0]["epoch"], rows[-1]["epoch"]
    for ax in axes:
        ax.set_xlim(first - 0.5, last + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return list(axes)
