"""Real models under the real combined objectives: every parameter receives a gradient.

The model tests use a simple stand-in loss and the objective tests a stand-in model; this file
joins the two as training does (``mlrkit.train.recipe``), for every head and every loss setup.
"""

from __future__ import annotations

import pytest
import torch

from mlrkit.config import LOSS_SETUP_NAMES
from mlrkit.presets import preset
from mlrkit.train.recipe import model_from_config, objective_from_config

K = 7  # odd on purpose
pytestmark = pytest.mark.usefixtures("one_thread")


def _targets(batch: int) -> torch.Tensor:
    """Every class present in at least two images (so each anchor has a positive), some -1."""
    y = torch.zeros(batch, K)
    for k in range(K):
        y[k % batch, k] = y[(k + 1) % batch, k] = 1
    y[0, K - 1] = -1
    return y


def _without_gradient(modules: dict[str, torch.nn.Module]) -> list[str]:
    return [
        f"{owner}.{name}"
        for owner, module in modules.items()
        for name, p in module.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]


# The gap head has no class features, so it pairs with the classification-only setups.
CASES = [
    (head, setup)
    for head in ("class_attention", "query", "gap")
    for setup in LOSS_SETUP_NAMES
    if head != "gap" or setup in ("bce", "asl")
]


@pytest.mark.parametrize(("head", "setup"), CASES)
def test_every_parameter_gets_a_gradient_under_the_combined_objective(head, setup):
    torch.manual_seed(0)
    cfg = preset("digits", loss=setup)
    cfg.model.head = head
    cfg.model.embed_dim = 32 if head == "query" else None
    model = model_from_config(cfg, K)
    stage = 2 if setup == "sadcl" else 1  # stage 2 adds SSCL + PSCL to ASL
    objective = objective_from_config(cfg, model, stage=stage)
    terms = objective(model(torch.randn(4, 3, 64, 64)), _targets(4))
    expected = {"loss", "cls"} | {
        "disc-contrastive": {"disc"},
        "disc-center": {"disc"},
        "sadcl": {"sscl", "pscl"},
    }.get(setup, set())
    assert set(terms) == expected
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    assert _without_gradient({"model": model, "objective": objective}) == []


def test_the_training_split_is_read_from_root_even_with_the_eval_transform(
    tmp_path, tiny_digits
) -> None:
    # A CSV run keeps its validation CSV in data.val_root; asking for the training split with
    # the evaluation transform (an audit, cross-fitting) must still read the training CSV.
    from mlrkit.config import DataConfig
    from mlrkit.data import build_dataset
    from mlrkit.train.recipe import build_split

    scenes = build_dataset("digits", tiny_digits, "train")
    picked = {"train.csv": range(3), "val.csv": range(3, 5)}
    names = {name: [scenes.paths[i] for i in rows] for name, rows in picked.items()}
    for name, rows in picked.items():
        lines = [
            f"{scenes.paths[i]},{scenes.classes[int(scenes.targets[i].argmax())]}" for i in rows
        ]
        (tmp_path / name).write_text("image,labels\n" + "\n".join(lines) + "\n")
    data = DataConfig(kind="csv", root=str(tmp_path / "train.csv"),
                      val_root=str(tmp_path / "val.csv"), generate_if_missing=False,
                      policy={"classes": list(scenes.classes)})  # fmt: skip
    mean, std = (0.5,) * 3, (0.25,) * 3
    train_eval = build_split(data, "train", mean, std, train=False)
    assert [str(p) for p in train_eval.paths] == [str(p) for p in names["train.csv"]]
    val = build_split(data, "val", mean, std, train=False)
    assert [str(p) for p in val.paths] == [str(p) for p in names["val.csv"]]
