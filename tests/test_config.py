"""Config dataclasses, presets, JSON round trip, overrides and validation."""

from __future__ import annotations

import json

import pytest
import torch

from mlrkit.config import (
    LOSS_SETUP_NAMES,
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    sadcl_stage1_epochs,
    save_config,
)
from mlrkit.errors import ConfigError, InvalidInputError
from mlrkit.losses import build_objective
from mlrkit.presets import PRESETS, preset
from mlrkit.train import check_config


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("loss", LOSS_SETUP_NAMES)
def test_every_preset_and_loss_round_trips_through_json(name: str, loss: str, tmp_path) -> None:
    cfg = preset(name, loss=loss)
    assert cfg.loss.setup == loss
    path = save_config(cfg, tmp_path / "config.json")
    assert load_config(path) == cfg
    # The file is plain JSON (what a checkpoint stores as a dict).
    assert json.loads(path.read_text())["loss"]["setup"] == loss


def test_published_recipes_in_presets() -> None:
    voc, coco = preset("voc07"), preset("coco14")
    for cfg in (voc, coco):
        assert (cfg.model.backbone, cfg.data.image_size) == ("resnet101", 448)
        assert cfg.model.pretrained is True
    # The published recipes (docs/method.md): SGD lr 0.01, head x10, momentum 0.9, wd 1e-4;
    # AdamW 1e-4 + EMA 0.9997.
    assert (voc.optim.name, voc.optim.lr, voc.optim.head_lr_mult) == ("sgd", 0.01, 10.0)
    assert (voc.optim.momentum, voc.optim.weight_decay) == (0.9, 1e-4)
    assert (coco.optim.name, coco.optim.lr, coco.optim.schedule) == ("adamw", 1e-4, "onecycle")
    assert coco.train.ema_decay == 0.9997 and coco.data.randaugment
    digits = preset("digits")
    assert (digits.model.backbone, digits.data.image_size, digits.data.kind) == (
        "digitnet",
        64,
        "digits",
    )
    assert digits.loss.setup == "disc-contrastive"


def test_sadcl_preset_gets_two_stages() -> None:
    cfg = preset("digits", loss="sadcl")
    assert cfg.loss.sadcl_stage1_epochs is None
    assert sadcl_stage1_epochs(cfg) == cfg.train.epochs // 2
    assert sadcl_stage1_epochs(apply_overrides(cfg, ["train.epochs=3"])) == 1
    assert sadcl_stage1_epochs(preset("coco14", loss="sadcl")) == 30
    with pytest.raises(ConfigError, match="sadcl setup needs"):
        apply_overrides(cfg, ["train.epochs=1"])
    # no stage 1 needs a base run to start from
    with pytest.raises(ConfigError, match="train.init_from"):
        apply_overrides(cfg, ["loss.sadcl_stage1_epochs=0"])
    cfg0 = apply_overrides(cfg, ["loss.sadcl_stage1_epochs=0", "train.init_from=base/best.pt"])
    assert sadcl_stage1_epochs(cfg0) == 0
    with pytest.raises(ConfigError, match="sadcl setup needs"):
        apply_overrides(cfg, ["loss.sadcl_stage1_epochs=-1", "train.init_from=base/best.pt"])


def test_sadcl_stage2_learning_rate_is_the_released_one() -> None:
    # The released scripts train stage 2 with the same --lr as stage 1 (scripts/sadcl/coco.sh:
    # --lr 5e-5 in both steps; main_worker.py: lr_mult = 1.0).
    assert preset("digits", loss="sadcl").loss.sadcl_stage2_lr_mult == 1.0


def test_overrides_parse_json_and_keep_strings() -> None:
    cfg = preset("digits")
    new = apply_overrides(
        cfg,
        [
            "optim.lr=3e-4",
            "train.epochs=2",
            "optim.step_milestones=[1, 2]",
            "data.root=2007",
            "model.embed_dim=null",
            "model.pretrained=true",
            'data.policy={"keep_unannotated": true}',
            "train.ema_decay=0.99",
        ],
    )
    assert new.optim.lr == 3e-4 and new.train.epochs == 2
    assert new.optim.step_milestones == (1, 2)
    assert new.data.root == "2007"  # a str field keeps the text, not the int 2007
    assert new.model.embed_dim is None and new.model.pretrained is True
    assert new.data.policy == {"keep_unannotated": True}
    assert new.train.ema_decay == 0.99
    assert cfg.optim.lr != 3e-4  # the input config is untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown field 'lrr'"),
        ("optimizer.lr=1", "unknown section 'optimizer'"),
        ("lr=1", "section.field=value"),
        ("train.epochs=abc", "train.epochs"),
        ("train.epochs=0", "train.epochs must be >= 1"),
        ("loss.setup=focal", "loss.setup 'focal'"),
        ("data.hflip=true", "data.cache needs a deterministic"),
        ("train.best_metric=ema_val_mAP", "needs train.ema_decay"),
        ("train.best_metric=val_loss", "must be one of"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(preset("digits"), [override])


def test_unknown_keys_and_bad_presets_are_errors() -> None:
    data = config_to_dict(Config())
    data["optim"]["learning_rate"] = 1.0
    with pytest.raises(ConfigError, match="learning_rate"):
        config_from_dict(data)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("imagenet")
    with pytest.raises(ConfigError, match="unknown loss setup"):
        preset("digits", loss="mse")


def test_gap_head_rejects_discriminative_losses() -> None:
    with pytest.raises(ConfigError, match="class features"):
        apply_overrides(preset("digits"), ["model.head=gap"])
    assert apply_overrides(preset("digits", loss="bce"), ["model.head=gap"]).model.head == "gap"


def test_missing_keys_take_defaults() -> None:
    assert config_from_dict({"name": "x", "train": {"epochs": 3}}).train.epochs == 3


def test_setup_names_match_the_loss_builders():
    from mlrkit.losses import LOSS_SETUPS

    assert tuple(LOSS_SETUPS) == LOSS_SETUP_NAMES


@pytest.mark.parametrize(
    ("override", "field", "bad", "valid"),
    [
        ('loss.objective_kwargs={"disc_weigth": 0.5}', "loss.objective_kwargs", "disc_weigth",
         "disc_weight"),
        ('model.head_kwargs={"temprature": 2}', "model.head_kwargs", "temprature", "temperature"),
        ('data.policy={"keep_unanotated": true}', "data.policy", "keep_unanotated",
         "keep_unannotated"),
    ],
)  # fmt: skip
def test_dict_fields_are_checked_against_their_targets(override, field, bad, valid):
    cfg = apply_overrides(preset("digits"), [override])  # builds: the keys are checked later
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    message = str(info.value)
    assert field in message and repr(bad) in message and repr(valid) in message


def test_dict_fields_accept_their_targets_keys_per_setup():
    cfg = apply_overrides(
        preset("voc07"),
        ['model.head_kwargs={"temperature": 2.0}', 'data.policy={"difficult": "ignore"}'],
    )
    assert check_config(cfg) is cfg
    # an option of another setup is refused: bce has no disc_weight
    bce = apply_overrides(
        preset("digits", loss="bce"), ['loss.objective_kwargs={"disc_weight": 1}']
    )
    with pytest.raises(ConfigError, match="loss setup 'bce'"):
        check_config(bce)


def test_dict_overrides_merge_and_null_removes_a_key():
    voc = preset("voc07")
    assert voc.loss.objective_kwargs == {"reduction": "mean"}
    merged = apply_overrides(voc, ['loss.objective_kwargs={"disc_weight": 0.5}'])
    assert merged.loss.objective_kwargs == {"reduction": "mean", "disc_weight": 0.5}
    removed = apply_overrides(merged, ['loss.objective_kwargs={"reduction": null}'])
    assert removed.loss.objective_kwargs == {"disc_weight": 0.5}
    assert apply_overrides(voc, ["loss.objective_kwargs={}"]).loss.objective_kwargs == {
        "reduction": "mean"
    }
    with pytest.raises(ConfigError, match="takes a JSON object"):
        apply_overrides(voc, ["loss.objective_kwargs=0.5"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=-0.1", "optim.lr must be > 0"),
        ("optim.lr=0", "optim.lr must be > 0"),
        ("optim.head_lr_mult=-1", "head_lr_mult"),
        ("optim.weight_decay=-1e-4", "weight_decay"),
        ("loss.sadcl_stage2_lr_mult=-0.1", "sadcl_stage2_lr_mult"),
    ],
)
def test_negative_learning_rates_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(preset("digits"), [override])


@pytest.mark.parametrize("value", ["-1", "-0.001", "NaN"])
def test_a_negative_or_nan_disc_weight_is_refused_before_anything_is_built(value: str) -> None:
    cfg = apply_overrides(preset("digits"), [f'loss.objective_kwargs={{"disc_weight": {value}}}'])
    with pytest.raises(ConfigError, match=r"loss.objective_kwargs: disc_weight must be .* >= 0"):
        check_config(cfg)
    # the objective's own constructor is the owner of the rule
    with pytest.raises(InvalidInputError, match="disc_weight must be"):
        build_objective("disc-center", 10, 16, disc_weight=float(value))
    zero = apply_overrides(preset("digits"), ['loss.objective_kwargs={"disc_weight": 0}'])
    assert check_config(zero) is zero  # 0 turns the term off: allowed


def test_check_config_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_config(preset("digits", loss="sadcl"))  # builds a tiny probe objective
    assert torch.equal(torch.rand(3), expected)


def test_the_default_disc_weight_is_written_once() -> None:
    import inspect

    from mlrkit.losses import DISC_WEIGHT, MultiLabelObjective
    from mlrkit.losses.setups import disc_center_objective, disc_contrastive_objective

    for fn in (MultiLabelObjective.__init__, disc_center_objective, disc_contrastive_objective):
        assert inspect.signature(fn).parameters["disc_weight"].default is DISC_WEIGHT
    assert build_objective("disc-contrastive", 10, 16).weights["disc"] == DISC_WEIGHT
