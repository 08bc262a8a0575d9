"""The tokenizer of a model trained from scratch: byte-level BPE trained on the suite's conversations,
with our special tokens and a chat template. Nothing is downloaded.

The chat template is ChatML-style and marks assistant turns with `{% generation %}` so that TRL's
`assistant_only_loss` (and `return_assistant_tokens_mask`) can find them; tool calls of native
assistant messages are rendered as `<tool_call>{json}</tool_call>` and a `tools` list is written into
the system turn, so one template serves every protocol.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

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


def corpus_texts(examples: list[dict[str, Any]]) -> list[str]:
    """The tokenizer's training texts: every message as the chat template lays it out (role line,
    content), and the tools JSON of native examples."""
    out = []
    for ex in examples:
        for m in ex["messages"]:
            out.append(f"{m['role']}\n{m.get('content') or ''}")
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                out.append(f'<tool_call>{{"name": {json.dumps(fn.get("name"))}, "arguments": {fn.get("arguments")}}}'
                           f"</tool_call>")
        if ex.get("tools"):
            out.append("Tools:\n" + "\n".join(json.dumps(t) for t in ex["tools"]))
    return out


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


__all__ = ["CHAT_TEMPLATE", "PRE_TOKENIZER_PATTERN", "SPECIAL_TOKENS", "corpus_texts", "train_tokenizer"]
