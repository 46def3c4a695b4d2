"""``train``: a preset or a config.json into a run directory (flags, then --set, on top).

Ctrl-C exits with status 130 after saying which checkpoint is kept and how to resume.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.config import LOSS_SETUP_NAMES, Config, apply_overrides, load_config
from mlrkit.errors import ConfigError
from mlrkit.presets import PRESETS, preset
from mlrkit.train.recipe import check_config
from mlrkit.train.rundir import RunDir

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run", "train_config"]

COMMANDS = ("train",)
EXAMPLES = (
    "python -m mlrkit train --preset digits --loss disc-contrastive --out runs/x",
    "python -m mlrkit train --out runs/x --resume   # continue runs/x (its config.json, last.pt)",
    "python -m mlrkit train --out runs/x --overwrite   # discard runs/x and train again",
)


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subparser to ``subparsers`` (``add_subparsers()``'s result)."""
    t = add_command(
        subparsers,
        "train",
        help="train a preset or a config.json into a run directory",
        description="Train into OUT (config.json, metrics.jsonl, last.pt, best.pt, "
        "environment.json). Flags override the preset; --set reaches every config field, e.g. "
        "--set optim.lr=3e-4 "
        '--set data.policy=\'{"difficult": "ignore"}\'.',
        examples=EXAMPLES,
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
    t.add_argument("--out", type=output_folder, required=True, help="run directory")
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
    return t


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


def run(args: argparse.Namespace) -> int:
    """Train; 0 when done, 130 when interrupted (Ctrl-C)."""
    from mlrkit.distributed import cleanup, init_distributed
    from mlrkit.train import fit

    cfg = train_config(args)
    info = init_distributed()
    # Under torchrun every rank runs this; only rank 0 speaks, as only rank 0 writes.
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
