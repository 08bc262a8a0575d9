"""Serving (DESIGN.md "Serving"): the local engine, the vLLM launcher and the adapter registry.

    from harness.serve import check_adapter, load_adapter, unload_adapter, list_adapters

    problems = check_adapter("out/adapter", max_lora_rank=16, base_model="models/tiny")  # [] = ok
    name = await load_adapter("http://127.0.0.1:8000/v1", "out/adapter")    # unique name, verified
    await list_adapters("http://127.0.0.1:8000/v1")    # [{"id", "parent", "root"}, ...]
    await unload_adapter("http://127.0.0.1:8000/v1", name)

This package imports neither torch nor transformers: the local engine (`harness.serve.engine`) pulls
them in when `harness serve --engine local` starts it, and the vLLM launcher (`harness.serve.vllm`)
only runs `vllm serve` as a subprocess.
"""
from __future__ import annotations

from harness.serve.adapters import (ALLOWED_MAX_LORA_RANKS, AdapterError, check_adapter, list_adapters, load_adapter,
                       unload_adapter)

__all__ = ["ALLOWED_MAX_LORA_RANKS", "AdapterError", "check_adapter", "list_adapters", "load_adapter",
           "unload_adapter"]
