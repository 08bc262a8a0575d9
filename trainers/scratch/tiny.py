"""Tiny causal LMs built locally: a byte-level BPE tokenizer with a chat template, and a small
Llama-architecture model. Nothing is downloaded; tests, the demo and `train-base` all start here.

The chat template is ChatML-style and marks assistant turns with `{% generation %}` so that TRL's
`assistant_only_loss` (and `return_assistant_tokens_mask`) can find them; tool calls of native
assistant messages are rendered as `<tool_call>{json}</tool_call>` and a `tools` list is written into
the system turn, so one template serves every protocol.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PRE_TOKENIZER_PATTERN = r"\p{L}+|\p{N}|\s|[^\p{L}\p{N}\s]"

CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "Tools:\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% set ns = namespace(start=1 if messages[0].role == 'system' else 0) %}"
    "{% else %}{% set ns = namespace(start=0) %}{% endif %}"
    "{% for m in messages[ns.start:] %}"
    "{% if m.role == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}{{ m.content or '' }}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{\"name\": {{ c.function.name | tojson }}, "
    "\"arguments\": {{ c.function.arguments if c.function.arguments is string else c.function.arguments | tojson }}}"
    "</tool_call>{% endfor %}{% endif %}<|im_end|>{% endgeneration %}\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content if m.content is string else '' }}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path | None = None):
    """A byte-level BPE tokenizer (any text round-trips) with our special tokens and chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Letter runs, single digits, single whitespace and single punctuation characters are split apart
    # before BPE, so a value has the same tokens wherever it appears ("app/io.js" in a task and in
    # "<path>app/io.js</path>"): a small model learns to copy values token by token instead of
    # learning a separate mapping for " app" vs "app". Byte-level, so any text round-trips.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRE_TOKENIZER_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|im_end|>",
                                   bos_token=None, unk_token=None,
                                   additional_special_tokens=["<|im_start|>", "<|endoftext|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 1 << 20
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


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
    (out / "tiny_preset.json").write_text(__import__("json").dumps(asdict(p)))
    return out
