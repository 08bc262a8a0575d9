"""The scripted server as a real subprocess (`python -m harness.testing.scripted --port 0 ...`), spoken to
with the standard library's http.client (so these tests do not depend on harness.model.client)."""
from __future__ import annotations

import http.client
import json
import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.suite import load_suite
from harness.testing import FIXED_TEXT, WRONG_TEXT, spawn_server

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = {"role": "system", "content": "You are a careful assistant. " * 30}


API_ROUTES = ("/chat/completions", "/models")   # under the base URL (/v1); the control routes are at the root


def request(url: str, method: str, path: str, obj: Any = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(url)
    con = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = None if obj is None else json.dumps(obj).encode()
        target = u.path + path if path in API_ROUTES else path
        con.request(method, target, body=data, headers={"Content-Type": "application/json"})
        r = con.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        con.close()


def chat(url: str, messages: list[dict[str, Any]], **extra: Any) -> tuple[int, dict[str, str], Any]:
    status, headers, raw = request(url, "POST", "/chat/completions", {"model": "m-1", "messages": messages, **extra})
    return status, headers, json.loads(raw)


def stats(url: str) -> dict[str, Any]:
    return json.loads(request(url, "GET", "/stats")[2])


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


@pytest.fixture(scope="module")
def plain() -> Any:
    with spawn_server("--seed", "1") as url:
        yield url


# -- process -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_listening_line_then_serves_until_signalled(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness.testing.scripted", "--port", "0", "--host", "127.0.0.1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(30), "no listening line within 30 s"
        line = proc.stdout.readline()
        m = re.fullmatch(r"listening (http://127\.0\.0\.1:(\d+)/v1)\n", line)
        assert m, line
        url = m.group(1)
        status, _, raw = request(url, "GET", "/models")
        assert status == 200 and json.loads(raw)["data"][0]["id"] == "scripted"
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""                       # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_bad_options_exit_with_a_message() -> None:
    r = subprocess.run([sys.executable, "-m", "harness.testing.scripted", "--fail-429", "0.8", "--fail-500", "0.5"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "add up to" in r.stderr and r.stdout == ""


# -- chat completions ----------------------------------------------------------------------------------

def test_n_choices_and_the_response_shape(plain: str) -> None:
    status, _, body = chat(plain, [user("something new 1")], n=3)
    assert status == 200
    assert body["object"] == "chat.completion" and body["model"] == "m-1" and body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    for c in body["choices"]:
        assert c["message"] == {"role": "assistant", "content": FIXED_TEXT}
        assert c["finish_reason"] == "stop"
    u = body["usage"]
    assert u["completion_tokens"] == 3 * ((len(FIXED_TEXT) + 3) // 4)
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == 0


def test_no_n_rejects_n_above_one_with_openais_error_envelope() -> None:
    with spawn_server("--no-n") as url:
        status, _, body = chat(url, [user("x")], n=2)
        assert status == 400
        assert body["error"]["param"] == "n" and body["error"]["type"] == "invalid_request_error"
        assert "n=1" in body["error"]["message"]
        assert chat(url, [user("x")], n=1)[0] == 200


def test_bad_requests_get_400s(plain: str) -> None:
    assert request(plain, "POST", "/chat/completions", None)[0] == 400
    status, _, raw = request(plain, "POST", "/chat/completions", {"model": "m"})
    assert status == 400 and json.loads(raw)["error"]["param"] == "messages"


def test_cached_tokens_grow_for_a_repeated_prefix() -> None:
    with spawn_server() as url:
        a = [SYSTEM, user("first question")]
        _, _, r1 = chat(url, a)
        assert r1["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        _, _, r2 = chat(url, a)
        assert r2["usage"]["prompt_tokens_details"]["cached_tokens"] == r2["usage"]["prompt_tokens"] > 0
        b = a + [{"role": "assistant", "content": "an answer"}, user("a follow-up")]
        _, _, r3 = chat(url, b)
        assert r3["usage"]["prompt_tokens"] > r1["usage"]["prompt_tokens"]
        assert r3["usage"]["prompt_tokens_details"]["cached_tokens"] == r1["usage"]["prompt_tokens"]
        _, _, r4 = chat(url, [SYSTEM, user("another question")])   # shares the system prompt only
        assert 0 < r4["usage"]["prompt_tokens_details"]["cached_tokens"] < r4["usage"]["prompt_tokens"]
        _, _, r5 = chat(url, [{"role": "system", "content": "other"}, user("first question")])
        assert r5["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        st = stats(url)
        assert st["cached_tokens"] == sum(r["usage"]["prompt_tokens_details"]["cached_tokens"]
                                          for r in (r1, r2, r3, r4, r5))


def test_stats_count_and_reset() -> None:
    with spawn_server("--no-n") as url:
        chat(url, [user("a")], n=1)
        chat(url, [user("b")])
        chat(url, [user("c")], n=4)                            # 400
        request(url, "GET", "/models")
        st = stats(url)
        assert st["requests"] == 4 and st["chat_requests"] == 3
        assert st["by_status"] == {"200": 3, "400": 1}
        assert st["n_total"] == 2
        assert st["prompt_tokens"] > 0 and st["completion_tokens"] == 2 * ((len(FIXED_TEXT) + 3) // 4)
        assert set(st) >= {"requests", "by_status", "chat_requests", "prompt_tokens", "cached_tokens",
                           "completion_tokens", "n_total"}
        assert request(url, "POST", "/reset_stats", {})[0] == 200
        st = stats(url)
        assert st["requests"] == 0 and st["by_status"] == {} and st["n_total"] == 0


def test_max_tokens_and_stop(plain: str) -> None:
    _, _, r = chat(plain, [user("q")], max_tokens=3)
    c = r["choices"][0]
    assert c["finish_reason"] == "length" and c["message"]["content"] == FIXED_TEXT[:12]
    assert r["usage"]["completion_tokens"] == 3
    _, _, r = chat(plain, [user("q")], stop=["scripted"])
    c = r["choices"][0]
    assert c["finish_reason"] == "stop" and c["message"]["content"] == FIXED_TEXT[: FIXED_TEXT.index("scripted")]
    _, _, r = chat(plain, [user("q")], stop="scripted", include_stop_str_in_output=True)
    assert r["choices"][0]["message"]["content"].endswith(" scripted")


# -- answers -------------------------------------------------------------------------------------------

def test_suite_reference_answers() -> None:
    cases = load_suite("roo-core-native").cases[:5]
    with spawn_server("--suite", "roo-core-native", "--answer", "reference") as url:
        for c in cases:
            _, _, r = chat(url, [SYSTEM, *c.messages], tools=[{"type": "function", "function": {"name": "x"}}])
            msg = r["choices"][0]["message"]
            assert msg["tool_calls"] == c.reference["tool_calls"]
            assert r["choices"][0]["finish_reason"] == "tool_calls"
        _, _, r = chat(url, [user("not in the suite")])
        assert r["choices"][0]["message"]["content"] == FIXED_TEXT
        assert stats(url)["unmatched"] == 1


def test_suite_wrong_answers() -> None:
    c = load_suite("roo-starter").cases[0]
    with spawn_server("--suite", "roo-starter", "--answer", "wrong") as url:
        _, _, r = chat(url, c.messages, n=2)
        assert [ch["message"]["content"] for ch in r["choices"]] == [WRONG_TEXT, WRONG_TEXT]
        assert all("tool_calls" not in ch["message"] for ch in r["choices"])


def test_suite_mix_is_decided_per_choice_and_agrees_across_reruns() -> None:
    cases = load_suite("roo-starter").cases[:6]
    runs = []
    for _ in range(2):
        with spawn_server("--suite", "roo-starter", "--answer", "mix:0.5") as url:
            runs.append([[ch["message"]["content"] for ch in chat(url, c.messages, n=6)[2]["choices"]]
                         for c in cases])
    assert runs[0] == runs[1]
    with spawn_server("--suite", "roo-starter", "--answer", "mix:0.5") as url:
        other = [[ch["message"]["content"] for ch in chat(url, c.messages, n=6, seed=5)[2]["choices"]]
                 for c in cases]
    assert other != runs[0]                     # another request seed samples anew
    flat = [(a, c.reference["content"]) for c, answers in zip(cases, runs[0]) for a in answers]
    refs = sum(a == ref for a, ref in flat)
    assert sum(a == WRONG_TEXT for a, _ in flat) + refs == len(flat) == 36
    assert 8 <= refs <= 28


def test_script_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.jsonl"
    rules.write_text("\n".join(json.dumps(r) for r in [
        {"contains": "weather", "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]}},
        {"contains": "hi", "message": {"role": "assistant", "content": "hello!"}},
    ]) + "\n")
    with spawn_server("--script", str(rules)) as url:
        _, _, r = chat(url, [user("what's the weather in Oslo?")])
        tc = r["choices"][0]["message"]["tool_calls"][0]
        assert tc["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
        assert r["choices"][0]["finish_reason"] == "tool_calls"
        _, _, r = chat(url, [user("hi there"), {"role": "assistant", "content": "?"}, user("oh hi")])
        assert r["choices"][0]["message"]["content"] == "hello!"
        _, _, r = chat(url, [user("zzz")])
        assert r["choices"][0]["message"]["content"] == FIXED_TEXT


def test_models_option() -> None:
    with spawn_server("--models", "alpha,beta", "--strict-models") as url:
        assert [m["id"] for m in json.loads(request(url, "GET", "/models")[2])["data"]] == ["alpha", "beta"]
        status, _, raw = request(url, "POST", "/chat/completions", {"model": "gamma", "messages": [user("x")]})
        assert status == 404 and json.loads(raw)["error"]["code"] == "model_not_found"


# -- faults --------------------------------------------------------------------------------------------

def test_429_with_and_without_retry_after() -> None:
    with spawn_server("--fail-429", "1", "--retry-after", "2") as url:
        status, headers, raw = request(url, "POST", "/chat/completions", {"model": "m", "messages": [user("x")]})
        assert status == 429 and headers["retry-after"] == "2"
        assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    with spawn_server("--fail-429", "1", "--no-retry-after") as url:
        status, headers, _ = request(url, "POST", "/chat/completions", {"model": "m", "messages": [user("x")]})
        assert status == 429 and "retry-after" not in headers


def test_faults_on_the_wire() -> None:
    msg = {"model": "m", "messages": [user("x")]}
    with spawn_server("--drop", "1") as url:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            request(url, "POST", "/chat/completions", msg)
    with spawn_server("--truncate", "1") as url:
        with pytest.raises(http.client.IncompleteRead):
            request(url, "POST", "/chat/completions", msg)
    with spawn_server("--bad-json", "1") as url:
        status, _, raw = request(url, "POST", "/chat/completions", msg)
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(raw)
    with spawn_server("--html-error", "1") as url:
        status, headers, raw = request(url, "POST", "/chat/completions", msg)
        assert status == 502 and headers["content-type"].startswith("text/html") and b"Bad Gateway" in raw
    with spawn_server("--hang", "1") as url:
        with pytest.raises(TimeoutError):
            request(url, "POST", "/chat/completions", msg, timeout=0.5)
        assert stats(url)["faults"] == {"hang": 1}
    with spawn_server("--empty-choices", "1") as url:
        assert chat(url, [user("x")])[2]["choices"] == []
    with spawn_server("--finish-length", "1") as url:
        c = chat(url, [user("x")])[2]["choices"][0]
        assert c["finish_reason"] == "length" and FIXED_TEXT.startswith(c["message"]["content"])
        assert len(c["message"]["content"]) < len(FIXED_TEXT)


def test_seeded_fault_decisions_repeat() -> None:
    seqs = []
    for _ in range(2):
        with spawn_server("--fail-500", "0.5", "--seed", "42") as url:
            seqs.append([request(url, "POST", "/chat/completions", {"model": "m", "messages": [user("x")]})[0]
                         for _ in range(20)])
    assert seqs[0] == seqs[1] and set(seqs[0]) == {200, 500}


def test_configure_over_http(plain: str) -> None:
    status, _, raw = request(plain, "POST", "/configure", {"fail_500": 1.0})
    assert status == 200 and json.loads(raw)["fail_500"] == 1.0
    try:
        assert request(plain, "POST", "/chat/completions", {"model": "m", "messages": [user("x")]})[0] == 500
    finally:
        request(plain, "POST", "/configure", {"fail_500": 0.0})
    assert request(plain, "POST", "/configure", {"nope": 1})[0] == 400
