"""``demo``: train the notebooks' two runs, execute the numbered notebooks, write results.md.

The set-up the notebooks share (paths, fast mode, the two runs' configs) and the demo's tables
are :mod:`mlrkit.notebook`; this module runs the notebooks with it (:func:`run_notebooks`,
saying each one as it goes) and writes ``results.md`` from the runs themselves
(:func:`results_markdown`), never from files a notebook or an earlier demo left.

The output folder is the demo's as a whole: it must be new, empty, or made by mlrkit (its
manifest, :data:`mlrkit.files.MANIFEST`), and the files the command writes itself are written
atomically and never over a file it did not write (:class:`mlrkit.files.OutputFolder`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.errors import MlrkitError
from mlrkit.files import OutputFolder
from mlrkit.notebook import DEMO_LOSSES, NotebookSetup, demo_tables, notebook_setup

__all__ = [
    "COMMANDS", "EXAMPLES", "NotebookFailedError", "add_arguments", "interrupted",
    "results_markdown", "run", "run_notebooks",
]  # fmt: skip

COMMANDS = ("demo",)
EXAMPLES = (
    "python -m mlrkit demo --out runs/demo       # execute the notebooks in order",
    "python -m mlrkit demo --fast --upto 3       # the small dataset, notebooks 01-03",
)


class NotebookFailedError(MlrkitError, RuntimeError):
    """A cell of a notebook raised, timed out or killed its kernel."""


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` subparser to ``subparsers``."""
    d = add_command(
        subparsers,
        "demo",
        help="train the baseline and the method, execute the notebooks, write results.md",
        description="Trains (or reuses) the two runs of the notebooks into OUT, executes the "
        "numbered notebooks in order (01-06 by default) and writes OUT/notebooks/ (executed "
        "notebooks and their HTML), OUT/figures/ (every PNG) and OUT/results.md (measured on "
        "the two runs). OUT must be new, empty, or an earlier demo's folder.",
        examples=EXAMPLES,
    )
    d.add_argument(
        "--out",
        type=output_folder,
        default="runs/demo",
        help="runs, notebooks, figures and results",
    )
    d.add_argument("--notebooks", default="notebooks", help="folder of numbered notebooks")
    d.add_argument("--upto", type=int, default=6, help="last notebook number to run (default 6)")
    d.add_argument("--fast", action="store_true", help="the small dataset and 2 epochs")
    d.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    return d


def run(args: argparse.Namespace) -> int:
    """Train the two runs, execute the notebooks, write and print results.md (1: no
    numbered notebook in ``--notebooks``, or a notebook failed)."""
    from mlrkit.train import ensure_run  # at call time: tests replace it

    notebooks = sorted(Path(args.notebooks).glob("[0-9]*.ipynb"))
    notebooks = [p for p in notebooks if args.upto is None or int(p.name[:2]) <= args.upto]
    if not notebooks:
        print(f"no numbered notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    folder = OutputFolder(args.out, fix="choose another --out, or delete that folder")
    folder.claim()  # before anything is trained or written
    folder.check(["results.md", *(name for p in notebooks for name in _outputs(p))])
    start = time.perf_counter()
    setup = notebook_setup(fast=args.fast, runs=args.out)
    for name in DEMO_LOSSES:  # trained here, with progress bars; the notebooks load them
        print(f"{setup.runs / name} ({DEMO_LOSSES[name]}): ...", flush=True)
        print(f"  {ensure_run(setup.config(name), setup.runs / name)}", flush=True)
    trained = time.perf_counter() - start
    try:
        timings = run_notebooks(notebooks, setup, folder, timeout=args.timeout)
    except NotebookFailedError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print("measuring the two runs for results.md ...", flush=True)
    results = folder.write_text("results.md", results_markdown(setup, demo_tables(setup)))
    total = time.perf_counter() - start
    print(
        f"\ntraining {trained:.0f} s, notebooks {sum(timings.values()):.0f} s, total {total:.0f} s"
    )
    print(f"executed notebooks and their HTML: {setup.runs / 'notebooks'}")
    print(f"figures: {setup.figures}")
    print(f"results: {results}\n")
    print(results.read_text(encoding="utf-8"))
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted ``demo`` keeps and how to continue it."""
    return (
        f"interrupted: the runs and notebooks finished so far are kept in {args.out} (a run "
        "stopped mid-training continues from its last.pt); run the same command again to go on"
    )


def _outputs(notebook: Path) -> tuple[str, str]:
    """The two files the demo writes for ``notebook``, relative to its output folder."""
    return f"notebooks/{notebook.name}", f"notebooks/{notebook.with_suffix('.html').name}"


def run_notebooks(
    notebooks: list[Path], setup: NotebookSetup, folder: OutputFolder, timeout: int = 1800
) -> dict[str, float]:
    """Execute ``notebooks`` in order from their own folder with ``setup``'s environment; write
    each executed notebook and its HTML export into ``folder`` (``notebooks/``).

    Returns:
        Seconds per notebook name.

    Raises:
        NotebookFailedError: a cell raised, timed out or killed the kernel; the message names
            the notebook, the cell and the error, and the executed notebook (with the error in
            its outputs) is written all the same, for reading.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # The kernels get this process's environment plus the setup's paths and mode.
    env = os.environ | {
        "MLRKIT_FAST": "1" if setup.fast else "0",
        "MLRKIT_RUNS": str(setup.runs),
        "MLRKIT_DATA": str(setup.data),
    }
    timings = {}
    for path in notebooks:
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )  # fmt: skip
        try:
            client.execute(env=env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            saved = _write_executed(nb, path, folder)
            raise NotebookFailedError(
                f"{path} failed at {_failed_cell(nb)}: {_error_line(err)}; the executed "
                f"notebook, with the full error, is saved as {saved[0]} (and {saved[1].name})"
            ) from None
        saved = _write_executed(nb, path, folder)
        timings[path.name] = time.perf_counter() - start
        print(f"  done in {timings[path.name]:.0f} s -> {saved[0]}", flush=True)
    return timings


def _write_executed(nb: Any, path: Path, folder: OutputFolder) -> list[Path]:
    """Write the executed ``nb`` and its HTML export (as a pair) into ``folder``."""
    import nbformat
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    notebook_name, html_name = _outputs(path)
    return folder.write({
        notebook_name: lambda target: nbformat.write(nb, target),
        html_name: lambda target: target.write_text(html, encoding="utf-8"),
    })  # fmt: skip


def _failed_cell(nb: Any) -> str:
    """``cell N (In [n])`` of the first cell with an error output (1-based, all cells
    counted), or of the last executed cell when none has one (a timeout, a dead kernel)."""
    last = None
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        last = (number, cell.execution_count)
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            break
    if last is None:
        return "its first cell"
    return f"cell {last[0]} (In [{last[1]}])"


def _error_line(err: Exception) -> str:
    """The error of a failed cell in a few words (no traceback)."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def results_markdown(setup: NotebookSetup, tables: dict[str, pd.DataFrame]) -> str:
    """``results.md``: :func:`mlrkit.notebook.demo_tables` (the scores, the separation
    overall rows) as Markdown, with what the numbers are."""
    lines = ["# Results of the demo", ""]
    lines += [
        f"Embedded digits{' (fast mode: 600 scenes, 2 epochs)' if setup.fast else ''}, "
        "validation split, weights after the last epoch, one seed "
        f"({setup.seed}). The two runs differ only in variant A: both train the class-attention "
        "head with ASL (`baseline`: ASL alone; `method`: ASL + variant A), with the same data, "
        "optimiser, epochs and seed. Every number below was measured on the two runs when this "
        "file was written.",
        "",
        "A difference between the two rows comes from variant A alone, but it is measured on one "
        "seed: read it as within the seed spread unless it is larger than that spread "
        "(docs/ablation.md gives the seed spreads).",
        "",
    ]
    titles = {
        "scores": "Scores (%, threshold 0.5)",
        "separation": "Class separation, overall (cosine)",
    }
    for key, title in titles.items():
        lines += [f"## {title}", "", *_markdown(tables[key].round(3)), ""]
    return "\n".join(lines)


def _markdown(frame: pd.DataFrame) -> list[str]:
    """A DataFrame as Markdown table lines (the index first)."""
    header = ["", *map(str, frame.columns)]
    rows = [[str(i), *(f"{v:g}" if isinstance(v, float) else str(v) for v in r)]
            for i, r in zip(frame.index, frame.itertuples(index=False), strict=True)]  # fmt: skip
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
