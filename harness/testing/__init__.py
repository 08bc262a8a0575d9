"""Scripted OpenAI-compatible endpoints for tests and CI: a real HTTP peer with seeded faults, not a
mocked client (like httpx's mock transport, but over a socket).

    from harness.testing import ScriptedServer, spawn_server

    async with ScriptedServer(suite="roo-starter", answer="mix:0.7", fail_429=0.1, seed=1) as srv:
        await my_client(srv.url)            # "http://127.0.0.1:PORT/v1"; srv.stats() = GET /stats
    with spawn_server("--latency", "0.2", "--drop", "0.05") as url:    # its own process
        run_my_eval(url)

Modules: `scripted` (the server, its routes, `python -m harness.testing.scripted`), `answers` (which
answer a request gets), `faults` (fault injection, FAULTS), `usage` (token counts, prefix cache),
`replies` (error envelopes), `spawn` (the server as a subprocess), `batches` (the OpenAI Files + Batches
routes the server also serves), `prompt_cache` (OpenAI's prompt-cache shape, for benchmarks). Names are loaded on first use, so
`python -m harness.testing.scripted` does not import its own module twice.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ScriptedServer": "scripted", "OPTION_DEFAULTS": "scripted", "MODEL_DEFAULT": "scripted",
    "serve_until_signal": "scripted",
    "FAULTS": "faults",
    "BatchEndpoint": "batches",
    "OpenAICacheShape": "prompt_cache",
    "FIXED_TEXT": "answers", "WRONG_TEXT": "answers", "AnswerBook": "answers",
    "spawn_server": "spawn", "spawn_process": "spawn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"harness.testing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
