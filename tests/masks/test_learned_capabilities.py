"""The learned mask provider declares its capabilities; retrained weights are noticed."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.capabilities import Capabilities
from radinpaint.errors import CheckpointError
from radinpaint.fingerprint import fingerprint_files
from radinpaint.masks import learned
from radinpaint.masks.learned import (
    PACKAGED_WEIGHTS,
    LearnedMasks,
    load_mask_net,
    save_mask_net,
    train_mask_net,
)

KW = dict(steps=2, batch_size=2, input_size=128, crop=32, widths=(4, 8))


def test_declared_fields_without_loading(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("capabilities() loaded the network")

    monkeypatch.setattr(learned, "load_mask_net", refuse)
    caps = LearnedMasks(batch_size=3).capabilities()
    assert isinstance(caps, Capabilities)
    assert caps.deterministic and caps.max_concurrency == 1
    assert caps.batch_size == 3 and caps.device == "cpu"
    assert caps.fingerprint == fingerprint_files(
        [PACKAGED_WEIGHTS, PACKAGED_WEIGHTS.with_suffix(".json")]
    )


def test_retrained_weights_change_the_fingerprint_and_are_reloaded(phantoms, tmp_path) -> None:
    path = save_mask_net(train_mask_net(phantoms[:3], seed=3, **KW), tmp_path / "net")
    provider = LearnedMasks(weights=str(path))
    first = provider.capabilities().fingerprint
    net = load_mask_net(path)

    retrained = train_mask_net(phantoms[:3], seed=4, **KW)
    save_mask_net(retrained, tmp_path / "net")
    assert provider.capabilities().fingerprint != first
    reloaded = load_mask_net(path)  # not the network loaded from the old file
    assert reloaded is not net
    for (_, x), (_, y) in zip(
        reloaded.model.state_dict().items(), retrained.model.state_dict().items(), strict=True
    ):
        assert np.array_equal(x.numpy(), y.numpy())


def test_missing_weights_fail_clearly(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        LearnedMasks(weights=str(tmp_path / "nope.safetensors")).capabilities()
