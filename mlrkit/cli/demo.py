"""``demo``: train the notebooks' two runs, execute the numbered notebooks, write results.md.

The set-up the notebooks share (paths, fast mode, the two runs' configs) is
:mod:`mlrkit.notebook`; this module runs the notebooks with it (:func:`run_notebooks`, saying
each one as it goes) and gathers their tables into ``results.md`` (:func:`write_results`).
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
from mlrkit.notebook import DEMO_LOSSES, NotebookSetup, notebook_setup

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run", "run_notebooks", "write_results"]

COMMANDS = ("demo",)
EXAMPLES = (
    "python -m mlrkit demo --out runs/demo       # execute the notebooks in order",
    "python -m mlrkit demo --fast --upto 3       # the small dataset, notebooks 01-03",
)


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` subparser to ``subparsers``."""
    d = add_command(
        subparsers,
        "demo",
        help="train the baseline and the method, execute the notebooks, write results.md",
        description="Trains (or reuses) the two runs of the notebooks into OUT, executes the "
        "numbered notebooks in order (01-06 by default) and writes OUT/notebooks/ (executed "
        "notebooks and their HTML), OUT/figures/ (every PNG) and OUT/results.md.",
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
    numbered notebook in ``--notebooks``)."""
    from mlrkit.train import ensure_run  # at call time: tests replace it

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


def run_notebooks(
    notebooks: list[Path], setup: NotebookSetup, timeout: int = 1800
) -> dict[str, float]:
    """Execute ``notebooks`` in order from their own folder with ``setup``'s environment; write
    each executed notebook and its HTML export to ``setup.runs / "notebooks"``.

    Returns:
        Seconds per notebook name.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell failed (the message names it).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    out = setup.runs / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
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
        client.execute(env=env)
        nbformat.write(nb, out / path.name)
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
        timings[path.name] = time.perf_counter() - start
        print(f"  done in {timings[path.name]:.0f} s -> {out / path.name}", flush=True)
    return timings


def write_results(setup: NotebookSetup) -> Path:
    """``results.md``: the scores (from ``03_evaluate_map``) and the separation overall rows
    (from ``04_feature_space``) of both runs, as Markdown tables."""
    lines = ["# Results of the demo", ""]
    lines += [
        f"Embedded digits{' (fast mode: 600 scenes, 2 epochs)' if setup.fast else ''}, "
        "validation split, weights after the last epoch, one seed "
        f"({setup.seed}). The two runs differ only in variant A: both train the class-attention "
        "head with ASL (`baseline`: ASL alone; `method`: ASL + variant A), with the same data, "
        "optimiser, epochs and seed.",
        "",
        "A difference between the two rows comes from variant A alone, but it is measured on one "
        "seed: read it as within the seed spread unless it is larger than that spread "
        "(docs/ablation.md gives the seed spreads).",
        "",
    ]
    for name, title, columns in (
        ("scores.csv", "Scores (%, threshold 0.5)", ["mAP", "CF1", "OF1", "CP", "CR", "OP", "OR"]),
        ("separation.csv", "Class separation, overall (cosine)", None),
    ):
        path = setup.runs / name
        if not path.is_file():
            lines += [f"## {title}", "", f"(missing: {path} is written by the notebooks)", ""]
            continue
        frame = pd.read_csv(path, index_col=0)
        # presence_auroc needs the absent pairs too, which the notebooks do not extract
        frame = frame[columns] if columns else frame.drop(columns=["n"], errors="ignore")
        frame = frame.dropna(axis=1, how="all")
        lines += [f"## {title}", "", *_markdown(frame.round(3)), ""]
    results = setup.runs / "results.md"
    results.write_text("\n".join(lines), encoding="utf-8")
    return results


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
