"""The loops: ``train_one_epoch``, ``evaluate``, ``predict``: plain functions, explicit arguments.

They take an already-built model, objective, loader and optimiser, so a notebook can call them
directly; :func:`mlrkit.train.fit` strings them together with checkpoints and logging. None of
them prints; progress goes to ``tqdm.auto`` bars.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mlrkit.distributed import all_reduce_mean, all_reduce_sum, average_gradients, dist_info
from mlrkit.errors import InvalidInputError, MlrkitError
from mlrkit.metrics import MetricAccumulator
from mlrkit.runtime import autocast
from mlrkit.train.ema import ModelEMA


class NonFiniteLossError(MlrkitError, FloatingPointError):
    """The loss became NaN or infinite; training stopped before the weights were touched."""


class NonFiniteStateError(MlrkitError, FloatingPointError):
    """Weights or buffers became NaN or infinite (a diverged run); nothing was saved."""


def check_finite_state(
    modules: dict[str, nn.Module | None], epoch: int, device: torch.device | None = None
) -> None:
    """Raise :class:`NonFiniteStateError` if a floating parameter or buffer is not finite.

    A diverged run can keep a finite loss while its weights blow up (BatchNorm ``running_var``
    at inf, weights at 1e29); saving such a state as ``last.pt``/``best.pt`` would hide it.

    Args:
        modules: named modules to check (e.g. ``{"model": ..., "objective": ..., "EMA": ...}``).
        epoch: 1-based epoch, for the message.
        device: where to all-reduce the verdict under torch.distributed (every rank must stop
            together, or the others would wait forever at the next collective).
    """
    bad: list[str] = []
    for what, module in modules.items():
        if module is None:
            continue
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                bad.append(f"{what}.{name}")
    diverged = bool(bad)
    if dist_info().distributed and device is not None:
        diverged = all_reduce_sum(float(diverged), device) > 0
    if diverged:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        shown = shown or "another rank's state"
        raise NonFiniteStateError(
            f"the run diverged at epoch {epoch}: non-finite values in {shown}. Nothing was "
            "saved for this epoch (the last good checkpoint is kept); lower the learning rate "
            "or set optim.grad_clip, then resume or start again."
        )


def _to_device(
    images: torch.Tensor, targets: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    non_blocking = device.type == "cuda"
    images = images.to(device, non_blocking=non_blocking, memory_format=memory_format)
    return images, targets.to(device, non_blocking=non_blocking).float()


def _bar(loader: DataLoader, desc: str, progress: bool) -> Iterator[Any]:
    return tqdm(loader, desc=desc, disable=not progress or not dist_info().is_main, leave=False)


def train_one_epoch(
    model: nn.Module,
    objective: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    epoch: int = 1,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_clip: float | None = None,
    ema: ModelEMA | None = None,
    channels_last: bool = False,
    progress: bool = True,
) -> dict[str, float]:
    """One pass over ``loader``: forward, objective, backward, (clip), step, schedule, EMA.

    Args:
        model: returns a ``ModelOutput`` (may be wrapped in DistributedDataParallel).
        objective: ``objective(output, targets) -> {"loss": total, <term>: value, ...}``.
        loader: yields ``(images (B, 3, H, W), targets (B, K))`` with targets in {1, 0, -1}.
        optimizer: over the model's and the objective's parameters.
        device: where to compute.
        epoch: 1-based epoch number, used in the progress bar and in errors.
        scheduler: stepped after every optimiser step.
        scaler: fp16 ``GradScaler`` (None for fp32/bf16).
        amp_dtype: autocast dtype or None.
        grad_clip: max global gradient norm (None = no clipping).
        ema: updated after every optimiser step.
        channels_last: move images to channels-last memory format (faster convolutions on GPU).
        progress: show a tqdm bar with the running loss and images/s.

    Returns:
        The image-weighted mean of every loss term (averaged over ranks), plus ``lr`` (the
        first group's lr at the end), ``images`` (over all ranks), ``seconds`` and ``images_per_s``.

    Raises:
        NonFiniteLossError: a term is NaN/inf; raised before ``backward`` so the weights and
            optimiser state stay as they were after the previous step.
    """
    model.train()
    objective.train()
    sums: dict[str, float] = {}
    seen = 0
    start = time.perf_counter()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    bar = _bar(loader, f"epoch {epoch}", progress)
    for step, (images, targets) in enumerate(bar, start=1):
        images, targets = _to_device(images, targets, device, channels_last)
        with autocast(device, amp_dtype):
            output = model(images)
        # The objective computes in float32 (contrastive similarities and ASL logs are
        # precision sensitive); the logits are ranked/thresholded in fp32 anyway.
        terms = objective(output, targets)
        loss = terms["loss"]
        values = {name: float(value.detach()) for name, value in terms.items()}
        finite = all(math.isfinite(v) for v in values.values())
        if dist_info().distributed:
            # Every rank must stop together, or the others would wait forever in backward.
            finite = all_reduce_sum(float(not finite), device) == 0.0
        if not finite:
            raise NonFiniteLossError(
                f"non-finite loss at epoch {epoch}, step {step} of {len(loader)}: {values}. "
                "The weights were not updated and the last good checkpoint is kept; lower the "
                "learning rate, set optim.grad_clip, or check the data of this batch."
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        average_gradients(objective)
        if grad_clip is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update(getattr(model, "module", model))
        batch = images.shape[0]
        seen += batch
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value * batch
        if progress and (step % 10 == 0 or step == len(loader)):
            rate = seen / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}", img_s=f"{rate:.0f}")
    seconds = time.perf_counter() - start
    means = all_reduce_mean({k: v / max(seen, 1) for k, v in sums.items()}, device)
    total = all_reduce_sum(float(seen), device)
    means.update(
        lr=float(optimizer.param_groups[0]["lr"]),
        images=total,
        seconds=seconds,
        images_per_s=total / max(seconds, 1e-9),
    )
    return means


def forward_eval(
    model: nn.Module,
    images: torch.Tensor,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> Any:
    """One batch through ``model`` in eval mode without gradients; the mode is restored.

    Args:
        images: ``(B, 3, H, W)``, already transformed.

    Returns:
        The model's ``ModelOutput`` (``logits (B, K)``, ``class_features``, ``attention``), on
        ``device``.
    """
    batch = [(images, torch.zeros(len(images), 0))]  # no targets: a (B, 0) stand-in
    run = outputs(model, batch, device=device, amp_dtype=amp_dtype, channels_last=channels_last)
    output, _ = next(run)
    run.close()  # restores the model's mode now, not whenever the generator is collected
    return output


def outputs(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "eval",
) -> Generator[tuple[Any, torch.Tensor], None, None]:
    """The kit's one inference loop: ``(ModelOutput, targets (B, K) float)`` per batch, in order.

    The model runs in eval mode, without gradients, under the run's autocast; its mode is
    restored when the loop ends or is closed. Every use of a model over a loader folds over
    this: :func:`evaluate`, :func:`predict`, the class embeddings of :mod:`mlrkit.explore`,
    SADCL's prototypes (:mod:`mlrkit.train.stages`) and the run's attention maps.
    """
    was_training = model.training
    model.eval()
    try:
        for images, targets in _bar(loader, desc, progress):
            images, targets = _to_device(images, targets, device, channels_last)
            with torch.no_grad(), autocast(device, amp_dtype):
                output = model(images)
            yield output, targets
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    threshold: float = 0.5,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Exact mAP and threshold metrics of ``model`` on ``loader`` (gathered over all ranks).

    Under torch.distributed each rank evaluates its shard (use
    :class:`mlrkit.distributed.ShardSampler`, which does not pad) and
    ``mlrkit.metrics.MetricAccumulator`` gathers scores and targets from every rank. ``classes``
    only names classes in warnings (e.g. a class without positives, left out of mAP).

    Returns:
        ``MetricAccumulator.compute()``: ``mAP`` (fraction), ``AP`` (np.ndarray[K]), ``CP``, ``CR``,
        ``CF1``, ``OP``, ``OR``, ``OF1`` (threshold ``threshold`` on sigmoid(logit)), plus
        ``images`` (count over all ranks) and ``seconds``.
    """
    accumulator = MetricAccumulator(scores_are="logits", threshold=threshold, classes=classes)
    start = time.perf_counter()
    count = 0
    batches = outputs(
        model,
        loader,
        device=device,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        progress=progress,
        desc="eval",
    )
    for output, targets in batches:
        # Rank by fp32 logits: half-precision sigmoids saturate and create ties.
        accumulator.update(output.logits.float().cpu(), targets.cpu())
        count += targets.shape[0]
    result = dict(accumulator.compute())
    result["images"] = all_reduce_sum(float(count), device)
    result["seconds"] = time.perf_counter() - start
    return result


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    return_features: bool = False,
    progress: bool = False,
) -> dict[str, torch.Tensor | None]:
    """Run ``model`` over ``loader`` in order (single process) and keep everything on CPU.

    Returns:
        ``{"logits": (N, K) float32, "targets": (N, K), "features": (N, K, D) float32 or None}``;
        features only when ``return_features`` and the head has class features.
    """
    logits, targets_all, features = [], [], []
    batches = outputs(
        model,
        loader,
        device=device,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        progress=progress,
        desc="predict",
    )
    for output, targets in batches:
        logits.append(output.logits.float().cpu())
        targets_all.append(targets.cpu())
        if return_features and output.class_features is not None:
            features.append(output.class_features.float().cpu())
    if not logits:
        raise InvalidInputError("predict got an empty loader: the dataset has no images")
    return {
        "logits": torch.cat(logits),
        "targets": torch.cat(targets_all),
        "features": torch.cat(features) if features else None,
    }
