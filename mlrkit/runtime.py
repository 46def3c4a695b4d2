"""Where and how computations run: device and mixed-precision choice, seeding.

Layer 0: used by the training side, by :mod:`mlrkit.runs` and by notebooks; imports nothing
from mlrkit but the error family.
"""

from __future__ import annotations

import contextlib
import platform
import random
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlrkit.errors import DeviceError

__all__ = [
    "autocast",
    "deferred_interrupt",
    "environment",
    "epoch_seed",
    "resolve_amp",
    "resolve_device",
    "seed_everything",
]

_DEVICE_FORMS = "auto, cpu, cuda, cuda:N, mps"


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; ``"auto"`` picks CUDA, then MPS, then CPU.

    Raises:
        DeviceError: ``name`` is not a device form mlrkit knows (e.g. ``"gpu"``), or names a
            device this machine does not have (``"cuda"`` without a GPU, ``"cuda:3"`` with two).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    match = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", name.strip())
    if match is None:
        raise DeviceError(f"unknown device {name!r}; use one of {_DEVICE_FORMS}")
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"device {name!r} requested but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False); use device 'auto' or 'cpu'"
            )
        if index is not None and int(index) >= count:
            raise DeviceError(
                f"device {name!r} requested but this machine has {count} CUDA GPU(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    if kind == "mps" and not _mps_available():
        raise DeviceError(
            f"device {name!r} requested but MPS is not available; use 'auto' or 'cpu'"
        )
    return torch.device(name.strip())


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``mode`` (``auto``/``bf16``/``fp16``/``off``); None off CUDA.

    ``auto`` prefers bf16 (no loss scaling needed) and falls back to fp16 on GPUs without bf16.
    Mixed precision is only used on CUDA: CPU autocast is slower than fp32 for these models.
    """
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` when ``dtype`` is set, else a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) derived from the run seed (stable across resumes)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt``.

    Files written together inside the block (a metrics row and its checkpoints) are then never
    left half-updated by an interrupt. Outside the main thread, or when SIGINT is not handled by
    Python, the block runs as is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _cpu_model() -> str:
    """The CPU's model name, family and model numbers from ``/proc/cpuinfo`` (Linux), else
    :func:`platform.processor`."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return (f"{fields.get('model name', platform.processor())} (family "
            f"{fields.get('cpu family', '?')}, model {fields.get('model', '?')})")  # fmt: skip


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """What a run's numbers depend on beyond its config and seed, as plain JSON values.

    Float results can change with the CPU (the kernels its instruction set selects), the
    thread count and the library versions; a seed repeats a run bit for bit only where these
    are the same. Returns ``python``, ``platform``, ``torch``, ``torchvision``, ``numpy``,
    ``cpu`` (model name, family, model), ``cpu_capability`` (the kernels torch dispatches to,
    e.g. ``AVX512``), ``threads`` (torch's intra-op threads) and, on CUDA, ``gpu``.
    """
    import torchvision

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
    if device is not None and device.type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(device)
    return found
