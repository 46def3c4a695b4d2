"""``evaluate``, ``predict``, ``embed``: a finished run on one split (scores, a CSV, a .npz).

The three commands take the same flags to name the run and the split (:func:`_add_run_flags`)
and open them the same way (:func:`open_run`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_file
from mlrkit.errors import ConfigError
from mlrkit.files import OutputFolder
from mlrkit.metrics import PROTOCOLS

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "open_run", "run"]

COMMANDS = ("evaluate", "predict", "embed")
_EXAMPLES = {
    "evaluate": (
        "python -m mlrkit evaluate runs/x            # best.pt of a run dir, or a .pt file",
        "python -m mlrkit evaluate runs/x --protocol mlgcn --per-class",
    ),
    "predict": ("python -m mlrkit predict runs/x --out scores.csv",),
    "embed": ("python -m mlrkit embed runs/x --out features.npz",),
}
EXAMPLES = tuple(line for lines in _EXAMPLES.values() for line in lines)


def _positive(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse turns the error into one usage line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (the number of images), got {value}")
    return value


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run directory (uses best.pt)")
    p.add_argument("--split", help="split to use (default: the config's validation split)")
    p.add_argument("--data", help="dataset root, if not the one stored in the checkpoint")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda:0, ...")
    p.add_argument("--ema", action="store_true", help="use the EMA weights instead of the raw ones")
    p.add_argument("--limit", type=_positive, help="only the first N images (N >= 1)")


def add_arguments(subparsers: Any) -> None:
    """Add the ``evaluate``, ``predict`` and ``embed`` subparsers to ``subparsers``."""
    e = add_command(
        subparsers,
        "evaluate",
        help="mAP, CF1, OF1 (and per-class AP) of a checkpoint",
        examples=_EXAMPLES["evaluate"],
    )
    _add_run_flags(e)
    e.add_argument("--per-class", action="store_true", help="also print the per-class table")
    e.add_argument("--threshold", type=float, default=0.5, help="threshold on sigmoid(logit)")
    e.add_argument(
        "--protocol", default="mlrkit", choices=PROTOCOLS,
        help="whose evaluation code to reproduce (docs/evaluation.md); default: ours",
    )  # fmt: skip

    p = add_command(
        subparsers,
        "predict",
        help="write per-image class scores (sigmoid) to a CSV file",
        examples=_EXAMPLES["predict"],
    )
    _add_run_flags(p)
    p.add_argument("--out", type=output_file, required=True, help="CSV file to write")

    m = add_command(
        subparsers,
        "embed",
        help="write class-specific features of a split to a .npz file",
        examples=_EXAMPLES["embed"],
    )
    _add_run_flags(m)
    m.add_argument(
        "--out",
        type=output_file,
        required=True,
        help=".npz with features [N,K,D], logits [N,K], targets [N,K], classes [K]",
    )


def open_run(args: argparse.Namespace) -> tuple[Any, Any]:
    """The run a command names (``--ema``, ``--device``) and the split it asks for."""
    from mlrkit.runs import Run

    run = Run.load(args.checkpoint, device=args.device, ema=args.ema)
    return run, run.split(args.split, root=args.data, limit=args.limit)


def run(args: argparse.Namespace) -> int:
    """Carry out ``evaluate``, ``predict`` or ``embed`` (``args.command``)."""
    return {"evaluate": _evaluate, "predict": _predict, "embed": _embed}[args.command](args)


def _evaluate(args: argparse.Namespace) -> int:
    if args.protocol != "mlrkit" and args.per_class:
        raise ConfigError("--per-class is for the default protocol (mlrkit)")
    trained, dataset = open_run(args)
    result = trained.evaluate(dataset, protocol=args.protocol, threshold=args.threshold)
    print(
        f"{trained.path} (epoch {trained.epoch}{', EMA' if args.ema else ''}) on "
        f"{len(dataset)} images, protocol {args.protocol}, threshold {args.threshold:g}"
    )
    for key in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"):
        print(f"  {key:4s} {100 * float(result[key]):6.2f}")
    if args.per_class:
        for name, ap in zip(trained.classes, np.asarray(result["AP"]), strict=True):
            print(f"  AP {name:20s} {100 * ap:6.2f}")
    return 0


def _output(out: Path) -> tuple[OutputFolder, str]:
    """The folder and name of a one-file output, checked before any work: never over a file
    the kit did not write (the folder's manifest, :class:`mlrkit.files.OutputFolder`)."""
    folder = OutputFolder(out.parent, fix="choose another --out")
    folder.check([out.name])
    return folder, out.name


def _predict(args: argparse.Namespace) -> int:
    folder, name = _output(Path(args.out))
    trained, dataset = open_run(args)
    frame = trained.scores(dataset)
    (out,) = folder.write({name: lambda path: frame.to_csv(path, index=False)})
    print(f"wrote {len(frame)} rows x {len(trained.classes)} class scores to {out}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    # numpy adds ".npz" to a name without it: name the file that is written
    out = Path(args.out) if str(args.out).endswith(".npz") else Path(f"{args.out}.npz")
    folder, name = _output(out)
    trained, dataset = open_run(args)
    arrays = trained.features(dataset)
    folder.write({name: lambda path: np.savez_compressed(path, **arrays)})
    print(f"wrote features {arrays['features'].shape} to {out}")
    return 0
