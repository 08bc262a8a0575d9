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

From synchronous code or another process: `with spawn_server("--latency", "0.2") as url: ...`.

Endpoints: POST /v1/chat/completions, GET /v1/models, GET /stats, POST /reset_stats, POST /configure
(a JSON object of options; fault fractions, latency, retry_after, no_retry_after, no_n, strict_models,
echo_key).

`echo_key`: every JSON error answer (401, 429, 500, 502, 503) ends with the Authorization header the
request carried, as careless gateways do, so tests can check that a client never repeats it.

Faults: each chat request draws one number from a seeded RNG and meets at most one fault; the fractions
are cumulative in this order: fail_429, fail_503, fail_500, drop, hang, truncate, bad_json, html_error,
empty_choices, finish_length, fail_502, reset, bad_args (their sum must be <= 1; the later ones were
added last so that seeded fault sequences of the earlier ones did not change). 429 and 503 answer at once
(like a gateway's rate limiter, with `Retry-After: <retry_after>` unless no_retry_after); every other
answer comes after `latency` seconds. `drop` closes the connection without a response (a FIN), `reset`
aborts it with a TCP RST (SO_LINGER 0: the client reads "connection reset by peer"), `hang` never answers
(until the client goes away or the server stops), `truncate` promises more bytes than it sends,
`bad_json` sends a 200 with a body that is not JSON, `html_error` a 502 with an nginx HTML page,
`fail_502` a 502 with an OpenAI-style JSON error, `empty_choices` a 200 with `choices: []`,
`finish_length` each answer cut to half its length with `finish_reason: "length"`, and `bad_args` the
normal answer except that the `arguments` of each native tool call lose their last character (so they
are not JSON; answers without tool calls are unchanged).

Answers: `suite` + `answer` (reference, wrong, mix:P — the reference of the case whose non-system
messages and tools equal the request's (the tools as the case's protocol sends them, compared as
canonical JSON), else of the first case whose non-system messages alone equal them; in mix mode each
choice is the reference with probability P, decided by a hash of (server seed, the request's `seed`,
case id, choice index) so reruns agree, and k separate n=1 requests differ only when their `seed`s do);
`script` (JSONL rules {"contains": text of the last user message, "message": assistant message}; first
match wins); else a fixed text. Unknown prompts get the fixed text and count as
`unmatched` in /stats.

Usage: token counts are ~len(JSON)/4 of the request's messages and tools and of the answer. A
server-side prefix cache is emulated at block granularity (block 0 = system message + tools, then one
block per message): `prompt_tokens_details.cached_tokens` is the token count of the longest prefix
already seen by this server, so prefix-ordered dispatch is measurable.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import itertools
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

FIXED_TEXT = "I am a scripted server and I have no scripted answer for this prompt."
WRONG_TEXT = "Sure! I looked into it and everything seems fine. Let me know if there is anything else."
MODEL_DEFAULT = "scripted"

FAULTS = ("fail_429", "fail_503", "fail_500", "drop", "hang", "truncate", "bad_json", "html_error",
          "empty_choices", "finish_length", "fail_502", "reset", "bad_args")
OPTION_DEFAULTS: dict[str, Any] = {
    "latency": 0.0, "retry_after": 1.0, "no_retry_after": False, "no_n": False, "strict_models": False,
    "echo_key": False,
    **{f: 0.0 for f in FAULTS},
}

_HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
             b"</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n")
_JSON_CT = "application/json"


def canonical(obj: Any) -> str:
    """Canonical JSON text (sorted keys, compact separators)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def strip_system(messages: list[Any]) -> list[Any]:
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        return messages[1:]
    return messages


def messages_key(messages: list[Any]) -> str:
    """The lookup key of a conversation: canonical JSON of its messages after a leading system message."""
    return canonical(strip_system(messages))


def _request_tools(case: Any, protos: dict[str, Any]) -> str | None:
    """Canonical JSON of the `tools` the harness sends for `case` under its own protocol ("" for none),
    or None when the protocol cannot say."""
    try:
        spec = case.protocol
        k = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
        proto = protos.get(k)
        if proto is None:
            import protocols
            proto = protos[k] = protocols.from_spec(spec, source=case.source or "<suite>")
        tools = proto.request_tools(mode=case.mode, tools=case.tools)
        return canonical(tools) if tools else ""
    except Exception:  # noqa: BLE001 - then the case is matched on its messages alone
        return None


def _tokens(n_chars: int) -> int:
    return (n_chars + 3) // 4


def _error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
                code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class _Answer:
    """An assistant message ready to send, with its size precomputed."""

    __slots__ = ("message", "chars", "tool_calls")

    def __init__(self, message: dict[str, Any]) -> None:
        msg: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        tcs = message.get("tool_calls")
        if tcs:
            norm = []
            for i, tc in enumerate(tcs):
                fn = dict(tc.get("function") or {})
                args = fn.get("arguments", "{}")
                if not isinstance(args, str):
                    fn["arguments"] = json.dumps(args, ensure_ascii=False)
                norm.append({"id": tc.get("id") or f"call_{i}", "type": tc.get("type") or "function",
                             "function": fn})
            msg["tool_calls"] = norm
        for extra in ("reasoning_content", "refusal"):
            if message.get(extra) is not None:
                msg[extra] = message[extra]
        self.message = msg
        self.tool_calls = msg.get("tool_calls")
        content = msg["content"] if isinstance(msg["content"], str) else ""
        self.chars = len(content) + (len(json.dumps(self.tool_calls)) if self.tool_calls else 0)


def _cut(ans: _Answer, stop: list[str] | None, include_stop: bool, max_chars: int | None) -> tuple[dict[str, Any], int, str]:
    """Apply `stop` and `max_tokens` to an answer: (message, completion chars, finish_reason)."""
    msg = ans.message
    finish = "tool_calls" if ans.tool_calls else "stop"
    if not stop and max_chars is None:
        return msg, ans.chars, finish
    content = msg["content"] if isinstance(msg["content"], str) else None
    tool_calls = ans.tool_calls
    changed = False
    if content is not None and stop:
        best = -1
        best_s = ""
        for s in stop:
            if s:
                j = content.find(s)
                if j >= 0 and (best < 0 or j < best):
                    best, best_s = j, s
        if best >= 0:
            content = content[: best + (len(best_s) if include_stop else 0)]
            tool_calls = None  # the model stopped inside its text: nothing after it is generated
            finish = "stop"
            changed = True
    if max_chars is not None:
        budget = max_chars
        if content is not None and len(content) > budget:
            content = content[:budget]
            tool_calls = None
            finish = "length"
            changed = True
        elif content is not None:
            budget -= len(content)
        if tool_calls and finish != "length":
            kept = []
            for tc in tool_calls:
                fn = tc["function"]
                cost = len(fn.get("name", "")) + len(fn.get("arguments", ""))
                if cost <= budget:
                    kept.append(tc)
                    budget -= cost
                    continue
                cut_fn = {**fn, "arguments": fn.get("arguments", "")[: max(0, budget - len(fn.get("name", "")))]}
                kept.append({**tc, "function": cut_fn})
                finish = "length"
                break
            if finish == "length":
                tool_calls = kept
                changed = True
    if not changed:
        return msg, ans.chars, finish
    out: dict[str, Any] = {**msg, "content": content}
    if tool_calls:
        out["tool_calls"] = tool_calls
    else:
        out.pop("tool_calls", None)
    chars = len(content or "") + (len(json.dumps(tool_calls)) if tool_calls else 0)
    return out, chars, finish


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
                 script: str | os.PathLike[str] | None = None) -> None:
        self.host = host
        self.port = port
        self.models = list(models or [MODEL_DEFAULT])
        self.seed = seed
        self._rng = random.Random(seed)
        self._api_key = api_key
        self.options: dict[str, Any] = dict(OPTION_DEFAULTS)
        self.configure(latency=latency, fail_429=fail_429, retry_after=retry_after,
                       no_retry_after=no_retry_after, fail_500=fail_500, fail_503=fail_503, drop=drop,
                       hang=hang, truncate=truncate, bad_json=bad_json, html_error=html_error,
                       empty_choices=empty_choices, finish_length=finish_length, fail_502=fail_502,
                       reset=reset, bad_args=bad_args, no_n=no_n, echo_key=echo_key,
                       strict_models=strict_models)
        # answers
        self._fixed = _Answer({"role": "assistant", "content": FIXED_TEXT})
        self._wrong = _Answer({"role": "assistant", "content": WRONG_TEXT})
        self._by_key: dict[str, tuple[str, _Answer]] = {}     # messages -> the first such case
        self._by_exact: dict[str, tuple[str, _Answer]] = {}   # messages + "\0" + tools -> the case
        self._rules: list[tuple[str, _Answer]] = []
        self._mode = "fixed"
        self._mix_p = 0.0
        self.duplicate_prompts = 0
        if suite is not None and script is not None:
            raise ValueError("give either suite or script, not both")
        if suite is not None:
            self._load_suite(suite, answer)
        elif script is not None:
            self._load_script(script)
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
        acc = 0.0
        thresholds = []
        for f in FAULTS:
            if self.options[f] > 0:
                acc += self.options[f]
                thresholds.append((acc, f))
        self._thresholds = tuple(thresholds)
        self._latency = self.options["latency"]

    def _load_suite(self, suite: str, answer: str) -> None:
        from harness.suite.load import load_suite  # the suite loader of the harness itself

        if answer in ("reference", "wrong"):
            self._mode = answer
        elif answer.startswith("mix:"):
            self._mode = "mix"
            try:
                self._mix_p = float(answer[4:])
            except ValueError:
                raise ValueError(f"--answer {answer!r}: mix:P needs a probability, e.g. mix:0.7") from None
            if not 0.0 <= self._mix_p <= 1.0:
                raise ValueError(f"--answer {answer!r}: P must be within [0, 1]")
        else:
            raise ValueError(f"--answer {answer!r}: expected reference, wrong or mix:P")
        protos: dict[str, Any] = {}
        for case in load_suite(suite).cases:
            key = messages_key(case.messages)
            ref = case.reference or {"role": "assistant", "content": FIXED_TEXT}
            entry = (case.id, _Answer(ref))
            tools = _request_tools(case, protos)
            if tools is not None:
                exact = key + "\0" + tools
                if exact in self._by_exact:
                    self.duplicate_prompts += 1   # same messages and tools: indistinguishable
                else:
                    self._by_exact[exact] = entry
            self._by_key.setdefault(key, entry)

    def _load_script(self, path: str | os.PathLike[str]) -> None:
        self._mode = "script"
        for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rule = json.loads(line)
                contains = rule["contains"]
                message = rule["message"]
                if not isinstance(contains, str) or not isinstance(message, dict):
                    raise TypeError("contains must be a string and message an object")
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{i}: bad rule ({e}); expected "
                                 '{"contains": "...", "message": {"role": "assistant", ...}}') from None
            self._rules.append((contains, _Answer(message)))

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
                "max_in_flight": self._max_in_flight, "by_model": dict(self._models_requests)}

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset_stats", self._reset)
        app.router.add_post("/configure", self._configure)
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
            return web.Response(status=400, body=_error_body(str(e)), content_type=_JSON_CT)
        return web.json_response({k: self.options[k] for k in sorted(self.options)})

    async def _models(self, request: web.Request) -> web.Response:
        self._requests += 1
        self._by_status["200"] += 1
        created = int(time.time())
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "scripted"} for m in self.models]})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None,
               content_type: str = _JSON_CT) -> web.Response:
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
            return self._reply(401, _error_body("Incorrect API key provided." + echo, "invalid_request_error",
                                                None, "invalid_api_key"))
        fault = None
        if self._thresholds:
            u = self._rng.random()
            for acc, name in self._thresholds:
                if u < acc:
                    fault = name
                    break
        if fault is not None:
            self._faults[fault] += 1
            if fault == "fail_429" or fault == "fail_503":
                status = 429 if fault == "fail_429" else 503
                headers = None if self.options["no_retry_after"] else {"Retry-After": _fmt(self.options["retry_after"])}
                if status == 429:
                    body = _error_body("Rate limit reached for requests. Please try again later." + echo,
                                       "requests", None, "rate_limit_exceeded")
                else:
                    body = _error_body("The server is overloaded or not ready yet." + echo, "server_error", None,
                                       "overloaded")
                return self._reply(status, body, headers)
            if fault == "hang":
                assert self._stopping is not None
                await self._stopping.wait()  # until the server stops (or the client leaves: cancelled)
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=503)  # never written: the connection is gone
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if fault is not None:
            if fault == "fail_500":
                return self._reply(500, _error_body("The server had an error while processing your request." + echo,
                                                    "server_error"))
            if fault == "html_error":
                return self._reply(502, _HTML_502, content_type="text/html")
            if fault == "fail_502":
                return self._reply(502, _error_body("Bad gateway: the upstream model server closed the connection."
                                                    + echo,
                                                    "server_error", None, "bad_gateway"))
            if fault == "reset":
                _abort_with_rst(request)
                return web.Response(status=500)  # never written: the connection is gone
            if fault == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)  # never written: the connection is gone
            if fault == "bad_json":
                return self._reply(200, b'{"id": "chatcmpl-bad", "object": "chat.completion", "choices": [{"ind')
        try:
            req = json.loads(raw)
        except ValueError as e:
            return self._reply(400, _error_body(f"We could not parse the JSON body of your request. ({e})"))
        if not isinstance(req, dict):
            return self._reply(400, _error_body("The request body must be a JSON object."))
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._reply(400, _error_body("'messages' is a required property and must be a non-empty "
                                                "array", param="messages"))
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self._reply(400, _error_body("you must provide a model parameter", param="model"))
        if self.options["strict_models"] and model not in self.models:
            return self._reply(404, _error_body(f"The model `{model}` does not exist or you do not have access "
                                                f"to it.", "invalid_request_error", "model", "model_not_found"))
        n = req.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > 128:
            return self._reply(400, _error_body(f"{n!r} is not a valid value for 'n'", param="n"))
        if n > 1 and self.options["no_n"]:
            return self._reply(400, _error_body("n: only n=1 is supported by this endpoint.",
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
        prompt_tokens = 0
        cached = 0
        caching = True
        seen = self._seen_prefixes
        h = hash(block0)
        for i in range(len(rest) + 1):
            if i:
                h = hash((h, rest[i - 1]))
            t = _tokens(len(block0) if i == 0 else len(rest[i - 1]))
            prompt_tokens += t
            if caching and h in seen:
                cached += t
            else:
                caching = False
                seen.add(h)

        # answers
        mode = self._mode
        case_id = None
        base: _Answer | None = None
        if mode in ("reference", "wrong", "mix"):
            mkey = "[" + ",".join(rest) + "]"
            hit = self._by_exact.get(mkey + "\0" + tools_c)
            if hit is None:
                hit = self._by_key.get(mkey)
            if hit is None:
                self._unmatched += 1
                base = self._fixed
                mode = "fixed"
            else:
                case_id, base = hit
        elif mode == "script":
            text = ""
            for m in reversed(messages):
                if isinstance(m, dict) and m.get("role") == "user":
                    text = _text_of(m.get("content"))
                    break
            for contains, ans in self._rules:
                if contains in text:
                    base = ans
                    break
            else:
                self._unmatched += 1
                base = self._fixed
        else:
            base = self._fixed
        if fault == "empty_choices":
            n_choices = 0
        else:
            n_choices = n
        choices = []
        completion = 0
        for i in range(n_choices):
            ans = base
            if mode == "wrong":
                ans = self._wrong
            elif mode == "mix" and not _mix_pick(self.seed, req.get("seed"), case_id, i, self._mix_p):
                ans = self._wrong
            msg, chars, finish = _cut(ans, stop, include_stop, max_chars)  # type: ignore[arg-type]
            if fault == "finish_length":   # half of what the model generated: text, tool names, arguments
                msg, chars, finish = _cut(ans, None, False, max(1, _generated_chars(msg) // 2))
                finish = "length"
            elif fault == "bad_args" and msg.get("tool_calls"):
                msg = {**msg, "tool_calls": [{**tc, "function": {**tc["function"],
                                                                 "arguments": tc["function"]["arguments"][:-1]}}
                                             for tc in msg["tool_calls"]]}
            completion += _tokens(chars)
            choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": finish})
        self._prompt_tokens += prompt_tokens
        self._cached_tokens += cached
        self._completion_tokens += completion
        self._n_total += n_choices
        self._models_requests[model] += 1
        body = json.dumps({
            "id": f"chatcmpl-scripted-{next(self._ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "scripted",
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                      "total_tokens": prompt_tokens + completion,
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }).encode()
        if fault == "truncate":
            self._by_status["200"] += 1
            resp = web.StreamResponse(status=200, headers={"Content-Type": _JSON_CT})
            resp.content_length = len(body) + 64
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            if request.transport is not None:
                request.transport.close()
            return resp
        return self._reply(200, body)


def _generated_chars(msg: dict[str, Any]) -> int:
    """Characters a model generates for `msg`: its text plus each tool call's name and arguments."""
    content = msg.get("content")
    n = len(content) if isinstance(content, str) else 0
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        n += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    return n


def _abort_with_rst(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER on with a zero timeout, then close)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _mix_pick(seed: int | None, req_seed: Any, case_id: str | None, index: int, p: float) -> bool:
    """Deterministic: True (answer with the reference) with probability p per (server seed, request seed,
    case id, choice index) — reruns agree; a request with another `seed` samples anew."""
    key = f"{seed or 0}\x00{req_seed!r}\x00{case_id}\x00{index}"
    h = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64 < p


# -- command line -----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
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
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--models", default=MODEL_DEFAULT, help="comma-separated model names for /v1/models")
    p.add_argument("--strict-models", action="store_true", help="404 for a model not in --models")
    p.add_argument("--api-key", default=None, help="require this bearer key (401 otherwise)")
    p.add_argument("--echo-key", action="store_true",
                   help="end each JSON error message with the Authorization header the request carried")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--suite", default=None, help="a suite file or shipped suite name")
    src.add_argument("--script", default=None, help="JSONL rules {contains, message}")
    p.add_argument("--answer", default="reference", help="reference | wrong | mix:P (with --suite)")
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
    args = _parser().parse_args(argv)
    from harness.errors import UserError

    try:
        asyncio.run(_serve(args))
    except (ValueError, OSError, UserError) as e:
        print(f"scripted_server: {e}", file=sys.stderr)
        return 2
    return 0


@contextlib.contextmanager
def spawn_server(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `python -m harness.testing.scripted --port 0 ARGS...` as a subprocess; yield its base URL
    (…/v1); stop it with SIGTERM on exit (SIGKILL if it does not stop within 10 s)."""
    root = Path(__file__).resolve().parent.parent
    with spawn_process([sys.executable, "-m", "harness.testing.scripted", "--port", "0", *args], cwd=root,
                       env=env, timeout=timeout) as url:
        yield url


@contextlib.contextmanager
def spawn_process(cmd: list[str], *, cwd: Path, env: dict[str, str] | None, timeout: float) -> Iterator[str]:
    """Run a server command that prints `listening URL`; yield the URL; SIGTERM it on exit (SIGKILL
    after 10 s). Its stderr goes to a file, not a pipe: a chatty server can never block on it."""
    import tempfile

    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        yield _read_listening(proc, timeout, err)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        err.close()


def _read_listening(proc: subprocess.Popen[str], timeout: float, err: Any) -> str:
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise RuntimeError(f"scripted server did not print its listening line within {timeout} s")
            line = proc.stdout.readline()
            if not line:
                rc = proc.wait()
                err.seek(0)
                raise RuntimeError(f"scripted server exited ({rc}): {err.read().strip()[-2000:]}")
            if line.startswith("listening "):
                return line.split(None, 1)[1].strip()
    finally:
        sel.close()


if __name__ == "__main__":
    sys.exit(main())
