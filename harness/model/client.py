"""The endpoint client: async transport to OpenAI-compatible endpoints (DESIGN.md "Runs").

    async with ChatClient(["http://127.0.0.1:8000/v1"], api_key=os.environ.get("OPENAI_API_KEY"),
                          concurrency=64, timeout=60) as client:
        reply = await client.chat({"model": "m", "messages": [...]})   # or pre-serialised JSON bytes
        if reply.status == "ok": reply.body["choices"] ...
        else: reply.error            # "HTTP 500 after 5 attempts: <the server's message>"

`chat` never raises for anything the endpoint or the network does: every outcome is a `Reply`, either
"ok" (a parsed 2xx JSON body) or "error" (the reason after retries). It raises only for a body that is
not JSON-serialisable (a caller bug) and when the task is cancelled. A `text/event-stream` answer (a body
with `stream: true`) is read by harness.model.stream: `Reply.body` is the assembled chat.completion,
`Reply.stream` its TTFT/ITL; an error event or a stream cut before `[DONE]` is retried as a failure.

Transport: one aiohttp ClientSession (one keep-alive pool of `concurrency * len(endpoints)`
connections, no cookie jar), the API key set once as a session default `Authorization` header, each
request POSTed as bytes to a pre-parsed URL and its body read with one `json.loads`. The key goes only
into that header: it is never part of a repr, an error message, `stats` or an event, and any echo of it
in a response body is replaced with `***` (keys of 8 characters or more).

Concurrency (AIMD, harness.model.limits, with the back-off and Retry-After policy): at most `limit`
requests in flight, `limit` starting at `concurrency`. A 429 or an
overload answer (503, 529) halves `limit` (not below 1) — once per congestion event: answers to
requests sent before the last decrease, and answers within the `Retry-After` that came with the last
decrease, do not halve it again (so a server that rejects a steady 10% of requests costs a few
halvings, not a collapse to 1). After a run of `ceil(limit / 8)`
consecutive successes `limit` grows by one, back up to `concurrency`. A request waiting for its retry
(backoff or `Retry-After`) holds no slot.

Retries (at most `max_retries` after the first attempt): 5xx, 408, 409, 429, timeouts (`timeout` is
the total time of one attempt), refused/reset/dropped connections, truncated bodies, and 2xx bodies that
are not a JSON object. Waits are exponential with full jitter — uniform(0, min(backoff_max,
backoff_base * 2**retry)) from a `random.Random(seed)` — or, when the server sends `Retry-After`
(seconds or an HTTP date), that long plus a jitter of up to `backoff_base`; a `Retry-After` longer
than `MAX_RETRY_AFTER` seconds ends the request as an error at once. Other 4xx are not retried
(OpenAI semantics); their Reply carries the server's message from OpenAI's error envelope
({"error": {"message", "type", "code"}}), vLLM's/FastAPI's shapes, or the first 200 characters of a
text/HTML body.

Several endpoints: each attempt goes to the endpoint with the fewest requests in flight (ties
round-robin), so a retry usually lands on another replica. An endpoint whose connections fail (refused,
reset, dropped, timed out) 3 times in a row is avoided for 1 s, doubling up to 30 s while it keeps
failing; when every endpoint is avoided the one that comes back first is used.

Events (`on_event(name, data)`, never with the key): "retry" {endpoint, attempt, reason, wait_s},
"limit" {old, new, reason}, "endpoint_down" {endpoint, for_s, reason}. An exception raised by the
callback is logged and ignored.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from harness import __version__
from harness.errors import UserError
from harness.log.rundir import redact_url
from harness.model.limits import (MAX_RETRY_AFTER, OVERLOAD_STATUSES, RETRY_STATUSES, AimdLimiter, backoff_wait,
                                  retry_after_seconds)
from harness.model.stream import SSE_CONTENT_TYPE, StreamError, StreamTiming, read_stream

log = logging.getLogger("harness.model.client")

DOWN_AFTER = 3               # consecutive connection failures before an endpoint is avoided
DOWN_MIN_S = 1.0
DOWN_MAX_S = 30.0
KEEPALIVE_S = 4.0            # idle keep-alive of pooled connections
_SCRUB_MIN_KEY = 8           # shorter "keys" (test servers) are not scrubbed from bodies: too many false hits

_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)
_N_PARAM_RE = re.compile(r"""['"`]n['"`]|\bn\s*(?:=|!=|>|must\b|should\b|is not supported|only\b)|"""
                         r"""\bparameter n\b|\bn parameter\b""", re.I)
# llama.cpp's llama-server refuses n != 1 with HTTP 500 and this message: not a server fault to retry
ONE_CHOICE_RE = re.compile(r"only one completion choice is allowed", re.I)


class EndpointError(UserError):
    """An endpoint URL is malformed, or the endpoint cannot answer a request the harness needs."""


@dataclass(slots=True)
class Reply:
    status: str                 # "ok" | "error"
    body: dict[str, Any] | None  # the parsed chat.completion JSON on ok (or the error JSON on error, if any)
    latency_ms: float           # of the final attempt
    attempts: int
    error: str | None           # clear reason after retries, e.g. "HTTP 500 after 4 attempts: <server message>"
    http_status: int | None
    endpoint: str               # the endpoint's base URL, without credentials
    stream: StreamTiming | None = None   # a streamed reply (text/event-stream): TTFT and ITL per choice


class _Endpoint:
    __slots__ = ("base", "name", "chat_url", "models_url", "in_flight", "sent", "ok", "errors",
                 "fail_streak", "down_until", "cooldown", "downs")

    def __init__(self, base: str) -> None:
        self.base = base
        self.name = redact_url(base)
        path, q, query = base.partition("?")  # e.g. Azure's ?api-version=... stays after the route
        self.chat_url = URL(path + "/chat/completions" + q + query)
        self.models_url = URL(path + "/models" + q + query)
        self.in_flight = 0
        self.sent = 0
        self.ok = 0
        self.errors = 0
        self.fail_streak = 0
        self.down_until = 0.0
        self.cooldown = DOWN_MIN_S
        self.downs = 0


def normalize_endpoint(url: str) -> str:
    """An OpenAI base URL without its trailing slash; raise EndpointError when it is not http(s)://HOST...

    The path is used as given: `http://host:8000/v1` and `http://host:8000` (a server that serves at
    the root) both work; `/chat/completions` and `/models` are appended before any `?query` (Azure's
    `?api-version=`). A pasted `.../chat/completions` route is cut back to its base."""
    if not isinstance(url, str) or not url.strip():
        raise EndpointError(f"endpoint {url!r}: expected a URL such as http://127.0.0.1:8000/v1")
    u = url.strip()
    try:
        parts = urlsplit(u)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as e:
        raise EndpointError(f"endpoint {redact_url(u)}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"endpoint {redact_url(u)}: expected http:// or https:// and a host, e.g. "
                            f"http://127.0.0.1:8000/v1")
    if parts.fragment:
        raise EndpointError(f"endpoint {redact_url(u)}: a base URL has no #fragment")
    u, q, query = u.partition("?")
    u = u.rstrip("/")
    for tail in ("/chat/completions", "/completions"):
        if u.endswith(tail):  # a full route pasted in place of the base URL
            u = u[: -len(tail)].rstrip("/")
    return u + q + query


def server_message(raw: bytes | None) -> tuple[str, dict[str, Any] | None]:
    """(a readable message, the parsed JSON object or None) from an error response body."""
    if not raw:
        return "(empty body)", None
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        src = err if isinstance(err, dict) else body
        msg = src.get("message")
        if isinstance(err, str) and not msg:
            msg = err
        if not msg and "detail" in body:
            d = body["detail"]
            msg = d if isinstance(d, str) else json.dumps(d, ensure_ascii=False)
        if not isinstance(msg, str) or not msg:
            msg = json.dumps(body, ensure_ascii=False)[:200]
        extra = [f"{k}={src[k]}" for k in ("type", "code", "param")
                 if isinstance(src.get(k), (str, int)) and src.get(k) not in ("", None)]
        msg = " ".join(msg.split())[:1000]
        return (f"{msg} ({', '.join(extra)})" if extra else msg), body
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    text = " ".join(text.split())
    return (text[:200] or "(empty body)"), None


def request_headers(api_key: str | None) -> dict[str, str]:
    """The session-default headers of every harness client: JSON, our User-Agent, the bearer key if any."""
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": f"toolcall-harness/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def n_unsupported(reply: Reply) -> bool:
    """True when an error Reply says the endpoint does not accept `n` > 1 (so k requests are needed)."""
    if reply.status != "error" or reply.http_status not in (400, 422, 500):
        return False
    if reply.http_status == 500:
        return bool(ONE_CHOICE_RE.search(reply.error or ""))
    err = reply.body.get("error") if isinstance(reply.body, dict) else None
    if isinstance(err, dict) and err.get("param") == "n":
        return True
    return bool(_N_PARAM_RE.search(reply.error or ""))


class ChatClient:
    """Async client for the chat completions of one or several OpenAI-compatible endpoints.

    Use it as `async with ChatClient(...) as client:`; see the module docstring for the semantics."""

    MAX_RETRY_AFTER = MAX_RETRY_AFTER

    def __init__(self, endpoints: list[str] | str, *, api_key: str | None = None, concurrency: int = 64,
                 timeout: float = 60.0, max_retries: int = 4, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, seed: int | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise EndpointError("no endpoint given: pass at least one base URL, e.g. http://127.0.0.1:8000/v1")
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency}")
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        bases: list[str] = []
        for e in endpoints:
            b = normalize_endpoint(e)
            if b not in bases:
                bases.append(b)
        if api_key and any("@" in urlsplit(b).netloc for b in bases):
            raise EndpointError("an endpoint URL carries user:password@ and an API key is set too; give the "
                                "credentials one way (the API key's environment variable)")
        self._eps = [_Endpoint(b) for b in bases]
        self._ep0 = self._eps[0]
        self._single = len(self._eps) == 1
        self._rr = 0
        self._concurrency = int(concurrency)
        self._timeout = float(timeout)
        self._max_retries = int(max_retries)
        self._backoff_base = float(backoff_base)
        self._backoff_max = float(backoff_max)
        self._rng = random.Random(seed)
        self._on_event = on_event
        key = api_key or None
        self._secret = key.encode() if key and len(key) >= _SCRUB_MIN_KEY else None
        self._secret_str = key if self._secret else None
        self._headers = request_headers(key)
        self._session: aiohttp.ClientSession | None = None
        self._lim = AimdLimiter(self._concurrency, self._event)
        # stats
        self._sent = 0
        self._retries = 0
        self._status: dict[Any, int] = {}
        self._n_ok = 0
        self._n_error = 0

    def __repr__(self) -> str:
        eps = ", ".join(e.name for e in self._eps)
        return (f"ChatClient([{eps}], concurrency={self._concurrency}, limit={int(self._lim.limit)}, "
                f"api_key={'set' if 'Authorization' in self._headers else 'none'})")

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> ChatClient:
        if self._session is None:
            # keep-alive shorter than common server idle timeouts (uvicorn, i.e. vLLM: 5 s) so an idle
            # connection is dropped by us before the server closes it under a request being sent
            connector = aiohttp.TCPConnector(limit=self._concurrency * len(self._eps), limit_per_host=0,
                                             keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self._timeout), raise_for_status=False)
        return self

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> ChatClient:
        return await self.open()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- public calls ------------------------------------------------------------------------------

    async def chat(self, body: dict[str, Any] | bytes) -> Reply:
        """POST {endpoint}/chat/completions with `body` (a dict, or JSON bytes sent as they are)."""
        if type(body) is bytes:
            data = body
        elif isinstance(body, (bytearray, memoryview)):
            data = bytes(body)
        else:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return await self._call(data, None)

    async def models(self) -> list[dict[str, Any]]:
        """GET {first endpoint}/models: the `data` list; EndpointError when the endpoint cannot answer."""
        reply = await self._call(None, self._ep0)
        if reply.status != "ok":
            raise EndpointError(f"{self._ep0.name}/models: {reply.error}")
        data = reply.body.get("data") if isinstance(reply.body, dict) else None
        if not isinstance(data, list):
            raise EndpointError(f"{self._ep0.name}/models: the answer has no `data` list (is this an "
                                f"OpenAI-compatible base URL? it usually ends in /v1)")
        return [m for m in data if isinstance(m, dict)]

    @property
    def stats(self) -> dict[str, Any]:
        lim = self._lim
        return {
            "requests_sent": self._sent, "retries": self._retries,
            "replies": {"ok": self._n_ok, "error": self._n_error},
            "status": {str(k): v for k, v in self._status.items()},
            "rate_limited": lim.rate_limited, "limit_decreases": lim.decreases,
            "current_limit": int(lim.limit), "min_limit": lim.min_limit,
            "concurrency": self._concurrency, "in_flight": lim.in_flight,
            "endpoints": {e.name: {"sent": e.sent, "ok": e.ok, "errors": e.errors, "in_flight": e.in_flight,
                                   "times_down": e.downs,
                                   "down": e.down_until > time.monotonic()} for e in self._eps},
        }

    # -- endpoints ---------------------------------------------------------------------------------

    def _pick(self) -> _Endpoint:
        eps = self._eps
        n = len(eps)
        start = self._rr
        self._rr = start + 1 if start + 1 < n else 0
        best: _Endpoint | None = None
        best_load = 1 << 60
        now = 0.0
        for k in range(n):
            i = start + k
            ep = eps[i - n if i >= n else i]
            if ep.down_until:
                if not now:
                    now = time.monotonic()
                if ep.down_until > now:
                    continue
                ep.down_until = 0.0
                ep.fail_streak = DOWN_AFTER - 1  # on probation: one more failure and it is out again
            if ep.in_flight < best_load:
                best, best_load = ep, ep.in_flight
        if best is None:
            best = min(eps, key=lambda e: e.down_until)
        return best

    def _conn_failed(self, ep: _Endpoint, reason: str) -> None:
        ep.fail_streak += 1
        if ep.fail_streak >= DOWN_AFTER and not self._single:
            ep.down_until = time.monotonic() + ep.cooldown
            ep.downs += 1
            self._event("endpoint_down", {"endpoint": ep.name, "for_s": ep.cooldown, "reason": reason})
            ep.cooldown = min(DOWN_MAX_S, ep.cooldown * 2)
            ep.fail_streak = 0

    # -- the request loop --------------------------------------------------------------------------

    async def _call(self, data: bytes | None, fixed: _Endpoint | None) -> Reply:
        session = self._session
        if session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...) as client:`")
        attempts = 0
        status_counts = self._status
        lim = self._lim
        while True:
            attempts += 1
            if lim.in_flight < lim.limit and not lim.waiters:
                lim.in_flight += 1
            else:
                await lim.acquire()
            ep = fixed or (self._ep0 if self._single else self._pick())
            ep.in_flight += 1
            ep.sent += 1
            self._sent += 1
            epoch = lim.epoch
            status = 0
            raw = b""
            kind = ""          # a failure without an HTTP answer: timeout, connection, truncated, protocol
            sse = None         # (body, timing) of a streamed answer
            head = detail = ""
            retry_after_h = None
            t0 = time.perf_counter()
            try:
                if data is not None:
                    resp = await session.post(ep.chat_url, data=data)
                else:
                    resp = await session.get(ep.models_url)
                try:
                    status = resp.status
                    if 200 <= status < 300 and resp.content_type == SSE_CONTENT_TYPE:   # `stream: true`
                        try:
                            sse = await read_stream(resp.content, t0, self._secret)
                        except StreamError as e:
                            kind, head, detail = e.kind, "bad stream", str(e)
                    else:
                        raw = await resp.read()
                    if status in OVERLOAD_STATUSES:
                        retry_after_h = resp.headers.get("Retry-After")
                finally:
                    resp.release()
            except asyncio.TimeoutError:
                kind, head, detail = "timeout", "timeout", f"no complete answer within {self._timeout:g} s"
            except aiohttp.ClientPayloadError as e:
                kind, head, detail = "truncated", "truncated response body", _exc_text(e)
            except (aiohttp.ClientConnectionError, OSError) as e:
                kind, head, detail = "connection", "connection error", _exc_text(e)
            except aiohttp.ClientError as e:  # malformed HTTP and other protocol-level failures
                kind, head, detail = "protocol", "bad HTTP response", _exc_text(e)
            finally:
                latency_ms = (time.perf_counter() - t0) * 1000.0
                ep.in_flight -= 1
                lim.in_flight -= 1
                if lim.waiters:
                    lim.wake()

            if not kind and 200 <= status < 300:
                if sse is not None:
                    body, timing = sse
                else:
                    timing = None
                    if self._secret is not None and self._secret in raw:
                        raw = raw.replace(self._secret, b"***")
                    try:   # the standard library only: an optional parser would make results depend on the machine
                        body = json.loads(raw)
                    except (ValueError, RecursionError):
                        body = None
                if type(body) is dict:
                    status_counts[status] = status_counts.get(status, 0) + 1
                    ep.fail_streak = 0
                    ep.cooldown = DOWN_MIN_S
                    ep.ok += 1
                    self._n_ok += 1
                    if lim.limit < self._concurrency:
                        lim.succeeded()
                    return Reply("ok", body, latency_ms, attempts, None, status, ep.name, timing)
                kind, head = "bad_json", f"HTTP {status} with a body that is not a JSON object"
                detail = repr(" ".join(raw[:80].decode("utf-8", "replace").split()))

            # -- failure: classify, then retry or give up
            retry_after = None
            body = None
            if kind:
                status_counts[kind] = status_counts.get(kind, 0) + 1
                retryable = True
                if kind in ("timeout", "connection"):
                    self._conn_failed(ep, kind)
                else:
                    ep.fail_streak = 0
            else:
                status_counts[status] = status_counts.get(status, 0) + 1
                ep.fail_streak = 0
                if self._secret is not None and self._secret in raw:
                    raw = raw.replace(self._secret, b"***")
                detail, body = server_message(raw)
                head = f"HTTP {status}"
                retryable = (status >= 500 or status in RETRY_STATUSES) and not ONE_CHOICE_RE.search(detail)
                if status in OVERLOAD_STATUSES:
                    retry_after = retry_after_seconds(retry_after_h)
                    lim.overloaded(epoch, status, retry_after, self.MAX_RETRY_AFTER)
                    if retry_after is not None and retry_after > self.MAX_RETRY_AFTER:
                        retryable = False
                        detail = (f"the server asks to retry after {retry_after:.0f} s, more than the "
                                  f"{self.MAX_RETRY_AFTER:.0f} s this client waits: {detail}")
            if not retryable or attempts > self._max_retries:
                ep.errors += 1
                self._n_error += 1
                after = f" after {attempts} attempts" if attempts > 1 else ""
                return Reply("error", body, latency_ms, attempts, self._scrub(f"{head}{after}: {detail}"),
                             status or None, ep.name)
            wait = backoff_wait(self._rng, attempts, retry_after, self._backoff_base, self._backoff_max)
            self._retries += 1
            if self._on_event is not None:
                self._event("retry", {"endpoint": ep.name, "attempt": attempts,
                                      "reason": self._scrub(f"{head}: {detail}"),
                                      "wait_s": round(wait, 3)})
            if wait > 0:
                await asyncio.sleep(wait)

    # -- helpers -----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._secret_str and self._secret_str in text:
            text = text.replace(self._secret_str, "***")
        for ep in self._eps:
            if ep.base != ep.name and ep.base in text:
                text = text.replace(ep.base, ep.name)
        return text

    def _event(self, name: str, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(name, data)
        except Exception:  # a progress display must never break the requests
            log.exception("on_event callback failed for %r", name)


def _exc_text(e: BaseException) -> str:
    s = str(e).strip()
    return f"{type(e).__name__}: {s}" if s else type(e).__name__


__all__ = ["ChatClient", "EndpointError", "Reply", "n_unsupported", "normalize_endpoint", "request_headers",
           "server_message"]
