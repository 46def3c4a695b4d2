"""``audit``: which given labels of a split look wrong, from the run's scores and class features.

Writes ``suspects.csv`` (every judged (image, class) pair, most suspect first), ``suspects.png``
(the top suspects, each under the attention map of its class) and, when the data keep the truth
(planted errors), ``detection.csv`` and ``detection.png`` (how well each suspicion finds them).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.files import OutputFolder

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run"]

COMMANDS = ("audit", "audit-bench")
EXAMPLES = (
    "python -m mlrkit audit runs/x --out runs/x-audit            # suspects of the training split",
    "python -m mlrkit audit runs/x --folds 2 --out runs/x-audit  # out-of-sample scores",
    "python -m mlrkit audit-bench --out runs/audit-bench           # noise x losses x seeds",
)
BENCH_FILES = ("results.csv", "summary.csv", "audit_bench.png")
FILES = ("suspects.csv", "suspects.png", "detection.csv", "detection.png")


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` subparser to ``subparsers``."""
    from mlrkit.audit import AUDIT_METHODS

    a = add_command(
        subparsers,
        "audit",
        help="rank the given labels of a split by how wrong they look (scores, class features)",
        description="Judges every given label of a split with the run's scores (1 - p of a "
        "given positive, p of a given negative) and class features (the share of the k nearest "
        "rows of the same class, from other images, whose label disagrees). Writes "
        "OUT/suspects.csv and OUT/suspects.png, and with planted errors in the data "
        "OUT/detection.csv and OUT/detection.png.",
        examples=EXAMPLES,
    )
    a.add_argument("checkpoint", help="run directory or checkpoint")
    a.add_argument("--out", type=output_folder, required=True, help="output folder")
    a.add_argument("--split", help="split to audit (default: the run's training split)")
    a.add_argument("--method", choices=AUDIT_METHODS, default="both", help="default: both")
    a.add_argument(
        "--folds", type=int, default=0,
        help="cross-fit the scores over N folds (trains N runs); 0: in-sample (default)",
    )  # fmt: skip
    a.add_argument("--k", type=int, default=10, help="neighbours of the feature suspicion")
    a.add_argument("--top", type=int, default=16, help="suspects drawn in suspects.png")
    a.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda:0, ...")
    from mlrkit.audit import BENCH_LOSSES, NOISE_LEVELS

    b = add_command(
        subparsers,
        "audit-bench",
        help="plant label errors, train every loss on them, measure each run as an auditor",
        description="For each noise level (each kind of error planted at that rate in the "
        "training split of digits), trains the ablation's runs of each loss and seed on the "
        "noisy labels (resumable), measures them on the clean validation split and as auditors "
        "of their training split (ROC AUC and AP of finding the planted errors by scores, "
        "features and combined). Writes OUT/results.csv, OUT/summary.csv, OUT/audit_bench.png.",
        examples=EXAMPLES[2:],
    )
    b.add_argument("--out", type=output_folder, default="runs/audit-bench", help="output folder")
    b.add_argument("--levels", nargs="+", type=float, default=list(NOISE_LEVELS))
    b.add_argument("--losses", nargs="+", default=list(BENCH_LOSSES))
    b.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    b.add_argument("--data", default="data", help="where the noisy datasets are generated")
    b.add_argument("--k", type=int, default=10, help="neighbours of the feature suspicion")
    return a


def run(args: argparse.Namespace) -> int:
    """``audit`` or ``audit-bench`` (``args.command``)."""
    return _bench(args) if args.command == "audit-bench" else _audit(args)


def _bench(args: argparse.Namespace) -> int:
    """Run the benchmark, write its tables and figure, print the summary."""
    import matplotlib

    matplotlib.use("Agg")
    from mlrkit.audit import audit_bench, summarize_audit_bench
    from mlrkit.viz.audit import plot_audit_bench

    folder = OutputFolder(args.out, fix="choose another --out")
    folder.check(BENCH_FILES)
    results = audit_bench(args.out, levels=args.levels, losses=args.losses, seeds=args.seeds,
                          data=args.data, k=args.k)  # fmt: skip
    summary = summarize_audit_bench(results)
    figure = plot_audit_bench(results)[0].figure
    written = folder.write({
        "summary.csv": summary.to_csv,
        "audit_bench.png": lambda path: figure.savefig(path, dpi=110, bbox_inches="tight"),
    })  # fmt: skip
    shown = [c for c in summary.columns if c.endswith("_mean") or c == "seeds"]
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(summary[shown].to_string())
    print(f"wrote {', '.join(str(p) for p in [Path(args.out) / 'results.csv', *written])}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    """Audit, write the files, print the notes, the top suspects and the detection table."""
    import matplotlib

    matplotlib.use("Agg")
    from mlrkit.audit import audit_run
    from mlrkit.runs import Run

    folder = OutputFolder(args.out, fix="choose another --out")
    folder.check(FILES)  # before any work
    trained = Run.load(args.checkpoint, "last", device=args.device)
    audit = audit_run(trained, args.split, method=args.method, folds=args.folds or None,
                      k=args.k)  # fmt: skip
    for note in audit.notes:
        print(f"note: {note}")
    files = {
        "suspects.csv": lambda path: audit.suspects.to_csv(path, index=False),
        "suspects.png": lambda path: _suspects_figure(trained, args.split, audit, args.top)
        .savefig(path, dpi=110, bbox_inches="tight"),
    }  # fmt: skip
    if audit.detection is not None:
        files["detection.csv"] = audit.detection.to_csv
        files["detection.png"] = lambda path: _detection_figure(audit).savefig(
            path, dpi=110, bbox_inches="tight"
        )
    written = folder.write(files)
    shown = ["rank", "image", "class", "given", "score", "suspicion"]
    shown += ["error"] * ("error" in audit.suspects)
    with pd.option_context("display.width", 140, "display.precision", 3):
        print(audit.suspects[shown].head(10).to_string(index=False))
        if audit.detection is not None:
            print(audit.detection.to_string())
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _suspects_figure(trained: Any, split: str | None, audit: Any, top: int) -> Any:
    """The top suspects, each under the attention map of its class (when the head has one)."""
    from mlrkit.audit import suspect_panels
    from mlrkit.viz.audit import plot_suspects

    images, titles, maps = suspect_panels(trained, audit, top, split)
    return plot_suspects(images, titles, maps)[0].figure


def _detection_figure(audit: Any) -> Any:
    from mlrkit.viz.audit import plot_detection_curves

    return plot_detection_curves(audit.suspicion, audit.is_error).figure


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted ``audit`` or ``audit-bench`` keeps."""
    if args.command == "audit-bench":
        return (
            f"interrupted: every run trained and audited so far is kept in {args.out} (its "
            "ablation.json and audit.json); run the same command again to go on from there"
        )
    where = Path(args.checkpoint)
    return (
        "interrupted: nothing was written to the output folder; fold runs trained so far (with "
        f"--folds) are kept under {where} and reused; run the same command again"
    )
