"""Stage 2: a small WanTransformer3DModel trained with flow matching on normalised latents of shape clips.

Text comes from a tiny frozen random-init UMT5 encoder over a caption-word tokenizer; captions are dropped 10% of the
time (classifier-free guidance) and half the clips are trained image-to-video the way diffusers'
WanImageToVideoPipeline runs with expand_timesteps: latent frame 0 is the clean latent, its tokens get timestep 0,
and it is left out of the loss.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from studio.shapes.clips import caption_for
from studio.shapes.vocabulary import ATTRIBUTES, COLOURS, DIRECTIONS, SHAPES, TRAINING_TRIPLES
from training.common import step_rng, torch_generator, train_loop

CAPTION_WORDS = ("a", "shape", "moving", *COLOURS, *SHAPES, *DIRECTIONS)
MAX_TOKENS = 32  # captions are at most 6 tokens with </s>; the studio encodes to the tokenizer's max length
PARTIAL_CAPTION_RATE = 0.15  # studio.shapes.clips.training_examples' default
CAPTION_DROP_RATE = 0.1  # empty caption = the unconditional branch classifier-free guidance needs
FIRST_FRAME_RATE = 0.5  # share of clips trained image-to-video
FLOW_SHIFT = 3.0  # sigma shift of training noise levels, and the scheduler's flow_shift at inference
EMA_DECAY = 0.999


def shapes_tokenizer(model_max_length: int = MAX_TOKENS):
    """A T5 (unigram) tokenizer whose words are the caption words, built offline like studio.models.tiny's."""
    import transformers

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + word, -float(i)) for i, word in enumerate(CAPTION_WORDS)]
    # Characters last, so any other word still tokenizes (into pieces the model never saw) instead of failing.
    vocab += [(char, -50.0) for char in "abcdefghijklmnopqrstuvwxyz0123456789.,"]
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)


def build_text_encoder(vocab_size: int, *, d_model: int, layers: int, heads: int):
    import transformers

    config = transformers.UMT5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // heads,
                                     d_ff=2 * d_model, num_layers=layers, num_heads=heads,
                                     relative_attention_num_buckets=8)
    return transformers.UMT5EncoderModel(config).eval().requires_grad_(False)


def build_transformer(*, z_dim: int, text_dim: int, heads: int, head_dim: int, layers: int, ffn_dim: int):
    import diffusers

    return diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=z_dim,
        out_channels=z_dim, text_dim=text_dim, freq_dim=256, ffn_dim=ffn_dim, num_layers=layers,
        rope_max_seq_len=64)


def training_captions() -> list[str]:
    """Every caption stage 2 can draw: full and partial captions of the training triples, and the empty one."""
    captions = {caption_for(triple, omit) for triple in TRAINING_TRIPLES for omit in (None, *ATTRIBUTES)}
    return sorted(captions) + [""]


def caption_embeddings(pipeline, captions: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """Each caption through the pipeline's own encode_prompt, at the length the studio uses (tokenizer max)."""
    with torch.no_grad():
        embeds, _ = pipeline.encode_prompt(prompt=captions, do_classifier_free_guidance=False,
                                           max_sequence_length=pipeline.tokenizer.model_max_length, device=device)
    return dict(zip(captions, embeds.float()))


def separation(embeddings: dict[str, torch.Tensor]) -> float:
    """Smallest distance between two captions' embeddings relative to their mean norm (0 = two captions collide)."""
    stacked = torch.stack(list(embeddings.values())).flatten(1)
    distances = torch.cdist(stacked, stacked) + torch.eye(len(stacked)) * 1e9
    return float(distances.min() / stacked.norm(dim=1).mean())


def draw_caption(rng, attrs: tuple[str, str, str]) -> str:
    if rng.random() < CAPTION_DROP_RATE:
        return ""
    omit = ATTRIBUTES[int(rng.integers(len(ATTRIBUTES)))] if rng.random() < PARTIAL_CAPTION_RATE else None
    return caption_for(attrs, omit)


def shifted_sigmas(u: torch.Tensor, shift: float = FLOW_SHIFT) -> torch.Tensor:
    # The same shift the flow-matching schedulers apply to their sigmas: more training where sampling spends steps.
    return shift * u / (1.0 + (shift - 1.0) * u)


def flow_matching_loss(transformer, clean: torch.Tensor, embeds: torch.Tensor, first_frame: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
    """v-prediction loss: x_s = (1 - s) x0 + s noise, target noise - x0, timestep s * 1000 per token.

    first_frame (B,) bool: those clips keep latent frame 0 clean with timestep 0 on its tokens, and frame 0 is not
    scored -- exactly the input WanImageToVideoPipeline(expand_timesteps=True) builds at inference.
    """
    batch, _, frames, height, width = clean.shape
    device = clean.device
    sigma = shifted_sigmas(torch.rand(batch, generator=generator)).to(device)
    noise = torch.randn(clean.shape, generator=generator).to(device)
    s = sigma.view(batch, 1, 1, 1, 1)
    noisy = (1.0 - s) * clean + s * noise
    keep = first_frame.to(device).view(batch, 1, 1, 1)
    noisy[:, :, 0] = torch.where(keep, clean[:, :, 0], noisy[:, :, 0])
    # Tokens are ordered (frame, row, column) with patch (1, 2, 2): frame 0 is the first tokens_per_frame tokens.
    tokens_per_frame = (height // 2) * (width // 2)
    timestep = (sigma * 1000.0).view(batch, 1).repeat(1, frames * tokens_per_frame)
    timestep[:, :tokens_per_frame] *= (~first_frame).to(device, timestep.dtype).view(batch, 1)
    prediction = transformer(hidden_states=noisy, timestep=timestep, encoder_hidden_states=embeds,
                             return_dict=False)[0]
    weight = torch.ones(batch, 1, frames, 1, 1, device=device)
    weight[:, :, 0] = (~first_frame).to(device, weight.dtype).view(batch, 1, 1, 1)
    squared = (prediction.float() - (noise - clean)).pow(2) * weight
    per_clip = squared.sum(dim=(1, 2, 3, 4)) / (weight.sum(dim=(1, 2, 3, 4)) * clean.shape[1] * height * width)
    return per_clip.mean()


def train_transformer(transformer, *, latents: torch.Tensor, attrs: list[tuple[str, str, str]],
                      embeddings: dict[str, torch.Tensor], work: Path, seed: int, steps: int, batch: int, lr: float,
                      warmup: int, checkpoint_every: int, device: torch.device, settings: dict, cooldown: int = 0):
    """Train on the (normalised) latent pool; returns (summary, EMA copy of the transformer). The learning rate
    falls to a tenth over the last `cooldown` steps."""
    transformer.to(device).train()
    ema = copy.deepcopy(transformer).eval().requires_grad_(False)  # the exported weights: steadier than the last step
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=lr, weight_decay=0.01)
    latents = latents.to(device)
    embeddings = {text: value.to(device) for text, value in embeddings.items()}

    def loss_at(step: int) -> torch.Tensor:
        rng = step_rng(seed, "transformer", step)
        picks = rng.integers(len(latents), size=batch)
        embeds = torch.stack([embeddings[draw_caption(rng, attrs[i])] for i in picks])
        first_frame = torch.from_numpy(rng.random(batch) < FIRST_FRAME_RATE)
        return flow_matching_loss(transformer, latents[torch.from_numpy(picks).to(device)], embeds, first_frame,
                                  torch_generator(rng))

    ema_params, params = list(ema.parameters()), list(transformer.parameters())

    def update_ema(step: int) -> None:
        decay = min(EMA_DECAY, (1.0 + step) / (10.0 + step))  # short memory early, when the weights move fast
        with torch.no_grad():
            for averaged, current in zip(ema_params, params):
                averaged.lerp_(current, 1.0 - decay)

    summary = train_loop(stage="transformer", folder=work / "transformer", modules={"transformer": transformer,
                         "ema": ema}, trained=transformer, optimizer=optimizer, loss_at=loss_at, steps=steps, lr=lr,
                         warmup=warmup, checkpoint_every=checkpoint_every, log_path=work / "loss.csv",
                         settings=settings, cooldown=cooldown, after_step=update_ema)
    transformer.eval().requires_grad_(False)
    return summary, ema
