"""``generate``: the embedded digit-scene dataset (a named variant) and its summary."""

from __future__ import annotations

import argparse
from typing import Any

from mlrkit.cli._help import add_command
from mlrkit.data import SCENE_VARIANTS, make_digit_scenes, scene_options

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run"]

COMMANDS = ("generate",)
EXAMPLES = (
    "python -m mlrkit generate --root data/digits",
    "python -m mlrkit generate --root data/digits-hard --variant hard   # the harder regime",
)


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``generate`` subparser to ``subparsers``."""
    g = add_command(
        subparsers,
        "generate",
        help="write the embedded digit-scene dataset and its summary",
        examples=EXAMPLES,
    )
    g.add_argument("--root", default="data/digits", help="output folder (default: data/digits)")
    # No argparse choices: an unknown variant is the library's one-line error, naming them all.
    g.add_argument(
        "--variant",
        default="standard",
        help=f"one of {', '.join(SCENE_VARIANTS)} (default: standard); hard: the digits-hard "
        "regime",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--n-train", type=int, help="training scenes (default: the variant's)")
    g.add_argument("--n-val", type=int, help="validation scenes (default: the variant's)")
    return g


def run(args: argparse.Namespace) -> int:
    """Generate the dataset into ``--root`` and print its summary."""
    counts = {"n_train": args.n_train, "n_val": args.n_val}
    options = scene_options(
        args.variant, seed=args.seed, **{k: v for k, v in counts.items() if v is not None}
    )
    summary = make_digit_scenes(args.root, progress=True, **options)
    print(f"wrote the embedded dataset ({args.variant}) to {args.root}")
    print(summary)
    return 0
