"""Reading an endpoint's reply: its choices in order, its usage split across result lines, a cached
entry, and whether it refused `n`. Pure functions of the reply, kept off the dispatch loop's module."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

try:  # optional: ~3x faster JSON parsing of replies; the stdlib is the fallback
    import orjson as _orjson

    loads: Callable[[Any], Any] = _orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None
    loads = json.loads

_N_REJECTED = re.compile(r"(\bn\b|'n'|\"n\"|\bnum_?samples\b|not supported|unsupported|only\s+1|"
                         r"must be 1|n_choices)", re.I)


def ordered_choices(resp: Any) -> list[Any]:
    if not isinstance(resp, dict):
        return []
    ch = resp.get("choices")
    if not isinstance(ch, list):
        return []
    if len(ch) > 1:
        idx = [c.get("index") if isinstance(c, dict) else None for c in ch]
        if all(isinstance(x, int) for x in idx) and idx != sorted(idx):
            ch = sorted(ch, key=lambda c: c["index"])
    return ch


def token_count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def cached_tokens(usage: Mapping[str, Any]) -> int:
    d = usage.get("prompt_tokens_details")
    if isinstance(d, dict):
        return token_count(d.get("cached_tokens"))
    return token_count(usage.get("cached_tokens"))


def split_usage(usage: Any, n: int) -> list[dict[str, Any]] | None:
    """The reply's usage as n per-line parts that sum to it exactly (remainders to the first lines)."""
    if not isinstance(usage, dict):
        return None
    p = usage.get("prompt_tokens")
    c = usage.get("completion_tokens")
    d = usage.get("prompt_tokens_details")
    k = d.get("cached_tokens") if isinstance(d, dict) else usage.get("cached_tokens")
    if n == 1:
        return [{"prompt_tokens": p, "completion_tokens": c, "cached_tokens": k}]
    out = []
    vals = []
    for v in (p, c, k):
        if isinstance(v, int) and not isinstance(v, bool):
            q, r = divmod(v, n)
            vals.append((q, r))
        else:
            vals.append(None)
    for i in range(n):
        part = {}
        for name, qr, raw in zip(("prompt_tokens", "completion_tokens", "cached_tokens"), vals, (p, c, k)):
            part[name] = (qr[0] + (1 if i < qr[1] else 0)) if qr is not None else raw
        out.append(part)
    return out


def cached_payload(hit: Any) -> tuple[dict[str, Any], float | None] | None:
    """A cache entry as (response, latency_ms): our {"response", "latency_ms"} wrapper or a bare response."""
    if hit is None:
        return None
    if isinstance(hit, (bytes, bytearray, str)):
        try:
            hit = loads(hit)
        except ValueError:
            return None
    if not isinstance(hit, dict):
        return None
    if "response" in hit and isinstance(hit["response"], dict):
        lat = hit.get("latency_ms")
        return hit["response"], (float(lat) if isinstance(lat, (int, float)) else None)
    if isinstance(hit.get("choices"), list):
        return hit, None
    return None


def usage_of(resp: Any) -> Any:
    """The reply's usage; when it has no prompt_tokens_details but llama.cpp's `timings` say how many
    prompt tokens came from the cache (`cache_n`), those count as cached tokens."""
    if not isinstance(resp, dict):
        return None
    usage = resp.get("usage")
    timings = resp.get("timings")
    if isinstance(usage, dict) and "prompt_tokens_details" not in usage and isinstance(timings, dict) \
            and token_count(timings.get("cache_n")):
        usage = {**usage, "prompt_tokens_details": {"cached_tokens": timings["cache_n"]}}
    return usage


def n_rejected(reply: Any, err: str, http_status: Any) -> bool:
    """The endpoint refused `n` > 1 (the client's n_unsupported, or our own reading of the message)."""
    if http_status == 500:     # llama.cpp's llama-server: 500 "Only one completion choice is allowed"
        return "only one completion choice" in (err + " " + _body_text(reply)).lower()
    if http_status not in (400, 422):
        return False
    try:
        from harness.model.client import n_unsupported
        if n_unsupported(reply):
            return True
    except (ImportError, AttributeError, TypeError):
        pass
    return bool(_N_REJECTED.search(err + " " + _body_text(reply)))


def _body_text(reply: Any) -> str:
    b = getattr(reply, "body", None)
    if isinstance(b, (bytes, bytearray)):
        return bytes(b[:2000]).decode("utf-8", "replace")
    if isinstance(b, str):
        return b[:2000]
    if isinstance(b, dict):
        try:
            return json.dumps(b)[:2000]
        except (TypeError, ValueError):
            return ""
    return ""


__all__ = ["cached_payload", "cached_tokens", "loads", "n_rejected", "ordered_choices", "split_usage", "token_count",
           "usage_of"]
