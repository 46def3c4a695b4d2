"""Device choice, Ctrl-C deferral and seeding (mlrkit.runtime)."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from mlrkit.config import apply_overrides
from mlrkit.errors import DeviceError
from mlrkit.presets import preset
from mlrkit.runtime import deferred_interrupt, resolve_amp, resolve_device


def test_known_devices_resolve_and_unknown_or_absent_ones_are_named() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    with pytest.raises(DeviceError, match="unknown device 'gpu'; use one of auto, cpu"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:3"):
            with pytest.raises(DeviceError, match=f"'{name}' requested but this machine has no"):
                resolve_device(name)


def test_mixed_precision_only_on_cuda() -> None:
    assert resolve_amp("auto", torch.device("cpu")) is None
    assert resolve_amp("bf16", torch.device("cuda")) == torch.bfloat16
    assert resolve_amp("fp16", torch.device("cuda")) == torch.float16
    assert resolve_amp("off", torch.device("cuda")) is None


def test_ctrl_c_inside_the_block_waits_for_its_end() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the block ran to its end")
    assert done == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    with deferred_interrupt():  # no interrupt: nothing raised
        pass


def test_a_quoted_string_override_is_the_string() -> None:
    cfg = apply_overrides(preset("digits"), ['model.backbone="resnet18"', "data.root=2007"])
    assert (cfg.model.backbone, cfg.data.root) == ("resnet18", "2007")
