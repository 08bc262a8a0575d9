"""A lean forward pass for Llama-shaped decoders (Llama, SmolLM, Mistral, Qwen2) over the slot KV cache.

transformers' generic forward spends most of a single-stream decode step in Python (mask building, cache
objects, kernel dispatch); this one runs the model's own modules (so PEFT's LoRA layers and their
per-row hooks still apply) with one fused RMSNorm per norm, RoPE from the model's rotary module, and
SDPA over the preallocated cache (kvcache.SlotCache) with no padding and no concatenation per step.
Models of any other shape fall back to transformers' forward (worker.py's DynamicCache path).
"""
from __future__ import annotations

from typing import Any

LEAN_TYPES = frozenset({"llama", "mistral", "qwen2"})


class Stopped(Exception):
    """The engine is shutting down: the forward pass was abandoned between layers."""


def supports_lean(model: Any) -> bool:
    cfg = getattr(model, "config", None)
    inner = getattr(model, "model", None)
    if getattr(cfg, "model_type", None) not in LEAN_TYPES or inner is None:
        return False
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True) \
            and cfg.model_type == "mistral":
        return False                       # Mistral's sliding window is not modelled here
    layer = inner.layers[0]
    attn = layer.self_attn
    return all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) \
        and not hasattr(attn, "q_norm") and hasattr(inner, "rotary_emb") and hasattr(layer, "mlp")


class LeanLlama:
    """The forward of one model; `stopping()` is polled between layers so shutdown never waits a pass."""

    def __init__(self, torch: Any, model_of: Any, stopping: Any):
        cfg = model_of().config
        self.torch = torch
        self.F = torch.nn.functional
        self.model_of = model_of          # the base model now (PEFT's unload may hand back a new object)
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads)
        self.layers = int(cfg.num_hidden_layers)
        self.eps = float(getattr(cfg, "rms_norm_eps", 1e-6))
        self.stopping = stopping

    def _norm(self, x: Any, norm: Any) -> Any:
        return self.F.rms_norm(x, (x.shape[-1],), norm.weight, self.eps)

    def _rope(self, x: Any, cos: Any, sin: Any) -> Any:
        half = x.shape[-1] // 2
        rot = self.torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def forward(self, ids: Any, pos: Any, cache: Any, write: Any, read_len: int, mask: Any | None,
                last: Any | None = None) -> Any:
        """Logits of the last position of each row (or of the positions `last`).

        ids, pos: (B, T) token ids and positions; `write(layer, k, v)` stores this step's K/V (B, Hkv, T, D)
        in the cache; attention reads the cache's first `read_len` positions of the rows' slots under
        `mask` (bool (B, 1, T, read_len), True = attend)."""
        torch, F = self.torch, self.F
        model = self.model_of()
        inner = model.model
        x = inner.embed_tokens(ids)
        cos, sin = inner.rotary_emb(x, pos)
        cos, sin = cos[:, None], sin[:, None]
        b, t = ids.shape
        gqa = self.kv_heads != self.heads
        for li, layer in enumerate(inner.layers[: self.layers]):
            if self.stopping():
                raise Stopped
            attn = layer.self_attn
            h = self._norm(x, layer.input_layernorm)
            q = attn.q_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            keys, values = write(li, k, v, read_len)
            if gqa:
                rep = self.heads // self.kv_heads
                keys, values = keys.repeat_interleave(rep, dim=1), values.repeat_interleave(rep, dim=1)
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            x = x + attn.o_proj(o.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))
            x = x + layer.mlp(self._norm(x, layer.post_attention_layernorm))
        x = x[:, -1] if last is None else x[torch.arange(b, device=x.device), last]
        return model.lm_head(self._norm(x, inner.norm))
