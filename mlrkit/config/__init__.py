"""Experiment configuration: one tree of dataclasses, validation, overrides, JSON round trip.

A :class:`Config` holds five sections (``data``, ``model``, ``loss``, ``optim``, ``train``). Named
presets (``digits``, ``voc07``, ``coco14``) are in :mod:`mlrkit.presets`; a loss setup (``bce``,
``asl``, ``disc-contrastive``, ``disc-center``, ``sadcl``) selects the objective. The config is
saved as ``config.json`` in every run directory and as a plain dict inside every checkpoint, so a
run can be rebuilt from either.

Example:
    >>> from mlrkit.presets import preset
    >>> cfg = preset("digits", loss="disc-contrastive")
    >>> cfg = apply_overrides(cfg, ["train.epochs=3", "optim.lr=0.001"])
    >>> config_from_dict(config_to_dict(cfg)) == cfg
    True
    >>> voc = apply_overrides(preset("voc07"), ['loss.objective_kwargs={"disc_weight": 0.5}'])
    >>> voc.loss.objective_kwargs  # merged into the preset's dict
    {'reduction': 'mean', 'disc_weight': 0.5}

The schema (the dataclasses and :func:`validate`) lives in ``_schema``, the JSON side (dicts,
files, overrides) in ``_io``; every public name is imported from here.
"""

from __future__ import annotations

from mlrkit.config._io import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from mlrkit.config._schema import (
    BEST_METRICS,
    LOSS_SETUP_NAMES,
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    sadcl_stage1_epochs,
    validate,
)

__all__ = [
    "BEST_METRICS", "LOSS_SETUP_NAMES", "Config", "DataConfig", "LossConfig", "ModelConfig",
    "OptimConfig", "TrainConfig", "apply_overrides", "config_from_dict", "config_to_dict",
    "load_config", "sadcl_stage1_epochs", "save_config", "validate",
]  # fmt: skip
