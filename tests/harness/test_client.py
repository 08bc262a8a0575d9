"""harness.model.client.ChatClient against the scripted server (a real HTTP peer on loopback, in process)."""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from email.utils import formatdate
from typing import Any

import pytest

from harness.model.client import ChatClient, EndpointError, Reply, n_unsupported, normalize_endpoint, server_message
from harness.model.limits import retry_after_seconds
from harness.testing import FIXED_TEXT, ScriptedServer

KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"
BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hello"}]}


def run(coro: Any, timeout: float = 30.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def body(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"model": "scripted", "messages": [{"role": "user", "content": f"hello {i}"}], **extra}


class Recorder:
    """on_event callback: records events and runs an action on the first event of a kind."""

    def __init__(self, on_first: dict[str, Any] | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.on_first = dict(on_first or {})

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((name, data))
        action = self.on_first.pop(name, None)
        if action is not None:
            action()

    def of(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == name]


def no_key_anywhere(*objs: Any) -> None:
    for o in objs:
        assert KEY not in repr(o)
        assert KEY not in json.dumps(o, default=repr)


# -- success -------------------------------------------------------------------------------------------

def test_success_dict_and_bytes_bodies() -> None:
    async def go() -> None:
        async with ScriptedServer() as srv, ChatClient([srv.url], api_key=KEY) as c:
            r = await c.chat(BODY)
            r2 = await c.chat(json.dumps(body(1)).encode())
            for x in (r, r2):
                assert isinstance(x, Reply)
                assert x.status == "ok" and x.error is None and x.http_status == 200 and x.attempts == 1
                assert x.body["object"] == "chat.completion"
                assert x.body["choices"][0]["message"]["content"] == FIXED_TEXT
                assert x.latency_ms > 0
                assert x.endpoint == srv.url
            st = c.stats
            assert st["requests_sent"] == 2 and st["retries"] == 0 and st["status"] == {"200": 2}
            assert st["replies"] == {"ok": 2, "error": 0}
            assert srv.stats()["chat_requests"] == 2
    run(go())


def test_models_lists_the_served_models_and_trailing_slash_is_accepted() -> None:
    async def go() -> None:
        async with ScriptedServer(models=["a", "b"]) as srv, ChatClient([srv.url + "/"]) as c:
            assert [m["id"] for m in await c.models()] == ["a", "b"]
        async with ScriptedServer() as srv:
            bad = srv.url[: -len("/v1")] + "/nothing-here"
            async with ChatClient([bad], max_retries=0) as c:
                with pytest.raises(EndpointError, match=r"/nothing-here/models: HTTP 404"):
                    await c.models()
    run(go())


def test_concurrency_bound_is_respected() -> None:
    async def go() -> None:
        async with ScriptedServer(latency=0.02) as srv, ChatClient([srv.url], concurrency=4) as c:
            rs = await asyncio.gather(*[c.chat(body(i)) for i in range(40)])
            assert all(r.status == "ok" for r in rs)
            assert srv.stats()["max_in_flight"] == 4
            assert c.stats["in_flight"] == 0
    run(go())


# -- retries -------------------------------------------------------------------------------------------

def test_500_then_success_is_retried() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_500=1.0) as srv:
            rec = Recorder({"retry": lambda: srv.configure(fail_500=0.0)})
            async with ChatClient([srv.url], backoff_base=0.01, seed=1, on_event=rec) as c:
                r = await c.chat(BODY)
            assert r.status == "ok" and r.attempts == 2
            assert srv.stats()["by_status"] == {"500": 1, "200": 1}
            assert rec.of("retry")[0]["reason"].startswith("HTTP 500: The server had an error")
            assert c.stats["retries"] == 1 and c.stats["status"] == {"500": 1, "200": 1}
    run(go())


def test_500_until_retries_run_out_gives_an_error_with_the_server_message() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_500=1.0) as srv, ChatClient([srv.url], max_retries=3, backoff_base=0.001) as c:
            r = await c.chat(BODY)
            assert r.status == "error" and r.attempts == 4 and r.http_status == 500
            assert r.error == ("HTTP 500 after 4 attempts: The server had an error while processing your "
                               "request. (type=server_error)")
            assert r.body["error"]["type"] == "server_error"
            assert srv.stats()["chat_requests"] == 4
    run(go())


def test_429_retry_after_is_honoured_and_the_limiter_halves_then_recovers() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_429=1.0, retry_after=0.4) as srv:
            rec = Recorder({"retry": lambda: srv.configure(fail_429=0.0)})
            async with ChatClient([srv.url], concurrency=8, backoff_base=0.01, seed=3, on_event=rec) as c:
                t0 = time.monotonic()
                first = await c.chat(BODY)
                waited = time.monotonic() - t0
                assert first.status == "ok" and first.attempts == 2
                assert waited >= 0.4                        # Retry-After: 0.4 honoured
                assert rec.of("retry")[0]["wait_s"] >= 0.4
                assert c.stats["current_limit"] == 5        # 8 -> 4 on the 429, +1 after its success
                assert rec.of("limit")[0] == {"old": 8, "new": 4, "reason": "HTTP 429"}
                rs = await asyncio.gather(*[c.chat(body(i)) for i in range(20)])
                assert all(r.status == "ok" for r in rs)
                st = c.stats
                assert st["current_limit"] == 8 and st["min_limit"] == 4 and st["limit_decreases"] == 1
                assert st["rate_limited"] == 1
                assert [e["new"] for e in rec.of("limit")] == [4, 5, 6, 7, 8]
    run(go())


def test_a_burst_of_429s_halves_once_per_congestion_event() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_429=1.0, retry_after=1.0) as srv:
            async def heal() -> None:     # all 16 first attempts meet a 429, their retries (>= 1 s later) do not
                await srv.wait_requests(16)
                srv.configure(fail_429=0.0)
            async with ChatClient([srv.url], concurrency=16, backoff_base=0.01) as c:
                healer = asyncio.create_task(heal())
                rs = await asyncio.gather(*[c.chat(body(i)) for i in range(16)])
                await healer
                assert all(r.status == "ok" and r.attempts == 2 for r in rs)
                st = c.stats
                assert srv.stats()["by_status"] == {"429": 16, "200": 16}
                assert st["rate_limited"] == 16
                assert st["limit_decreases"] == 1 and st["min_limit"] == 8   # not 16 -> 8 -> 4 -> 2 -> 1
    run(go())


def test_429s_within_the_retry_after_of_a_decrease_do_not_halve_again() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_429=1.0, retry_after=5) as srv, \
                ChatClient([srv.url], concurrency=8, max_retries=0) as c:
            for i in range(3):             # each sent after the decrease, all within its 5 s Retry-After
                r = await c.chat(body(i))
                assert r.status == "error" and r.http_status == 429 and r.attempts == 1
            assert c.stats["limit_decreases"] == 1 and c.stats["current_limit"] == 4
            assert c.stats["rate_limited"] == 3
        async with ScriptedServer(fail_429=1.0, no_retry_after=True) as srv, \
                ChatClient([srv.url], concurrency=8, max_retries=0) as c:
            for i in range(3):             # no Retry-After: each answer is a new congestion event
                await c.chat(body(i))
            assert c.stats["limit_decreases"] == 3 and c.stats["current_limit"] == 1
    run(go())


def test_retry_after_as_http_date_and_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-1") is None
    d = retry_after_seconds(formatdate(time.time() + 30, usegmt=True))
    assert d is not None and 27 <= d <= 31
    assert retry_after_seconds(formatdate(time.time() - 30, usegmt=True)) == 0.0


def test_a_retry_after_longer_than_the_limit_ends_the_request_at_once() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_429=1.0, retry_after=600) as srv, ChatClient([srv.url]) as c:
            t0 = time.monotonic()
            r = await c.chat(BODY)
            assert time.monotonic() - t0 < 5
            assert r.status == "error" and r.attempts == 1 and r.http_status == 429
            assert "retry after 600 s" in r.error and "Rate limit reached" in r.error
    run(go())


def test_400_is_not_retried_and_its_message_is_surfaced() -> None:
    async def go() -> None:
        async with ScriptedServer(no_n=True) as srv, ChatClient([srv.url], api_key=KEY) as c:
            r = await c.chat(body(n=3))
            assert r.status == "error" and r.attempts == 1 and r.http_status == 400
            assert r.error == ("HTTP 400: n: only n=1 is supported by this endpoint. "
                               "(type=invalid_request_error, code=unsupported_value, param=n)")
            assert r.body["error"]["param"] == "n"
            assert n_unsupported(r)
            assert srv.stats()["chat_requests"] == 1
            ok = await c.chat(body(n=1))
            assert ok.status == "ok" and not n_unsupported(ok)
    run(go())


def test_401_is_not_retried_and_the_key_is_never_in_the_reply() -> None:
    async def go() -> None:
        async with ScriptedServer(api_key="sk-the-right-key-000000") as srv, ChatClient([srv.url], api_key=KEY) as c:
            r = await c.chat(BODY)
            assert r.status == "error" and r.attempts == 1 and r.http_status == 401
            assert "Incorrect API key provided" in r.error
            no_key_anywhere(r, c.stats, repr(c))
    run(go())


FAULT_REASONS = {
    "drop": r"^connection error after 2 attempts: ServerDisconnectedError",
    "hang": r"^timeout after 2 attempts: no complete answer within 0\.3 s",
    "truncate": r"^truncated response body after 2 attempts: ClientPayloadError",
    "bad_json": r"^HTTP 200 with a body that is not a JSON object after 2 attempts: '\{\"id\"",
    "html_error": r"^HTTP 502 after 2 attempts: 502 Bad Gateway 502 Bad Gateway nginx",
    "fail_503": r"^HTTP 503 after 2 attempts: The server is overloaded",
}


@pytest.mark.parametrize("fault", sorted(FAULT_REASONS))
def test_faults_end_as_an_error_with_a_reason_never_an_exception(fault: str) -> None:
    async def go() -> None:
        async with ScriptedServer(**{fault: 1.0}, retry_after=0.05) as srv, \
                ChatClient([srv.url], max_retries=1, timeout=0.3, backoff_base=0.01) as c:
            r = await c.chat(BODY)
            assert r.status == "error" and r.attempts == 2
            assert r.error is not None
            assert re.search(FAULT_REASONS[fault], r.error), r.error
            assert srv.stats()["chat_requests"] == 2
            assert c.stats["in_flight"] == 0
    run(go())


@pytest.mark.parametrize("fault", sorted(FAULT_REASONS))
def test_faults_are_retried_then_ok(fault: str) -> None:
    async def go() -> None:
        async with ScriptedServer(**{fault: 1.0}, retry_after=0.05) as srv:
            rec = Recorder({"retry": lambda: srv.configure(**{fault: 0.0})})
            async with ChatClient([srv.url], max_retries=2, timeout=0.3, backoff_base=0.01, on_event=rec) as c:
                r = await c.chat(BODY)
            assert r.status == "ok" and r.attempts == 2, r
            assert r.body["choices"][0]["message"]["content"] == FIXED_TEXT
            assert srv.stats()["chat_requests"] == 2
    run(go())


def test_a_mix_of_faults_ends_every_request_with_a_reply() -> None:
    async def go() -> None:
        async with ScriptedServer(fail_429=0.1, retry_after=0.01, fail_500=0.1, drop=0.05, hang=0.02,
                                  truncate=0.05, bad_json=0.05, seed=7) as srv, \
                ChatClient([srv.url], concurrency=16, timeout=0.5, max_retries=6, backoff_base=0.01, seed=7) as c:
            rs = await asyncio.gather(*[c.chat(body(i)) for i in range(300)])
            assert len(rs) == 300 and all(isinstance(r, Reply) for r in rs)
            assert sum(r.status == "ok" for r in rs) >= 298   # P(7 faults in a row) = 0.37**7
            for r in rs:
                assert (r.status == "ok") == (r.error is None)
            st = c.stats
            assert st["replies"]["ok"] + st["replies"]["error"] == 300
            assert st["requests_sent"] == srv.stats()["chat_requests"] == 300 + st["retries"]
            assert st["in_flight"] == 0
    run(go(), timeout=60)


def test_cancelling_a_waiting_request_frees_its_slot() -> None:
    async def go() -> None:
        async with ScriptedServer(hang=1.0) as srv, ChatClient([srv.url], concurrency=1, timeout=30) as c:
            first = asyncio.create_task(c.chat(body(1)))
            second = asyncio.create_task(c.chat(body(2)))      # waits for the single slot
            await srv.wait_requests(1)                          # the first one is at the server, hanging
            second.cancel()
            first.cancel()
            for t in (first, second):
                with pytest.raises(asyncio.CancelledError):
                    await t
            assert c.stats["in_flight"] == 0
            srv.configure(hang=0.0)
            assert (await c.chat(body(3))).status == "ok"
    run(go())


# -- several endpoints ---------------------------------------------------------------------------------

def test_several_endpoints_share_the_load() -> None:
    async def go() -> None:
        async with ScriptedServer(latency=0.01) as a, ScriptedServer(latency=0.01) as b, \
                ChatClient([a.url, b.url], concurrency=8) as c:
            rs = await asyncio.gather(*[c.chat(body(i)) for i in range(80)])
            assert all(r.status == "ok" for r in rs)
            na, nb = a.stats()["chat_requests"], b.stats()["chat_requests"]
            assert na + nb == 80 and na >= 20 and nb >= 20
            assert {r.endpoint for r in rs} == {a.url, b.url}
            eps = c.stats["endpoints"]
            assert eps[a.url]["sent"] == na and eps[b.url]["sent"] == nb
    run(go())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_endpoint_refusing_connections_is_avoided() -> None:
    async def go() -> None:
        dead = f"http://127.0.0.1:{_closed_port()}/v1"
        async with ScriptedServer() as good:
            rec = Recorder()
            async with ChatClient([dead, good.url], concurrency=4, backoff_base=0.001, on_event=rec) as c:
                rs = await asyncio.gather(*[c.chat(body(i)) for i in range(60)])
                assert all(r.status == "ok" for r in rs)
                assert {r.endpoint for r in rs} == {good.url}
                st = c.stats["endpoints"]
                assert st[dead]["times_down"] >= 1 and st[dead]["ok"] == 0
                assert st[dead]["sent"] <= 8      # 3 failures put it out for 1 s, doubling
                assert rec.of("endpoint_down")[0]["endpoint"] == dead
    run(go())


def test_a_single_dead_endpoint_gives_connection_errors_not_exceptions() -> None:
    async def go() -> None:
        dead = f"http://127.0.0.1:{_closed_port()}/v1"
        async with ChatClient([dead], max_retries=2, backoff_base=0.001) as c:
            r = await c.chat(BODY)
            assert r.status == "error" and r.attempts == 3 and r.http_status is None
            assert r.error.startswith("connection error after 3 attempts: ClientConnectorError")
    run(go())


# -- the API key ---------------------------------------------------------------------------------------

def test_the_key_goes_only_into_the_authorization_header(tmp_path: Any) -> None:
    rules = tmp_path / "rules.jsonl"
    rules.write_text(json.dumps({"contains": "echo", "message": {"role": "assistant",
                                                                  "content": f"your key is {KEY}"}}) + "\n")

    async def go() -> None:
        async with ScriptedServer(script=str(rules), fail_500=1.0) as srv:
            rec = Recorder({"retry": lambda: srv.configure(fail_500=0.0)})
            async with ChatClient([srv.url], api_key=KEY, backoff_base=0.001, on_event=rec) as c:
                r = await c.chat(body(0))
                echo = await c.chat({"model": "scripted", "messages": [{"role": "user", "content": "echo it"}]})
                assert srv.auth_seen == {f"Bearer {KEY}": 3}
                assert echo.status == "ok"
                assert echo.body["choices"][0]["message"]["content"] == "your key is ***"
                no_key_anywhere(r, echo, c.stats, repr(c), rec.events)
    run(go())


def test_no_key_no_authorization_header() -> None:
    async def go() -> None:
        async with ScriptedServer() as srv, ChatClient([srv.url]) as c:
            assert (await c.chat(BODY)).status == "ok"
            assert srv.auth_seen == {}
            assert "api_key=none" in repr(c)
    run(go())


# -- pieces --------------------------------------------------------------------------------------------

def test_normalize_endpoint() -> None:
    assert normalize_endpoint("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert normalize_endpoint("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert normalize_endpoint("https://h/v1/chat/completions") == "https://h/v1"
    assert normalize_endpoint("https://h/openai/deployments/d?api-version=2024-02-01") == \
        "https://h/openai/deployments/d?api-version=2024-02-01"
    for bad in ("", "127.0.0.1:8000", "ftp://h/v1", "http:///v1", "http://h:99999/v1"):
        with pytest.raises(EndpointError):
            normalize_endpoint(bad)
    with pytest.raises(EndpointError):
        ChatClient([])


def test_credentials_in_the_url_are_not_repeated() -> None:
    async def go() -> None:
        url = f"http://user:hunter22secret@127.0.0.1:{_closed_port()}/v1"
        async with ChatClient([url], max_retries=0) as c:
            r = await c.chat(BODY)
            assert r.status == "error" and r.endpoint == f"http://127.0.0.1:{url.rsplit(':', 1)[1]}"
            for text in (repr(c), json.dumps(c.stats), repr(r)):
                assert "hunter22secret" not in text
    run(go())
    with pytest.raises(EndpointError, match="one way"):
        ChatClient(["http://user:pw@127.0.0.1:1/v1"], api_key=KEY)


def test_server_message_shapes() -> None:
    m, b = server_message(b'{"error": {"message": "bad thing", "type": "invalid_request_error", "code": null}}')
    assert m == "bad thing (type=invalid_request_error)" and b["error"]["message"] == "bad thing"
    assert server_message(b'{"object": "error", "message": "vllm says no", "type": "BadRequestError", '
                          b'"code": 400}')[0] == "vllm says no (type=BadRequestError, code=400)"
    assert server_message(b'{"detail": "Not Found"}')[0] == "Not Found"
    assert server_message(b'{"error": "plain string"}')[0] == "plain string"
    assert server_message(b"<html><head><title>504 Gateway Time-out</title><style>b{}</style></head>"
                          b"<body>upstream timed out</body></html>")[0] == "504 Gateway Time-out upstream timed out"
    long = server_message(b"x" * 1000)[0]
    assert len(long) == 200
    assert server_message(b"")[0] == "(empty body)"


def test_n_unsupported_recognises_provider_messages() -> None:
    def err(msg: str, status: int = 400) -> Reply:
        return Reply("error", None, 1.0, 1, f"HTTP {status}: {msg}", status, "e")
    assert n_unsupported(err("'n' : number must be at most 1"))
    assert n_unsupported(err("n must be 1 when using greedy sampling"))
    assert not n_unsupported(err("messages must not be empty"))
    assert not n_unsupported(err("n must be 1", 500))
