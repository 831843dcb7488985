"""A tiny random-init StableVideoDiffusionPipeline (spatio-temporal UNet, CLIP image encoder, temporal-decoder VAE,
EDM-style Euler scheduler), built offline from configs: for tests and smoke renders."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The spatio-temporal UNet and the VAE hard-code 32 groups in their norms: no width below 32.
WIDTH = 32


def tiny_svd_pipeline(*, seed: int = 0) -> Any:
    """A StableVideoDiffusionPipeline small enough to run a step in milliseconds, with the scheduler configured as
    SVD's own (v-prediction, Karras sigmas from 0.002 to 700, continuous timesteps)."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    image_encoder = transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(
        hidden_size=WIDTH, intermediate_size=2 * WIDTH, projection_dim=WIDTH, num_hidden_layers=2,
        num_attention_heads=4, image_size=224, patch_size=56))  # the pipeline always resizes to 224
    feature_extractor = transformers.CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    vae = diffusers.AutoencoderKLTemporalDecoder(
        block_out_channels=(WIDTH,) * 4, down_block_types=("DownEncoderBlock2D",) * 4, layers_per_block=1,
        latent_channels=4, sample_size=32, scaling_factor=0.18215)
    unet = diffusers.UNetSpatioTemporalConditionModel(
        sample_size=4, in_channels=8, out_channels=4, block_out_channels=(WIDTH, WIDTH),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), layers_per_block=1,
        cross_attention_dim=WIDTH, num_attention_heads=(2, 2), addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=3 * 8, num_frames=8)
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="v_prediction",
        interpolation_type="linear", use_karras_sigmas=True, sigma_min=0.002, sigma_max=700.0,
        timestep_spacing="leading", timestep_type="continuous", steps_offset=1)
    pipeline = diffusers.StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet,
                                                      scheduler=scheduler, feature_extractor=feature_extractor)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_svd(folder: Path, *, width: int = 32, height: int = 32, frames: int = 8, **options: Any) -> Path:
    """Write a tiny model folder, with a studio_model.json recording the size it was built for."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_svd_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    manifest = {"native_size": [width, height, frames], "fps": 7}
    (folder / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return folder
