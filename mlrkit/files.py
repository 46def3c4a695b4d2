"""Writing files the kit's way: whole or not at all, and never over a file the kit did not write.

Two promises of the kit (``docs/promises.md``) live here:

- **No half-written files.** :func:`atomic_path` hands a writer a temporary name beside the
  target (same folder, so same file system) and renames it onto the target only when the writer
  returned; a crash, a full disk or Ctrl-C leaves the old file or none, never a mix. The
  temporary name keeps the target's extension, so writers that infer the format from it
  (``Figure.savefig``, ``np.savez``, ``DataFrame.to_parquet``) behave as on the target.
- **Your files are yours.** An :class:`OutputFolder` keeps a manifest (:data:`MANIFEST`, JSON:
  relative name -> SHA-256 of the bytes the kit wrote) and refuses to replace a file that is not
  in it, or that was changed since the kit wrote it, with one :class:`ForeignFileError` naming
  the file and the fix, before any file is touched. A command checks its outputs up front
  (:meth:`OutputFolder.check`), then does the long work, then writes them as a set
  (:meth:`OutputFolder.write`: every file prepared under a temporary name first, then all
  renamed into place), so a command stopped half-way leaves the earlier set, not a mix of two.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mlrkit.errors import MlrkitError

__all__ = ["MANIFEST", "ForeignFileError", "OutputFolder", "atomic_path", "write_text"]

MANIFEST = ".mlrkit-outputs.json"


class ForeignFileError(MlrkitError, FileExistsError):
    """An output would replace a file the kit did not write (or one changed since)."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends normally, rename it onto
    ``path`` (``os.replace``, atomic on POSIX and Windows); otherwise delete it.

    The block must create the file at the yielded path. The parent folder must exist.
    """
    path = Path(path)
    # hidden, unique per process and call, and with the target's extension (see module doc)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OutputFolder:
    """A folder a command writes into, with the manifest of the files it wrote there.

    Args:
        root: the folder (created on the first write).
        fix: how the user gets out of a refusal, ended into every :class:`ForeignFileError`
            (e.g. ``"choose another --out"``).
    """

    def __init__(self, root: str | Path, *, fix: str = "choose another output folder") -> None:
        self.root = Path(root)
        self.fix = fix

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def _recorded(self) -> dict[str, str]:
        try:
            recorded = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none, or damaged: then no file here counts as the kit's
        return recorded if isinstance(recorded, dict) else {}

    def wrote(self, name: str) -> bool:
        """True when ``root / name`` is, byte for byte, a file this kit wrote here."""
        path = self.root / name
        recorded = self._recorded().get(Path(name).as_posix())
        return recorded is not None and path.is_file() and _sha256(path) == recorded

    def check(self, names: Iterable[str]) -> None:
        """Refuse, before any work, to replace a file the kit did not write.

        Raises:
            ForeignFileError: one of ``names`` exists in ``root`` and is not a file the kit
                wrote there (or was changed since), or is a folder.
        """
        for name in names:
            path = self.root / name
            if path.is_dir():
                raise ForeignFileError(f"{path} is a folder, where a file is to be written; "
                                       f"move it away or {self.fix}")  # fmt: skip
            if path.exists() and not self.wrote(name):
                raise ForeignFileError(
                    f"{path} exists and was not written by mlrkit (or was changed since): it is "
                    f"left as it is; move it away or {self.fix}"
                )

    def claim(self) -> None:
        """Refuse a folder that holds files but no manifest: a folder the kit did not make.

        For commands that write many files into their folder (the demo): they then own the
        folder as a whole. An empty or missing folder is claimed by writing the manifest.

        Raises:
            ForeignFileError: ``root`` is a file, or a non-empty folder without manifest.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ForeignFileError(f"{self.root} is a file, where a folder is to be made; "
                                   f"{self.fix}")  # fmt: skip
        if self.manifest.is_file():
            return
        if self.root.is_dir() and any(self.root.iterdir()):
            raise ForeignFileError(
                f"{self.root} holds files but was not made by mlrkit (no {MANIFEST} in it); "
                f"nothing in it is touched; {self.fix}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._record({})

    def write(self, files: Mapping[str, Callable[[Path], Any]]) -> list[Path]:
        """Write ``files`` (relative name -> a writer called with the path to create) as a set.

        Every name is checked first (:meth:`check`); then every writer writes a temporary
        file; only when all succeeded are they renamed into place, and the manifest records
        them. Returns the written paths, in the order given.
        """
        self.check(files)
        stack = contextlib.ExitStack()
        with stack:
            for name, writer in files.items():
                target = self.root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                writer(stack.enter_context(atomic_path(target)))
        # the stack renamed every temporary file onto its target, in order, on a clean exit
        paths = [self.root / name for name in files]
        self._record({Path(name).as_posix(): _sha256(self.root / name) for name in files})
        return paths

    def write_text(self, name: str, text: str) -> Path:
        """:meth:`write` of one UTF-8 text file."""
        return self.write({name: lambda path: path.write_text(text, encoding="utf-8")})[0]

    def _record(self, hashes: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        recorded = self._recorded() | hashes
        write_text(self.manifest, json.dumps(recorded, indent=1, sort_keys=True) + "\n")
