"""Errors and warnings raised by the data layer.

Every error derives from :class:`DatasetError` (itself a ``ValueError``) and its message names the
offending file and suggests a fix, so a notebook user can act on it without reading the code.
Input that can be repaired without guessing (duplicate rows, unannotated images) loads with a
:class:`DatasetWarning` that says what was dropped and why.
"""

from __future__ import annotations

from mlrkit.errors import MlrkitError

__all__ = [
    "AnnotationError",
    "DatasetError",
    "DatasetWarning",
    "DownloadError",
    "EmptyDatasetError",
    "ImageFileError",
    "MissingFileError",
    "UnknownClassError",
]


class DatasetError(MlrkitError, ValueError):
    """Base class of every data-layer error (bad files, bad policies, empty datasets)."""


class MissingFileError(DatasetError, FileNotFoundError):
    """An annotation file, split list or image file that should exist does not."""


class AnnotationError(DatasetError):
    """An annotation file exists but cannot be parsed or is inconsistent (JSON, XML, CSV)."""


class UnknownClassError(AnnotationError):
    """A label names a class outside the known class list."""


class ImageFileError(DatasetError):
    """An image file exists but cannot be decoded (truncated or corrupt)."""


class EmptyDatasetError(DatasetError):
    """No image is left after the filtering policy was applied."""


class DownloadError(DatasetError):
    """A download failed or produced a file whose checksum does not match."""


class DatasetWarning(UserWarning):
    """Input was repaired while loading (e.g. duplicate rows dropped); the message says how."""
