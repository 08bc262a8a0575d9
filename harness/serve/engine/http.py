"""The local engine's HTTP server (aiohttp): the OpenAI chat route, models, health, stats and vLLM's
runtime LoRA routes, in front of a LocalModel; `serve` and `run` start it."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.serve.adapters import NAME_RE
from harness.serve.engine.config import APIError, EngineConfig, EngineError, bad
from harness.serve.engine.lora import AdapterInfo
from harness.serve.engine.model import LocalModel
from harness.serve.engine.request import GenRequest, parse_chat

log = logging.getLogger("harness.serve.engine")


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
        m = self.model
        if m.lean is not None:
            s["kv"] = {"budget_bytes": m.kv_budget, "slot_bytes": m.slots.nbytes(), "slots": m.slots.slots,
                       "slot_tokens": m.slots.length, "prefix_bytes": m.store.nbytes(),
                       "prefix_blocks": len(m.store.blocks), "prefix_evictions": m.store.evictions}
        return web.json_response(s)

    async def models(self, request: web.Request) -> web.Response:
        perm = {"object": "model_permission", "allow_create_engine": False, "allow_sampling": True,
                "allow_logprobs": False, "allow_search_indices": False, "allow_view": True,
                "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False}
        data = [{"id": self.base_id, "object": "model", "created": self.created, "owned_by": "harness",
                 "root": str(self.model.model_dir), "weights": self.model.weights, "parent": None,
                 "max_model_len": self.model.max_len,
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
            raise bad(f"the request body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise bad("the request body must be a JSON object")
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
                      "prompt_tokens_details": {"cached_tokens": req.cached}},
        }
        return web.json_response(out)

    def _parse_chat(self, body: dict[str, Any]) -> tuple[GenRequest, str]:
        return parse_chat(body, base_id=self.base_id, adapters=self.adapters, tokenizer=self.model.tokenizer,
                          max_len=self.model.max_len, cfg=self.cfg)

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
            raise bad(f"cannot load more than {limit} LoRA adapters (--max-loras); unload one first")
        problems = await asyncio.to_thread(check_adapter, path, max_lora_rank=self.cfg.max_lora_rank or 512,
                                           base_model=str(self.model.model_dir), check_base_name=False)
        if problems:
            raise bad(f"Loading lora {name} failed: " + " ".join(problems))
        self._key_seq += 1
        key = f"lora{self._key_seq}"
        self._loading.add(name)
        try:
            info = await asyncio.wrap_future(self.model.call(lambda: self.model.load_adapter(key, name, str(path))))
        except Exception as e:  # noqa: BLE001 - PEFT's refusal is the adapter's problem
            raise bad(f"Loading lora {name} failed: {type(e).__name__}: {e}") from None
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
    runner = web.AppRunner(engine.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
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
        # answer everything in flight 503 first, so the server's own shutdown has nothing to wait for
        await asyncio.to_thread(engine.model.close, 1.0)
        await runner.cleanup()


def run(cfg: EngineConfig) -> int:
    """Blocking entry point of `harness serve --engine local`: prints the listening line on stdout."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        print(f"listening {url}", flush=True)

    asyncio.run(serve(cfg, on_ready=ready))
    # every request is answered and the socket closed: skip the interpreter's teardown of torch and the
    # worker thread (seconds on a loaded machine), so SIGTERM ends the process within its 2 s
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
