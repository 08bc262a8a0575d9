"""Serving (DESIGN.md "Serving"): the local engine, the vLLM launcher and the adapter registry.

    from harness.serve import load_adapter, unload_adapter, list_adapters

    name = await load_adapter("http://127.0.0.1:8000/v1", "out/adapter")    # unique name, verified
    await list_adapters("http://127.0.0.1:8000/v1")    # [{"id", "parent", "root"}, ...]
    await unload_adapter("http://127.0.0.1:8000/v1", name)

Whether vLLM would accept an adapter is `trainers.vllm_rules.check_adapter` (shared with training).

This package imports neither torch nor transformers: the local engine (`harness.serve.engine`) pulls
them in when `harness serve --engine local` starts it, and the vLLM launcher (`harness.serve.vllm`)
only runs `vllm serve` as a subprocess.
"""
from __future__ import annotations

from harness.serve.adapters import AdapterError, list_adapters, load_adapter, unload_adapter

__all__ = ["AdapterError", "list_adapters", "load_adapter", "unload_adapter"]
