"""Command line: a thin layer that maps flags onto configs and prints what the library returns.

One module per command, each with its flags beside its handler (the layout of torchvision's
``references/classification/train.py``): ``add_arguments(subparsers)`` adds the command's
subparser (flags, help, an epilog with usage examples) and ``run(args) -> int`` carries it out.

================  ==========================================================================
module            commands
================  ==========================================================================
``train``         ``train``: a preset or config.json into a run directory
``runs``          ``evaluate``, ``predict``, ``embed``: a finished run on a split
``generate``      ``generate``: the embedded digit-scene dataset
``ablation``      ``ablation``: loss setups x seeds x presets, and the lambda sweep
``explore``       ``explore``: class embeddings of runs, separation and UMAP
``audit``         ``audit``: the given labels of a split ranked by how wrong they look
``demo``          ``demo``: the two notebook runs, the notebooks executed, results.md
``notebooks``     ``notebooks``: the student versions of the notebooks (mlrkit.exercises)
================  ==========================================================================

This package is the only place in mlrkit that prints (tests/test_layout.py checks it): the library
returns what it did, or logs it on its module loggers, which :func:`main` shows on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

from mlrkit.cli import ablation, audit, demo, explore, generate, notebooks, runs, train
from mlrkit.cli._help import epilog
from mlrkit.errors import MlrkitError

__all__ = [
    "COMMANDS", "INTERRUPTED", "MODULES", "build_parser", "interrupted",
    "library_messages_on_stdout", "main", "one_line",
]  # fmt: skip

# In the order of `--help`.
MODULES = (train, runs, generate, ablation, explore, audit, demo, notebooks)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: module.run for module in MODULES for name in module.COMMANDS
}
# What an interrupted command keeps and how to go on; a module says it with `interrupted(args)`.
INTERRUPTED: dict[str, Callable[[argparse.Namespace], str]] = {
    name: module.interrupted
    for module in MODULES
    if hasattr(module, "interrupted")
    for name in module.COMMANDS
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subparser per command (exposed for tests and ``--help``)."""
    examples = [line for module in MODULES for line in module.EXAMPLES]
    parser = argparse.ArgumentParser(
        prog="python -m mlrkit",
        description="mlrkit: multi-label image recognition experiments (train, evaluate, ...).",
        epilog=epilog(examples) + "\n\n"
        "Multi-GPU: torchrun --nproc_per_node=N -m mlrkit train ... "
        "(DDP; only rank 0 writes). `COMMAND --help` lists each command's flags.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.add_arguments(subparsers)
    return parser


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


@contextlib.contextmanager
def library_messages_on_stdout() -> Iterator[None]:
    """Show mlrkit's INFO log records as plain lines on stdout while a command runs.

    The library logs what a user of the command line is told (e.g. which UMAP cache file was
    read) instead of printing it; here those records read as the lines they used to be. The
    handler is removed afterwards, so calling :func:`main` again (tests, notebooks) does not
    stack handlers, and the logger's level is restored.
    """
    logger = logging.getLogger("mlrkit")
    handler = logging.StreamHandler(sys.stdout)  # the stdout of now (pytest swaps it per test)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def interrupted(args: argparse.Namespace) -> str:
    """The line an interrupted command prints (its module's ``interrupted``, or the default:
    every file the kit writes is written whole, so nothing half-written was left)."""
    if args.command in INTERRUPTED:
        return INTERRUPTED[args.command](args)
    return (
        "interrupted: files are written whole, so none was left half-written; run the same "
        "command again"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mlrkit`` and of the ``mlrkit`` script.

    Returns the exit status: 0 done, 1 the command's own failure, 2 bad input (an
    :class:`~mlrkit.errors.MlrkitError`, one line), 130 interrupted (Ctrl-C, one line).
    """
    args = build_parser().parse_args(argv)
    try:
        with library_messages_on_stdout():
            return COMMANDS[args.command](args)
    except MlrkitError as err:
        # Library errors already say what went wrong and how to fix it; no traceback needed.
        print(one_line(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted(args), file=sys.stderr)
        return 130
