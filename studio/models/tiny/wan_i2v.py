"""A tiny random-init Wan 2.1 image-to-video pipeline (WanImageToVideoPipeline without expand_timesteps): a CLIP
vision encoder whose hidden states the transformer cross-attends to (`image_dim`), and a transformer taking the
latents plus temporal_compression mask channels and the encoded condition video (4 + 4 + 4 channels here; 16 + 4 + 16
at full size)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.models.tiny import tiny_tokenizer

IMAGE_SIZE = 32  # the CLIP image processor's resize and crop, and the vision encoder's input


def tiny_wan_i2v_pipeline(*, seed: int = 0, layers: int = 2, heads: int = 2, head_dim: int = 8,
                          max_tokens: int = 64) -> Any:
    """A WanImageToVideoPipeline in the Wan 2.1 layout, small enough to run a step in milliseconds."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(max_tokens)
    text_encoder = transformers.UMT5EncoderModel(transformers.UMT5Config(
        vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8))
    vae = diffusers.AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                     temperal_downsample=[False, True, True], latents_mean=[0.1, -0.2, 0.0, 0.3],
                                     latents_std=[1.5, 0.8, 1.0, 1.2])
    # Two layers: the pipeline reads the hidden state before the last.
    image_encoder = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=IMAGE_SIZE,
        patch_size=8, projection_dim=16))
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                                      crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    z_dim, temporal = 4, 4
    transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim,
        in_channels=z_dim + temporal + z_dim, out_channels=z_dim, text_dim=32, freq_dim=16, ffn_dim=32,
        num_layers=layers, rope_max_seq_len=32, image_dim=16, added_kv_proj_dim=heads * head_dim)
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=3.0)
    pipeline = diffusers.WanImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
        image_processor=image_processor, image_encoder=image_encoder, transformer=transformer)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_wan_i2v(folder: Path, *, width: int = 32, height: int = 32, frames: int = 9, **options: Any) -> Path:
    """Write a tiny model folder, with a studio_model.json recording the size it was built for."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_wan_i2v_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    manifest = {"native_size": [width, height, frames], "fps": 16}
    (folder / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return folder
