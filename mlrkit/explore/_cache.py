"""The files of the UMAP cache: their sha256 keys and their atomic ``.npz`` reads and writes.

:func:`~mlrkit.explore.umap_embed` names each file by :func:`cache_key` of its parameters, the
data entering as its own :func:`data_digest`. :func:`load_npz` treats an absent, unreadable or
mismatching file as a miss, and one holding NaN or infinite values where its caller needs
finite ones as a miss with a warning; :func:`save_npz` writes a temporary file in the same
folder and renames it (``os.replace``), so a crash or a concurrent run never leaves a
half-written file under a cache name, and a failed write only warns.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlrkit.files import atomic_path


def data_digest(x: np.ndarray) -> str:
    """sha256 of the float32 C-contiguous array's shape and bytes."""
    h = hashlib.sha256()
    h.update(f"float32{x.shape}".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


def cache_key(params: dict[str, Any]) -> str:
    """sha256 of the parameters as canonical JSON (the data enters as its own sha256)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def load_npz(
    path: Path, expected: dict[str, Any], rows: int, finite: Sequence[str] = ()
) -> dict[str, Any] | None:
    """A cache file's arrays and ``params``; None when absent, unreadable or not this key's.

    Args:
        path: the cache file.
        expected: parameters its stored ``params`` must hold.
        rows: the row count of its 2-D arrays.
        finite: arrays that must hold no NaN or infinity; a file where one does is a miss too,
            with a warning naming it, since serving it would show a result that no computation
            of this key gives (a file damaged on disk, or written by a broken run).
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            content = {name: f[name] for name in f.files}
        params = json.loads(str(content.pop("params")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # a damaged file is a miss: recomputed and rewritten
    if any(params.get(name) != value for name, value in expected.items()):
        return None  # a sha256 collision, or a file written by someone else: recompute
    arrays = [a for a in content.values() if a.ndim == 2]
    if not arrays or any(len(a) != rows for a in arrays):
        return None
    broken = [name for name in finite if name in content and not np.isfinite(content[name]).all()]
    if broken:
        warnings.warn(
            f"umap_embed: the cache file {path} holds NaN or infinite values in "
            f"{', '.join(broken)}; it is ignored, recomputed and overwritten.",
            stacklevel=3,
        )
        return None
    return {**content, "params": params}


def save_npz(path: Path, **arrays: np.ndarray) -> bool:
    """Write an ``.npz`` atomically (temporary file + ``os.replace``); warn and False on error."""
    # atomic_path's unique name, opened with "x" (not mkstemp, whose files are private 0600):
    # the cache file gets the permissions of any file the user creates (umask)
    try:
        with atomic_path(path) as tmp, open(tmp, "xb") as f:
            np.savez(f, **arrays)
        return True
    except OSError as err:
        warnings.warn(
            f"umap_embed could not write the cache file {path} ({err}); the result is returned "
            "but will be recomputed next time. Free some disk space or pass another cache_dir.",
            stacklevel=3,
        )
        return False
