"""A contract server that answers SGLang's LoRA and model routes the way SGLang's HTTP server does, so
the SGLang launcher and the adapter registry are tested against SGLang's API without a GPU.

Behaviour follows sglang/srt/entrypoints/http_server.py and docs/advanced_features/lora (the revision the
reference cites), independently of harness's code:

  * POST /load_lora_adapter {lora_name, lora_path, pinned?}: 200 {"success": true, "error_message": "",
    "loaded_adapters": {name: path}}; a loaded name or a path without adapter_config.json: 400
    {"success": false, "error_message": ...}; without --enable-lora: 400 (LoRA is not enabled);
  * POST /unload_lora_adapter {lora_name}: 200 {"success": true, ...}; unknown: 400 {"success": false};
  * GET /v1/models: the base card (id = --served-model-name or --model-path, owned_by "sglang") and one
    card per adapter (id = name, root = path, parent = the base id);
  * POST /v1/chat/completions: `model` is the base or `<base>:<adapter>` of a loaded adapter, else 400;
    the answer names the adapter (`answer from <adapter or base>`), usage has prompt_tokens_details
    only with --enable-cache-report;
  * GET /health: 200; GET /get_server_info: {"version": CONTRACT_VERSION, ...server args}.

For the tests it keeps every load/unload body: GET /contract/requests.

    python -m sglang.launch_server --model-path M [--host 127.0.0.1] [--port 30000] [--enable-lora] ...
(through tests/fakes/sglang_pkg on PYTHONPATH) prints `listening http://HOST:PORT/v1`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

CONTRACT_VERSION = "0.0.0+sglang-contract"


def _fail(msg: str, status: int = 400) -> web.Response:
    return web.json_response({"success": False, "error_message": msg}, status=status)


class SGLangContract:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.base = args.served_model_name or args.model_path
        self.loras: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", lambda r: web.Response(status=200))
        app.router.add_get("/get_server_info", self.info)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/load_lora_adapter", self.load)
        app.router.add_post("/unload_lora_adapter", self.unload)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/contract/requests", lambda r: web.json_response(self.requests))
        return app

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"version": CONTRACT_VERSION, "model_path": self.args.model_path,
                                  "enable_lora": self.args.enable_lora})

    async def models(self, request: web.Request) -> web.Response:
        cards = [{"id": self.base, "object": "model", "owned_by": "sglang", "root": self.base, "parent": None,
                  "max_model_len": 4096}]
        cards += [{"id": n, "object": "model", "owned_by": "sglang", "root": p, "parent": self.base,
                   "max_model_len": None} for n, p in self.loras.items()]
        return web.json_response({"object": "list", "data": cards})

    async def load(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"route": "load", **body})
        if not self.args.enable_lora:
            return _fail("LoRA is not enabled. Please set `--enable-lora` to True.")
        name, path = body.get("lora_name"), body.get("lora_path")
        if name in self.loras:
            return _fail(f"The LoRA adapter with the name '{name}' already exists.")
        if not path or not (Path(path) / "adapter_config.json").is_file():
            return _fail(f"Failed to load LoRA adapter {name} from {path}: no adapter_config.json")
        self.loras[name] = path
        return web.json_response({"success": True, "error_message": "", "loaded_adapters": dict(self.loras)})

    async def unload(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"route": "unload", **body})
        name = body.get("lora_name")
        if name not in self.loras:
            return _fail(f"LoRA adapter {name} is not loaded.")
        del self.loras[name]
        return web.json_response({"success": True, "error_message": "", "loaded_adapters": dict(self.loras)})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        model = str(body.get("model"))
        base, _, adapter = model.partition(":")
        if base != self.base or (adapter and adapter not in self.loras):
            return web.json_response({"object": "error", "message": f"model {model!r} is not served", "code": 400},
                                     status=400)
        usage: dict[str, Any] = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
        if self.args.enable_cache_report:
            usage["prompt_tokens_details"] = {"cached_tokens": 0}
        return web.json_response({"id": "1", "object": "chat.completion", "model": model, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": f"answer from {adapter or base}"},
             "finish_reason": "stop"}], "usage": usage})


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="sglang.launch_server")
    ap.add_argument("--model-path", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=30000)
    ap.add_argument("--served-model-name")
    ap.add_argument("--enable-lora", action="store_true")
    ap.add_argument("--enable-cache-report", action="store_true")
    ap.add_argument("--tool-call-parser")
    ap.add_argument("--max-loras-per-batch", type=int, default=8)
    ap.add_argument("--max-loaded-loras", type=int)
    ap.add_argument("--max-lora-rank", type=int)
    ap.add_argument("--lora-target-modules", nargs="+")
    args, _unknown = ap.parse_known_args(argv)
    if args.max_loaded_loras is not None and args.max_loaded_loras < args.max_loras_per_batch:
        ap.error("--max-loaded-loras must be >= --max-loras-per-batch")
    return args


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(SGLangContract(args).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening http://{args.host}:{args.port}/v1", flush=True)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse(sys.argv[1:] if argv is None else argv)))
    return 0
