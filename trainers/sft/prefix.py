"""The shared-prefix loss: one implementation for scratch training and for LoRA training.

Examples of one batch start with the same tokens (system prompt, tools, the start of the user turn).
The prefix is run once (batch 1) into a KV cache, the cache is expanded across the batch (a view, so the
prefix's gradient is the sum over the rows, as in the plain batch), and only the suffixes are run. The
loss is the token-mean NLL over the same labels as the plain pass, within float error (tests compare
them), at a fraction of the cost when the prompt dominates the sequence.

`prefix_shared_loss` is the scratch loop's loss over (ids, labels) lists; `suffix_logits` and `nll_sum`
are the pieces the prefix-sharing SFTTrainer (trainers.sft.trainer) runs on TRL's collated batch.
"""
from __future__ import annotations

from typing import Any

from trainers.sft.masks import IGNORE_INDEX

Batch = list[tuple[list[int], list[int]]]     # (input_ids, labels) per example

_CACHE_KW: dict[type, str] = {}


def pad(seqs: list[list[int]], value: int) -> Any:
    """Right-padded LongTensor of `seqs`."""
    import torch
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


def cache_kwarg(module: Any) -> str:
    """The forward() keyword of the KV cache: `cache` (transformers >= 5.2x) or `past_key_values`."""
    import inspect
    t = type(module)
    if t not in _CACHE_KW:
        params = inspect.signature(t.forward).parameters
        _CACHE_KW[t] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KW[t]


def expand_cache(cache: Any, bsz: int, contiguous: bool = False) -> None:
    """Expand a batch-1 DynamicCache to `bsz` rows (a view: gradients sum over the rows)."""
    def ex(t: Any) -> Any:
        t = t.expand(bsz, -1, -1, -1)
        return t.contiguous() if contiguous else t
    if hasattr(cache, "layers"):
        for layer in cache.layers:
            layer.keys = ex(layer.keys)
            layer.values = ex(layer.values)
    else:  # older transformers: key_cache / value_cache lists
        cache.key_cache = [ex(t) for t in cache.key_cache]
        cache.value_cache = [ex(t) for t in cache.value_cache]


def shared_prefix_length(batch: Batch) -> int:
    """Tokens every sequence of the batch starts with, stopping before the first position whose
    logits a label needs (so the prefix pass needs no output)."""
    first = batch[0][0]
    p = len(first)
    for ids, _ in batch[1:]:
        k = 0
        lim = min(p, len(ids))
        while k < lim and ids[k] == first[k]:
            k += 1
        p = k
    for _, labels in batch:
        first_label = next((i for i, x in enumerate(labels) if x != IGNORE_INDEX), len(labels))
        p = min(p, first_label - 1)
    return max(p, 0)


def suffix_logits(model: Any, prefix: Any, suffix: Any) -> Any:
    """Logits of `suffix` (b, s) after the shared `prefix` (1, p) of a causal LM with `.model` (the
    decoder) and `.lm_head`: the prefix runs once, its cache is expanded to the batch."""
    import torch
    from transformers import DynamicCache
    bsz, p, s = suffix.size(0), prefix.size(1), suffix.size(1)
    cache = DynamicCache()
    kw = cache_kwarg(model.model)
    model.model(input_ids=prefix, use_cache=True, **{kw: cache})
    expand_cache(cache, bsz)
    pos = torch.arange(p, p + s, dtype=torch.long, device=suffix.device).unsqueeze(0).expand(bsz, -1)
    hidden = model.model(input_ids=suffix, position_ids=pos, use_cache=True, **{kw: cache}).last_hidden_state
    return model.lm_head(hidden)


def nll_sum(logits: Any, labels: Any) -> Any:
    """Summed next-token cross-entropy of `logits` (b, s, V) against `labels` (b, s), IGNORE_INDEX masked."""
    import torch.nn.functional as F
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


def plain_loss(model: Any, batch: Batch, pad_id: int) -> tuple[Any, int]:
    """Mean cross-entropy over the labelled tokens of the batch, one forward pass over the full
    (right-padded) sequences. Returns (loss, number of labelled tokens)."""
    ids = pad([b[0] for b in batch], pad_id)
    labels = pad([b[1] for b in batch], IGNORE_INDEX)
    logits = model(input_ids=ids, use_cache=False).logits
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    return nll_sum(logits, labels) / max(n, 1), n


def prefix_shared_loss(model: Any, batch: Batch, pad_id: int, min_prefix: int = 8) -> tuple[Any, int]:
    """The same loss as `plain_loss`, with the shared prefix computed once (see the module docstring);
    the plain loss when the batch shares fewer than `min_prefix` tokens or has one example."""
    import torch
    p = shared_prefix_length(batch)
    if p < min_prefix or len(batch) < 2:
        return plain_loss(model, batch, pad_id)
    prefix = torch.tensor([batch[0][0][:p]], dtype=torch.long)
    labels = pad([b[1][p:] for b in batch], IGNORE_INDEX)
    logits = suffix_logits(model, prefix, pad([b[0][p:] for b in batch], pad_id))
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    return nll_sum(logits, labels) / max(n, 1), n


__all__ = ["cache_kwarg", "expand_cache", "nll_sum", "pad", "plain_loss", "prefix_shared_loss",
           "shared_prefix_length", "suffix_logits"]
