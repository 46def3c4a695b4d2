"""A folder written as a whole or not at all: :func:`replaced_atomically`.

Private to :mod:`mlrkit.data` (the digit-scene generator writes its dataset through it). The new
content is written into a hidden temporary sibling, ``.<name>.tmp-<pid>``, and only moved into
place once complete; an earlier folder is renamed aside (``.<name>.old-<pid>``), the new one
renamed in, then the old one deleted. Renames within one parent folder are atomic on POSIX file
systems, so a reader sees the old folder or the new one, never a half-written one; a failure or
an interrupt (``KeyboardInterrupt`` included) midway removes the temporary folder and leaves the
old folder (or nothing) as it was. Only a hard kill (SIGKILL, power loss) can leave the hidden
temporary folder behind; the next write from a process of the same id removes it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replaced_atomically"]


@contextmanager
def replaced_atomically(root: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on a clean exit it replaces ``root`` as a whole.

    ``root`` may be missing or an existing folder (the caller decides whether it may be
    replaced); on any exception the temporary folder is removed and ``root`` is left alone.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    temporary = root.parent / f".{root.name}.tmp-{os.getpid()}"
    old = root.parent / f".{root.name}.old-{os.getpid()}"
    for leftover in (temporary, old):  # from an earlier process of this id that was killed
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        temporary.mkdir()
        yield temporary
        try:
            if root.exists():
                root.rename(old)
            temporary.rename(root)
        except BaseException:
            if old.exists() and not root.exists():
                old.rename(root)  # put the earlier folder back
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
