"""A contract server that answers vLLM's runtime-LoRA and model routes the way vLLM's OpenAI server does.

It stands in for `vllm serve` where no GPU is available, so the adapter registry and the vLLM launcher are
tested against vLLM's API contract rather than against our own engine. Behaviour follows
vllm/entrypoints/openai/models/serving.py and vllm/entrypoints/serve/lora/api_router.py (the revision the
reference cites, 4fe4500 / 27873ca), independently of harness's code:

  * the load/unload routes exist only when VLLM_ALLOW_RUNTIME_LORA_UPDATING is "1" or "true" (any
    case); otherwise they are FastAPI's 404 `{"detail": "Not Found"}`;
  * POST /v1/load_lora_adapter {lora_name, lora_path, load_inplace?}:
      - a missing/empty name or path: 400 InvalidUserInput "Both 'lora_name' and 'lora_path' must be
        provided."
      - a loaded name without load_inplace: 400 InvalidUserInput "The lora adapter '<name>' has already
        been loaded. If you want to load the adapter in place, set 'load_inplace' to True."
      - the engine's load: no adapter_config.json at the path (FileNotFoundError) -> 404 NotFoundError
        "Loading lora <name> failed: No adapter found for <path>"; any other failure -> 400
        BadRequestError with the exception text: unreadable config, "Missing required configuration
        fields: {...}", PEFTHelper.validate_legal ("vLLM only supports modules_to_save being None.",
        "vLLM does not yet support DoRA.", "LoRA rank R is greater than max_lora_rank M."), no weights
        ("<dir> doesn't contain tensors"), tensors for modules outside the model's LoRA-capable ones
        ("While loading <dir>, expected target modules in [...] but received [...]. ...");
      - success: 200, plain-text body "Success: LoRA adapter '<name>' added successfully."
  * POST /v1/unload_lora_adapter {lora_name}: missing name 400 InvalidUserInput "'lora_name' needs to be
    provided to unload a LoRA adapter."; unknown 404 NotFoundError "The lora adapter '<name>' cannot be
    found."; success 200 "Success: LoRA adapter '<name>' removed successfully."
  * GET /v1/models: the base card (id = --served-model-name or the model argument, root = the model
    argument, max_model_len) and one card per adapter (id = name, root = path, parent = the base id).
  * POST /v1/chat/completions: `model` must be served, else 404 NotFoundError "The model `<m>` does not
    exist." (param "model"); the answer is `answer from <model>`.
  * GET /health: 200, empty body. GET /version: {"version": CONTRACT_VERSION}.
Errors are vLLM's ErrorResponse: {"error": {"message", "type", "param", "code"}}.

For the tests it also keeps every load/unload body it received: GET /contract/requests.

Command line — the same arguments as `vllm serve`, so it can be put on PATH as a fake `vllm`:

    python -m tests.fakes.vllm_contract_server serve MODEL [--host 127.0.0.1] [--port 0] [--enable-lora]
        [--max-lora-rank 16] [--max-loras 1] [--served-model-name NAME] [other vllm flags are ignored]

prints `listening http://HOST:PORT/v1` and serves until SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

CONTRACT_VERSION = "0.0.0+contract"
LLAMA_LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def runtime_lora_enabled(env: dict[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "").lower() in ("1", "true")


def _error(message: str, err_type: str, status: int, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": err_type, "param": param, "code": status}},
                             status=status)


class LoadFailure(Exception):
    def __init__(self, message: str, not_found: bool = False):
        super().__init__(message)
        self.not_found = not_found


def engine_add_lora(name: str, path: str, max_lora_rank: int) -> None:
    """What vLLM's worker does with a LoRARequest (PEFTHelper + LoRAModel.from_local_checkpoint), enough to
    reproduce its errors."""
    d = Path(os.path.expanduser(path))
    try:
        cfg = json.loads((d / "adapter_config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadFailure(f"Loading lora {name} failed: No adapter found for {path}", not_found=True) from None
    except (OSError, ValueError) as e:
        raise LoadFailure(str(e)) from None
    missing = {"r", "lora_alpha", "target_modules"} - set(cfg)
    if missing:
        raise LoadFailure(f"Missing required configuration fields: {missing}")
    msgs = []
    if cfg.get("modules_to_save"):
        msgs.append("vLLM only supports modules_to_save being None.")
    if cfg.get("use_dora"):
        msgs.append("vLLM does not yet support DoRA.")
    if cfg["r"] > max_lora_rank:
        msgs.append(f"LoRA rank {cfg['r']} is greater than max_lora_rank {max_lora_rank}.")
    if msgs:
        raise LoadFailure(" ".join(msgs))
    weights = d / "adapter_model.safetensors"
    if not weights.is_file() and not (d / "adapter_model.bin").is_file():
        raise LoadFailure(f"{d} doesn't contain tensors")
    if weights.is_file():
        raw = weights.read_bytes()
        try:
            n = int.from_bytes(raw[:8], "little")
            header = json.loads(raw[8:8 + n])
        except ValueError as e:
            raise LoadFailure(f"Error while deserializing header: {e}") from None
        unexpected = sorted({k.split(".lora_")[0].rsplit(".", 1)[-1] for k in header if k != "__metadata__"}
                            - set(LLAMA_LORA_MODULES))
        if unexpected:
            raise LoadFailure(f"While loading {d}, expected target modules in {LLAMA_LORA_MODULES} but received "
                              f"{unexpected}. Please verify that the loaded LoRA module is correct")


class ContractServer:
    """In-process use: `async with ContractServer(model="base") as srv: srv.url`."""

    def __init__(self, model: str = "base-model", served_model_name: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, max_lora_rank: int = 16, max_model_len: int = 4096, runtime_lora: bool | None = None):
        self.model, self.base_id = model, served_model_name or model
        self.host, self.port, self.max_lora_rank, self.max_model_len = host, port, max_lora_rank, max_model_len
        self.runtime_lora = runtime_lora_enabled() if runtime_lora is None else runtime_lora
        self.loras: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/version", self.version)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/contract/requests", self.log)
        if self.runtime_lora:
            app.router.add_post("/v1/load_lora_adapter", self.load)
            app.router.add_post("/v1/unload_lora_adapter", self.unload)
        else:
            for route in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
                app.router.add_post(route, self.not_found)
        return app

    async def __aenter__(self) -> ContractServer:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{self.host}:{port}/v1"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def not_found(self, request: web.Request) -> web.Response:
        return web.json_response({"detail": "Not Found"}, status=404)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": CONTRACT_VERSION})     # vLLM's GET /version shape

    async def log(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    def _card(self, id_: str, root: str, parent: str | None, max_len: int | None) -> dict[str, Any]:
        now = int(time.time())
        return {"id": id_, "object": "model", "created": now, "owned_by": "vllm", "root": root, "parent": parent,
                "max_model_len": max_len,
                "permission": [{"id": f"modelperm-{id_}", "object": "model_permission", "created": now,
                                "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                                "organization": "*", "group": None, "is_blocking": False}]}

    async def models(self, request: web.Request) -> web.Response:
        data = [self._card(self.base_id, self.model, None, self.max_model_len)]
        data += [self._card(name, lora["path"], self.base_id, None) for name, lora in self.loras.items()]
        return web.json_response({"object": "list", "data": data})

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError as e:
            return _error(f"JSON decode error: {e}", "BadRequestError", 400)
        if not isinstance(body, dict):
            return _error("Input should be a valid dictionary", "BadRequestError", 400)
        return body

    async def load(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append({"route": "load", **body})
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return _error("Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400)
        async with self._locks.setdefault(name, asyncio.Lock()):
            if not body.get("load_inplace") and name in self.loras:
                return _error(f"The lora adapter '{name}' has already been loaded. If you want to load the adapter "
                              "in place, set 'load_inplace' to True.", "InvalidUserInput", 400)
            try:
                engine_add_lora(name, path, self.max_lora_rank)
            except LoadFailure as e:
                if e.not_found:
                    return _error(str(e), "NotFoundError", 404)
                return _error(str(e), "BadRequestError", 400)
            self.loras[name] = {"path": path}
            return web.Response(status=200, text=f"Success: LoRA adapter '{name}' added successfully.")

    async def unload(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append({"route": "unload", **body})
        name = body.get("lora_name")
        if not name:
            return _error("'lora_name' needs to be provided to unload a LoRA adapter.", "InvalidUserInput", 400)
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name not in self.loras:
                return _error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
            del self.loras[name]
            return web.Response(status=200, text=f"Success: LoRA adapter '{name}' removed successfully.")

    async def chat(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        model = body.get("model")
        if model and model != self.base_id and model not in self.loras:
            return _error(f"The model `{model}` does not exist.", "NotFoundError", 404, "model")
        model = model or self.base_id
        text = f"answer from {model}"
        n = int(body.get("n") or 1)
        prompt = sum(len(str(m.get("content") or "")) // 4 + 1 for m in body.get("messages") or [])
        return web.json_response({
            "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": text, "tool_calls": []},
                         "logprobs": None, "finish_reason": "stop", "stop_reason": None} for i in range(n)],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 3 * n, "total_tokens": prompt + 3 * n,
                      "prompt_tokens_details": None}})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vllm", description="vLLM API contract server (tests)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("model")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--enable-lora", action="store_true")
    s.add_argument("--max-lora-rank", type=int, default=16)
    s.add_argument("--max-loras", type=int, default=1)
    s.add_argument("--served-model-name")
    s.add_argument("--max-model-len", type=int, default=4096)
    args, _unknown = ap.parse_known_args(argv)

    async def run() -> None:
        srv = ContractServer(model=args.model, served_model_name=args.served_model_name, host=args.host,
                             port=args.port, max_lora_rank=args.max_lora_rank, max_model_len=args.max_model_len,
                             runtime_lora=runtime_lora_enabled() and args.enable_lora)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with srv:
            print(f"listening {srv.url}", flush=True)
            await stop.wait()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
