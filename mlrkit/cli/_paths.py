"""Argparse types for output paths: a wrong kind of path is a usage error before any work.

A run folder given as an existing file, a CSV given as an existing folder, or a path below a
file cannot be written; the command would find out only after training or extracting. These
types say so at parse time, as one usage line (exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["output_file", "output_folder"]


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` that is a file (nothing can be created below)."""
    for parent in path.parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def output_folder(text: str) -> Path:
    """A folder to create or to write into."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; give a folder path")
    blocker = _file_above(path)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{blocker} is a file, so {text} cannot be created")
    return path


def output_file(text: str) -> Path:
    """A file to create or to replace."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a folder; give a file path inside it, e.g. {path / 'scores.csv'}"
        )
    blocker = _file_above(path)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{blocker} is a file, so {text} cannot be created")
    return path
