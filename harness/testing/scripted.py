"""A scripted OpenAI-compatible HTTP server for tests and benchmarks (a real peer, not a mocked client).

Command line (prints exactly one line, `listening http://HOST:PORT/v1`, then serves until SIGTERM/SIGINT):

    python -m harness.testing.scripted [--host 127.0.0.1] [--port 0] [--latency 0.2] [--fail-429 0.1]
        [--retry-after 1] [--no-retry-after] [--fail-500 0.05] [--fail-503 P] [--drop 0.02] [--hang 0.01]
        [--truncate P] [--bad-json P] [--html-error P] [--empty-choices P] [--finish-length P] [--fail-502 P]
        [--reset P] [--bad-args P] [--no-n]
        [--seed N] [--models a,b] [--strict-models] [--api-key KEY] [--echo-key]
        [--suite PATH_OR_NAME --answer reference|wrong|mix:P | --script RULES.jsonl]

In process (the server runs on the current event loop):

    async with ScriptedServer(latency=0.0, fail_429=0.1, suite="roo-starter", answer="reference") as srv:
        srv.url            # "http://127.0.0.1:PORT/v1"
        srv.stats()        # the same counters as GET /stats
        srv.configure(fail_429=0.0)   # change fault options while serving (also POST /configure)

From synchronous code or another process: `with spawn_server("--latency", "0.2") as url: ...`
(harness/testing/spawn.py).

Streaming (harness/testing/stream.py): a request with `stream: true` is answered as OpenAI streams it
(SSE chunks, the usage chunk with `stream_options.include_usage`, `data: [DONE]`); `latency` is the time
to the first token and `token_delay` (--token-delay) the wait between later pieces.

Endpoints: POST /v1/chat/completions, GET /v1/models, GET /stats, POST /reset_stats, POST /configure
(a JSON object of options; fault fractions, latency, retry_after, no_retry_after, no_n, strict_models,
echo_key).
The OpenAI Files + Batches routes (/v1/files, /v1/batches) answer batch lines with the same answers
(harness/testing/batches.py; --batch-time-scale, --batch-expire-after, --batch-fail-lines).
`--mimic llama.cpp|ollama` answers in those servers' shapes (harness/testing/mimic.py).

`echo_key`: every JSON error answer (401, 429, 500, 502, 503) ends with the Authorization header the
request carried, as careless gateways do, so tests can check that a client never repeats it.

Faults (harness/testing/faults.py): each chat request meets at most one, drawn from a seeded RNG; the
fractions are cumulative in the order of FAULTS.

Answers (harness/testing/answers.py): `suite` + `answer` (reference, wrong, mix:P — the reference of
the case whose non-system messages and tools equal the request's (the tools as the case's protocol sends
them, compared as canonical JSON), else of the first case whose non-system messages alone equal them; in
mix mode each
choice is the reference with probability P, decided by a hash of (server seed, the request's `seed`,
case id, choice index) so reruns agree, and k separate n=1 requests differ only when their `seed`s do);
`script` (JSONL rules {"contains": text of the last user message, "message": assistant message}; first
match wins); else a fixed text. Unknown prompts get the fixed text and count as
`unmatched` in /stats.

Usage (harness/testing/usage.py): token counts are ~len(JSON)/4 of the request's messages and tools
and of the answer; an emulated prefix cache fills `prompt_tokens_details.cached_tokens`.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import random
import signal
import sys
import time
from typing import Any

from aiohttp import web

from harness.testing import faults
from harness.testing.answers import AnswerBook, canonical, cut
from harness.testing.faults import FAULTS
from harness.testing.mimic import MIMICS, mimic_for
from harness.testing.replies import JSON_CT, Reply, error_body
from harness.testing.stream import send_stream
from harness.testing.usage import prompt_usage, tokens

MODEL_DEFAULT = "scripted"
OPTION_DEFAULTS: dict[str, Any] = {
    "latency": 0.0, "retry_after": 1.0, "no_retry_after": False, "no_n": False, "strict_models": False,
    "echo_key": False, "token_delay": 0.0,
    **{f: 0.0 for f in FAULTS},
}


class ScriptedServer:
    """See the module docstring. Options are keyword arguments named as on the command line."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 fail_429: float = 0.0, retry_after: float = 1.0, no_retry_after: bool = False,
                 fail_500: float = 0.0, fail_503: float = 0.0, drop: float = 0.0, hang: float = 0.0,
                 truncate: float = 0.0, bad_json: float = 0.0, html_error: float = 0.0,
                 empty_choices: float = 0.0, finish_length: float = 0.0, fail_502: float = 0.0,
                 reset: float = 0.0, bad_args: float = 0.0, no_n: bool = False, echo_key: bool = False,
                 seed: int | None = None, models: list[str] | None = None, strict_models: bool = False,
                 api_key: str | None = None, suite: str | None = None, answer: str = "reference",
                 script: str | os.PathLike[str] | None = None, batch_time_scale: float = 0.01,
                 batch_expire_after: int | None = None, batch_fail_lines: float = 0.0,
                 token_delay: float = 0.0, model_root: str | None = None,
                 owned_by: str = "scripted", mimic: str | None = None) -> None:
        self.host = host
        self.port = port
        self.models = list(models or [MODEL_DEFAULT])
        self.model_root = model_root    # /v1/models' `root` (vLLM: the weights behind the name)
        self.owned_by = owned_by        # /v1/models' `owned_by` (e.g. vllm, to be taken for one)
        self.mimic = mimic_for(mimic)   # llama.cpp / ollama shapes (harness/testing/mimic.py)
        self.seed = seed
        self._rng = random.Random(seed)
        self._api_key = api_key
        self.options: dict[str, Any] = dict(OPTION_DEFAULTS)
        self.configure(latency=latency, fail_429=fail_429, retry_after=retry_after,
                       no_retry_after=no_retry_after, fail_500=fail_500, fail_503=fail_503, drop=drop,
                       hang=hang, truncate=truncate, bad_json=bad_json, html_error=html_error,
                       empty_choices=empty_choices, finish_length=finish_length, fail_502=fail_502,
                       reset=reset, bad_args=bad_args, no_n=no_n, echo_key=echo_key,
                       strict_models=strict_models, token_delay=token_delay)
        self.answers = AnswerBook(suite=suite, answer=answer, script=script)
        self.duplicate_prompts = self.answers.duplicate_prompts   # suite cases with the same prompt and tools
        from harness.testing.batches import BatchEndpoint   # the Files + Batches routes
        self.batch = BatchEndpoint(self.complete, time_scale=batch_time_scale, expire_after=batch_expire_after,
                                   fail_lines=batch_fail_lines, api_key=api_key)
        # state
        self._ids = itertools.count(1)
        self._seen_prefixes: set[int] = set()
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.auth_seen: collections.Counter[str] = collections.Counter()  # in-process only, never in /stats
        self._arrival_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.reset_stats()

    # -- configuration -----------------------------------------------------------------------------

    def configure(self, **opts: Any) -> None:
        """Change options while serving (fault fractions, latency, retry_after, no_retry_after, no_n, ...)."""
        for k, v in opts.items():
            if k not in OPTION_DEFAULTS:
                raise ValueError(f"unknown option {k!r}; known: {', '.join(sorted(OPTION_DEFAULTS))}")
            if isinstance(OPTION_DEFAULTS[k], bool):
                v = bool(v)
            else:
                v = float(v)
                if v < 0 or (k in FAULTS and v > 1):
                    raise ValueError(f"{k}={v} is out of range")
            self.options[k] = v
        total = sum(self.options[f] for f in FAULTS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault fractions add up to {total:.3f} > 1")
        self._thresholds = faults.thresholds(self.options)
        self._latency = self.options["latency"]

    # -- stats -------------------------------------------------------------------------------------

    def reset_stats(self) -> None:
        self._requests = 0
        self._chat_requests = 0
        self._by_status: collections.Counter[str] = collections.Counter()
        self._faults: collections.Counter[str] = collections.Counter()
        self._prompt_tokens = 0
        self._cached_tokens = 0
        self._completion_tokens = 0
        self._n_total = 0
        self._unmatched = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._models_requests: collections.Counter[str] = collections.Counter()

    def stats(self) -> dict[str, Any]:
        return {"requests": self._requests, "chat_requests": self._chat_requests,
                "by_status": dict(self._by_status), "faults": dict(self._faults),
                "prompt_tokens": self._prompt_tokens, "cached_tokens": self._cached_tokens,
                "completion_tokens": self._completion_tokens, "n_total": self._n_total,
                "unmatched": self._unmatched, "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight, "by_model": dict(self._models_requests),
                **self.batch.stats()}

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset_stats", self._reset)
        app.router.add_post("/configure", self._configure)
        self.batch.add_routes(app)
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/v1"
        return self.url

    async def close(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        await self.batch.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- handlers ----------------------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        self._seen_prefixes.clear()
        return web.json_response({"ok": True})

    async def _configure(self, request: web.Request) -> web.Response:
        try:
            opts = json.loads(await request.read())
            if not isinstance(opts, dict):
                raise ValueError("expected a JSON object")
            self.configure(**opts)
        except (ValueError, TypeError) as e:
            return web.Response(status=400, body=error_body(str(e)), content_type=JSON_CT)
        return web.json_response({k: self.options[k] for k in sorted(self.options)})

    async def _models(self, request: web.Request) -> web.Response:
        self._requests += 1
        self._by_status["200"] += 1
        created = int(time.time())
        if self.mimic is not None:
            return web.json_response({"object": "list", "data": [self.mimic.model_card(m, created)
                                                                 for m in self.models]})
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": created, "owned_by": self.owned_by,
             **({"root": self.model_root} if self.model_root else {})} for m in self.models]})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None,
               content_type: str = JSON_CT) -> web.Response:
        self._by_status[str(status)] += 1
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    async def wait_requests(self, n: int) -> None:
        """Return once this server has received `n` chat requests since the last reset (in process)."""
        if self._chat_requests >= n:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrival_waiters.append((n, fut))
        await fut

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self._requests += 1
        self._chat_requests += 1
        if self._arrival_waiters:
            keep = []
            for n, fut in self._arrival_waiters:
                if self._chat_requests >= n:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    keep.append((n, fut))
            self._arrival_waiters = keep
        self._in_flight += 1
        if self._in_flight > self._max_in_flight:
            self._max_in_flight = self._in_flight
        try:
            return await self._chat_inner(request)
        finally:
            self._in_flight -= 1

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        auth = request.headers.get("Authorization")
        if auth is not None:
            self.auth_seen[auth] += 1
        echo = f" (you sent: {auth})" if auth and self.options["echo_key"] else ""
        if self._api_key is not None and auth != f"Bearer {self._api_key}":
            return self._reply(401, error_body("Incorrect API key provided." + echo, "invalid_request_error",
                                               None, "invalid_api_key"))
        fault = faults.draw(self._rng, self._thresholds)
        if fault is not None:
            self._faults[fault] += 1
            assert self._stopping is not None
            early = await faults.before_latency(fault, request, self.options, echo, self._stopping)
            if early is not None:
                return self._send(early)
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if fault is not None:
            late = faults.after_latency(fault, request, echo)
            if late is not None:
                return self._send(late)
        try:
            req = json.loads(raw)
        except ValueError as e:
            return self._reply(400, error_body(f"We could not parse the JSON body of your request. ({e})"))
        status, body = self.complete(req, fault)
        if status != 200:
            return self._reply(status, body)
        if req.get("stream") is True:    # harness/testing/stream.py: SSE, `latency` to the first token
            self._by_status["200"] += 1
            opts = req.get("stream_options")
            return await send_stream(request, json.loads(body), token_delay=self.options["token_delay"],
                                     include_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
                                     truncate=fault == "truncate")
        if fault == "truncate":
            self._by_status["200"] += 1
            return await faults.send_truncated(request, body)
        return self._reply(200, body)

    def complete(self, req: Any, fault: str | None = None) -> tuple[int, bytes]:
        """(HTTP status, JSON body) of one chat request already parsed: the answer book's choice, usage with
        the emulated prefix cache, and stats; shared by /v1/chat/completions and the Batches endpoint."""
        if not isinstance(req, dict):
            return (400, error_body("The request body must be a JSON object."))
        if self.mimic is not None:
            req, refusal = self.mimic.before(req)
            if refusal is not None:
                return refusal
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return (400, error_body("'messages' is a required property and must be a non-empty "
                                    "array", param="messages"))
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return (400, error_body("you must provide a model parameter", param="model"))
        if self.options["strict_models"] and model not in self.models:
            return (404, error_body(f"The model `{model}` does not exist or you do not have access "
                                    f"to it.", "invalid_request_error", "model", "model_not_found"))
        n = req.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > 128:
            return (400, error_body(f"{n!r} is not a valid value for 'n'", param="n"))
        if n > 1 and self.options["no_n"]:
            return (400, error_body("n: only n=1 is supported by this endpoint.",
                                    "invalid_request_error", "n", "unsupported_value"))
        stop = req.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        elif not isinstance(stop, list):
            stop = None
        max_tokens = req.get("max_completion_tokens", req.get("max_tokens"))
        max_chars = max_tokens * 4 if isinstance(max_tokens, int) and max_tokens > 0 else None
        include_stop = bool(req.get("include_stop_str_in_output"))

        # usage: prompt blocks (system + tools, then each message) and the emulated prefix cache
        has_system = isinstance(messages[0], dict) and messages[0].get("role") == "system"
        tools = req.get("tools")
        tools_c = canonical(tools) if tools else ""
        block0 = (canonical(messages[0]) if has_system else "") + tools_c
        rest = [canonical(m) for m in (messages[1:] if has_system else messages)]
        prompt_tokens, cached = prompt_usage(block0, rest, self._seen_prefixes)

        mode, case_id, base, matched = self.answers.lookup(messages, rest, tools_c)
        if not matched:
            self._unmatched += 1
        n_choices = 0 if fault == "empty_choices" else n
        choices = []
        completion = 0
        for i in range(n_choices):
            ans = self.answers.choice(mode, base, case_id, i, self.seed, req.get("seed"))
            msg, chars, finish = cut(ans, stop, include_stop, max_chars)
            msg, chars, finish = faults.spoil_choice(fault, ans, msg, chars, finish)
            completion += tokens(chars)
            choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": finish})
        self._prompt_tokens += prompt_tokens
        self._cached_tokens += cached
        self._completion_tokens += completion
        self._n_total += n_choices
        self._models_requests[model] += 1
        obj = {
            "id": f"chatcmpl-scripted-{next(self._ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "scripted",
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                      "total_tokens": prompt_tokens + completion,
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }
        if self.mimic is not None:
            obj = self.mimic.after(obj, cached=cached, elapsed_ms=1000.0 * self._latency or 1.0)
        return 200, json.dumps(obj).encode()

    def _send(self, reply: Reply | web.StreamResponse) -> web.StreamResponse:
        """A Reply is counted and written; a bare response (the connection is gone) is returned as it is."""
        if isinstance(reply, Reply):
            return self._reply(reply.status, reply.body, reply.headers, reply.content_type)
        return reply


# -- command line -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.testing.scripted",
                                description="A scripted OpenAI-compatible server for tests and benchmarks.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    for f in FAULTS:
        p.add_argument("--" + f.replace("_", "-"), dest=f, type=float, default=0.0, metavar="FRACTION")
    p.add_argument("--retry-after", type=float, default=1.0, help="the Retry-After of 429/503 (seconds)")
    p.add_argument("--no-retry-after", action="store_true")
    p.add_argument("--no-n", action="store_true", help="reject n>1 with a 400 error")
    p.add_argument("--mimic", choices=MIMICS, default=None,
                   help="answer in llama.cpp's or Ollama's shapes (n, usage, timings, errors: harness/testing/mimic.py)")
    p.add_argument("--token-delay", type=float, default=0.0, metavar="S",
                   help="stream: true answers: seconds between streamed pieces (--latency is the first token's)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--models", default=MODEL_DEFAULT, help="comma-separated model names for /v1/models")
    p.add_argument("--model-root", dest="model_root", default=None,
                   help="the `root` of each model in /v1/models (as vLLM reports the served weights)")
    p.add_argument("--owned-by", dest="owned_by", default="scripted", help="the `owned_by` of /v1/models")
    p.add_argument("--strict-models", action="store_true", help="404 for a model not in --models")
    p.add_argument("--api-key", default=None, help="require this bearer key (401 otherwise)")
    p.add_argument("--echo-key", action="store_true",
                   help="end each JSON error message with the Authorization header the request carried")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--suite", default=None, help="a suite file or shipped suite name")
    src.add_argument("--script", default=None, help="JSONL rules {contains, message}")
    p.add_argument("--answer", default="reference", help="reference | wrong | mix:P (with --suite)")
    p.add_argument("--batch-time-scale", type=float, default=0.01, metavar="S",
                   help="seconds per Batches state transition (and per --batch-lines-per-step lines)")
    p.add_argument("--batch-expire-after", type=int, default=None, metavar="N",
                   help="a batch expires after answering N lines (partial output, the rest batch_expired)")
    p.add_argument("--batch-fail-lines", type=float, default=0.0, metavar="FRACTION",
                   help="this fraction of batch lines fails with a 500 in the error file")
    return p


async def _serve(args: argparse.Namespace) -> None:
    opts = {k: v for k, v in vars(args).items() if k != "models"}
    await serve_until_signal(ScriptedServer(models=[m for m in args.models.split(",") if m], **opts))


async def serve_until_signal(srv: "ScriptedServer") -> None:
    """Start `srv`, print its `listening URL` line, serve until SIGTERM or SIGINT, then close it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await srv.start()
    sys.stdout.write(f"listening {srv.url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await srv.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from harness.errors import UserError

    try:
        asyncio.run(_serve(args))
    except (ValueError, OSError, UserError) as e:
        print(f"scripted_server: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
