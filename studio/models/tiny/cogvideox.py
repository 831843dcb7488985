"""A tiny random-init CogVideoX pipeline built offline from configs, for tests and smoke renders."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.models.tiny import tiny_tokenizer

# CogVideoX's own scheduler settings: v-prediction on a zero-terminal-SNR schedule with trailing timesteps.
COGVIDEOX_SCHEDULER = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                           prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
                           snr_shift_scale=1.0, steps_offset=0, timestep_spacing="trailing")


def tiny_cogvideox_pipeline(*, seed: int = 0, image_to_video: bool = False, dpm: bool = False,
                            patch_size_t: int | None = None, layers: int = 1, max_tokens: int = 16) -> Any:
    """A CogVideoXPipeline (CogVideoXImageToVideoPipeline when image_to_video) with rotary embeddings, 8x spatial
    and 4x temporal compression, and the DDIM scheduler (CogVideoXDPMScheduler when dpm); `patch_size_t` 2 gives a
    CogVideoX 1.5-style transformer. A step takes milliseconds."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(max_tokens)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8))
    vae = diffusers.AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4, scaling_factor=0.7)
    transformer = diffusers.CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8 if image_to_video else 4, out_channels=4,
        time_embed_dim=8, ofs_embed_dim=8 if image_to_video and patch_size_t else None, text_embed_dim=32,
        num_layers=layers, sample_width=4, sample_height=4, sample_frames=9, patch_size=2, patch_size_t=patch_size_t,
        temporal_compression_ratio=4, max_text_seq_length=max_tokens, use_rotary_positional_embeddings=True)
    scheduler_class = diffusers.CogVideoXDPMScheduler if dpm else diffusers.CogVideoXDDIMScheduler
    scheduler = scheduler_class(**COGVIDEOX_SCHEDULER)
    pipeline_class = diffusers.CogVideoXImageToVideoPipeline if image_to_video else diffusers.CogVideoXPipeline
    pipeline = pipeline_class(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                              transformer=transformer)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_cogvideox(folder: Path, *, width: int = 32, height: int = 32, frames: int = 9,
                        manifest: dict[str, Any] | None = None, **options: Any) -> Path:
    """Write a tiny CogVideoX model folder, with a studio_model.json recording the size it was built for."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_cogvideox_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    notes = {"native_size": [width, height, frames], "fps": 8, **(manifest or {})}
    (folder / "studio_model.json").write_text(json.dumps(notes) + "\n", encoding="utf-8")
    return folder
