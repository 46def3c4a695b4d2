"""``ablation``: loss setups x seeds x presets (and the lambda sweep), trained or reused, then
the results, summary, paired differences and figure written and the summary printed."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mlrkit.ablation import (
    ABLATION_EPOCHS,
    ABLATION_LOSSES,
    STAGE2_EPOCHS,
    lambda_sweep,
    plan_ablation,
    run_ablation,
)
from mlrkit.ablation_tables import (
    format_summary,
    lambda_table,
    main_runs,
    paired_differences,
    summarize_ablation,
)
from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.errors import ConfigError
from mlrkit.files import OutputFolder

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run"]

COMMANDS = ("ablation",)
EXAMPLES = (
    "python -m mlrkit ablation --out runs/ablation   # losses x seeds x presets (make ablation)",
    "python -m mlrkit ablation --presets digits --losses asl sadcl --seeds 0 --epochs digits=2",
)


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{name}={n}" for name, n in counts.items())


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ablation`` subparser to ``subparsers``."""
    a = add_command(
        subparsers,
        "ablation",
        help="train (or reuse) loss setups x seeds x presets; results table and figure",
        description="One run per preset, loss and seed under OUT/<preset>/<loss>/seed<n>/ "
        "(a finished run is reused, an interrupted one resumes, so it can be run in parts). "
        "SADCL's stage 1 is the asl run of the same preset and seed; its stage 2 and a "
        "control (asl continued with the same fresh schedule) train on from that run's "
        "best.pt. Writes OUT/results.csv (one row per run), OUT/summary.csv (mean and std "
        "over seeds), OUT/paired.csv (each method minus its reference, per seed pair) and "
        "OUT/ablation.png.",
        examples=EXAMPLES,
    )
    a.add_argument(
        "--out", type=output_folder, default="runs/ablation", help="run folders and results"
    )
    a.add_argument(
        "--presets", nargs="+", default=list(ABLATION_EPOCHS),
        help=f"default: {' '.join(ABLATION_EPOCHS)}",
    )  # fmt: skip
    a.add_argument(
        "--losses", nargs="+", help=f"loss setups (default: all, {' '.join(ABLATION_LOSSES)})"
    )
    a.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    a.add_argument(
        "--epochs", nargs="+", default=[], metavar="PRESET=N",
        help=f"epochs per preset (default: {_counts(ABLATION_EPOCHS)})",
    )  # fmt: skip
    a.add_argument(
        "--stage2-epochs", nargs="+", default=[], metavar="PRESET=N",
        help="epochs of SADCL's stage 2 and of its control, after the asl run "
        f"(default: {_counts(STAGE2_EPOCHS)})",
    )  # fmt: skip
    a.add_argument(
        "--lambdas", nargs="*", type=float, metavar="W",
        help="also sweep variant A's disc_weight over W... (seed 0; writes OUT/lambda.csv)",
    )  # fmt: skip
    a.add_argument("--lambda-preset", default="digits-hard", help="the preset of the sweep")
    a.add_argument(
        "--sample", type=int, default=4000,
        help="present (image, class) pairs per separation report (a stratified subsample)",
    )  # fmt: skip
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    return a


def _preset_counts(flag: str, items: Sequence[str]) -> dict[str, int]:
    """``["digits=5", ...]`` -> ``{"digits": 5}`` (a ConfigError names the flag)."""
    counts = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise ConfigError(f"{flag} takes PRESET=N, got {item!r}")
        counts[name] = int(value)
    return counts


def run(args: argparse.Namespace) -> int:
    """Run the ablation into ``--out``, write its tables and figure, print the summary."""
    from mlrkit.viz import ablation_figure

    epochs = _preset_counts("--epochs", args.epochs)
    runs = plan_ablation(
        args.presets, args.losses or ABLATION_LOSSES, args.seeds, epochs, args.overrides,
        _preset_counts("--stage2-epochs", args.stage2_epochs),
    )  # fmt: skip
    if args.lambdas:
        where = args.lambda_preset
        runs += lambda_sweep(where, args.lambdas, epochs=epochs.get(where))
    out = Path(args.out)
    tables = OutputFolder(out, fix="choose another --out")
    names = ["results.csv", "summary.csv", "paired.csv", "ablation.png"]
    tables.check(names + ["lambda.csv"] * bool(args.lambdas))  # before the first trial
    results = run_ablation(runs, out, sample=args.sample)
    plain = main_runs(results)
    summary = summarize_ablation(plain)
    paired = paired_differences(plain)
    figure = ablation_figure(results)
    written = tables.write({
        "summary.csv": summary.to_csv,
        "paired.csv": lambda path: paired.to_csv(path, index=False),
        "ablation.png": lambda path: figure.savefig(path, dpi=120, bbox_inches="tight"),
        **({"lambda.csv": lambda path: lambda_table(results).to_csv(path, index=False)}
           if args.lambdas else {}),
    })  # fmt: skip
    with pd.option_context("display.width", 160):
        print(format_summary(summary, ("mAP", "CF1", "OF1", "features_silhouette")).to_string())
    print(f"wrote {', '.join(str(p) for p in [out / 'results.csv', *written])}")
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted ``ablation`` keeps and how to continue it."""
    return (
        f"interrupted: every trial measured so far is kept in {args.out} (its ablation.json, and "
        "a trial stopped mid-training continues from its last.pt); run the same command again "
        "to go on from there"
    )
