"""Arrays in (:func:`to_numpy`), class names (:func:`class_names`) and counts (:func:`is_count`):
what the other checks use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mlrkit.errors import InvalidInputError


def is_count(value: Any) -> bool:
    """Whether ``value`` is a whole number >= 1 (a Python or numpy integer, never a bool): a
    number of images, pairs or rows. Callers word their own error, naming the argument."""
    return bool(isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1)


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array: a tensor detached and moved to the CPU, anything else as is.

    Half-precision tensors are widened to float32 (exact; numpy has no bfloat16); nothing is
    ever narrowed.

    Raises:
        InvalidInputError: ``x`` cannot be turned into an array (names ``name``).
    """
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise InvalidInputError(
            f"`{name}` must be a torch tensor, a numpy array or a sequence, got {type(x).__name__}."
        ) from err


def class_names(
    classes: Sequence[str] | None, num_classes: int | None = None, what: str = "score columns"
) -> list[str]:
    """The class names as strings: one per class, no name twice.

    Args:
        classes: the names, in the order of the columns (e.g. a dataset's ``.classes``); None
            names them ``"class 0"``, ``"class 1"``, ... (needs ``num_classes``).
        num_classes: how many names there must be; None accepts any number.
        what: what the names label, for the message (``"score columns"``, ...).

    Raises:
        InvalidInputError: on a single string (a sequence of characters, not of names), a wrong
            number of names, or a name given twice (tables, legends and look-ups by name would
            mix two classes).

    Example:
        >>> class_names(None, 2), class_names(("cat", 7), 2)
        (['class 0', 'class 1'], ['cat', '7'])
    """
    if classes is None:
        if num_classes is None:
            raise InvalidInputError("`classes` is None; pass the class names.")
        return [f"class {k}" for k in range(num_classes)]
    if isinstance(classes, str):
        raise InvalidInputError(
            f"`classes` must be a sequence of class names, got the string {classes!r}."
        )
    names = [str(c) for c in classes]
    if num_classes is not None and len(names) != num_classes:
        raise InvalidInputError(
            f"`classes` holds {len(names)} name(s) for {num_classes} {what}; pass one name per "
            f"class, in the order of the {what} (e.g. the dataset's `.classes`)."
        )
    if len(set(names)) != len(names):
        raise InvalidInputError(f"`classes` repeats a name among {names}; give each class its own.")
    return names
