"""The local engine: an OpenAI-compatible server over transformers + PEFT, speaking vLLM's runtime LoRA API.

    harness serve --engine local --model DIR [--host 127.0.0.1] [--port 0] [--served-model-name NAME]
                  [--adapter-root DIR]... [--allow-any-adapter-path] [--max-loras N] [--max-lora-rank R]
                  [--kv-cache-memory 1GiB] [--dtype auto|bfloat16|float32] [--threads N]

prints `listening http://HOST:PORT/v1` once the model is loaded and the socket is bound, then serves until
SIGINT/SIGTERM. `DIR` is any local causal-LM directory whose tokenizer has a chat template.

Routes (one process, aiohttp):
  * `POST /v1/chat/completions` — `messages`, `tools` (given to the chat template), `n`, `stop` (a string
    or a list: the text is cut before the first stop string, finish_reason "stop"), `stop_token_ids`,
    `max_tokens` / `max_completion_tokens` (finish_reason "length"; clamped to the context left after the
    prompt), `temperature` (0 = greedy), `top_p`, `top_k`, `seed` (a per-request torch.Generator: the same
    request with the same seed gives the same answer), `ignore_eos`; `usage` counts real tokens
    (prompt once, completion over all choices, `prompt_tokens_details.cached_tokens` = the prompt tokens
    served from the prefix cache); `include_stop_str_in_output` keeps the matched stop string, and each
    choice's `stop_reason` is it (vLLM's fields). `model` = the base id, an adapter name, or absent (base). `tool_choice` "auto"/"none" is
    accepted and tool calls stay in `content` (no tool-call parser, like vLLM without
    --enable-auto-tool-choice); `stream`, `logprobs`, non-text `response_format` and penalties are refused
    with 400 rather than ignored.
  * `GET /v1/models` — the base (`id` = --served-model-name or the directory name, `root` = its path,
    `weights` = the sha256 of its weights: harness_model.json's, else computed once at start) and
    one card per adapter (`id` = lora_name, `root` = lora_path, `parent` = the base id), vLLM's shape.
  * `GET /health` — 200 while the generation worker is alive.
  * `POST /v1/load_lora_adapter {lora_name, lora_path[, load_inplace]}` and
    `POST /v1/unload_lora_adapter {lora_name}` — vLLM's paths, bodies, status codes and texts (vllm
    `entrypoints/openai/models/serving.py`): 200 `Success: LoRA adapter '<name>' added successfully.` /
    `... removed successfully.` (text/plain); 400 InvalidUserInput for a missing field or an already loaded
    name; 404 NotFoundError `Loading lora <name> failed: No adapter found for <path>` when nothing is at the
    path (no directory or no adapter_config.json, as vLLM's FileNotFoundError split); 400 BadRequestError
    when the adapter cannot be loaded (malformed config or weights, vLLM-incompatible features, a rank above
    --max-lora-rank, layers or shapes of another base model); 404 `The lora adapter '<name>' cannot be
    found.` when unloading an unknown name. Errors are vLLM's envelope
    `{"error": {"message", "type", "param", "code"}}`; an unknown `model` is 404 "The model `X` does not
    exist.". Our additions, also 400 InvalidUserInput: a name that is not a plain identifier
    (`harness.serve.adapters.NAME_RE`), a path outside the adapter roots (--adapter-root, default the
    current directory and the model's parent directory; symlinks resolved) unless
    --allow-any-adapter-path; and 400 BadRequestError past --max-loras loaded adapters (vLLM instead
    evicts from its LRU cache).
  * `GET /stats` — counters (requests, steps, rows per step, prefills) and each adapter's tensor bytes.

Batching on Llama-shaped models (Llama, SmolLM, Mistral, Qwen2; `slots`, `kvcache`, `lean`): a request is
admitted while its rows' KV slots (prompt + max_tokens) and the running rows' fit --kv-cache-memory, so
the rows generated together follow the budget, not the client's concurrency. It is prefilled alone: the
blocks of its prompt that an earlier prompt shared (system prompt, tools, earlier turns) are copied from
the prefix store, as vLLM's automatic prefix caching does, and only the rest is computed. Its rows take
the next free slots of a preallocated cache, and each decode step runs a lean forward (the model's own
modules, one fused RMSNorm, SDPA over the slots) at every row's own position: no padding, no cache
concatenation when a request joins. dtype auto picks bfloat16 on a CPU where a timed matmul runs it
clearly faster (AMX, AVX-512-bf16), else float32. SIGTERM/SIGINT answer every waiting and running
request 503, abandon the forward pass between layers and exit at once.

Other models: every request goes to one generation worker thread that runs its own decode loop over a
KV cache (transformers DynamicCache) with continuous batching. At each step it admits waiting requests
(prefilled together, left-padded, `n` rows expanded from one prefill) into the running batch by padding
the caches to a common length, decodes one token for every row, and retires finished rows at once
(their futures resolve while the others go on). Rows of different adapters share a step: one adapter
in the batch uses `PeftModel.set_adapter`, the base alone runs with the adapter layers disabled, a mix
uses PEFT's per-row `adapter_names` (mixed-batch LoRA); if that is unavailable the worker falls back to
batches of one adapter at a time. Adapter loads and unloads run on the same thread between steps, and an
unloaded adapter's weights are deleted once no row uses them. Nothing here imports torch until an engine
is built, and only `harness serve --engine local` builds one.

Modules: `config` (EngineConfig, errors, sizes), `request` (parsing and checking a chat request into a
GenRequest), `model` (loading the weights and tokenizer, dtype auto, weights identity), `worker` (the
generation thread; the DynamicCache path), `slots` (batching on the lean path), `kvcache` (the slots and
the prefix store), `lean` (the lean forward), `sampling` (sampling, stop strings), `lora` (adapters on the
worker thread), `http` (the routes, `serve`, `run`).
"""
from __future__ import annotations

from harness.serve.engine.config import APIError, EngineConfig, EngineError
from harness.serve.engine.http import LocalEngine, run, serve
from harness.serve.engine.model import LocalModel

__all__ = ["APIError", "EngineConfig", "EngineError", "LocalEngine", "LocalModel", "run", "serve"]
