"""Random-weight Stable Diffusion inpainting pipelines, built offline.

:func:`save_random_inpaint_pipeline` writes a complete ``StableDiffusionInpaintPipeline``
folder (UNet with 9 input channels, VAE, CLIP text encoder, a CLIP tokenizer with a small
vocabulary written on the spot, a scheduler) with weights drawn from a fixed seed. It loads
through ``AutoPipelineForInpainting`` like any downloaded model, so the ``diffusers``
backend can be tested and timed without network access or real weights:

- ``size="tiny"``: a few hundred thousand parameters, a 64x64 image in well under a second
  on a CPU (tests, documentation examples);
- ``size="sd15"``: the layer sizes of Stable Diffusion 1.5 inpainting (about a billion
  parameters; GPU timing in ``benchmarks/bench_diffusers_gpu.py``).

The outputs mean nothing (the weights are random); only shapes, speed and plumbing do.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["TOKENIZER_MAX_LENGTH", "save_random_inpaint_pipeline"]

TOKENIZER_MAX_LENGTH = 77
"""Token sequence length of the CLIP tokenizer (as in Stable Diffusion)."""

_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {
        "unet": {
            "block_out_channels": (32, 64),
            "layers_per_block": 1,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "cross_attention_dim": 32,
            "attention_head_dim": 4,
            "norm_num_groups": 8,
            "sample_size": 32,
        },
        "vae": {
            "block_out_channels": (16, 32),
            "down_block_types": ("DownEncoderBlock2D",) * 2,
            "up_block_types": ("UpDecoderBlock2D",) * 2,
            "norm_num_groups": 8,
            "layers_per_block": 1,
            "sample_size": 64,
        },
        "text": {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
        },
    },
    "sd15": {
        "unet": {
            "block_out_channels": (320, 640, 1280, 1280),
            "layers_per_block": 2,
            "down_block_types": (
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "DownBlock2D",
            ),
            "up_block_types": (
                "UpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
            ),
            "cross_attention_dim": 768,
            "attention_head_dim": 8,
            "norm_num_groups": 32,
            "sample_size": 64,
        },
        "vae": {
            "block_out_channels": (128, 256, 512, 512),
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "norm_num_groups": 32,
            "layers_per_block": 2,
            "sample_size": 512,
        },
        "text": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
        },
    },
}


def _write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """A byte-level BPE vocabulary of single characters plus a few merges (CLIP format)."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(string.ascii_lowercase + string.digits + ".,-'")
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(token, len(vocab))
    merges = ["t h", "th e</w>", "a n", "an d</w>", "r a", "x ra"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab_file = folder / "vocab.json"
    merges_file = folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def save_random_inpaint_pipeline(
    folder: str | Path, *, size: str = "tiny", seed: int = 0, scheduler: str = "ddim"
) -> Path:
    """Write a random-weight Stable Diffusion inpainting pipeline to ``folder``; return it.

    Args:
        folder: where to save (``save_pretrained`` layout, safetensors weights).
        size: ``"tiny"`` (tests) or ``"sd15"`` (Stable Diffusion 1.5 inpainting layer sizes).
        seed: seeds the random weights (the same seed writes the same weights).
        scheduler: ``"ddim"`` (deterministic, default) or ``"pndm"``.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ..errors import InvalidInputError

    if size not in _CONFIGS:
        raise InvalidInputError(f"unknown pipeline size {size!r}", available=list(_CONFIGS))
    cfg = _CONFIGS[size]
    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=9, out_channels=4, **cfg["unet"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **cfg["vae"])
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = _write_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer(
            str(vocab_file), str(merges_file), model_max_length=TOKENIZER_MAX_LENGTH
        )
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        vocab_size=max(len(tokenizer), 64),
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        layer_norm_eps=1e-5,
        projection_dim=cfg["text"]["hidden_size"],
        **cfg["text"],
    )
    text_encoder = CLIPTextModel(text_config)
    sched_args = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "steps_offset": 1,
    }
    if scheduler == "pndm":
        sched: Any = PNDMScheduler(skip_prk_steps=True, **sched_args)
    elif scheduler == "ddim":
        sched = DDIMScheduler(clip_sample=False, set_alpha_to_one=False, **sched_args)
    else:
        raise InvalidInputError(f"unknown scheduler {scheduler!r}", available=["ddim", "pndm"])
    pipe = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
