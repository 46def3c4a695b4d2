"""Checkpoints that survive a crash: atomic writes, ``weights_only`` loading, clear mismatch errors.

A checkpoint is a plain dict (loadable with ``torch.load(path, weights_only=True)``)::

    {"format": "mlrkit-checkpoint", "version": 2,
     "epoch": completed epochs, "stage": 1 or 2 (SADCL), "config": plain dict, "classes": [str],
     "model": state_dict, "objective": state_dict (projection, centres, memory bank, prototypes),
     "optimizer", "scheduler", "scaler", "ema": state dicts or None,
     "rng": {"python", "numpy", "torch", "cuda"}, "metrics": last epoch's row, "best": float | None}

Writes go to a temporary file in the same directory, are flushed to disk, then renamed over the
target with ``os.replace`` (atomic on POSIX and Windows), so a crash mid-write leaves the previous
``last.pt`` / ``best.pt`` untouched.

Versions: 2 names the objective's parts as composed (``discriminative.*``, ``sadcl.bank.*``,
``sadcl.pscl.*``); version-1 checkpoints (``center.*``, ``bank.*``, ``pscl.*``) are upgraded
when loaded. Any other version is refused with a message naming it.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlrkit.errors import MlrkitError
from mlrkit.files import atomic_path
from mlrkit.losses import LOSS_SETUPS, setup_options

FORMAT = "mlrkit-checkpoint"
VERSION = 2
# Version 1 -> 2: the objective's parts were renamed when it became a composition.
_V1_OBJECTIVE_PREFIXES = {
    "center.": "discriminative.",
    "bank.": "sadcl.bank.",
    "pscl.": "sadcl.pscl.",
}
# Config keys that define the architecture: a checkpoint only loads into a model built the same.
ARCHITECTURE_KEYS = ("backbone", "head", "embed_dim", "head_kwargs")


class CheckpointError(MlrkitError, RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not an mlrkit checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not match the model/classes it is being loaded into."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Atomically write ``state`` to ``path`` (:func:`mlrkit.files.atomic_path`'s temporary
    file, fsync, ``os.replace``, then fsync of the folder).

    Args:
        state: a dict of tensors, state dicts and plain Python values (no arbitrary objects, so
            that ``weights_only=True`` loading works).
        path: destination; its directory must exist.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except RuntimeError as err:
        # torch's zip writer turns an interrupt inside it into a RuntimeError while closing;
        # give the caller the interrupt (the target file was never replaced).
        if isinstance(err.__context__, KeyboardInterrupt):
            raise err.__context__ from None
        raise
    # Persist the rename itself (directory entry); not possible on every platform.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: missing, truncated/corrupt, or not written by :func:`save_checkpoint`.
            The message names the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or train first")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" not in str(err).lower():  # a damaged pickle, not a foreign one
            raise _corrupt(path, err) from err
        # torch's message suggests weights_only=False: never relay that for a file holding code
        raise CheckpointError(
            f"{path} holds Python objects other than tensors and plain values (possibly code "
            "that would run when loaded), so mlrkit refuses to load it. It was not written by "
            "mlrkit; do not load it unless you trust where it came from, and retrain instead."
        ) from None
    except Exception as err:  # torch raises RuntimeError/EOFError variants
        raise _corrupt(path, err) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mlrkit checkpoint (no format={FORMAT!r} entry)")
    if state.get("version") == 1:
        state = _upgrade_v1(state)
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {state.get('version')}; this mlrkit reads "
            f"versions 1 and {VERSION}. Use the mlrkit release that wrote it, or retrain."
        )
    return state


def _corrupt(path: Path, err: Exception) -> CheckpointError:
    siblings = [p.name for p in path.parent.glob("*.pt") if p != path]
    hint = f" Other checkpoints in {path.parent}: {siblings}." if siblings else ""
    return CheckpointError(
        f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: {err}). "
        "Resuming falls back to the run's other checkpoint when that one is intact; keep "
        f"this file until the run is good again.{hint}"
    )


def _upgrade_v1(state: dict[str, Any]) -> dict[str, Any]:
    """Rename a version-1 objective's state keys to the composed objective's (version 2)."""

    def rename(key: str) -> str:
        for old, new in _V1_OBJECTIVE_PREFIXES.items():
            if key.startswith(old):
                return new + key[len(old) :]
        return key

    objective = {rename(k): v for k, v in state.get("objective", {}).items()}
    # Version 1 applied loss.objective_kwargs on top of any setup; version 2 accepts only the
    # options of the run's setup. Options the setup ignores are dropped, with a warning.
    config = copy.deepcopy(state.get("config", {}))
    loss = config.get("loss", {})
    options = loss.get("objective_kwargs", {})
    if options and loss.get("setup") in LOSS_SETUPS:
        valid = setup_options(loss["setup"])
        dropped = sorted(k for k in options if k not in valid)
        if dropped:
            warnings.warn(
                f"a version-1 checkpoint's loss.objective_kwargs {dropped} are not options of "
                f"setup {loss['setup']!r} and are dropped",
                stacklevel=3,
            )
            loss["objective_kwargs"] = {k: v for k, v in options.items() if k in valid}
    return {**state, "config": config, "objective": objective, "version": 2}


def checkpoint_differences(
    state: dict[str, Any], classes: tuple[str, ...] | list[str], model_config: dict[str, Any]
) -> list[str]:
    """List how a checkpoint differs from the classes and architecture it is loaded into.

    Args:
        state: a loaded checkpoint.
        classes: the class names of the data/model being used.
        model_config: the ``model`` section (dict) of the config being used.

    Returns:
        Human-readable differences; empty when compatible.
    """
    diffs = []
    saved_classes = list(state.get("classes", []))
    classes = list(classes)
    if len(saved_classes) != len(classes):
        diffs.append(f"class count: checkpoint has {len(saved_classes)}, data has {len(classes)}")
    if saved_classes != classes:
        missing = [c for c in saved_classes if c not in classes]
        extra = [c for c in classes if c not in saved_classes]
        if missing or extra:
            diffs.append(f"classes: only in checkpoint {missing[:10]}, only in data {extra[:10]}")
        else:
            diffs.append("classes: same names in a different order")
    saved_model = state.get("config", {}).get("model", {})
    for key in ARCHITECTURE_KEYS:
        if saved_model.get(key) != model_config.get(key):
            saved, used = saved_model.get(key), model_config.get(key)
            diffs.append(f"model.{key}: checkpoint {saved!r}, config {used!r}")
    return diffs


def check_compatible(
    state: dict[str, Any],
    classes: tuple[str, ...] | list[str],
    model_config: dict[str, Any],
    path: str | Path = "checkpoint",
) -> None:
    """Raise :class:`CheckpointMismatchError` listing every difference (see above)."""
    diffs = checkpoint_differences(state, classes, model_config)
    if diffs:
        raise CheckpointMismatchError(
            f"{path} does not match this run: "
            + "; ".join(diffs)
            + ". Use a checkpoint trained on the same classes and architecture, or a new out dir."
        )


def load_module_state(
    module: torch.nn.Module, state_dict: dict[str, Any], what: str, path: str | Path
) -> None:
    """``module.load_state_dict(strict=True)`` with an error that names the file and the keys."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise CheckpointMismatchError(
            f"{path}: the saved {what} does not fit the {what} built from the config: {err}"
        ) from err


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors/lists (``weights_only``-loadable)."""
    version, py_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(py_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
