"""A tiny random-init LTX-Video pipeline built offline from configs, for tests and smoke renders."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.models.tiny import tiny_tokenizer


def tiny_ltx_pipeline(*, seed: int = 0, image_to_video: bool = False, timestep_conditioning: bool = False,
                      layers: int = 1, max_tokens: int = 64) -> Any:
    """An LTXPipeline (LTXImageToVideoPipeline when image_to_video) whose VAE compresses 4x in space and time and
    whose step takes milliseconds. `timestep_conditioning` gives the VAE LTX 0.9.1's timestep-conditioned decoder."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(max_tokens)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8))
    vae = diffusers.AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=timestep_conditioning, patch_size=1, patch_size_t=1,
        scaling_factor=1.5)
    # Non-trivial statistics, so a normalisation mistake shows in the frames.
    vae.latents_mean.copy_(torch.linspace(-0.3, 0.3, 8))
    vae.latents_std.copy_(torch.linspace(0.6, 1.4, 8))
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=layers, caption_channels=32)
    # LTX-Video's own scheduler settings: a resolution-dependent shift stretched to a terminal sigma.
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
        max_image_seq_len=4096, shift_terminal=0.1)
    pipeline_class = diffusers.LTXImageToVideoPipeline if image_to_video else diffusers.LTXPipeline
    pipeline = pipeline_class(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                              transformer=transformer)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_ltx(folder: Path, *, width: int = 32, height: int = 32, frames: int = 9, **options: Any) -> Path:
    """Write a tiny LTX model folder, with a studio_model.json recording the size it was built for."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_ltx_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    manifest = {"native_size": [width, height, frames], "fps": 25}
    (folder / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return folder
