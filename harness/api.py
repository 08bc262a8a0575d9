"""The Python API of the runner: `harness.evaluate` (async) and `harness.evaluate_sync`.

    import harness
    summary = harness.evaluate_sync("roo-core", "http://127.0.0.1:8000/v1", "qwen", samples=5)
    summary = await harness.evaluate(suite, ["http://a/v1", "http://b/v1"], "qwen", out="runs/x")

Both return the run's summary (summary.json's content) and write the run directory as `harness eval`
does. This module imports only the standard library at `import harness` time; the runner (aiohttp) is
imported on the first call.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any


async def evaluate(suite: Any, endpoint: str | Sequence[str], model: str, *, protocol: str | None = None,
                   split: str | None = None, shard: str | tuple[int, int] | None = None,
                   concurrency: int = 64, timeout: float = 120.0, max_retries: int = 6, samples: int = 1,
                   temperature: float | None = None, top_p: float | None = None, seed: int | None = None,
                   max_tokens: int | None = None, system_prompt: str = "full",
                   system_prompt_file: str | os.PathLike[str] | None = None,
                   out: str | os.PathLike[str] | None = None, resume: bool = False, cache: bool = True,
                   cache_path: str | os.PathLike[str] | None = None,
                   price: Mapping[str, float] | None = None, api_key_env: str = "OPENAI_API_KEY",
                   progress: bool = False, register: bool = True,
                   extra_body: Mapping[str, Any] | None = None, batch: bool = False,
                   batch_poll: float = 30.0, prompt_cache_key: bool | None = None) -> dict[str, Any]:
    """Run `suite` (a shipped name, a file path or a loaded Suite) against `endpoint` (one base URL or
    several sharing the load) and return the summary. `out` defaults to runs/<suite>-<model>-<time>.
    The API key is read from the environment variable `api_key_env` and never written anywhere.
    `batch=True` sends through the endpoint's Batch API (harness.eval.batch); `price` overrides the
    table's prices (harness/model/prices.json) with {"prompt", "cached", "completion"} USD per 1M tokens.
    Raises harness.UserError for bad input (nothing is sent then)."""
    from harness.eval import EvalConfig, parse_shard, run_eval
    endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    cfg = EvalConfig(
        suite=suite, endpoints=[str(e) for e in endpoints], model=model, protocol=protocol, split=split,
        shard=parse_shard(shard) if isinstance(shard, str) else shard, concurrency=concurrency,
        timeout=timeout, max_retries=max_retries, samples=samples, temperature=temperature, top_p=top_p,
        seed=seed, max_tokens=max_tokens, system_prompt=system_prompt,
        system_prompt_file=str(system_prompt_file) if system_prompt_file is not None else None,
        out=out, resume=resume, cache=cache, cache_path=cache_path, price=price, api_key_env=api_key_env,
        progress=progress, register=register, extra_body=extra_body, batch=batch, batch_poll=batch_poll,
        prompt_cache_key=prompt_cache_key)
    outcome = await run_eval(cfg)
    summary = dict(outcome.summary or {})
    summary.setdefault("run_dir", str(outcome.run_dir) if outcome.run_dir is not None else None)
    return summary


def evaluate_sync(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`evaluate` for synchronous code (a new event loop; not from inside a running loop — a notebook
    cell can `await harness.evaluate(...)` directly)."""
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(evaluate(*args, **kwargs))
    from harness.errors import UserError
    raise UserError("evaluate_sync() was called inside a running event loop; use `await harness.evaluate(...)`")


__all__ = ["evaluate", "evaluate_sync"]
