"""`harness eval --dry-run`'s cost estimate, with and without `--batch`, sending nothing.

Prompt tokens are estimated without a tokenizer as the request's JSON characters (messages and tools)
divided by four: BPE tokenizers of the GPT-4/Qwen/Llama families average about four characters of
English, code or JSON per token (OpenAI's rule of thumb), which is also what the scripted server bills.
Completion tokens have no such estimate before the model answers, so the figure is an upper bound:
each request's `max_tokens` times its `n`. Cached prompt tokens are not subtracted (the uncached price).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.eval.config import DEFAULT_MAX_TOKENS, EvalConfig


def completion_upper_bound(requests: Sequence[Any]) -> int:
    total = 0
    for r in requests:
        try:
            body = json.loads(r.body)
        except ValueError:
            body = {}
        m = body.get("max_completion_tokens", body.get("max_tokens", DEFAULT_MAX_TOKENS))
        total += r.n * (m if isinstance(m, int) and m > 0 else DEFAULT_MAX_TOKENS)
    return total


def dry_run_cost(cfg: EvalConfig, requests: Sequence[Any], prompt_tokens: int) -> dict[str, Any]:
    """The dry run's `completion_tokens_max`, `price` and `cost_estimate` {direct, batch: {prompt,
    completion_max, total_max}} (None without a price)."""
    from harness.model.prices import resolve
    completion = completion_upper_bound(requests)
    price = resolve(cfg.model, cfg.price)
    out: dict[str, Any] = {"completion_tokens_max": completion, "price": price, "cost_estimate": None,
                           "batch": cfg.batch}
    if price is None:
        return out
    keep = 1.0 - float(price.get("batch_discount", 0.0))
    direct = {"prompt": prompt_tokens * price["prompt"] / 1e6, "completion_max": completion * price["completion"] / 1e6}
    direct["total_max"] = direct["prompt"] + direct["completion_max"]
    out["cost_estimate"] = {"direct": direct, "batch": {k: v * keep for k, v in direct.items()}}
    return out


def format_dry_run_cost(d: dict[str, Any]) -> list[str]:
    """The dry run's cost lines for the terminal."""
    lines = [f"completion tokens (at most: max_tokens x n per request): {d.get('completion_tokens_max', 0):,}"]
    est, price = d.get("cost_estimate"), d.get("price")
    if not est or not price:
        lines.append("cost: no price for this model in harness/model/prices.json; give --price-in/--price-out")
        return lines
    lines.append(f"price per 1M tokens: input ${price['prompt']:g}, cached ${price['cached']:g}, output "
                 f"${price['completion']:g}, batch discount {100 * price.get('batch_discount', 0):g}% "
                 f"({price.get('source')})")
    lines.append(f"{'estimated cost':<22}{'prompt':>12}{'completion (max)':>18}{'total (max)':>14}")
    for label, key in (("direct", "direct"), ("--batch", "batch")):
        row = est[key]
        mark = "  <- this run" if (key == "batch") == bool(d.get("batch")) else ""
        lines.append(f"{label:<22}{'$%.4f' % row['prompt']:>12}{'$%.4f' % row['completion_max']:>18}"
                     f"{'$%.4f' % row['total_max']:>14}{mark}")
    return lines


__all__ = ["completion_upper_bound", "dry_run_cost", "format_dry_run_cost"]
