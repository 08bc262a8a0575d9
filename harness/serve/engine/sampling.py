"""Sampling the next token (temperature, top_k, top_p, a per-request generator) and finishing rows: EOS,
stop token ids, stop strings (the text is cut before the first one, or after it with include_stop_str_in_output), max_tokens."""
from __future__ import annotations

from typing import Any

from harness.serve.engine.request import GenRequest, Row


def sample(torch: Any, logits: Any, rows: list[Row]) -> Any:
    """The next token of every row: greedy, or sampled with its request's temperature, top_k, top_p and
    generator."""
    toks = logits.argmax(dim=-1)
    groups: dict[GenRequest, list[int]] = {}
    for i, row in enumerate(rows):
        if row.req.temperature > 0:
            groups.setdefault(row.req, []).append(i)
    for req, idx in groups.items():
        sel = torch.tensor(idx, device=logits.device)
        scores = logits.index_select(0, sel).float() / req.temperature
        if 0 < req.top_k < scores.shape[-1]:
            kth = torch.topk(scores, req.top_k, dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if req.top_p < 1.0:
            sp, si = torch.sort(probs, dim=-1, descending=True)
            drop = (sp.cumsum(-1) - sp) > req.top_p
            sp = sp.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, si, sp)
        picked = torch.multinomial(probs, 1, generator=req.generator).squeeze(1)
        toks = toks.index_copy(0, sel, picked.to(toks.dtype))
    return toks


def advance(rows: list[Row], toks: Any, *, eos_ids: frozenset[int], detok: Any) -> None:
    """Append each row's new token; finish (`done`, the request's choice set) the rows that are done."""
    values = toks.tolist()
    for row, tok in zip(rows, values, strict=True):
        row.tokens.append(tok)
        req = row.req
        finish: tuple[str, Any, str | None] | None = None     # (reason, stop_reason, text)
        if tok in eos_ids and not req.ignore_eos:
            finish = ("stop", None, None)
        elif tok in req.stop_token_ids:
            finish = ("stop", tok, None)
        elif req.stop:
            text = detok.decode(row.tokens, skip_special_tokens=True)
            cut, hit = len(text) + 1, None
            for s in req.stop:
                j = text.find(s)
                if j != -1 and j < cut:
                    cut, hit = j, s
            if hit is not None:
                finish = ("stop", hit, text[:cut + len(hit)] if req.include_stop else text[:cut])
        if finish is None and len(row.tokens) >= req.max_tokens:
            finish = ("length", None, None)
        if finish is None:
            continue
        reason, stop_reason, text = finish
        if text is None:
            body = row.tokens[:-1] if (reason == "stop" and stop_reason is None or isinstance(stop_reason, int)) \
                else row.tokens
            text = detok.decode(body, skip_special_tokens=True)
        row.done = True
        req.finish(row.index, {"text": text, "finish_reason": reason, "stop_reason": stop_reason,
                               "tokens": len(row.tokens)})
