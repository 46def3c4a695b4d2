"""Command line: a thin layer that maps flags onto configs and prints what the library returns.

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
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlrkit.config import LOSS_SETUP_NAMES, Config, apply_overrides, load_config
from mlrkit.errors import ConfigError, MlrkitError
from mlrkit.presets import PRESETS, preset
from mlrkit.train.recipe import check_config


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
        "(a finished run is reused, an interrupted one resumes, so it can be run in parts); "
        "writes OUT/results.csv (one row per run), OUT/summary.csv (mean and std over seeds) "
        "and OUT/ablation.png.",
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
        "--lambdas", nargs="*", type=float, metavar="W",
        help="also sweep variant A's disc_weight over W... (seed 0; writes OUT/lambda.csv)",
    )  # fmt: skip
    a.add_argument("--lambda-preset", default="digits-hard", help="the preset of the sweep")
    a.add_argument("--max-items", type=int, default=4000, help="pairs per separation report")
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


def train_config(args: argparse.Namespace) -> Config:
    """The config a ``train`` command line describes (preset/config, then flags, then --set)."""
    saved = Path(args.out) / "config.json"
    if args.config:
        cfg = load_config(args.config)
    elif args.resume and args.preset is None:
        if not saved.is_file():
            raise ConfigError(
                f"{saved} does not exist, so there is no run to continue; name the experiment "
                "with --preset (and --loss) or --config"
            )
        cfg = load_config(saved)  # `train --out runs/x --resume` continues runs/x as it was
    else:
        cfg = preset(args.preset or "digits", loss=args.loss)
    overrides = []
    if args.loss and (args.config or cfg.loss.setup != args.loss):
        overrides.append(f"loss.setup={args.loss}")
    flags = {
        "train.epochs": args.epochs,
        "train.seed": args.seed,
        "train.device": args.device,
        "data.root": args.data,
        "optim.batch_size": args.batch_size,
        "optim.lr": args.lr,
        "data.num_workers": args.workers,
    }
    overrides += [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.no_progress:
        overrides.append("train.progress=false")
    return check_config(apply_overrides(cfg, overrides + list(args.set)))


def _train(args: argparse.Namespace) -> int:
    from mlrkit.distributed import cleanup, init_distributed
    from mlrkit.train import fit

    cfg = train_config(args)
    info = init_distributed()
    say = print if info.is_main else (lambda *a, **k: None)
    say(f"training {cfg.name} / {cfg.loss.setup} for {cfg.train.epochs} epochs into {args.out}")

    def report(row: dict) -> None:
        parts = [f"epoch {row['epoch']:3d}", f"loss {row['loss']:.4f}"]
        for key in ("val_mAP", "ema_val_mAP", "val_CF1", "val_OF1"):
            if key in row:
                parts.append(f"{key} {100 * row[key]:.2f}")
        parts.append(f"{row['images_per_s']:.0f} img/s")
        say(" | ".join(parts), flush=True)

    start = time.perf_counter()
    try:
        result = fit(cfg, args.out, resume=args.resume, overwrite=args.overwrite, callback=report)
    except KeyboardInterrupt:
        say(_interrupted(Path(args.out)), file=sys.stderr)
        return 130
    finally:
        cleanup()
    best = "n/a" if result.best_metric is None else f"{100 * result.best_metric:.2f}"
    say(
        f"done in {time.perf_counter() - start:.1f} s; best {result.best_metric_name} {best} "
        f"at epoch {result.best_epoch}; checkpoints in {result.out_dir}"
    )
    return 0


def _interrupted(out: Path) -> str:
    """What an interrupted ``train`` left behind and how to continue it."""
    from mlrkit.train import CheckpointError, load_checkpoint

    if not (out / "config.json").is_file():
        return "interrupted before the run started; nothing was written. Run the same command again"
    kept = "no checkpoint was saved yet"
    for name in ("last.pt", "best.pt"):
        try:
            epoch = load_checkpoint(out / name)["epoch"]
        except CheckpointError:
            continue
        kept = f"{name} holds epoch {epoch} and is kept"
        break
    return f"interrupted: {kept}; continue with: python -m mlrkit train --out {out} --resume"


def _evaluate(args: argparse.Namespace) -> int:
    from mlrkit.metrics import protocol_metrics
    from mlrkit.runs import evaluate_split, load_run, score_table, split_dataset

    trained = load_run(args.checkpoint, device=args.device, ema=args.ema)
    dataset = split_dataset(trained, args.split, args.data, args.limit)
    if args.protocol == "mlrkit":
        result = evaluate_split(trained, dataset, threshold=args.threshold)
    else:
        if args.per_class:
            raise ConfigError("--per-class is for the default protocol (mlrkit)")
        probabilities = score_table(trained, dataset)[list(trained.classes)].to_numpy()
        result = protocol_metrics(
            probabilities, np.asarray(dataset.targets), protocol=args.protocol,  # type: ignore[attr-defined]
            scores_are="probabilities", threshold=args.threshold,
            classes=trained.classes,
        )  # fmt: skip
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


def _predict(args: argparse.Namespace) -> int:
    from mlrkit.runs import load_run, score_table, split_dataset

    trained = load_run(args.checkpoint, device=args.device, ema=args.ema)
    frame = score_table(trained, split_dataset(trained, args.split, args.data, args.limit))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows x {len(trained.classes)} class scores to {args.out}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    from mlrkit.runs import class_features, load_run, split_dataset

    trained = load_run(args.checkpoint, device=args.device, ema=args.ema)
    arrays = class_features(trained, split_dataset(trained, args.split, args.data, args.limit))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote features {arrays['features'].shape} to {args.out}")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from mlrkit.explore import explore_runs

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


def _generate(args: argparse.Namespace) -> int:
    from mlrkit.data import make_digit_scenes, scene_options

    counts = {"n_train": args.n_train, "n_val": args.n_val}
    options = scene_options(
        args.variant, seed=args.seed, **{k: v for k, v in counts.items() if v is not None}
    )
    summary = make_digit_scenes(args.root, progress=True, **options)
    print(f"wrote the embedded dataset ({args.variant}) to {args.root}")
    print(summary)
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from mlrkit.ablation import (
        ABLATION_LOSSES,
        format_summary,
        lambda_sweep,
        lambda_table,
        plan_ablation,
        run_ablation,
        summarize_ablation,
    )  # fmt: skip
    from mlrkit.viz import ablation_figure

    epochs = {}
    for item in args.epochs:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise ConfigError(f"--epochs takes PRESET=N, got {item!r}")
        epochs[name] = int(value)
    runs = plan_ablation(
        args.presets, args.losses or ABLATION_LOSSES, args.seeds, epochs, args.overrides
    )
    if args.lambdas:
        where = args.lambda_preset
        runs += lambda_sweep(where, args.lambdas, epochs=epochs.get(where))
    out = Path(args.out)
    results = run_ablation(runs, out, max_items=args.max_items)
    if args.lambdas:
        lambda_table(results).to_csv(out / "lambda.csv", index=False)
    summary = summarize_ablation(results[~results["label"].str.contains("@")])
    summary.to_csv(out / "summary.csv")
    figure = ablation_figure(results)
    figure.savefig(out / "ablation.png", dpi=120, bbox_inches="tight")
    with pd.option_context("display.width", 160):
        print(format_summary(summary, ("mAP", "CF1", "OF1", "features_silhouette")).to_string())
    print(f"wrote {out / 'results.csv'}, {out / 'summary.csv'}, {out / 'ablation.png'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from mlrkit.demo import DEMO_LOSSES, ensure_run, notebook_setup, run_notebooks, write_results

    notebooks = sorted(Path(args.notebooks).glob("[0-9]*.ipynb"))
    notebooks = [p for p in notebooks if args.upto is None or int(p.name[:2]) <= args.upto]
    if not notebooks:
        print(f"no numbered notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    setup = notebook_setup(fast=args.fast, runs=args.out)
    for name in DEMO_LOSSES:  # trained here, with progress bars; the notebooks load them
        ensure_run(setup.config(name), setup.runs / name)
    trained = time.perf_counter() - start
    timings = run_notebooks(notebooks, setup, timeout=args.timeout)
    results = write_results(setup)
    total = time.perf_counter() - start
    print(
        f"\ntraining {trained:.0f} s, notebooks {sum(timings.values()):.0f} s, total {total:.0f} s"
    )
    print(f"executed notebooks and their HTML: {setup.runs / 'notebooks'}")
    print(f"figures: {setup.figures}")
    print(f"results: {results}\n")
    print(results.read_text(encoding="utf-8"))
    return 0


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "predict": _predict,
    "embed": _embed,
    "explore": _explore,
    "generate": _generate,
    "ablation": _ablation,
    "demo": _demo,
}


def one_line(err: BaseException) -> str:
    """An mlrkit error as the single line the CLI prints.

    An error raised inside a DataLoader worker comes back with the worker's traceback embedded
    in its message; only the original message is kept, with the worker named.
    """
    text = str(err)
    if "Original Traceback" in text:
        where = text.splitlines()[0].removeprefix("Caught ").rstrip(".")
        last = text.strip().splitlines()[-1]
        original = last.split(": ", 1)[1] if ": " in last else last
        text = f"{original} (raised {where.split(' ', 1)[-1]})"
    return f"error: {type(err).__name__}: " + " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mlrkit`` and of the ``mlrkit`` script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MlrkitError as err:
        # Library errors already say what went wrong and how to fix it; no traceback needed.
        print(one_line(err), file=sys.stderr)
        return 2
