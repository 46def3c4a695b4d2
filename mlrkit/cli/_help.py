"""What every command's subparser shares: its help layout and its epilog of examples."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

EPILOG_HEAD = "examples:\n"


class _ExamplesFormatter(argparse.HelpFormatter):
    """Wraps the description and the flags' help as argparse does, but keeps the epilog's
    example lines as written: a wrapped command line could not be copied."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EPILOG_HEAD):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def epilog(examples: Sequence[str]) -> str:
    """``examples:`` and one indented line per example."""
    return EPILOG_HEAD + "\n".join("  " + line for line in examples)


def add_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subparser ``name`` of ``subparsers`` (``add_subparsers()``'s result) whose ``--help``
    ends with ``examples``."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog(examples),
        formatter_class=_ExamplesFormatter,
    )
