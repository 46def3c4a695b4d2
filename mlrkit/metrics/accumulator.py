"""Streaming evaluation: keep scores and targets batch by batch, compute once at the end.

Only ``(N, K)`` scores and targets are kept (about 13 MB for COCO val in float32), never
features. When ``torch.distributed`` is initialised, :meth:`MetricAccumulator.compute` gathers
every rank's samples first (ranks may hold different counts), so each rank gets the metrics of
the whole split. Note: a ``DistributedSampler`` that pads the split to a multiple of the world
size repeats a few samples, and they are counted; use :class:`mlrkit.distributed.ShardSampler`
(no padding) for exact numbers.

Targets are converted to mlrkit's encoding batch by batch (``targets_are``), but the check for
targets in the wrong encoding (ignored entries and not a single negative) runs in
:meth:`MetricAccumulator.compute`, on the whole gathered matrix: one batch may lack negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mlrkit.distributed import dist_info
from mlrkit.errors import InvalidInputError
from mlrkit.inputs import (
    TargetsKind,
    as_targets,
    check_scores_are,
    check_target_encoding,
    check_targets_are,
)

from .ranking import average_precision, macro_mean
from .threshold import threshold_metrics


def _comm_device() -> torch.device:
    """NCCL only moves CUDA tensors; every other backend (gloo) takes CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather_rows(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's ``(n_r, K)`` rows in rank order, padding to the largest n_r."""
    device = _comm_device()
    padded = local.new_zeros((max(sizes), local.shape[1]), device=device)  # (max n, K)
    padded[: local.shape[0]] = local.to(device)
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)]).cpu()


def gather_rows(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All-gather ``(n_r, K)`` scores and targets from every rank (CPU tensors in and out).

    A rank with no samples passes ``(0, 0)`` tensors; the class count and the score dtype
    (float64 if any rank has it, else float32) are agreed first.
    """
    device = _comm_device()
    meta = torch.tensor(
        [scores.shape[0], scores.shape[1], int(scores.dtype == torch.float64)], device=device
    )
    metas = [torch.empty_like(meta) for _ in range(dist.get_world_size())]
    dist.all_gather(metas, meta)
    metas_cpu = torch.stack(metas).cpu()  # (world, 3)
    sizes = metas_cpu[:, 0].tolist()
    widths = {w for n, w in metas_cpu[:, :2].tolist() if n > 0}
    if len(widths) > 1:
        raise InvalidInputError(
            f"Ranks hold scores with different class counts {sorted(widths)}; every rank must "
            "evaluate the same model on the same class list."
        )
    if not widths:
        raise InvalidInputError("No rank has any sample: call update() before compute().")
    width = widths.pop()
    dtype = torch.float64 if bool(metas_cpu[:, 2].any()) else torch.float32
    if scores.shape[0] == 0:
        scores = torch.zeros((0, width), dtype=dtype)
        targets = torch.zeros((0, width), dtype=torch.int8)
    all_scores = _all_gather_rows(scores.to(dtype), sizes)
    all_targets = _all_gather_rows(targets, sizes)
    return all_scores, all_targets


class MetricAccumulator:
    """Collects ``(scores, targets)`` batches; :meth:`compute` gives mAP, AP, threshold metrics.

    Args:
        scores_are: ``"logits"`` (default) or ``"probabilities"``.
        threshold: on the probability scale, for CP/CR/CF1/OP/OR/OF1.
        classes: class names for the warnings about classes without positives.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult; each batch converted 1 -> 1, -1 -> 0, 0 -> -1 in
            :meth:`update`). Gathered targets with -1 but no 0 at all under ``"binary"``
            (signed targets passed unconverted) make :meth:`compute` raise
            :class:`~mlrkit.errors.InvalidInputError`; a single batch without 0 is fine.

    Example:
        >>> acc = MetricAccumulator(scores_are="probabilities")
        >>> acc.update(torch.tensor([[0.9], [0.2]]), torch.tensor([[1.0], [0.0]]))
        >>> acc.compute()["mAP"]
        1.0
    """

    def __init__(
        self,
        scores_are: str = "logits",
        threshold: float = 0.5,
        classes: Sequence[str] | None = None,
        *,
        targets_are: TargetsKind = "binary",
    ) -> None:
        check_scores_are(scores_are)
        check_targets_are(targets_are)
        self.scores_are = scores_are
        self.targets_are = targets_are
        self.threshold = threshold
        self.classes = None if classes is None else tuple(classes)
        self._scores: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def __len__(self) -> int:
        """Number of samples held by this process."""
        return sum(s.shape[0] for s in self._scores)

    def reset(self) -> None:
        """Forget every sample (e.g. between epochs)."""
        self._scores.clear()
        self._targets.clear()

    def update(self, scores: Any, targets: Any) -> None:
        """Add a batch: ``(B, K)`` scores (tensor on any device, or array) and targets.

        Targets are validated and converted to mlrkit's encoding now (``targets_are``); the
        check for the wrong encoding waits for :meth:`compute` (this batch may lack negatives).
        """
        s = torch.as_tensor(scores).detach().cpu()
        if s.dtype in (torch.float16, torch.bfloat16) or not s.is_floating_point():
            s = s.float()  # widening is exact; half precision is only a storage format here
        # validates values and converts to mlrkit's encoding: (B, K) int8
        t = torch.from_numpy(as_targets(targets, self.targets_are, check_encoding=False))
        if s.ndim != 2 or s.shape != t.shape:
            raise InvalidInputError(
                f"update() needs scores and targets of the same shape (B, K); got "
                f"{tuple(s.shape)} and {tuple(t.shape)}."
            )
        if self._scores and s.shape[1] != self._scores[0].shape[1]:
            raise InvalidInputError(
                f"This batch has {s.shape[1]} classes but earlier batches had "
                f"{self._scores[0].shape[1]}; call reset() before evaluating another model."
            )
        self._scores.append(s)
        self._targets.append(t)

    def gather(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as numpy ``(N, K)`` scores and int8 targets (every rank's if distributed).

        The targets are in mlrkit's encoding (1 / 0 / -1 = ignore), converted if the accumulator
        was built with ``targets_are="signed"``.
        """
        if self._scores:
            scores, targets = torch.cat(self._scores), torch.cat(self._targets)
        else:
            scores, targets = torch.zeros((0, 0)), torch.zeros((0, 0), dtype=torch.int8)
        if dist_info().distributed:
            scores, targets = gather_rows(scores, targets)
        if scores.shape[0] == 0:
            raise InvalidInputError("MetricAccumulator is empty: call update() before compute().")
        return scores.numpy(), targets.numpy()

    def compute(self) -> dict[str, Any]:
        """Metrics over every sample seen (all ranks when distributed).

        Returns:
            ``{"mAP": float, "AP": np.ndarray[K], "CP", "CR", "CF1", "OP", "OR", "OF1"}``;
            fractions in [0, 1], AP NaN for classes without positives (left out of mAP).

        Raises:
            InvalidInputError: when nothing was added, or when the gathered targets hold ignored
                entries but no negative at all (the wrong ``targets_are``).
        """
        scores, targets = self.gather()
        check_target_encoding(targets, self.targets_are)  # whole matrix, every rank alike
        ap = average_precision(scores, targets)
        result: dict[str, Any] = {"mAP": macro_mean(ap, self.classes, "mAP"), "AP": ap}
        result.update(
            threshold_metrics(
                scores,
                targets,
                scores_are=self.scores_are,
                threshold=self.threshold,
                classes=self.classes,
            )
        )
        return result
