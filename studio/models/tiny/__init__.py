"""Tiny random-init pipelines built offline from configs: for tests, benchmarks and smoke renders. This module holds
Wan; each other family has its own module here (studio.models.tiny.<family>).

The tokenizer comes from an inline vocabulary, so nothing is fetched from a hub. The outputs are noise-like (the
weights are random) but every code path is the one full-size models take.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = ("a an the red yellow green cyan blue magenta white black circle square triangle shape moving left right up "
         "down slowly quickly over under and with of on in to").split()


def tiny_tokenizer(model_max_length: int = 64) -> Any:
    import transformers

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + word, -float(i)) for i, word in enumerate(WORDS)]
    vocab += [(char, -50.0) for char in "abcdefghijklmnopqrstuvwxyz0123456789.,"]
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)


def tiny_wan_pipeline(*, seed: int = 0, expand_timesteps: bool = False, layers: int = 2, heads: int = 2, head_dim: int = 8,
                      max_tokens: int = 64) -> Any:
    """A WanPipeline (Wan 2.2 TI2V-style when expand_timesteps) small enough to run a step in milliseconds."""
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
    transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4,
        out_channels=4, text_dim=32, freq_dim=16, ffn_dim=32, num_layers=layers, rope_max_seq_len=32)
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=3.0)
    pipeline = diffusers.WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                                     transformer=transformer, expand_timesteps=expand_timesteps)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_wan(folder: Path, *, width: int = 32, height: int = 32, frames: int = 9, **options: Any) -> Path:
    """Write a tiny model folder, with a studio_model.json recording the size it was built for."""
    import json

    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_wan_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    manifest = {"native_size": [width, height, frames], "fps": 16}
    (folder / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return folder


if __name__ == "__main__":
    import argparse
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    parser = argparse.ArgumentParser(description="Write a tiny random-init Wan model folder.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--expand-timesteps", action="store_true", help="Wan 2.2 TI2V-style first-frame input")
    args = parser.parse_args()
    if (args.folder / "model_index.json").exists():
        print(f"{args.folder} already holds a model")
    else:
        print(f"wrote {save_tiny_wan(args.folder, expand_timesteps=args.expand_timesteps)}")
