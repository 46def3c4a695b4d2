"""Command line: a thin layer that maps flags onto configs and prints what the library returns.

The flags are defined in :mod:`mlrkit.cli_args` (``python -m mlrkit --help`` lists them).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.cli_args import build_parser
from mlrkit.config import Config, apply_overrides, load_config
from mlrkit.errors import ConfigError, MlrkitError
from mlrkit.presets import preset
from mlrkit.train.recipe import check_config
from mlrkit.train.rundir import RunDir


def train_config(args: argparse.Namespace) -> Config:
    """The config a ``train`` command line describes (preset/config, then flags, then --set)."""
    saved = RunDir(args.out).config_file
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

    folder = RunDir(out)
    if not folder.config_file.is_file():
        return "interrupted before the run started; nothing was written. Run the same command again"
    kept = "no checkpoint was saved yet"
    for path in (folder.last, folder.best):
        try:
            epoch = load_checkpoint(path)["epoch"]
        except CheckpointError:
            continue
        kept = f"{path.name} holds epoch {epoch} and is kept"
        break
    return f"interrupted: {kept}; continue with: python -m mlrkit train --out {out} --resume"


def _trained_split(args: argparse.Namespace) -> tuple[Any, Any]:
    """The run a command names (``--ema``, ``--device``) and the split it asks for."""
    from mlrkit.runs import Run

    run = Run.load(args.checkpoint, device=args.device, ema=args.ema)
    return run, run.split(args.split, root=args.data, limit=args.limit)


def _evaluate(args: argparse.Namespace) -> int:
    if args.protocol != "mlrkit" and args.per_class:
        raise ConfigError("--per-class is for the default protocol (mlrkit)")
    trained, dataset = _trained_split(args)
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


def _predict(args: argparse.Namespace) -> int:
    trained, dataset = _trained_split(args)
    frame = trained.scores(dataset)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows x {len(trained.classes)} class scores to {args.out}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    trained, dataset = _trained_split(args)
    arrays = trained.features(dataset)
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


def _preset_counts(flag: str, items: Sequence[str]) -> dict[str, int]:
    """``["digits=5", ...]`` -> ``{"digits": 5}`` (a ConfigError names the flag)."""
    counts = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise ConfigError(f"{flag} takes PRESET=N, got {item!r}")
        counts[name] = int(value)
    return counts


def _ablation(args: argparse.Namespace) -> int:
    from mlrkit.ablation import (
        ABLATION_LOSSES,
        format_summary,
        lambda_sweep,
        lambda_table,
        paired_differences,
        plan_ablation,
        run_ablation,
        summarize_ablation,
    )  # fmt: skip
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
    results = run_ablation(runs, out, sample=args.sample)
    if args.lambdas:
        lambda_table(results).to_csv(out / "lambda.csv", index=False)
    plain = results[~results["label"].str.contains("@")]
    summary = summarize_ablation(plain)
    summary.to_csv(out / "summary.csv")
    paired_differences(plain).to_csv(out / "paired.csv", index=False)
    figure = ablation_figure(results)
    figure.savefig(out / "ablation.png", dpi=120, bbox_inches="tight")
    with pd.option_context("display.width", 160):
        print(format_summary(summary, ("mAP", "CF1", "OF1", "features_silhouette")).to_string())
    written = ", ".join(str(out / n) for n in ("results.csv", "summary.csv", "paired.csv"))
    print(f"wrote {written}, {out / 'ablation.png'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from mlrkit.demo import DEMO_LOSSES, notebook_setup, run_notebooks, write_results
    from mlrkit.train import ensure_run

    notebooks = sorted(Path(args.notebooks).glob("[0-9]*.ipynb"))
    notebooks = [p for p in notebooks if args.upto is None or int(p.name[:2]) <= args.upto]
    if not notebooks:
        print(f"no numbered notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    setup = notebook_setup(fast=args.fast, runs=args.out)
    for name in DEMO_LOSSES:  # trained here, with progress bars; the notebooks load them
        print(f"{setup.runs / name} ({DEMO_LOSSES[name]}): ...", flush=True)
        print(f"  {ensure_run(setup.config(name), setup.runs / name)}", flush=True)
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
