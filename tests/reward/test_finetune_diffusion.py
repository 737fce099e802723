"""Reward-weighted fine-tuning of the diffusion denoiser and its command."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from radinpaint.datasets.phantom import make_phantoms  # noqa: E402
from radinpaint.errors import InvalidInputError  # noqa: E402
from radinpaint.inpainters.diffusion.checkpoint import load_unet  # noqa: E402
from radinpaint.inpainters.diffusion.finetune import (  # noqa: E402
    finetune_diffusion,
    reward_weights,
    weighted_step,
)
from radinpaint.inpainters.diffusion.inference import SHIPPED_WEIGHTS  # noqa: E402
from radinpaint.inpainters.diffusion.model import build_schedulers  # noqa: E402
from radinpaint.records import InpaintRequest  # noqa: E402
from radinpaint.registry import get_inpainter  # noqa: E402
from radinpaint.reward import TrainOptions, train_reward  # noqa: E402

from .test_reward import separable  # noqa: E402


@pytest.fixture(scope="module")
def reward_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ftd") / "reward.safetensors"
    options = TrainOptions(epochs=10, width=8, batch_size=16, seed=0)
    train_reward(separable(8), options=options, data={"source": "test"}).save(path)
    return path


@pytest.fixture(scope="module")
def cases():
    return make_phantoms(3, seed=5, size=96)


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    unet, _ = load_unet(path)
    return {k: v.clone() for k, v in unet.state_dict().items()}


def _run(cases, reward_file, out, **options):
    return finetune_diffusion(
        cases,
        reward=reward_file,
        out=out,
        rounds=1,
        variants=2,
        steps=2,
        batch_size=4,
        lr=1e-3,
        progress=False,
        num_threads=1,
        **options,
    )


def test_zero_weights_leave_the_model_unchanged(cases, reward_file, tmp_path):
    out = _run(cases, reward_file, tmp_path / "zero.safetensors", sample_weights=[0.0] * 6)
    base, tuned = _tensors(SHIPPED_WEIGHTS), _tensors(out)
    assert all(torch.equal(base[k], tuned[k]) for k in base)
    moved = _run(cases, reward_file, tmp_path / "rwr.safetensors")
    assert any(not torch.equal(base[k], v) for k, v in _tensors(moved).items())


def test_uniform_weights_equal_a_plain_training_step():
    unet, cfg = load_unet(SHIPPED_WEIGHTS)
    ddpm, _ = build_schedulers(cfg["schedule"])
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((4, 1, 64, 64), generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.randint(0, 1000, (4,), generator=gen)
    plain = copy.deepcopy(unet).train()
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-3, weight_decay=0.0)
    # the step train_diffusion takes, written out
    loss = torch.nn.functional.mse_loss(plain(ddpm.add_noise(x0, noise, t), t).sample, noise)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
    opt.step()
    weighted = copy.deepcopy(unet).train()
    opt_w = torch.optim.AdamW(weighted.parameters(), lr=1e-3, weight_decay=0.0)
    value = weighted_step(weighted, opt_w, ddpm, x0, noise, t, torch.ones(4))
    assert value == pytest.approx(float(loss.detach()), rel=1e-5)
    for (name, a), b in zip(
        plain.state_dict().items(), weighted.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    # weights shift the step: a batch with one image weighted up moves it differently
    other = copy.deepcopy(unet).train()
    opt_o = torch.optim.AdamW(other.parameters(), lr=1e-3, weight_decay=0.0)
    weighted_step(other, opt_o, ddpm, x0, noise, t, torch.tensor([4.0, 0.0, 0.0, 0.0]))
    assert any(
        not torch.allclose(a, b)
        for a, b in zip(other.parameters(), weighted.parameters(), strict=True)
    )


def test_reward_weights_favour_acceptable_samples():
    w = reward_weights(np.array([0.1, 0.5, 0.9]), beta=0.1)
    assert w.mean() == pytest.approx(1.0) and w[0] < w[1] < w[2]
    assert reward_weights(np.array([0.1, 0.9]), weighting="uniform").tolist() == [1.0, 1.0]
    flat = reward_weights(np.array([0.1, 0.9]), beta=100.0)
    assert flat == pytest.approx([1.0, 1.0], abs=0.01)
    with pytest.raises(InvalidInputError, match="weighting"):
        reward_weights(np.ones(2), weighting="best")


def test_saved_weights_load_in_the_diffusion_inpainter_and_replay(cases, reward_file, tmp_path):
    a = _run(cases, reward_file, tmp_path / "a.safetensors", seed=3)
    b = _run(cases, reward_file, tmp_path / "b.safetensors", seed=3)
    ta, tb = _tensors(a), _tensors(b)
    assert all(torch.equal(ta[k], tb[k]) for k in ta)  # deterministic for a seed
    config = json.loads(a.with_suffix(".json").read_text("utf-8"))
    record = config["training"]["finetune"]
    assert record["weighting"] == "rwr" and record["cases"] == 3
    assert record["history"][0]["samples"] == 6
    assert 0.0 <= record["history"][0]["p_acceptable"] <= 1.0
    inpainter = get_inpainter("diffusion", weights=str(a), mode="redraw")
    case = cases[0]
    request = InpaintRequest(image=case.image, mask=case.artifact_mask, seed=1, case_id=case.id)
    result = inpainter.inpaint([request])[0]
    assert result.image.shape == case.image.shape
    base = get_inpainter("diffusion", mode="redraw").inpaint([request])[0]
    assert not np.array_equal(result.image.pixels, base.image.pixels)


def test_bad_options_give_clear_errors(cases, reward_file, tmp_path):
    with pytest.raises(InvalidInputError, match="sample_weights"):
        _run(cases, reward_file, tmp_path / "x.safetensors", sample_weights=[1.0])
    with pytest.raises(InvalidInputError, match="safetensors"):
        _run(cases, reward_file, tmp_path / "x.pt")
    with pytest.raises(InvalidInputError, match="mode"):
        _run(cases, reward_file, tmp_path / "x.safetensors", mode="paint")


def test_finetune_diffusion_command_reports_before_and_after(reward_file, tmp_path, capsys):
    from radinpaint.cli import main

    out = tmp_path / "tuned.safetensors"
    code = main(
        ["finetune-diffusion", "--reward", str(reward_file), "--data", "phantom:2:96",
         "--out", str(out), "--rounds", "1", "--steps", "1", "--variants", "1",
         "--batch-size", "2", "--held-out", "phantom:2:96", "--threads", "1",
         "--no-progress"]
    )  # fmt: skip
    assert code == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "plausibility before:" in text and "plausibility after:" in text
    figures = json.loads(text.strip().splitlines()[-1])
    assert set(figures) == {"before", "after"} and figures["after"]["cases"] == 2
    assert main(["finetune-diffusion", "--reward", str(reward_file), "--data", "phantom:2:96",
                 "--out", str(out), "--variants", "0"]) != 0  # fmt: skip
