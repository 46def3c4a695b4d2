"""The command line's flags: one subparser per command (the handlers are in mlrkit.cli).

python -m mlrkit train --preset digits --loss disc-contrastive --out runs/x
python -m mlrkit train --out runs/x --resume   # continue runs/x (its config.json, last.pt)
python -m mlrkit train --out runs/x --overwrite   # discard runs/x and train again
python -m mlrkit evaluate runs/x            # best.pt of a run dir, or a .pt file
python -m mlrkit predict runs/x --out scores.csv
python -m mlrkit embed runs/x --out features.npz
python -m mlrkit explore runs/bce runs/x --out runs/explore   # separation + UMAP, both runs
python -m mlrkit generate --root data/digits
python -m mlrkit demo --out runs/demo       # execute the notebooks in order
"""

from __future__ import annotations

import argparse

from mlrkit.config import LOSS_SETUP_NAMES
from mlrkit.presets import PRESETS

__all__ = ["build_parser"]


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run directory (uses best.pt)")
    p.add_argument("--split", help="split to use (default: the config's validation split)")
    p.add_argument("--data", help="dataset root, if not the one stored in the checkpoint")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda:0, ...")
    p.add_argument("--ema", action="store_true", help="use the EMA weights instead of the raw ones")
    p.add_argument("--limit", type=int, help="only the first N images")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m mlrkit",
        description="mlrkit: multi-label image recognition experiments (train, evaluate, ...).",
        epilog="examples:\n"
        + "\n".join("  " + line for line in __doc__.splitlines()[2:11])
        + "\n\n"
        "Multi-GPU: torchrun --nproc_per_node=N -m mlrkit train ... "
        "(DDP; only rank 0 writes). `COMMAND --help` lists each command's flags.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="train a preset or a config.json into a run directory",
        description="Train into OUT (config.json, metrics.jsonl, last.pt, best.pt). Flags override "
        "the preset; --set reaches every config field, e.g. --set optim.lr=3e-4 "
        '--set data.policy=\'{"difficult": "ignore"}\'.',
    )
    t.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="default: digits; with --resume and no preset, OUT/config.json is continued",
    )
    t.add_argument("--config", help="a config.json (e.g. from an earlier run) instead of a preset")
    t.add_argument(
        "--loss",
        choices=LOSS_SETUP_NAMES,
        help="loss setup (default: the preset's, disc-contrastive)",
    )
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--epochs", type=int, help="train.epochs")
    t.add_argument("--seed", type=int, help="train.seed")
    t.add_argument("--device", help="train.device: auto, cpu, cuda, cuda:1, mps")
    t.add_argument("--data", help="data.root: dataset folder (or CSV file)")
    t.add_argument("--batch-size", type=int, help="optim.batch_size")
    t.add_argument("--lr", type=float, help="optim.lr")
    t.add_argument("--workers", type=int, help="data.num_workers")
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUT (from last.pt, or best.pt when last.pt is missing/corrupt)",
    )
    t.add_argument(
        "--overwrite", action="store_true", help="discard the run files in OUT and train again"
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field (JSON values); repeatable",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bars")

    e = sub.add_parser("evaluate", help="mAP, CF1, OF1 (and per-class AP) of a checkpoint")
    _add_data_flags(e)
    e.add_argument("--per-class", action="store_true", help="also print the per-class table")
    e.add_argument("--threshold", type=float, default=0.5, help="threshold on sigmoid(logit)")
    e.add_argument(
        "--protocol", default="mlrkit", choices=("mlrkit", "mlgcn", "asl", "q2l"),
        help="whose evaluation code to reproduce (docs/evaluation.md); default: ours",
    )  # fmt: skip

    p = sub.add_parser("predict", help="write per-image class scores (sigmoid) to a CSV file")
    _add_data_flags(p)
    p.add_argument("--out", required=True, help="CSV file to write")

    m = sub.add_parser("embed", help="write class-specific features of a split to a .npz file")
    _add_data_flags(m)
    m.add_argument(
        "--out",
        required=True,
        help=".npz with features [N,K,D], logits [N,K], targets [N,K], classes [K]",
    )

    g = sub.add_parser("generate", help="write the embedded digit-scene dataset and its summary")
    g.add_argument("--root", default="data/digits", help="output folder (default: data/digits)")
    g.add_argument(
        "--variant", default="standard", help="standard (default) or hard: the digits-hard regime"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--n-train", type=int, help="training scenes (default: the variant's)")
    g.add_argument("--n-val", type=int, help="validation scenes (default: the variant's)")

    a = sub.add_parser(
        "ablation",
        help="train (or reuse) loss setups x seeds x presets; results table and figure",
        description="One run per preset, loss and seed under OUT/<preset>/<loss>/seed<n>/ "
        "(a finished run is reused, an interrupted one resumes, so it can be run in parts). "
        "SADCL's stage 1 is the asl run of the same preset and seed; its stage 2 and a "
        "control (asl continued with the same fresh schedule) train on from that run's "
        "best.pt. Writes OUT/results.csv (one row per run), OUT/summary.csv (mean and std "
        "over seeds), OUT/paired.csv (each method minus its reference, per seed pair) and "
        "OUT/ablation.png.",
    )
    a.add_argument("--out", default="runs/ablation", help="run folders and results")
    a.add_argument("--presets", nargs="+", default=["digits", "digits-hard"])
    a.add_argument("--losses", nargs="+", help="loss setups (default: all five)")
    a.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    a.add_argument(
        "--epochs", nargs="+", default=[], metavar="PRESET=N",
        help="epochs per preset (default: digits=5 digits-hard=12)",
    )  # fmt: skip
    a.add_argument(
        "--stage2-epochs", nargs="+", default=[], metavar="PRESET=N",
        help="epochs of SADCL's stage 2 and of its control, after the asl run "
        "(default: digits=3 digits-hard=6)",
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

    x = sub.add_parser(
        "explore",
        help="class embeddings of runs: separation table, UMAP figure, embeddings table",
        description="Writes OUT/separation.csv (the overall rows of the runs side by side, then "
        "each run's per-class rows), OUT/umap.png (one panel per run, shared limits) and "
        "OUT/embeddings.parquet (one row per (image, class) pair and run, with UMAP x, y).",
    )
    x.add_argument("runs", nargs="+", help="run directories or checkpoints")
    x.add_argument("--out", required=True, help="output folder")
    x.add_argument(
        "--space",
        choices=("embedding", "features"),
        default="embedding",
        help="embedding: the objective's projection, where the loss acts (default); "
        "features: the head's class features",
    )
    x.add_argument("--split", help="split to use (default: each run's validation split)")
    x.add_argument("--max-items", type=int, help="at most N (image, class) pairs per run")
    x.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda:0, ...")
    x.add_argument("--seed", type=int, default=0, help="UMAP seed (single-threaded when set)")

    d = sub.add_parser(
        "demo",
        help="train the baseline and the method, execute the notebooks, write results.md",
        description="Trains (or reuses) the two runs of the notebooks into OUT, executes the "
        "numbered notebooks in order (01-06 by default) and writes OUT/notebooks/ (executed "
        "notebooks and their HTML), OUT/figures/ (every PNG) and OUT/results.md.",
    )
    d.add_argument("--out", default="runs/demo", help="runs, notebooks, figures and results")
    d.add_argument("--notebooks", default="notebooks", help="folder of numbered notebooks")
    d.add_argument("--upto", type=int, default=6, help="last notebook number to run (default 6)")
    d.add_argument("--fast", action="store_true", help="the small dataset and 2 epochs")
    d.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    return parser
