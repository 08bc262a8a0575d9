"""The local engine: an OpenAI-compatible server over transformers + PEFT, speaking vLLM's runtime LoRA API.

    harness serve --engine local --model DIR [--host 127.0.0.1] [--port 0] [--served-model-name NAME]
                  [--adapter-root DIR]... [--allow-any-adapter-path] [--max-loras N] [--max-lora-rank R]

prints `listening http://HOST:PORT/v1` once the model is loaded and the socket is bound, then serves until
SIGINT/SIGTERM. `DIR` is any local causal-LM directory whose tokenizer has a chat template.

Routes (one process, aiohttp):
  * `POST /v1/chat/completions` — `messages`, `tools` (given to the chat template), `n`, `stop` (a string
    or a list: the text is cut before the first stop string, finish_reason "stop"), `stop_token_ids`,
    `max_tokens` / `max_completion_tokens` (finish_reason "length"; clamped to the context left after the
    prompt), `temperature` (0 = greedy), `top_p`, `top_k`, `seed` (a per-request torch.Generator: the same
    request with the same seed gives the same answer), `ignore_eos`; `usage` counts real tokens
    (prompt once, completion over all choices, `prompt_tokens_details.cached_tokens` = 0: no prefix
    cache). `model` = the base id, an adapter name, or absent (base). `tool_choice` "auto"/"none" is
    accepted and tool calls stay in `content` (no tool-call parser, like vLLM without
    --enable-auto-tool-choice); `stream`, `logprobs`, non-text `response_format` and penalties are refused
    with 400 rather than ignored.
  * `GET /v1/models` — the base (`id` = --served-model-name or the directory name, `root` = its path) and
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

Batching: every request goes to one generation worker thread that runs its own decode loop over a
KV cache (transformers DynamicCache) with continuous batching. At each step it admits waiting requests
(prefilled together, left-padded, `n` rows expanded from one prefill) into the running batch by padding
the caches to a common length, decodes one token for every row, and retires finished rows at once
(their futures resolve while the others go on). Rows of different adapters share a step: one adapter
in the batch uses `PeftModel.set_adapter`, the base alone runs with the adapter layers disabled, a mix
uses PEFT's per-row `adapter_names` (mixed-batch LoRA); if that is unavailable the worker falls back to
batches of one adapter at a time. Adapter loads and unloads run on the same thread between steps, and an
unloaded adapter's weights are deleted once no row uses them. Nothing here imports torch until an engine
is built, and only `harness serve --engine local` builds one.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.errors import UserError
from harness.serve.adapters import NAME_RE

log = logging.getLogger("harness.serve.engine")

MAX_STOP_STRINGS = 16


class EngineError(UserError):
    """The model directory cannot be served (missing, no chat template, unloadable)."""


@dataclass
class EngineConfig:
    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    adapter_roots: list[str] = field(default_factory=list)   # empty: the current dir and the model's parent
    allow_any_adapter_path: bool = False
    max_loras: int | None = None          # most adapters loaded at once (None: no limit)
    max_lora_rank: int | None = None      # refuse adapters of a higher rank, as vLLM does (None: no limit)
    max_batch_rows: int = 64              # rows decoded together
    max_n: int = 16
    default_max_tokens: int | None = None  # None: the context left after the prompt (vLLM's default)
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"                   # auto (float32 on CPU, bfloat16/float16 on CUDA) | float32 | ...
    threads: int | None = None            # torch CPU threads (None: cores - 1, at least 1)
    batch_wait_ms: float = 2.0            # when idle, wait this long for more requests to start together


class APIError(Exception):
    """An error answered in vLLM's envelope."""

    def __init__(self, status: int, message: str, err_type: str = "BadRequestError", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.err_type, self.param = status, message, err_type, param

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.err_type, "param": self.param, "code": self.status}}
        return web.json_response(body, status=self.status)


def _bad(message: str, param: str | None = None) -> APIError:
    return APIError(HTTPStatus.BAD_REQUEST, message, "BadRequestError", param)


# --------------------------------------------------------------------------------------------------
# requests and rows (shared between the event loop and the worker thread)


@dataclass(eq=False)
class GenRequest:
    prompt_ids: list[int]
    n: int
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    stop: list[str]
    stop_token_ids: frozenset[int]
    seed: int | None
    ignore_eos: bool
    adapter: str | None                 # the worker's adapter key (None: base)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    arrival: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    generator: Any = None
    choices: list[dict[str, Any] | None] = field(default_factory=list)
    left: int = 0

    def finish(self, index: int, choice: dict[str, Any]) -> None:
        self.choices[index] = choice
        self.left -= 1
        if self.left == 0:
            self.loop.call_soon_threadsafe(_resolve, self.future, self.choices)

    def fail(self, exc: BaseException) -> None:
        self.left = 0
        self.loop.call_soon_threadsafe(_reject, self.future, exc)


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _reject(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


@dataclass(eq=False)
class _Row:
    req: GenRequest
    index: int
    pos: int                            # position id of the token this row feeds next
    tokens: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class AdapterInfo:
    name: str
    key: str
    path: str
    bytes: int
    rank: int
    loaded_at: float


# --------------------------------------------------------------------------------------------------
# the model and its worker thread


class LocalModel:
    """The model, its adapters and the generation worker thread. `submit` and `call` are thread-safe;
    everything else runs on the worker thread."""

    def __init__(self, cfg: EngineConfig):
        model_dir = Path(cfg.model).expanduser()
        if not model_dir.is_dir():
            raise EngineError(f"{model_dir}: no such model directory")
        if not (model_dir / "config.json").is_file():
            raise EngineError(f"{model_dir}: not a transformers model directory (no config.json)")
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.logging.set_verbosity_error()
        self.torch = torch
        self.model_dir = model_dir.resolve()
        self.threads = cfg.threads or max(1, _cpu_count() - 1)
        torch.set_num_threads(self.threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.detok = AutoTokenizer.from_pretrained(str(model_dir))   # the worker's own (not shared across threads)
        except Exception as e:  # noqa: BLE001 - any loader failure is the user's directory
            raise EngineError(f"{model_dir}: cannot load the tokenizer: {e}") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise EngineError(f"{model_dir}: the tokenizer has no chat template (chat_template.jinja or "
                              "tokenizer_config.json 'chat_template'); the chat endpoint needs one")
        if cfg.device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            device = cfg.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineError(f"--device {cfg.device}: CUDA is not available on this machine")
        if cfg.dtype == "auto":
            dtype = torch.float32 if device == "cpu" else (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        else:
            dtype = getattr(torch, cfg.dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise EngineError(f"--dtype {cfg.dtype}: not a torch dtype")
        try:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        except Exception as e:  # noqa: BLE001
            raise EngineError(f"{model_dir}: cannot load the model: {e}") from None
        self.device = torch.device(device)
        self.base = model.to(self.device).eval()
        # transformers 5.24 renamed the forward's `past_key_values` to `cache` (the old name warns)
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_last = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.dtype = dtype
        self.peft: Any = None
        self.adapters: dict[str, AdapterInfo] = {}      # key -> info (the worker's view)
        self.doomed: set[str] = set()                   # unloaded keys, deleted once no row uses them
        self.max_len = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 1 << 20
        gen = getattr(model, "generation_config", None)
        eos: set[int] = set()
        for src in (getattr(gen, "eos_token_id", None), getattr(model.config, "eos_token_id", None),
                    self.tokenizer.eos_token_id):
            if isinstance(src, int):
                eos.add(src)
            elif isinstance(src, (list, tuple)):
                eos.update(int(x) for x in src)
        self.eos_ids = frozenset(eos)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (min(eos) if eos else 0))
        self.max_rows = cfg.max_batch_rows
        self.batch_wait = max(0.0, cfg.batch_wait_ms) / 1000.0
        # worker state
        self._cv = threading.Condition()
        self._inbox: deque[GenRequest] = deque()
        self._admin: deque[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = deque()
        self._stopping = False
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._next: Any = None
        self._mode: Any = "unset"            # PEFT layer state: "unset" | "disabled" | "enabled" | an adapter key
        self._mixed_ok = True
        self._row_names: list[str] | None = None
        self._row_hooks: list[Any] = []
        self._mergeable = True
        self.stats = {"requests": 0, "rows": 0, "steps": 0, "row_steps": 0, "prefills": 0, "prefill_rows": 0,
                      "adapter_switches": 0, "mixed_steps": 0, "errors": 0}
        self.thread = threading.Thread(target=self._run, name="harness-engine-worker", daemon=True)
        self.thread.start()

    # ---- thread-safe API

    def submit(self, req: GenRequest) -> None:
        with self._cv:
            if self._stopping:
                raise APIError(HTTPStatus.SERVICE_UNAVAILABLE, "the engine is shutting down", "ServiceUnavailable")
            self._inbox.append(req)
            self._cv.notify()

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            if self._stopping:
                fut.set_exception(RuntimeError("the engine is shutting down"))
                return fut
            self._admin.append((fn, fut))
            self._cv.notify()
        return fut

    def close(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self.thread.join(timeout)

    def alive(self) -> bool:
        return self.thread.is_alive()

    # ---- worker loop

    def _run(self) -> None:
        torch = self.torch
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            while True:
                with self._cv:
                    while not (self._stopping or self._inbox or self._admin or self._rows):
                        self._cv.wait()
                    if self._stopping:
                        break
                    if not self._rows and self._inbox and self.batch_wait > 0 and not self._admin:
                        # idle: give requests sent together a moment to arrive, so they start together
                        deadline = time.monotonic() + self.batch_wait
                        while (not self._stopping and sum(r.n for r in self._inbox) < self.max_rows
                               and (left := deadline - time.monotonic()) > 0):
                            self._cv.wait(left)
                    admin = list(self._admin)
                    self._admin.clear()
                for fn, fut in admin:
                    if fut.set_running_or_notify_cancel():
                        try:
                            fut.set_result(fn())
                        except BaseException as e:  # noqa: BLE001 - handed to the caller
                            fut.set_exception(e)
                new: list[GenRequest] = []
                try:
                    self._drop_cancelled()
                    new = self._admit()
                    if new:
                        self._prefill(new)
                    if self._rows:
                        self._decode_step()
                    self._reap_adapters()
                except Exception as e:  # noqa: BLE001 - fail the batch, keep serving
                    log.exception("generation failed")
                    self.stats["errors"] += 1
                    err = APIError(HTTPStatus.INTERNAL_SERVER_ERROR, f"generation failed: {type(e).__name__}: {e}",
                                   "InternalServerError")
                    for r in {row.req for row in self._rows} | set(new):
                        r.fail(err)
                    self._rows, self._cache, self._mask, self._next = [], None, None, None
            shutdown = APIError(HTTPStatus.SERVICE_UNAVAILABLE, "the engine is shutting down", "ServiceUnavailable")
            with self._cv:
                pending = list(self._inbox)
                self._inbox.clear()
                admin = list(self._admin)
                self._admin.clear()
            for r in pending + [row.req for row in self._rows]:
                r.fail(shutdown)
            for _, fut in admin:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError("the engine is shutting down"))

    def _admit(self) -> list[GenRequest]:
        """Waiting requests that join the batch now (FIFO, up to max_rows rows)."""
        room = self.max_rows - len(self._rows)
        if room <= 0:
            return []
        if self._rows and not self._mergeable:
            return []
        taken: list[GenRequest] = []
        with self._cv:
            if not self._inbox:
                return []
            if not self._mixed_ok:
                adapter = self._rows[0].req.adapter if self._rows else self._inbox[0].adapter
            while self._inbox and room >= self._inbox[0].n:
                req = self._inbox[0]
                if not self._mixed_ok and req.adapter != adapter:
                    break
                self._inbox.popleft()
                if req.cancelled:
                    continue
                taken.append(req)
                room -= req.n
        return taken

    def _drop_cancelled(self) -> None:
        if any(row.req.cancelled for row in self._rows):
            self._retire([i for i, row in enumerate(self._rows) if not row.req.cancelled])

    # ---- adapters on the forward pass

    def _forward(self, adapters: list[str | None], **kw: Any) -> Any:
        uniq = set(adapters)
        peft = self.peft
        if peft is None:
            return self.base(**kw)
        if uniq == {None}:
            if self._mode != "disabled":
                peft.base_model.disable_adapter_layers()
                self._mode = "disabled"
                self.stats["adapter_switches"] += 1
            return self.base(**kw)
        if self._mode == "disabled" or self._mode == "unset":
            peft.base_model.enable_adapter_layers()
            self._mode = "enabled"
        if len(uniq) == 1:
            key = next(iter(uniq))
            if self._mode != key:
                peft.set_adapter(key)
                self._mode = key
                self.stats["adapter_switches"] += 1
            return self.base(**kw)
        # PEFT's mixed-batch LoRA: every LoRA layer gets `adapter_names` (one per row, "__base__" for the
        # base) from the pre-hooks installed once per load (`_install_row_hooks`), not re-registered per step
        self._row_names = [a if a is not None else "__base__" for a in adapters]
        self.stats["mixed_steps"] += 1
        try:
            return self.base(**kw)
        finally:
            self._row_names = None

    def _install_row_hooks(self) -> None:
        """(Re)install the pre-forward hooks that hand each LoRA layer the rows' adapter names."""
        for h in self._row_hooks:
            h.remove()
        self._row_hooks = []
        if self.peft is None:
            return
        from peft.tuners.lora import LoraLayer

        def hook(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            if self._row_names is not None:
                kwargs["adapter_names"] = self._row_names
            return args, kwargs

        for module in self.peft.modules():
            if isinstance(module, LoraLayer):
                self._row_hooks.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    # ---- prefill, decode, sampling

    def _prefill(self, reqs: list[GenRequest]) -> None:
        torch = self.torch
        from transformers import DynamicCache

        if not self._mixed_ok and len({r.adapter for r in reqs}) > 1:  # pragma: no cover - admission prevents it
            raise RuntimeError("mixed adapters in one prefill without mixed-batch support")
        width = max(len(r.prompt_ids) for r in reqs)
        ids = torch.full((len(reqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(reqs), width), dtype=torch.long)
        for i, r in enumerate(reqs):
            ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - len(r.prompt_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        try:
            out = self._forward([r.adapter for r in reqs], input_ids=ids, attention_mask=mask, position_ids=pos,
                                use_cache=True, **self._keep_last, **{self._cache_kw: cache})
        except (AttributeError, TypeError, ValueError) as e:
            if len({r.adapter for r in reqs}) > 1 and self._mixed_ok:
                log.warning("mixed-adapter batches unavailable (%s); batching one adapter at a time", e)
                self._mixed_ok = False
                with self._cv:
                    self._inbox.extendleft(reversed(reqs))
                return
            raise
        logits = out.logits[:, -1, :]        # the cache object was filled in place
        self.stats["prefills"] += 1
        self.stats["prefill_rows"] += len(reqs)
        expand = [i for i, r in enumerate(reqs) for _ in range(r.n)]
        if len(expand) != len(reqs):
            idx = torch.tensor(expand, device=self.device)
            cache.batch_select_indices(idx)
            mask, logits = mask[idx], logits[idx]
        rows: list[_Row] = []
        for r in reqs:
            self.stats["requests"] += 1
            r.choices = [None] * r.n
            r.left = r.n
            if r.temperature > 0 and r.generator is None:
                r.generator = torch.Generator(device=self.device)
                r.generator.manual_seed(r.seed & 0xFFFF_FFFF_FFFF_FFFF if r.seed is not None
                                       else random.getrandbits(63))
            rows.extend(_Row(r, j, len(r.prompt_ids)) for j in range(r.n))
        self.stats["rows"] += len(rows)
        toks = self._sample(logits, rows)
        self._advance(rows, toks)
        live = [i for i, row in enumerate(rows) if not row.done]
        if not live:
            return
        if len(live) < len(rows):      # finished at their first token (max_tokens 1, EOS, a stop)
            idx = torch.tensor(live, device=self.device)
            cache.batch_select_indices(idx)
            mask, toks, rows = mask.index_select(0, idx), toks.index_select(0, idx), [rows[i] for i in live]
        self._merge(cache, mask, toks, rows)

    def _merge(self, cache: Any, mask: Any, toks: Any, rows: list[_Row]) -> None:
        torch = self.torch
        import torch.nn.functional as F

        if not self._rows:
            self._cache, self._mask, self._next, self._rows = cache, mask, toks, rows
            self._mergeable = all(type(layer).__name__ == "DynamicLayer" for layer in getattr(cache, "layers", []))
            return
        t1, t2 = self._mask.shape[1], mask.shape[1]
        width = max(t1, t2)
        for mine, theirs in zip(self._cache.layers, cache.layers):
            k1, v1, k2, v2 = mine.keys, mine.values, theirs.keys, theirs.values
            if width > t1:
                k1, v1 = F.pad(k1, (0, 0, width - t1, 0)), F.pad(v1, (0, 0, width - t1, 0))
            if width > t2:
                k2, v2 = F.pad(k2, (0, 0, width - t2, 0)), F.pad(v2, (0, 0, width - t2, 0))
            mine.keys, mine.values = torch.cat([k1, k2]), torch.cat([v1, v2])
        self._mask = torch.cat([F.pad(self._mask, (width - t1, 0)), F.pad(mask, (width - t2, 0))])
        self._next = torch.cat([self._next, toks])
        self._rows = self._rows + rows

    def _decode_step(self) -> None:
        torch = self.torch
        rows = self._rows
        b = len(rows)
        self._mask = torch.cat([self._mask, self._mask.new_ones((b, 1))], dim=1)
        pos = torch.tensor([[row.pos] for row in rows], device=self.device)
        out = self._forward([row.req.adapter for row in rows], input_ids=self._next[:, None],
                            attention_mask=self._mask, position_ids=pos, use_cache=True,
                            **{self._cache_kw: self._cache})
        self.stats["steps"] += 1
        self.stats["row_steps"] += b
        for row in rows:
            row.pos += 1
        toks = self._sample(out.logits[:, -1, :], rows)
        self._next = toks
        self._advance(rows, toks)
        if any(row.done for row in rows):
            self._retire([i for i, row in enumerate(rows) if not row.done])

    def _sample(self, logits: Any, rows: list[_Row]) -> Any:
        torch = self.torch
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

    def _advance(self, rows: list[_Row], toks: Any) -> None:
        """Append each row's new token; finish (`done`, the request's choice set) the rows that are done."""
        values = toks.tolist()
        for row, tok in zip(rows, values, strict=True):
            row.tokens.append(tok)
            req = row.req
            finish: tuple[str, Any, str | None] | None = None     # (reason, stop_reason, text)
            if tok in self.eos_ids and not req.ignore_eos:
                finish = ("stop", None, None)
            elif tok in req.stop_token_ids:
                finish = ("stop", tok, None)
            elif req.stop:
                text = self.detok.decode(row.tokens, skip_special_tokens=True)
                cut, hit = len(text) + 1, None
                for s in req.stop:
                    j = text.find(s)
                    if j != -1 and j < cut:
                        cut, hit = j, s
                if hit is not None:
                    finish = ("stop", hit, text[:cut])
            if finish is None and len(row.tokens) >= req.max_tokens:
                finish = ("length", None, None)
            if finish is None:
                continue
            reason, stop_reason, text = finish
            if text is None:
                body = row.tokens[:-1] if (reason == "stop" and stop_reason is None or isinstance(stop_reason, int)) \
                    else row.tokens
                text = self.detok.decode(body, skip_special_tokens=True)
            row.done = True
            req.finish(row.index, {"text": text, "finish_reason": reason, "stop_reason": stop_reason,
                                   "tokens": len(row.tokens)})

    def _retire(self, keep: list[int]) -> None:
        """Keep only the rows at `keep` (indices into the batch) and trim padding no row needs."""
        torch = self.torch
        if not keep:
            self._rows, self._cache, self._mask, self._next = [], None, None, None
            return
        idx = torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(idx)
        self._mask = self._mask.index_select(0, idx)
        self._next = self._next.index_select(0, idx)
        self._rows = [self._rows[i] for i in keep]
        used = self._mask.any(dim=0).nonzero()
        lead = int(used[0]) if used.numel() else 0
        if lead > 0 and self._mergeable:
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
            self._mask = self._mask[:, lead:]

    # ---- adapter management (worker thread, via `call`)

    def load_adapter(self, key: str, name: str, path: str) -> AdapterInfo:
        from peft import PeftModel

        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base, path, adapter_name=key, is_trainable=False)
            else:
                self.peft.load_adapter(path, adapter_name=key, is_trainable=False)
        except Exception:
            self._forget(key)
            raise
        self.peft.eval()
        self._mode = "unset"
        self._install_row_hooks()
        nbytes = 0
        marker = f".{key}."
        for pname, p in self.peft.named_parameters():
            if marker in pname and ".lora_" in pname:
                nbytes += p.numel() * p.element_size()
        rank = int(getattr(self.peft.peft_config[key], "r", 0) or 0)
        info = AdapterInfo(name=name, key=key, path=path, bytes=nbytes, rank=rank, loaded_at=time.time())
        self.adapters[key] = info
        return info

    def unload_adapter(self, key: str) -> None:
        self.doomed.add(key)
        self._reap_adapters()

    def _reap_adapters(self) -> None:
        if not self.doomed:
            return
        with self._cv:
            busy = {r.adapter for r in self._inbox}
        busy |= {row.req.adapter for row in self._rows}
        for key in list(self.doomed):
            if key not in busy:
                self.doomed.discard(key)
                self._forget(key)

    def _forget(self, key: str) -> None:
        """Delete an adapter's weights; unwrap the base model when none is left."""
        try:
            self._drop_adapter(key)
        finally:
            self._install_row_hooks()

    def _drop_adapter(self, key: str) -> None:
        self.adapters.pop(key, None)
        self._mode = "unset"
        peft = self.peft
        if peft is None:                       # a first load that failed half-way
            _strip_lora_layers(self.base)
            return
        others = set(peft.peft_config) - {key}
        if not others:                         # the last adapter: back to the plain base model
            self.base = peft.unload()
            self.peft = None
            _strip_lora_layers(self.base)
            return
        if key in peft.peft_config:
            peft.delete_adapter(key)
        else:                                  # a load that failed after injecting some layers
            from peft.tuners.tuners_utils import BaseTunerLayer
            for module in peft.modules():
                if isinstance(module, BaseTunerLayer) and key in getattr(module, "lora_A", {}):
                    module.delete_adapter(key)


def _strip_lora_layers(model: Any) -> None:
    """Put back the plain base layers wherever a half-finished PEFT injection left LoRA wrappers."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover
        return
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------------
# the HTTP server


def _text_content(content: Any) -> Any:
    """OpenAI content parts -> one string (text parts joined); strings and None pass through."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", None))
    return content


def _number(body: dict[str, Any], key: str, default: Any, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False) -> Any:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
        raise _bad(f"'{key}' must be {'a whole number' if integer else 'a number'}, got {v!r}", key)
    if lo is not None and v < lo or hi is not None and v > hi:
        rng = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise _bad(f"'{key}' must be {rng}, got {v!r}", key)
    return int(v) if integer else float(v)


class LocalEngine:
    """The HTTP front of a LocalModel."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        self.model = LocalModel(cfg)
        self.base_id = cfg.served_model_name or self.model.model_dir.name
        roots = cfg.adapter_roots or [os.getcwd(), str(self.model.model_dir.parent)]
        self.adapter_roots = list(dict.fromkeys(Path(r).expanduser().resolve() for r in roots))
        self.adapters: dict[str, AdapterInfo] = {}          # public name -> info
        self._loading: set[str] = set()
        self._name_locks: dict[str, asyncio.Lock] = {}
        self._key_seq = 0
        self.created = int(time.time())

    # ---- routes

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/v1/load_lora_adapter", self.load_lora_adapter)
        app.router.add_post("/v1/unload_lora_adapter", self.unload_lora_adapter)
        return app

    async def health(self, request: web.Request) -> web.Response:
        if self.model.alive():
            return web.Response(status=200)
        return web.Response(status=503, text="the generation worker stopped")

    async def stats(self, request: web.Request) -> web.Response:
        s = dict(self.model.stats)
        s["rows_per_step"] = round(s["row_steps"] / s["steps"], 3) if s["steps"] else 0.0
        s["adapters"] = {n: {"path": a.path, "bytes": a.bytes, "rank": a.rank} for n, a in self.adapters.items()}
        s["device"], s["dtype"] = str(self.model.device), str(self.model.dtype).replace("torch.", "")
        s["threads"] = self.model.torch.get_num_threads()
        return web.json_response(s)

    async def models(self, request: web.Request) -> web.Response:
        perm = {"object": "model_permission", "allow_create_engine": False, "allow_sampling": True,
                "allow_logprobs": False, "allow_search_indices": False, "allow_view": True,
                "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False}
        data = [{"id": self.base_id, "object": "model", "created": self.created, "owned_by": "harness",
                 "root": str(self.model.model_dir), "parent": None, "max_model_len": self.model.max_len,
                 "permission": [dict(perm, id=f"modelperm-{self.base_id}", created=self.created)]}]
        for a in self.adapters.values():
            data.append({"id": a.name, "object": "model", "created": int(a.loaded_at), "owned_by": "harness",
                         "root": a.path, "parent": self.base_id, "max_model_len": None,
                         "permission": [dict(perm, id=f"modelperm-{a.name}", created=int(a.loaded_at))]})
        return web.json_response({"object": "list", "data": data})

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError) as e:
            raise _bad(f"the request body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object")
        return body

    async def chat(self, request: web.Request) -> web.Response:
        try:
            body = await self._json_body(request)
            req, model_name = self._parse_chat(body)
        except APIError as e:
            return e.response()
        t0 = time.time()
        try:
            self.model.submit(req)
            choices = await req.future
        except APIError as e:
            return e.response()
        except asyncio.CancelledError:
            req.cancelled = True     # the client went away: the worker drops its rows
            raise
        completion = sum(c["tokens"] for c in choices)
        prompt = len(req.prompt_ids)
        out = {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(t0),
            "model": model_name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c["text"], "tool_calls": []},
                         "logprobs": None, "finish_reason": c["finish_reason"], "stop_reason": c["stop_reason"]}
                        for i, c in enumerate(choices)],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": 0}},
        }
        return web.json_response(out)

    def _parse_chat(self, body: dict[str, Any]) -> tuple[GenRequest, str]:
        model_name = body.get("model")
        adapter_key: str | None = None
        if model_name in (None, "", self.base_id):
            model_name = self.base_id
        elif isinstance(model_name, str) and model_name in self.adapters:
            adapter_key = self.adapters[model_name].key
        else:
            raise APIError(HTTPStatus.NOT_FOUND, f"The model `{model_name}` does not exist.", "NotFoundError", "model")
        if body.get("stream"):
            raise _bad("stream is not supported by the local engine: send stream false", "stream")
        if body.get("logprobs") or body.get("top_logprobs"):
            raise _bad("logprobs are not supported by the local engine", "logprobs")
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
            raise _bad(f"response_format {fmt.get('type')!r} is not supported by the local engine", "response_format")
        for key in ("presence_penalty", "frequency_penalty"):
            if _number(body, key, 0.0, lo=-2.0, hi=2.0) != 0.0:
                raise _bad(f"'{key}' is not supported by the local engine (send 0 or leave it out)", key)
        if _number(body, "repetition_penalty", 1.0, lo=0.0) != 1.0:
            raise _bad("'repetition_penalty' is not supported by the local engine", "repetition_penalty")
        tool_choice = body.get("tool_choice")
        if tool_choice not in (None, "auto", "none"):
            raise _bad("the local engine has no tool-call parser: tool_choice must be 'auto' or 'none' (tool calls "
                       "are returned in the message content)", "tool_choice")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise _bad("'messages' must be a non-empty list of message objects", "messages")
        msgs = [dict(m, content=_text_content(m.get("content"))) for m in messages]
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise _bad("'tools' must be a list", "tools")
        tools = [t.get("function", t) if isinstance(t, dict) and t.get("type") == "function" else t
                 for t in tools] if tools else None
        kwargs = body.get("chat_template_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise _bad("'chat_template_kwargs' must be an object", "chat_template_kwargs")
        try:
            text = self.model.tokenizer.apply_chat_template(msgs, tools=tools, add_generation_prompt=True,
                                                            tokenize=False, **kwargs)
        except Exception as e:  # noqa: BLE001 - a template error is the request's
            raise _bad(f"the chat template cannot render these messages: {type(e).__name__}: {e}", "messages") from None
        prompt_ids = list(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])
        if not prompt_ids:
            raise _bad("the rendered prompt is empty", "messages")
        max_len = self.model.max_len
        if len(prompt_ids) >= max_len:
            raise _bad(f"This model's maximum context length is {max_len} tokens. However, your request has "
                       f"{len(prompt_ids)} input tokens. Please reduce the length of the input messages.", "messages")
        room = max_len - len(prompt_ids)
        max_tokens = _number(body, "max_completion_tokens", None, lo=1, integer=True)
        if max_tokens is None:
            max_tokens = _number(body, "max_tokens", None, lo=1, integer=True)
        if max_tokens is None:
            max_tokens = self.cfg.default_max_tokens or room
        max_tokens = min(max_tokens, room)
        n = _number(body, "n", 1, lo=1, hi=min(self.cfg.max_n, self.cfg.max_batch_rows), integer=True)
        temperature = _number(body, "temperature", 1.0, lo=0.0, hi=100.0)
        top_p = _number(body, "top_p", 1.0, lo=0.0, hi=1.0)
        if top_p <= 0.0:
            raise _bad("'top_p' must be in (0, 1]", "top_p")
        top_k = _number(body, "top_k", 0, lo=-1, integer=True)
        seed = _number(body, "seed", None, integer=True)
        stop = body.get("stop")
        if stop is None:
            stops: list[str] = []
        elif isinstance(stop, str):
            stops = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= MAX_STOP_STRINGS:
            stops = list(stop)
        else:
            raise _bad(f"'stop' must be a string or a list of at most {MAX_STOP_STRINGS} strings", "stop")
        stops = [s for s in stops if s]
        stop_ids = body.get("stop_token_ids") or []
        if not isinstance(stop_ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in stop_ids):
            raise _bad("'stop_token_ids' must be a list of token ids", "stop_token_ids")
        loop = asyncio.get_running_loop()
        req = GenRequest(prompt_ids=prompt_ids, n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                         top_k=max(0, top_k), stop=stops, stop_token_ids=frozenset(stop_ids), seed=seed,
                         ignore_eos=bool(body.get("ignore_eos")), adapter=adapter_key, loop=loop,
                         future=loop.create_future())
        return req, model_name

    # ---- vLLM runtime LoRA API

    def _resolve_adapter_path(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        if not p.is_absolute():
            p = Path(os.getcwd()) / p
        resolved = p.resolve()
        if not self.cfg.allow_any_adapter_path and not any(
                resolved == root or root in resolved.parents for root in self.adapter_roots):
            raise APIError(HTTPStatus.BAD_REQUEST,
                           f"lora_path '{raw}' is outside the allowed adapter roots "
                           f"({', '.join(map(str, self.adapter_roots))}); start the server with --adapter-root "
                           "(or --allow-any-adapter-path)", "InvalidUserInput", "lora_path")
        return resolved

    async def load_lora_adapter(self, request: web.Request) -> web.Response:
        try:
            body = await self._json_body(request)
            name, raw_path = body.get("lora_name"), body.get("lora_path")
            if not name or not raw_path or not isinstance(name, str) or not isinstance(raw_path, str):
                raise APIError(HTTPStatus.BAD_REQUEST, "Both 'lora_name' and 'lora_path' must be provided.",
                               "InvalidUserInput")
            inplace = bool(body.get("load_inplace"))
            lock = self._name_locks.setdefault(name, asyncio.Lock())
            async with lock:
                return await self._load(name, raw_path, inplace)
        except APIError as e:
            return e.response()

    async def _load(self, name: str, raw_path: str, inplace: bool) -> web.Response:
        if name in self.adapters and not inplace:
            raise APIError(HTTPStatus.BAD_REQUEST,
                           f"The lora adapter '{name}' has already been loaded. If you want to load the adapter "
                           "in place, set 'load_inplace' to True.", "InvalidUserInput")
        if not NAME_RE.fullmatch(name) or name == self.base_id:
            raise APIError(HTTPStatus.BAD_REQUEST,
                           f"Invalid lora_name '{name}': use letters, digits, '.', '_' and '-' (at most 128, "
                           "starting with a letter or digit, not the base model's id)", "InvalidUserInput",
                           "lora_name")
        from trainers.vllm_rules import CONFIG_FILE, check_adapter
        path = self._resolve_adapter_path(raw_path)
        if not path.is_dir() or not (path / CONFIG_FILE).is_file():
            raise APIError(HTTPStatus.NOT_FOUND, f"Loading lora {name} failed: No adapter found for {raw_path}",
                           "NotFoundError")
        limit = self.cfg.max_loras
        if limit is not None and name not in self.adapters and len(self.adapters) + len(self._loading) >= limit:
            raise _bad(f"cannot load more than {limit} LoRA adapters (--max-loras); unload one first")
        problems = await asyncio.to_thread(check_adapter, path, max_lora_rank=self.cfg.max_lora_rank or 512,
                                           base_model=str(self.model.model_dir), check_base_name=False)
        if problems:
            raise _bad(f"Loading lora {name} failed: " + " ".join(problems))
        self._key_seq += 1
        key = f"lora{self._key_seq}"
        self._loading.add(name)
        try:
            info = await asyncio.wrap_future(self.model.call(lambda: self.model.load_adapter(key, name, str(path))))
        except Exception as e:  # noqa: BLE001 - PEFT's refusal is the adapter's problem
            raise _bad(f"Loading lora {name} failed: {type(e).__name__}: {e}") from None
        finally:
            self._loading.discard(name)
        old = self.adapters.get(name)
        self.adapters[name] = info
        if old is not None:        # load_inplace: the old weights go once no row uses them
            self.model.call(lambda: self.model.unload_adapter(old.key))
        log.info("Loaded new LoRA adapter: name '%s', path '%s' (%d bytes)", name, path, info.bytes)
        return web.Response(status=200, text=f"Success: LoRA adapter '{name}' added successfully.")

    async def unload_lora_adapter(self, request: web.Request) -> web.Response:
        try:
            body = await self._json_body(request)
            name = body.get("lora_name")
            if not name or not isinstance(name, str):
                raise APIError(HTTPStatus.BAD_REQUEST, "'lora_name' needs to be provided to unload a LoRA adapter.",
                               "InvalidUserInput")
            lock = self._name_locks.setdefault(name, asyncio.Lock())
            async with lock:
                info = self.adapters.pop(name, None)
                if info is None:
                    raise APIError(HTTPStatus.NOT_FOUND, f"The lora adapter '{name}' cannot be found.",
                                   "NotFoundError")
                await asyncio.wrap_future(self.model.call(lambda: self.model.unload_adapter(info.key)))
            log.info("Removed LoRA adapter: name '%s'", name)
            return web.Response(status=200, text=f"Success: LoRA adapter '{name}' removed successfully.")
        except APIError as e:
            return e.response()


# --------------------------------------------------------------------------------------------------
# running


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(cfg: EngineConfig, *, on_ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Load the model, bind, call `on_ready("http://HOST:PORT/v1")`, serve until `stop` is set (or
    SIGINT/SIGTERM when `stop` is None)."""
    engine = await asyncio.to_thread(LocalEngine, cfg)
    runner = web.AppRunner(engine.make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, cfg.host, cfg.port)
        try:
            await site.start()
        except OSError as e:
            raise EngineError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}") from None
        host, port = runner.addresses[0][:2]
        url = f"http://{_url_host(cfg.host if cfg.host not in ('', '0.0.0.0', '::') else host)}:{port}/v1"
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread / Windows
                    pass
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
    finally:
        await runner.cleanup()
        await asyncio.to_thread(engine.model.close)


def run(cfg: EngineConfig) -> int:
    """Blocking entry point of `harness serve --engine local`: prints the listening line on stdout."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        print(f"listening {url}", flush=True)

    asyncio.run(serve(cfg, on_ready=ready))
    return 0


__all__ = ["APIError", "EngineConfig", "EngineError", "LocalEngine", "LocalModel", "run", "serve"]
