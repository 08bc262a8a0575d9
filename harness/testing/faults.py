"""Fault injection for the scripted server: which fault a request meets, and what each one does.

Each chat request draws one number from the server's seeded RNG and meets at most one fault; the
fractions are cumulative in the order of FAULTS (their sum must be <= 1; the later ones were added last
so that seeded fault sequences of the earlier ones did not change). 429 and 503 answer at once (like a
gateway's rate limiter, with `Retry-After: <retry_after>` unless no_retry_after); every other answer
comes after `latency` seconds. `drop` closes the connection without a response (a FIN), `reset` aborts
it with a TCP RST (SO_LINGER 0: the client reads "connection reset by peer"), `hang` never answers
(until the client goes away or the server stops), `truncate` promises more bytes than it sends,
`bad_json` sends a 200 with a body that is not JSON, `html_error` a 502 with an nginx HTML page,
`fail_502` a 502 with an OpenAI-style JSON error, `empty_choices` a 200 with `choices: []`,
`finish_length` each answer cut to half its length with `finish_reason: "length"`, and `bad_args` the
normal answer except that the `arguments` of each native tool call lose their last character (so they
are not JSON; answers without tool calls are unchanged).
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from harness.testing.answers import Answer, cut, generated_chars
from harness.testing.replies import JSON_CT, Reply, error_body

FAULTS = ("fail_429", "fail_503", "fail_500", "drop", "hang", "truncate", "bad_json", "html_error",
          "empty_choices", "finish_length", "fail_502", "reset", "bad_args")

_HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
             b"</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n")


def thresholds(options: Mapping[str, Any]) -> tuple[tuple[float, str], ...]:
    """The cumulative (upper bound, fault) pairs of the faults whose fraction is above 0."""
    acc = 0.0
    out = []
    for f in FAULTS:
        if options[f] > 0:
            acc += options[f]
            out.append((acc, f))
    return tuple(out)


def draw(rng: random.Random, bounds: tuple[tuple[float, str], ...]) -> str | None:
    """The fault one request meets (one draw from `rng` when any fault is on), or None."""
    if not bounds:
        return None
    u = rng.random()
    for acc, name in bounds:
        if u < acc:
            return name
    return None


async def before_latency(fault: str, request: web.Request, options: Mapping[str, Any], echo: str,
                         stopping: asyncio.Event) -> Reply | web.StreamResponse | None:
    """The faults answered before the latency: 429, 503 (at once) and hang (never)."""
    if fault in ("fail_429", "fail_503"):
        headers = None if options["no_retry_after"] else {"Retry-After": _fmt(options["retry_after"])}
        if fault == "fail_429":
            return Reply(429, error_body("Rate limit reached for requests. Please try again later." + echo,
                                         "requests", None, "rate_limit_exceeded"), headers)
        return Reply(503, error_body("The server is overloaded or not ready yet." + echo, "server_error", None,
                                     "overloaded"), headers)
    if fault == "hang":
        await stopping.wait()  # until the server stops (or the client leaves: cancelled)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)  # never written: the connection is gone
    return None


def after_latency(fault: str, request: web.Request, echo: str) -> Reply | web.StreamResponse | None:
    """The faults that replace the answer after the latency (None: the request is answered)."""
    if fault == "fail_500":
        return Reply(500, error_body("The server had an error while processing your request." + echo,
                                     "server_error"))
    if fault == "html_error":
        return Reply(502, _HTML_502, content_type="text/html")
    if fault == "fail_502":
        return Reply(502, error_body("Bad gateway: the upstream model server closed the connection." + echo,
                                     "server_error", None, "bad_gateway"))
    if fault == "reset":
        abort_with_rst(request)
        return web.Response(status=500)  # never written: the connection is gone
    if fault == "drop":
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never written: the connection is gone
    if fault == "bad_json":
        return Reply(200, b'{"id": "chatcmpl-bad", "object": "chat.completion", "choices": [{"ind')
    return None


def spoil_choice(fault: str | None, ans: Answer, msg: dict[str, Any], chars: int,
                 finish: str) -> tuple[dict[str, Any], int, str]:
    """finish_length and bad_args applied to one choice (message, completion chars, finish_reason)."""
    if fault == "finish_length":   # half of what the model generated: text, tool names, arguments
        msg, chars, finish = cut(ans, None, False, max(1, generated_chars(msg) // 2))
        return msg, chars, "length"
    if fault == "bad_args" and msg.get("tool_calls"):
        msg = {**msg, "tool_calls": [{**tc, "function": {**tc["function"],
                                                         "arguments": tc["function"]["arguments"][:-1]}}
                                     for tc in msg["tool_calls"]]}
    return msg, chars, finish


async def send_truncated(request: web.Request, body: bytes) -> web.StreamResponse:
    """A 200 that promises more bytes than it sends, then closes the connection."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": JSON_CT})
    resp.content_length = len(body) + 64
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return resp


def abort_with_rst(request: web.Request) -> None:
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
