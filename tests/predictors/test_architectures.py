"""Architectures: timm-compatible ResNet-50 keys, compact CNN, sex input, bad names."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from radinpaint.errors import InvalidInputError, MissingDependencyError
from radinpaint.predictors.architectures import CompactCNN, ResNet50, build_model, conv_flops


def _timm_resnet50_keys() -> list[str]:
    """timm resnet50's state-dict keys, written out from its published structure."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["conv1.weight", *(f"bn1.{b}" for b in bn)]
    for layer, blocks in enumerate([3, 4, 6, 3], start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            for i in (1, 2, 3):
                keys.append(f"{p}.conv{i}.weight")
                keys += [f"{p}.bn{i}.{x}" for x in bn]
            if b == 0:
                keys.append(f"{p}.downsample.0.weight")
                keys += [f"{p}.downsample.1.{x}" for x in bn]
    return [*keys, "fc.weight", "fc.bias"]


def test_resnet50_keys_match_timm_layout() -> None:
    model = ResNet50(num_outputs=1)
    assert sorted(model.state_dict()) == sorted(_timm_resnet50_keys())
    assert model.fc.weight.shape == (1, 2048)
    assert model.layer3[0].downsample[0].weight.shape == (1024, 512, 1, 1)


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
def test_resnet50_keys_equal_real_timm() -> None:
    import timm

    theirs = timm.create_model("resnet50", num_classes=1, pretrained=False).state_dict()
    ours = ResNet50(num_outputs=1).state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape, k


def test_resnet50_forward_and_sex_input() -> None:
    model = ResNet50(num_outputs=2, sex_input=True).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x, torch.tensor([1.0, 0.0]))
    assert out.shape == (2, 2)
    assert model.fc.in_features == 2049
    with pytest.raises(InvalidInputError, match="sex"):
        model(x)


def test_compact_cnn_shapes_and_flops() -> None:
    model = CompactCNN(num_outputs=2, in_chans=1, widths=(8, 16)).eval()
    assert model(torch.rand(3, 1, 64, 64)).shape == (3, 2)
    assert conv_flops(model, (1, 1, 64, 64)) > 0


def test_compact_cnn_without_stem_pool_keeps_twice_the_resolution() -> None:
    x = torch.rand(2, 1, 64, 64)
    pooled = CompactCNN(widths=(8, 16), stem_width=4).features(x)
    unpooled = build_model(
        "compact-cnn", in_chans=1, options={"widths": [8, 16], "stem_width": 4, "stem_pool": False}
    ).features(x)
    assert pooled.shape[-2:] == (4, 4)
    assert unpooled.shape[-2:] == (8, 8)
    # the pooled layout keeps the state-dict keys that saved members were written with
    assert "features.4.weight" in CompactCNN(widths=(8,), stem_width=4).state_dict()


def test_build_model_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown architecture"):
        build_model("vgg-nonsense")
    with pytest.raises(InvalidInputError, match="compact-cnn"):
        build_model("compact-cnn", options={"depth": 3})


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed")
def test_timm_architecture_without_timm_says_which_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"radinpaint\[timm\]"):
        build_model("timm:resnet18")


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
def test_timm_architecture_builds() -> None:
    model = build_model("timm:resnet18", num_outputs=1, in_chans=1, sex_input=True).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 64, 64), torch.ones(2)).shape == (2, 1)
