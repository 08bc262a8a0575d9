"""Token prices per model as data (harness/model/prices.json: input, cached input, output per 1M tokens,
batch discount; the source and date of each entry in the file), and the price a run uses.

    resolve("gpt-4o-mini-2024-07-18", {"completion": 0.5})
    # -> {"prompt": 0.15, "cached": 0.075, "completion": 0.5, "batch_discount": 0.5,
    #     "source": "gpt-4o-mini: https://platform.openai.com/docs/pricing (2024-10-01); overridden: completion"}

The keys are those harness.score.metrics prices with (`prompt`, `cached`, `completion`, `batch_discount`).
Standard library only.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import UserError

PRICES_PATH = Path(__file__).with_name("prices.json")
_FIELDS = (("prompt", "input"), ("cached", "cached_input"), ("completion", "output"))


class PriceError(UserError):
    """A price given on the command line or in the price table is unusable."""


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(PRICES_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PriceError(f"{PRICES_PATH}: unreadable price table ({e})") from None
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict):
        raise PriceError(f"{PRICES_PATH}: no `models` object")
    return models


def lookup(model: str) -> tuple[str, dict[str, Any]] | None:
    """(table name, entry) of `model`: an exact name, else the longest listed name that `model` extends
    with '-' (a dated snapshot), case-insensitive; a `provider/` prefix is ignored."""
    models = table()
    name = model.lower().rsplit("/", 1)[-1]
    lower = {k.lower(): k for k in models}
    if name in lower:
        return lower[name], models[lower[name]]
    best = max((k for k in lower if name.startswith(k + "-")), key=len, default=None)
    return (lower[best], models[lower[best]]) if best else None


def resolve(model: str, overrides: Mapping[str, float] | None = None) -> dict[str, Any] | None:
    """The price of a run of `model`: the table's entry with `overrides` (prompt/cached/completion, USD per
    1M tokens) on top; None when the model is not listed and nothing is given (no cost is reported)."""
    given = {k: float(v) for k, v in (overrides or {}).items() if v is not None}
    for k, v in given.items():
        if v < 0:
            raise PriceError(f"price {k}={v}: a price is not negative")
    hit = lookup(model) if model else None
    if hit is None and not given:
        return None
    out: dict[str, Any] = {}
    if hit is not None:
        name, entry = hit
        for ours, theirs in _FIELDS:
            v = entry.get(theirs)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[ours] = float(v)
        out["batch_discount"] = float(entry.get("batch_discount") or 0.0)
        out["source"] = f"{name}: {entry.get('source', '?')} ({entry.get('date', 'undated')})"
    else:
        out["batch_discount"] = float(given.pop("batch_discount", 0.5))
        out["source"] = "command line"
    for ours, _ in _FIELDS:
        if ours in given:
            out[ours] = given[ours]
    out.setdefault("prompt", 0.0)
    out.setdefault("completion", 0.0)
    out.setdefault("cached", out["prompt"])    # a provider without a cache discount bills cached tokens fully
    extra = sorted(k for k in given if k in dict(_FIELDS)) if hit is not None else []
    if extra:
        out["source"] += "; overridden: " + ", ".join(extra)
    return out


def estimate(price: Mapping[str, Any], prompt_tokens: int, completion_tokens: int, batch: bool) -> float:
    """USD for uncached prompt and completion tokens (a dry run's estimate), at the batch rate if asked."""
    usd = (prompt_tokens * float(price.get("prompt", 0.0)) + completion_tokens * float(price.get("completion", 0.0))) / 1e6
    return usd * (1.0 - float(price.get("batch_discount", 0.0))) if batch else usd


__all__ = ["PRICES_PATH", "PriceError", "estimate", "lookup", "resolve", "table"]
