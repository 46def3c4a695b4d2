"""The run directory: what a run leaves behind, what a new run may do to it, its metrics log.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON row per epoch), ``last.pt``,
``best.pt`` and ``environment.json`` (what the numbers depend on beyond config and seed: CPU,
threads, library versions; one entry per start, so a resumed run lists each). Nothing in it is
ever overwritten without an explicit request: a directory holding any run file needs ``resume``
(continue it) or ``overwrite`` (discard it). Resuming starts from the newest intact checkpoint,
so a corrupt or missing ``last.pt`` falls back to ``best.pt`` (with a warning that the later
epochs are trained again).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlrkit.errors import RunDirectoryError
from mlrkit.files import write_text
from mlrkit.train.checkpoint import CheckpointError, load_checkpoint

__all__ = [
    "RUN_FILES", "RunDir", "discard_run", "read_history", "record_environment", "resume_point",
    "write_history",
]  # fmt: skip

# The only place that names a run directory's files.
CONFIG_FILE = "config.json"
HISTORY_FILE = "metrics.jsonl"
LAST_FILE = "last.pt"
BEST_FILE = "best.pt"
ENVIRONMENT_FILE = "environment.json"
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, LAST_FILE, BEST_FILE, ENVIRONMENT_FILE)


@dataclass(frozen=True)
class RunDir:
    """A run directory's paths and what can be read from it without loading a model.

    Attributes:
        path: the folder (it may not exist yet).
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_file(self) -> Path:
        """``config.json``: the full config, written before the first epoch."""
        return self.path / CONFIG_FILE

    @property
    def history_file(self) -> Path:
        """``metrics.jsonl``: one JSON row per epoch."""
        return self.path / HISTORY_FILE

    @property
    def environment_file(self) -> Path:
        """``environment.json``: a list, one :func:`mlrkit.runtime.environment` per start of
        training, each with the epoch it started from (``from_epoch``)."""
        return self.path / ENVIRONMENT_FILE

    @property
    def last(self) -> Path:
        """``last.pt``: the checkpoint after the newest epoch."""
        return self.path / LAST_FILE

    @property
    def best(self) -> Path:
        """``best.pt``: the checkpoint of the best ``train.best_metric`` so far."""
        return self.path / BEST_FILE

    def existing(self) -> list[str]:
        """The names of the run files present, in :data:`RUN_FILES` order."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def checkpoint(self, which: Literal["best", "last"] = "best") -> Path:
        """The checkpoint to load: ``"best"`` is ``best.pt``, else ``last.pt`` (a run evaluated
        on no epoch yet has no ``best.pt``); ``"last"`` is ``last.pt``.

        Raises:
            CheckpointError: no such checkpoint; the message names the folder.
        """
        if which not in ("best", "last"):
            raise CheckpointError(f"which must be 'best' or 'last', got {which!r}")
        order = (self.best, self.last) if which == "best" else (self.last,)
        for path in order:
            if path.is_file():
                return path
        names = " or ".join(p.name for p in order)
        raise CheckpointError(f"{self.path} holds no {names}; train into it first")

    def history(self, upto: int | None = None) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl`` (epochs ``<= upto`` when given); empty if missing."""
        return read_history(self.history_file, upto)

    def finished(self, epochs: int) -> bool:
        """Whether the folder holds a ``last.pt`` and at least ``epochs`` rows of history."""
        return self.last.is_file() and len(self.history()) >= epochs


def discard_run(out_dir: Path) -> None:
    """Delete the run files of ``out_dir`` (``overwrite``); call it just before the first write,
    once everything that can fail has been built, so a run that cannot start loses nothing."""
    for name in RunDir(out_dir).existing():
        (out_dir / name).unlink()


def resume_point(
    out_dir: Path, resume: bool, overwrite: bool = False
) -> tuple[Path, dict[str, Any]] | None:
    """Where a run into ``out_dir`` starts: ``(checkpoint path, loaded state)`` or None (fresh).

    Args:
        out_dir: the run directory (may not exist yet).
        resume: continue the run in ``out_dir``.
        overwrite: a fresh start over the run files in ``out_dir`` (the caller deletes them
            with :func:`discard_run` just before its first write).

    Raises:
        RunDirectoryError: ``out_dir`` holds run files and neither flag is set; or ``resume`` is
            set but every checkpoint there is unreadable. Each message lists the choices.
    """
    if resume and overwrite:
        raise RunDirectoryError("resume and overwrite contradict each other; choose one")
    run_dir = RunDir(out_dir)
    present = run_dir.existing()
    if overwrite:
        return None
    if not resume:
        if present:
            raise RunDirectoryError(
                f"{out_dir} already holds a run ({', '.join(present)}); pass resume=True "
                "(CLI: --resume) to continue it, overwrite=True (CLI: --overwrite) to discard "
                "it, or choose another output directory"
            )
        return None
    intact: list[tuple[int, Path, dict[str, Any]]] = []
    problems: list[str] = []
    for path in (run_dir.last, run_dir.best):
        name = path.name
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            problems.append(f"{name} is unreadable ({str(err).split('. ')[0]})")
            continue
        intact.append((int(state["epoch"]), path, state))
    if intact:
        epoch, path, state = max(intact, key=lambda item: item[0])  # last.pt first on a tie
        if path != run_dir.last:
            reason = problems[0] if problems else "last.pt is missing"
            warnings.warn(
                f"resuming {out_dir} from best.pt (epoch {epoch}): {reason}; the epochs after "
                f"{epoch} are trained again",
                stacklevel=3,
            )
        return path, state
    logged = run_dir.history()
    if problems:
        raise RunDirectoryError(
            f"cannot resume {out_dir}: {'; '.join(problems)}, and no checkpoint is intact "
            f"({len(logged)} epoch(s) were logged). Keep the directory for inspection and train "
            "into another one, or pass overwrite=True (CLI: --overwrite) to start again in it"
        )
    # No checkpoint was ever written (a run stopped in its first epoch): rows newer than the
    # checkpoint are always dropped on resume, here all of them.
    warnings.warn(
        f"resume requested but {out_dir} holds no checkpoint yet; starting from scratch",
        stacklevel=3,
    )
    return None


def read_history(path: Path, upto: int | None = None) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (epochs ``<= upto`` when given); empty if missing.

    Raises:
        RunDirectoryError: a line is not a JSON object with an integer ``epoch``; the message
            names the file and the line.
    """
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            # the kit writes this file atomically, so damage came from outside: say where
            raise RunDirectoryError(
                f"{path} is damaged at line {number} (not a JSON row with an integer 'epoch': "
                f"{line[:60]!r}); restore the file, or train into another folder (or pass "
                "overwrite=True, CLI: --overwrite, to start this run again)"
            )
        rows.append(row)
    return [row for row in rows if upto is None or row["epoch"] <= upto]


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    """Atomically replace ``metrics.jsonl`` with ``rows``."""
    write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def record_environment(path: Path, entry: dict[str, Any], resumed: bool) -> None:
    """Write ``environment.json``: ``[entry]`` for a fresh run; for a resumed one, the entries
    already there followed by ``entry`` (a missing or unreadable file is started afresh, with
    a warning: the earlier starts' environments are then unknown)."""
    entries: list[Any] = []
    if resumed and path.is_file():
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            entries = []
            warnings.warn(f"{path} is unreadable ({err}); it now lists this start only",
                          stacklevel=2)  # fmt: skip
        if not isinstance(entries, list):
            warnings.warn(f"{path} holds no list; it now lists this start only", stacklevel=2)
            entries = []
    write_text(path, json.dumps([*entries, entry], indent=1) + "\n")
