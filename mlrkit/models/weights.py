"""Finding, downloading and loading backbone weights without hanging.

``pretrained=True`` resolves torchvision's published weights through its weights API
(``ResNet101_Weights.DEFAULT`` ...). The file is looked up in torch hub's checkpoint cache
(``$TORCH_HOME/hub/checkpoints/<file name from the weights URL>``) first; only when it is missing
is a download attempted, with a socket timeout, and a failure raises a
:class:`PretrainedWeightsError` that names the exact path to put the file at and the alternative
argument to pass. ``pretrained="path.pth"`` loads a local state dict strictly.

The timeout bounds each socket operation (connect, every read); name resolution is left to the
system resolver, which fails at once on a machine without network.

torchvision's own ``load_state_dict_from_url`` is not used because it writes to stdout and its
download has no timeout; the cache layout is the same, so files are shared with torchvision.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import WeightsEnum

from mlrkit.data.download import download_file
from mlrkit.data.errors import DownloadError
from mlrkit.errors import MlrkitError

# Seconds a single socket operation (connect, read) may block before the download gives up.
DOWNLOAD_TIMEOUT_S = 20.0
# torch hub's convention: ``name-<sha256 prefix>.pth``.
_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
# Wrappers other tools put around a state dict, unwrapped before loading.
_WRAPPER_KEYS = ("state_dict", "model")


class PretrainedWeightsError(MlrkitError, RuntimeError):
    """Weights could not be found, downloaded or loaded; the message says how to fix it."""


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Path where torch hub caches ``weights``: ``<torch.hub.get_dir()>/checkpoints/<file name>``.

    ``torch.hub.get_dir()`` honours ``$TORCH_HOME`` (default ``~/.cache/torch``).
    """
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, destination: Path, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download ``url`` to ``destination`` atomically, checking the sha256 prefix in its name.

    The transfer is :func:`mlrkit.data.download_file` (resumable, progress bar, socket timeout)
    into a side file; only a verified file is renamed into the cache.

    Raises:
        DownloadError: on any network failure or timeout (the side file is kept for resuming).
        PretrainedWeightsError: when the downloaded bytes do not match the hash in the name.
    """
    side = destination.with_name(destination.name + ".download")
    download_file(url, side, timeout=timeout_s)
    match = _HASH_REGEX.search(destination.name)
    if match and not _sha256(side).startswith(match.group(1)):
        side.unlink()
        raise PretrainedWeightsError(
            f"Downloaded {url} but its sha256 does not start with {match.group(1)!r}; "
            "the download is corrupt. Try again or place the file by hand at "
            f"{destination}."
        )
    os.replace(side, destination)


def resolve_weights_file(weights: WeightsEnum, download: bool = True) -> Path:
    """Return a local file holding ``weights``, downloading it (bounded by a timeout) if needed.

    Args:
        weights: a torchvision weights enum member, e.g. ``ResNet50_Weights.DEFAULT``.
        download: attempt a download when the cache has no copy.

    Raises:
        PretrainedWeightsError: when the file is not cached and cannot be downloaded; the
            message names the exact cache path and the ``pretrained=...`` alternatives.
    """
    path = cached_weights_path(weights)
    if path.is_file():
        return path
    reason = "downloads are disabled"
    if download:
        try:
            _download(weights.url, path)
            return path
        except (OSError, DownloadError) as err:
            reason = f"the download failed ({type(err).__name__}: {err})"
    raise PretrainedWeightsError(
        f"Pretrained weights {weights} are not cached and {reason}.\n"
        f"Fix: download {weights.url} on a machine with network access and copy it to\n"
        f"  {path}\n"
        "(the directory is torch hub's checkpoint cache: $TORCH_HOME/hub/checkpoints), "
        "or pass pretrained='/path/to/weights.pth' to load a local state dict, "
        "or pretrained=False for random initialisation."
    )


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict (tensors only) from ``path``, unwrapping ``{"state_dict": ...}`` files.

    Raises:
        PretrainedWeightsError: when the file is missing or does not hold a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(
            f"Weights file {path} does not exist. Pass the path of a saved state dict "
            "(torch.save(model.state_dict(), path)), pretrained=True for torchvision's "
            "weights, or pretrained=False."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises several unrelated types on bad files
        raise PretrainedWeightsError(
            f"Could not read {path} as a state dict ({type(err).__name__}: {err}). Save it with "
            "torch.save(model.state_dict(), path)."
        ) from err
    for key in _WRAPPER_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(
            f"{path} does not contain a state dict (a mapping of names to tensors)."
        )
    return dict(obj)


def load_backbone_state(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    drop_prefixes: tuple[str, ...],
) -> None:
    """Load ``state`` into ``module`` strictly, after adapting common layouts.

    Keys under ``backbone.`` (an mlrkit ``MLRModel`` state dict) are taken with the prefix
    stripped and the rest ignored; keys starting with one of ``drop_prefixes`` (e.g. torchvision's
    ``fc.`` classifier, which the mlrkit head replaces) are dropped. Everything else must match.

    Raises:
        PretrainedWeightsError: naming ``source`` and the missing, unexpected or mis-shaped keys.
    """
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if state[k].shape != own[k].shape
    )
    if missing or unexpected or mis_shaped:
        parts = [f"{source} does not match the {type(module).__name__} backbone."]
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", mis_shaped),
        ):
            if keys:
                shown = ", ".join(keys[:5]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > 5 else ""
                )
                parts.append(f"{label} keys: {shown}")
        parts.append(
            "Fix: pass weights saved from the same backbone architecture "
            "(e.g. torch.save(build_model(<same backbone>).state_dict(), path))."
        )
        raise PretrainedWeightsError("\n".join(parts))
    module.load_state_dict(state, strict=True)
