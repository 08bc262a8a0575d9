"""Serving (DESIGN.md "Serving"): the local engine, the vLLM and SGLang launchers (one `launcher`, the tool
parser of the model's family from `families`), and the adapter registry.

    from harness.serve import load_adapter, unload_adapter, list_adapters

    name = await load_adapter("http://127.0.0.1:8000/v1", "out/adapter")    # unique name, verified
    await list_adapters("http://127.0.0.1:8000/v1")    # [{"id", "parent", "root"}, ...]
    await unload_adapter("http://127.0.0.1:8000/v1", name)
    await adapter_model("http://127.0.0.1:8000/v1", name)   # the request's `model` (SGLang: "base:name")

Whether vLLM would accept an adapter is `trainers.vllm_rules.check_adapter` (shared with training).

This package imports neither torch nor transformers: the local engine (`harness.serve.engine`) pulls
them in when `harness serve --engine local` starts it, and the vLLM / SGLang launchers only run the
engines as subprocesses.
"""
from __future__ import annotations

from harness.serve.adapters import AdapterError, adapter_model, list_adapters, load_adapter, unload_adapter

__all__ = ["AdapterError", "adapter_model", "list_adapters", "load_adapter", "unload_adapter"]
