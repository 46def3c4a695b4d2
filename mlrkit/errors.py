"""The error family: every error mlrkit raises on bad input derives from :class:`MlrkitError`.

Each message says what is wrong, names the file or field involved, and says how to fix it, so
the command line prints it as one line (no traceback) and exits with status 2, and a notebook
user can act on it without reading the code. Each subclass also derives from the built-in
exception a caller would expect (``ValueError``, ``FileExistsError``, ...), so ``except
ValueError`` keeps working.

Where the errors live: this module holds the cross-cutting ones; each layer defines its own
next to the code that raises them (``mlrkit.data.errors``, ``mlrkit.train.checkpoint``,
``mlrkit.models.weights``, ``mlrkit.train.loops``), all deriving from :class:`MlrkitError`.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DeviceError", "InvalidInputError", "MlrkitError", "RunDirectoryError"]


class MlrkitError(Exception):
    """Base of every error mlrkit raises on bad input; the message carries the fix."""


class InvalidInputError(MlrkitError, ValueError):
    """An argument of a library function has the wrong shape, type or value."""


class ConfigError(MlrkitError, ValueError):
    """A config value, key, preset or override is invalid."""


class DeviceError(MlrkitError, ValueError):
    """The requested device does not exist on this machine (e.g. ``cuda`` without a GPU)."""


class RunDirectoryError(MlrkitError, FileExistsError):
    """A run directory would be overwritten, or holds files that contradict the request."""
