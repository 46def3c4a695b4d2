"""``notebooks``: the student versions of the numbered notebooks, made from the teacher's.

The exercise convention (a markdown task, a code cell tagged ``solution``, a code cell tagged
``check``) and the placeholder that replaces each solution are :mod:`mlrkit.exercises`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlrkit.cli._help import add_command
from mlrkit.cli._paths import output_folder
from mlrkit.exercises import exercise_cells, write_student_notebooks

__all__ = ["COMMANDS", "EXAMPLES", "add_arguments", "run"]

COMMANDS = ("notebooks",)
EXAMPLES = ("python -m mlrkit notebooks --student student    # exercises without their solutions",)


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``notebooks`` subparser to ``subparsers``."""
    n = add_command(
        subparsers,
        "notebooks",
        help="write the student versions of the notebooks (solutions replaced by placeholders)",
        description="Writes every numbered notebook of --notebooks to OUT with each exercise's "
        "solution cell (tagged 'solution') replaced by a placeholder that raises "
        "NotImplementedError, and all outputs cleared. Files in OUT are replaced only when "
        "they are student versions written by this command.",
        examples=EXAMPLES,
    )
    n.add_argument(
        "--student",
        metavar="OUT",
        type=output_folder,
        required=True,
        help="folder for the student versions (not the notebooks' own folder)",
    )
    n.add_argument(
        "--notebooks", default="notebooks", help="folder of the teacher's numbered notebooks"
    )
    return n


def run(args: argparse.Namespace) -> int:
    """Write the student versions and print each file written with its number of exercises."""
    import nbformat  # at call time, as the demo's notebook tools: `--help` needs no Jupyter

    for path in write_student_notebooks(args.notebooks, args.student):
        count = len(exercise_cells(nbformat.read(path, as_version=4)))
        print(f"wrote {path} ({count} exercise{'' if count == 1 else 's'})")
    return 0
