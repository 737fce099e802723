"""The learned provider reads weights as safetensors only: pickles run no code, errors are clear."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from radinpaint.errors import CheckpointError
from radinpaint.masks.learned import PACKAGED_WEIGHTS, LearnedMasks, load_mask_net


class _Opens:
    """Unpickling this calls ``open(path, "w")``: it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pth"])
def test_a_pickle_given_as_weights_is_refused_without_running_code(tmp_path, name) -> None:
    marker = tmp_path / "unpickled.txt"
    weights = tmp_path / name
    torch.save({"w": _Opens(marker)}, weights)
    shutil.copyfile(PACKAGED_WEIGHTS.with_suffix(".json"), weights.with_suffix(".json"))
    with pytest.raises(CheckpointError, match="safetensors") as info:
        load_mask_net(weights)
    assert name in str(info.value) and "Fix:" in str(info.value)
    with pytest.raises(CheckpointError):
        LearnedMasks(weights=str(weights)).masks([])
    assert not marker.exists()


def test_a_broken_config_is_a_checkpoint_error(tmp_path) -> None:
    weights = tmp_path / "net.safetensors"
    shutil.copyfile(PACKAGED_WEIGHTS, weights)
    for text in ("{not json", "[1, 2]", '{"format": "radinpaint.mask_unet/1"}'):
        weights.with_suffix(".json").write_text(text)
        with pytest.raises(CheckpointError, match=r"net\.json"):
            load_mask_net(weights)
