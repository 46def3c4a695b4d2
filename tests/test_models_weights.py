"""Loading backbone weights: local files, torch hub's cache, and failing downloads (no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models import ResNet18_Weights

import mlrkit.models.weights as weights_module
from mlrkit.models import PretrainedWeightsError, build_model, cached_weights_path

K = 7


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Point torch hub at an empty tmp dir and make every download fail; returns attempted URLs."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    attempts: list[str] = []

    def no_network(url: str, destination: Path, timeout_s: float = 0.0) -> None:
        attempts.append(url)
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(weights_module, "_download", no_network)
    return attempts


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("backbone", ["digitnet", "resnet18"])
def test_saved_random_backbone_reloads_through_path(tmp_path, backbone):
    source = build_model(backbone, num_classes=K)
    path = tmp_path / "backbone.pth"
    torch.save(source.backbone.state_dict(), path)
    reloaded = build_model(backbone, num_classes=K, pretrained=str(path))
    assert _same_state(reloaded.backbone.state_dict(), source.backbone.state_dict())
    fresh = build_model(backbone, num_classes=K)
    assert not _same_state(fresh.backbone.state_dict(), source.backbone.state_dict())


def test_full_model_state_dict_and_torchvision_layout_reload(tmp_path):
    source = build_model("digitnet", "query", num_classes=K, embed_dim=32)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "model.pth")
    reloaded = build_model("digitnet", num_classes=3, pretrained=tmp_path / "model.pth")
    assert _same_state(reloaded.backbone.state_dict(), source.backbone.state_dict())

    classifier = torchvision.models.resnet18(weights=None)  # has fc.*, which the head replaces
    torch.save(classifier.state_dict(), tmp_path / "tv.pth")
    model = build_model("resnet18", num_classes=K, pretrained=tmp_path / "tv.pth")
    expected = {k: v for k, v in classifier.state_dict().items() if not k.startswith("fc.")}
    assert _same_state(model.backbone.state_dict(), expected)


def test_mismatched_state_dict_names_file_and_keys(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(build_model("resnet18", num_classes=K).backbone.state_dict(), path)
    with pytest.raises(PretrainedWeightsError) as info:
        build_model("resnet34", num_classes=K, pretrained=path)
    message = str(info.value)
    assert str(path) in message and "missing keys" in message and "layer1.2" in message

    state = build_model("digitnet", num_classes=K).backbone.state_dict()
    state["features.0.0.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError, match="wrong shape keys: features.0.0.weight"):
        build_model("digitnet", num_classes=K, pretrained=path)


def test_missing_or_unreadable_file_says_what_to_pass(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="does not exist.*pretrained=True"):
        build_model("digitnet", num_classes=K, pretrained=tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="junk.pth"):
        build_model("digitnet", num_classes=K, pretrained=tmp_path / "junk.pth")


def test_no_network_and_no_cache_names_the_exact_path(offline, tmp_path):
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert cached_weights_path(ResNet18_Weights.DEFAULT) == expected
    with pytest.raises(PretrainedWeightsError) as info:
        build_model("resnet18", num_classes=K, pretrained=True)
    message = str(info.value)
    assert str(expected) in message
    assert ResNet18_Weights.DEFAULT.url in message
    assert "pretrained='/path/to/weights.pth'" in message and "Network is unreachable" in message
    assert offline == [ResNet18_Weights.DEFAULT.url]


def test_cached_file_loads_without_network(offline):
    classifier = torchvision.models.resnet18(weights=None)
    path = cached_weights_path(ResNet18_Weights.DEFAULT)
    path.parent.mkdir(parents=True)
    torch.save(classifier.state_dict(), path)
    model = build_model("resnet18", num_classes=K, pretrained=True)
    expected = {k: v for k, v in classifier.state_dict().items() if not k.startswith("fc.")}
    assert _same_state(model.backbone.state_dict(), expected)
    assert offline == []  # the cache was used, no download attempted


def test_digitnet_has_no_published_weights(offline):
    with pytest.raises(PretrainedWeightsError, match="digitnet has no published weights"):
        build_model("digitnet", num_classes=K, pretrained=True)


def test_download_checks_hash_and_writes_atomically(tmp_path):
    payload = b"weights bytes"
    digest = hashlib.sha256(payload).hexdigest()
    source = tmp_path / "src.bin"
    source.write_bytes(payload)
    good = tmp_path / "cache" / f"net-{digest[:8]}.pth"
    weights_module._download(source.as_uri(), good, timeout_s=5)
    assert good.read_bytes() == payload

    bad = tmp_path / "cache" / "net-00000000.pth"
    with pytest.raises(PretrainedWeightsError, match="sha256"):
        weights_module._download(source.as_uri(), bad, timeout_s=5)
    assert sorted(p.name for p in good.parent.iterdir()) == [good.name]  # no partial files left
