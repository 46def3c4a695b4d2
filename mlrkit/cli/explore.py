"""``explore``: the class embeddings of runs side by side (separation table, UMAP, table)."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.explore import SPACES, explore_runs

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run"]

COMMANDS = ("explore",)
EXAMPLES = (
    "python -m mlrkit explore runs/bce runs/x --out runs/explore   # separation + UMAP, both runs",
)


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``explore`` subparser to ``subparsers``."""
    x = add_command(
        subparsers,
        "explore",
        help="class embeddings of runs: separation table, UMAP figure, embeddings table",
        description="Writes OUT/separation.csv (the overall rows of the runs side by side, then "
        "each run's per-class rows), OUT/umap.png (one panel per run, each on its own limits) and "
        "OUT/embeddings.parquet (one row per (image, class) pair and run, with UMAP x, y).",
        examples=EXAMPLES,
    )
    x.add_argument("runs", nargs="+", help="run directories or checkpoints")
    x.add_argument("--out", type=output_folder, required=True, help="output folder")
    x.add_argument(
        "--space",
        choices=SPACES,
        default="embedding",
        help="embedding: the objective's projection, where the loss acts (default); "
        "features: the head's class features",
    )
    x.add_argument("--split", help="split to use (default: each run's validation split)")
    x.add_argument("--max-items", type=int, help="at most N (image, class) pairs per run")
    x.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda:0, ...")
    x.add_argument("--seed", type=int, default=0, help="UMAP seed (single-threaded when set)")
    return x


def run(args: argparse.Namespace) -> int:
    """Write the three files and print the overall separation rows."""
    summary = explore_runs(
        args.runs,
        args.out,
        space=args.space,
        split=args.split,
        max_items=args.max_items,
        device=args.device,
        seed=args.seed,
    )
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(f"separation, overall rows ({summary.space_title}):")
        print(summary.overall.to_string())
    print(f"wrote {', '.join(str(p) for p in summary.files)}")
    return 0
