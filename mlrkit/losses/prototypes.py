"""Initial PSCL prototypes: class means of confidently-correct samples (SADCL, stage 1 -> 2)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm


def _class_names(loader: Any, num_classes: int) -> Sequence[str]:
    classes = getattr(getattr(loader, "dataset", None), "classes", None)
    if classes is not None and len(classes) == num_classes:
        return tuple(str(c) for c in classes)
    return tuple(f"class {k}" for k in range(num_classes))


def init_prototypes(
    model: nn.Module,
    loader: Iterable[Any],
    projection: nn.Module,
    threshold: float = 0.85,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> Tensor:
    """Class means of projected, normalised features of confidently-correct samples.

    For each class ``k``::

        C_k = {b : y_bk = 1 and sigmoid(logit_bk) > threshold}
        p_k = normalize( mean_{b in C_k} normalize(proj(F_bk)) )

    A class with no such sample falls back, with a warning naming it, to the mean over its
    positives (``y = 1``) whatever their score; a class with no positive at all falls back to
    the mean of its class features over every image. (The released SADCL code stores the means
    before the projection and projects them at each step; mlrkit keeps prototypes in the
    embedding space where PSCL compares them.)

    Args:
        model: returns a ``ModelOutput`` with ``logits (B, K)`` and ``class_features (B, K, C)``.
        loader: yields ``(images, targets, ...)`` with targets ``(B, K)`` in {1, 0, -1}.
        projection: maps ``(..., C)`` to ``(..., D)`` (the objective's ``ProjectionMLP``).
        threshold: score a positive must exceed (SADCL: 0.85).
        device: where to run (default: the model's parameters' device).
        progress: show a tqdm bar.

    Returns:
        ``(K, D)`` float32 unit-norm prototypes on ``device``.

    Raises:
        ValueError: if the loader is empty or the model has no class features.
    """
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    modes = (model.training, projection.training)
    model.eval()
    projection.eval()
    confident = positive = everything = None
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc="prototypes", disable=not progress, leave=False):
                images, targets = batch[0].to(device), batch[1].to(device)
                output = model(images)
                if output.class_features is None:
                    raise ValueError(
                        "init_prototypes: the model returns no class_features (a 'gap' head?); "
                        "build it with head='class_attention' or head='query'"
                    )
                z = F.normalize(projection(output.class_features).double(), dim=-1)  # (B, K, D)
                conf = (targets == 1) & (
                    torch.sigmoid(output.logits.double()) > threshold
                )  # (B, K)
                pos = targets == 1
                sums = [
                    (z * mask[..., None]).sum(0) for mask in (conf, pos, torch.ones_like(pos))
                ]  # 3 x (K, D)
                counts = [mask.sum(0) for mask in (conf, pos, torch.ones_like(pos))]  # 3 x (K,)
                if confident is None:
                    confident, positive, everything = (
                        [s, c] for s, c in zip(sums, counts, strict=True)
                    )
                else:
                    for acc, s, c in zip(
                        (confident, positive, everything), sums, counts, strict=True
                    ):
                        acc[0] += s
                        acc[1] += c
    finally:
        model.train(modes[0])
        projection.train(modes[1])
    if confident is None:
        raise ValueError("init_prototypes: the loader yielded no batch; pass the training loader")
    names = _class_names(loader, confident[1].shape[0])
    means = confident[0] / confident[1].clamp(min=1)[:, None]
    no_conf = confident[1] == 0
    use_pos = no_conf & (positive[1] > 0)
    use_all = no_conf & (positive[1] == 0)
    if bool(use_pos.any()):
        warnings.warn(
            f"init_prototypes: no confidently-correct sample (y=1 and sigmoid(logit) > "
            f"{threshold}) for {[names[k] for k in use_pos.nonzero()[:, 0].tolist()]}; "
            "using the mean of their positive samples",
            stacklevel=2,
        )
        means[use_pos] = (positive[0] / positive[1].clamp(min=1)[:, None])[use_pos]
    if bool(use_all.any()):
        warnings.warn(
            f"init_prototypes: no positive sample at all for "
            f"{[names[k] for k in use_all.nonzero()[:, 0].tolist()]}; using the mean of their "
            "class features over every image",
            stacklevel=2,
        )
        means[use_all] = (everything[0] / everything[1].clamp(min=1)[:, None])[use_all]
    return F.normalize(means, dim=-1).float()
