"""Tiny causal LMs built locally: the Llama-architecture presets, a freshly initialised model, and a
whole model folder (tokenizer + random weights) that tests, the demo and `train-base` start from.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from trainers.scratch.tokenizer import train_tokenizer

PRESET_FILE = "tiny_preset.json"


@dataclass(frozen=True)
class Preset:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int


PRESETS: dict[str, Preset] = {
    # ~1M parameters: learns a handful of templated tools on two CPU cores within minutes
    "tiny": Preset(1024, 128, 384, 4, 4, 4, 1024),
    "small": Preset(4096, 256, 768, 6, 8, 4, 2048),
    # for unit tests: builds and runs in well under a second
    "test": Preset(512, 32, 64, 2, 2, 2, 512),
}


def init_model(tokenizer, preset: str | Preset = "tiny", seed: int = 0):
    """A freshly initialised LlamaForCausalLM sized for `tokenizer` (its vocabulary may be smaller
    than the preset's after BPE training)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    p = PRESETS[preset] if isinstance(preset, str) else preset
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=p.hidden_size, intermediate_size=p.intermediate_size,
        num_hidden_layers=p.num_hidden_layers, num_attention_heads=p.num_attention_heads,
        num_key_value_heads=p.num_key_value_heads, max_position_embeddings=p.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
        tie_word_embeddings=True, rope_theta=10000.0,
    )
    return LlamaForCausalLM(cfg)


def build_tiny_model(out_dir: str | Path, texts: Iterable[str], preset: str | Preset = "test",
                     seed: int = 0) -> Path:
    """Tokenizer + randomly initialised model saved as a local model directory (config, weights,
    tokenizer, chat template) that transformers, PEFT and our engine load like any hub model."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = PRESETS[preset] if isinstance(preset, str) else preset
    tok = train_tokenizer(list(texts), p.vocab_size, out)
    model = init_model(tok, p, seed)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(str(out))
    (out / PRESET_FILE).write_text(json.dumps(asdict(p)))
    return out


__all__ = ["PRESETS", "PRESET_FILE", "Preset", "build_tiny_model", "init_model"]
