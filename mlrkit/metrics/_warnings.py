"""The warning the metrics give when they leave classes out (the inputs are checked by
:mod:`mlrkit.inputs`)."""

from __future__ import annotations

import warnings

import numpy as np


class MetricsWarning(UserWarning):
    """Warned when a metric leaves classes out (e.g. a class without any positive)."""


def warn_no_positive(
    mask: np.ndarray, names: list[str], template: str, stacklevel: int = 4
) -> None:
    """Warn naming the classes (True in `mask`) without a positive target.

    `template` is formatted with `count` (how many) and `shown` (up to 20 names).
    """
    if mask.any():
        left = [names[k] for k in np.flatnonzero(mask)]
        shown = ", ".join(left[:20]) + (f", ... ({len(left)} in all)" if len(left) > 20 else "")
        warnings.warn(
            template.format(count=len(left), shown=shown), MetricsWarning, stacklevel=stacklevel
        )


def warn_left_out(mask: np.ndarray, names: list[str], what: str) -> None:
    """Warn naming the classes (True in `mask`) left out of `what`."""
    template = "{count} class(es) without any positive target left out of " + what + ": {shown}."
    warn_no_positive(mask, names, template)
