"""A tiny random-init HunyuanVideoPipeline built offline: a Llama text encoder with a Llama-3-style tokenizer, a CLIP
text encoder for the pooled prompt, the 3D transformer and the causal video VAE, each a few channels wide.

The Llama tokenizer splits text with Llama 3's own pre-tokenizer pattern, so the pipeline's prompt template tokenizes
to exactly its `crop_start` (95) tokens before the prompt, as with the real tokenizer: the crop removes the template
and nothing of the prompt.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.models.tiny import WORDS

# Llama 3's pre-tokenizer pattern (tokenizer.json of Meta-Llama-3): words with their leading space, 1-3 digits,
# punctuation runs, newlines.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                  "<pad>", "<unk>")
CLIP_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789.,"


def tiny_llama_tokenizer(model_max_length: int = 95 + 32) -> Any:
    """A fast tokenizer with a word-level vocabulary (each word bare and with its leading space)."""
    import tokenizers
    import transformers
    from tokenizers import models, pre_tokenizers, processors

    pieces = list(LLAMA_SPECIALS) + ["system", "user", "\n\n", ".", ",", ":"]
    pieces += [form for word in WORDS for form in (word, " " + word)]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    tokenizer = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(tokenizers.Regex(LLAMA3_PATTERN), behavior="isolated")
    tokenizer.add_special_tokens(list(LLAMA_SPECIALS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", vocab["<|begin_of_text|>"])])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=model_max_length, padding_side="right")


def tiny_clip_tokenizer() -> Any:
    """A CLIP BPE tokenizer over single characters (no merges): every word is spelled out."""
    import transformers

    pieces = ["<|startoftext|>", "<|endoftext|>"] + [c + end for c in CLIP_CHARACTERS for end in ("", "</w>")]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    return transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_hunyuan_pipeline(*, seed: int = 0, max_tokens: int = 32, layers: int = 1, heads: int = 2,
                          head_dim: int = 8, shift: float = 7.0) -> Any:
    """A HunyuanVideoPipeline small enough to run a step in milliseconds; `max_tokens` prompt tokens after the
    template."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    tokenizer = tiny_llama_tokenizer(95 + max_tokens)
    # Three layers: the pipeline reads the hidden state two layers before the last.
    text_encoder = transformers.LlamaModel(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id))
    tokenizer_2 = tiny_clip_tokenizer()
    text_encoder_2 = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(tokenizer_2), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
        bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
        pad_token_id=tokenizer_2.pad_token_id))
    vae = diffusers.AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8),
                                              layers_per_block=1, norm_num_groups=4, scaling_factor=0.476986)
    transformer = diffusers.HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=heads, attention_head_dim=head_dim, num_layers=layers,
        num_single_layers=layers, num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1,
        guidance_embeds=True, text_embed_dim=32, pooled_projection_dim=32, rope_axes_dim=(2, 2, head_dim - 4))
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    pipeline = diffusers.HunyuanVideoPipeline(text_encoder=text_encoder, tokenizer=tokenizer,
                                              transformer=transformer, vae=vae, scheduler=scheduler,
                                              text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_hunyuan(folder: Path, *, width: int = 32, height: int = 32, frames: int = 9,
                      manifest: dict[str, Any] | None = None, **options: Any) -> Path:
    """Write a tiny model folder, with a studio_model.json recording the size it was built for (and `manifest`)."""
    import diffusers

    folder = Path(folder)
    diffusers.utils.logging.disable_progress_bar()
    tiny_hunyuan_pipeline(**options).save_pretrained(folder, safe_serialization=True)
    notes = {"native_size": [width, height, frames], "fps": 24, **(manifest or {})}
    (folder / "studio_model.json").write_text(json.dumps(notes) + "\n", encoding="utf-8")
    return folder
