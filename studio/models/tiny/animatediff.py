"""A tiny random-init AnimateDiffPipeline (SD 1.5-style UNet + MotionAdapter, CLIP text encoder, 2D VAE), built
offline from configs: for tests and smoke renders. The CLIP tokenizer's vocabulary is built here,
not fetched."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.models.tiny import WORDS

# A CLIP tokenizer's vocabulary is byte-level: every byte's printable stand-in, alone and ending a word.
START, END = "<|startoftext|>", "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """GPT-2 / CLIP byte-level BPE's printable stand-in for each of the 256 bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(
        range(ord("\u00ae"), ord("\u00ff") + 1))
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def tiny_clip_tokenizer(model_max_length: int = 32) -> Any:
    """A CLIPTokenizer over single bytes plus whole-word merges for the studio's shape words."""
    import transformers

    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:
            if (merged, piece) not in merges:
                merges.append((merged, piece))
            merged += piece
            if merged not in vocab:
                vocab.append(merged)
    vocab += [START, END]
    return transformers.CLIPTokenizer(vocab={token: i for i, token in enumerate(vocab)}, merges=merges,
                                      model_max_length=model_max_length)


def tiny_clip_text_encoder(tokenizer: Any, width: int = 32) -> Any:
    import transformers

    return transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length, projection_dim=width,
        bos_token_id=tokenizer.convert_tokens_to_ids(START), eos_token_id=tokenizer.convert_tokens_to_ids(END),
        pad_token_id=tokenizer.convert_tokens_to_ids(END)))


def tiny_vae_2d(latent_channels: int = 4) -> Any:
    """An SD-style AutoencoderKL with the real spatial compression (8: four blocks) and tiny widths."""
    import diffusers

    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=latent_channels, block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=2, sample_size=32, scaling_factor=0.18215)


def tiny_animatediff_pipeline(*, seed: int = 0, prediction_type: str = "epsilon") -> Any:
    """An AnimateDiffPipeline small enough to run a step in milliseconds, with a DDIM scheduler configured like
    the AnimateDiff examples (linear betas, no clipping, linspace spacing)."""
    import diffusers
    import torch

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    text_encoder = tiny_clip_text_encoder(tokenizer)
    vae = tiny_vae_2d()
    unet = diffusers.UNet2DConditionModel(
        sample_size=4, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=2)
    adapter = diffusers.MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1,
                                      motion_num_attention_heads=2, motion_norm_num_groups=2,
                                      motion_max_seq_length=32, use_motion_mid_block=False)
    scheduler = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                                        clip_sample=False, timestep_spacing="linspace", steps_offset=1,
                                        prediction_type=prediction_type)
    pipeline = diffusers.AnimateDiffPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                             motion_adapter=adapter, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_animatediff(folder: Path, *, width: int = 32, height: int = 32, frames: int = 8,
                          **options: Any) -> Path:
    """Write a tiny model folder, with a studio_model.json recording the size it was built for."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_animatediff_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    manifest = {"native_size": [width, height, frames], "fps": 8}
    (folder / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return folder
