"""Reward-weighted fine-tuning of the GAN: what weights of 1 and of 0 must do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radinpaint.datasets.phantom import make_phantoms
from radinpaint.errors import InvalidInputError
from radinpaint.reward import TrainOptions, train_reward

from .test_reward import separable

SMALL_G = {
    "arch": "gated-unet",
    "in_channels": 3,
    "coarse": "push-pull",
    "base_channels": 4,
    "depth": 2,
    "dilations": [2],
}
SMALL_D = {"arch": "sn-patchgan", "in_channels": 2, "base_channels": 4, "layers": 2}
RUN = {"batch_size": 2, "crop": 32, "seed": 5, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Phantoms, a generator as initialised by train_gan (0 steps), and a reward model."""
    from radinpaint.inpainters.gan.train import train_gan

    root = tmp_path_factory.mktemp("finetune")
    data = make_phantoms(2, seed=0, size=96)
    base = train_gan(
        data, out=root / "base.safetensors", steps=0, generator=SMALL_G, discriminator=SMALL_D,
        **RUN,
    )  # fmt: skip
    reward = root / "reward.safetensors"
    train_reward(separable(n_cases=3), options=TrainOptions(epochs=1, width=4)).save(reward)
    return {"root": root, "data": data, "base": base, "reward": reward}


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_weights_of_zero_leave_the_generator_unchanged(setup):
    from radinpaint.inpainters.gan.finetune import finetune_gan

    out = finetune_gan(
        setup["data"], reward=setup["reward"], weights=setup["base"],
        out=setup["root"] / "zero.safetensors", steps=2, sample_weights=[0.0, 0.0],
        reward_weight=0.0, lr=1e-3, **RUN,
    )  # fmt: skip
    before, after = _tensors(setup["base"]), _tensors(out)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    record = json.loads(out.with_suffix(".json").read_text())["training"]["finetune"]
    assert record["weighting"] == "fixed" and len(record["reward_sha256"]) == 64


def test_uniform_weights_are_one_plain_training_step(setup):
    """With all weights 1 and no reward term, a step is train_gan's step without the critic."""
    from radinpaint.inpainters.gan.finetune import finetune_gan
    from radinpaint.inpainters.gan.train import train_gan

    lr = 1e-3
    plain = train_gan(
        setup["data"], out=setup["root"] / "plain.safetensors", steps=1, adv_weight=0.0,
        lr_g=lr, generator=SMALL_G, discriminator=SMALL_D, resume=False, **RUN,
    )  # fmt: skip
    tuned = finetune_gan(
        setup["data"], reward=setup["reward"], weights=setup["base"],
        out=setup["root"] / "uniform.safetensors", steps=1, weighting="uniform",
        reward_weight=0.0, lr=lr, **RUN,
    )  # fmt: skip
    a, b, base = _tensors(plain), _tensors(tuned), _tensors(setup["base"])
    moved = False
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-6)
        moved |= not np.array_equal(a[k], base[k])
    assert moved  # the step did change the generator


def test_reward_weighting_moves_the_generator_and_records_it(setup):
    from radinpaint.inpainters.gan.finetune import finetune_gan

    out = finetune_gan(
        setup["data"], reward=setup["reward"], weights=setup["base"],
        out=setup["root"] / "reward-weighted.safetensors", steps=1, lr=1e-3, **RUN,
    )  # fmt: skip
    record = json.loads(out.with_suffix(".json").read_text())["training"]["finetune"]
    assert record["weighting"] == "reward" and record["steps"] == 1
    assert 0.0 <= record["last"]["p_acceptable"] <= 1.0
    before, after = _tensors(setup["base"]), _tensors(out)
    assert any(not np.array_equal(before[k], after[k]) for k in before)


def test_bad_options_are_refused(setup):
    from radinpaint.inpainters.gan.finetune import finetune_gan

    common = {"reward": setup["reward"], "weights": setup["base"], **RUN}
    with pytest.raises(InvalidInputError, match="weighting"):
        finetune_gan(setup["data"], out=setup["root"] / "x.safetensors", weighting="best",
                     **common)  # fmt: skip
    with pytest.raises(InvalidInputError, match="sample_weights"):
        finetune_gan(setup["data"], out=setup["root"] / "x.safetensors",
                     sample_weights=[1.0], **common)  # fmt: skip
    with pytest.raises(InvalidInputError, match="safetensors"):
        finetune_gan(setup["data"], out=setup["root"] / "x.pt", **common)


def test_finetune_gan_command_reports_before_and_after(setup, tmp_path, capsys):
    from radinpaint.cli import main

    out = tmp_path / "tuned.safetensors"
    code = main(
        ["finetune-gan", "--reward", str(setup["reward"]), "--data", "phantom:2:96",
         "--out", str(out), "--steps", "1", "--batch-size", "2", "--crop", "32",
         "--held-out", "phantom:2:96", "--no-progress"]
    )  # fmt: skip
    assert code == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "plausibility before:" in text and "plausibility after:" in text
    figures = json.loads(text.strip().splitlines()[-1])
    assert set(figures) == {"before", "after"} and figures["after"]["cases"] == 2
