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

:func:`save_random_flux_fill_pipeline` does the same for ``FluxFillPipeline`` (a tiny
Flux transformer, a tiny VAE, CLIP and T5 encoders with small vocabularies).

The outputs mean nothing (the weights are random); only shapes, speed and plumbing do.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "TOKENIZER_MAX_LENGTH",
    "save_random_flux_fill_pipeline",
    "save_random_inpaint_pipeline",
]

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

    from ...errors import InvalidInputError

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


def save_random_flux_fill_pipeline(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight ``FluxFillPipeline`` to ``folder``; return it.

    The T5 tokenizer is a small unigram vocabulary built in memory (this needs a
    transformers version whose ``T5TokenizerFast`` accepts ``vocab=``, 5.x).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxFillPipeline,
        FluxTransformer2DModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        T5Config,
        T5EncoderModel,
        T5TokenizerFast,
    )

    folder = Path(folder)
    torch.manual_seed(seed)
    words = "a hand x-ray clean grayscale radiograph continuous background no text marker"
    scores = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    scores += [("\u2581" + w, -3.0 - 0.1 * i) for i, w in enumerate(words.split())]
    t5_tokenizer = T5TokenizerFast(vocab=scores, extra_ids=0, model_max_length=32)
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=64,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = _write_tokenizer_files(Path(tmp))
        clip_tokenizer = CLIPTokenizer(
            str(vocab_file), str(merges_file), model_max_length=TOKENIZER_MAX_LENGTH
        )
    clip = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            vocab_size=len(clip_tokenizer) + 8,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=TOKENIZER_MAX_LENGTH,
            projection_dim=32,
        )
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    # packed latents (4 x 2x2) + packed masked-image latents (16) + packed mask (2*2 x 2x2)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=48,
        out_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=[4, 4, 8],
    )
    pipe = FluxFillPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=clip_tokenizer,
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
