"""Streaming as the agents see it: harness.model.stream (SSE in, one chat.completion out), the client
against the scripted server's streamed answers (TTFT and ITL from known delays), and `harness eval
--stream` end to end (result lines, summary.json, leaderboard, report, n > 1 and its fallback).

The delays are the scripted server's own (`latency` before the first token, `token_delay` between
pieces): the measured figures must land near them. No sleeps as synchronisation."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.model.client import ChatClient
from harness.model.stream import StreamAssembler, StreamError, read_stream
from harness.testing import ScriptedServer, spawn_server
from harness.testing.stream import choice_deltas

ROOT = Path(__file__).resolve().parents[2]
UNCLOSED = "I will read it.\n<read_file>\n<args>\n<file>\n<path>src/a0.py</path>\n</file>\n</args>\n"
CLOSED = "<read_file>\n<args>\n<file>\n<path>src/a1.py</path>\n</file>\n</args>\n</read_file>"
TWO_CALLS = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}},
    {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "Europe/Paris"}'}}]}


async def _lines(chunks: list[Any]) -> Any:
    for c in chunks:      # line by line, as aiohttp's StreamReader iterates
        for line in (c if isinstance(c, bytes) else b"data: " + json.dumps(c).encode()).split(b"\n"):
            yield line + b"\n"
        yield b"\n"


def read(chunks: list[Any]) -> tuple[dict[str, Any], Any]:
    import time
    return asyncio.run(read_stream(_lines(chunks), time.perf_counter()))


def chunk(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


# -- the assembler ------------------------------------------------------------------------------------

def test_content_tool_call_deltas_and_usage_are_assembled() -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 4}}
    chunks = [chunk(role="assistant", content=""), chunk(content="Hel"), chunk(content="lo"),
              # two calls, their argument pieces interleaved by index, as OpenAI streams them
              chunk(tool_calls=[{"index": 0, "id": "call_a", "type": "function",
                                 "function": {"name": "get_weather", "arguments": ""}}]),
              chunk(tool_calls=[{"index": 1, "id": "call_b", "type": "function",
                                 "function": {"name": "get_time", "arguments": '{"tz"'}}]),
              chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
              chunk(tool_calls=[{"index": 1, "function": {"arguments": ': "UTC"}'}}]),
              chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
              chunk(finish="tool_calls"),
              {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": usage},
              b"data: [DONE]"]
    body, timing = read(chunks)
    msg = body["choices"][0]["message"]
    assert msg["content"] == "Hello"
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in msg["tool_calls"]] == [
        ("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {"tz": "UTC"})]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"] == usage and body["object"] == "chat.completion" and body["id"] == "c1"
    ttft, itl = timing.for_choice(0)
    assert ttft is not None and itl is not None      # the role-only delta with "" is not a token
    assert len(timing.choices[0].itl_gaps_ms) == 6   # 7 chunks with text or call pieces


def test_choices_by_index_comments_multiline_data_and_no_done() -> None:
    raw = [b": keep-alive", chunk(1, content="B"), chunk(0, content="A"),
           b'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "a"},\ndata:  "finish_reason": "stop"}]}',
           chunk(1, finish="length", reasoning_content="")]
    body, timing = read(raw)     # no [DONE]: accepted because every choice has its finish_reason
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "Aa", "stop"), (1, "B", "length")]
    assert body["usage"] is None
    assert set(timing.choices) == {0, 1}


@pytest.mark.parametrize("chunks, kind", [
    ([chunk(content="par")], "truncated"),
    ([chunk(content="x"), {"error": {"message": "CUDA out of memory", "type": "server_error"}}], "stream_error"),
    ([b"data: {not json"], "bad_chunk"),
])
def test_broken_streams_raise(chunks: list[Any], kind: str) -> None:
    with pytest.raises(StreamError) as e:
        read(chunks)
    assert e.value.kind == kind


def test_scripted_deltas_reassemble_to_the_message() -> None:
    asm = StreamAssembler()
    for d in choice_deltas(TWO_CALLS):
        asm.add(chunk(**d), 0.0)
    asm.add(chunk(finish="tool_calls"), 0.0)
    assert asm.body()["choices"][0]["message"] == TWO_CALLS


# -- the client against the scripted server ---------------------------------------------------------

def write_script(path: Path) -> Path:
    rules = [{"contains": "src/a0.py", "message": {"role": "assistant", "content": UNCLOSED}},
             {"contains": "src/a1.py", "message": {"role": "assistant", "content": CLOSED}},
             {"contains": "weather", "message": TWO_CALLS}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rules), encoding="utf-8")
    return path


def test_client_ttft_itl_from_known_delays_and_tool_calls(tmp_path: Path) -> None:
    latency, token_delay = 0.15, 0.03
    script = write_script(tmp_path / "rules.jsonl")

    async def main() -> tuple[Any, Any, Any]:
        async with ScriptedServer(latency=latency, token_delay=token_delay, script=str(script)) as srv:
            async with ChatClient(srv.url, max_retries=0) as c:
                req = {"model": "m", "messages": [{"role": "user", "content": "the weather in Paris?"}]}
                plain = await c.chat(req)
                streamed = await c.chat({**req, "stream": True, "stream_options": {"include_usage": True}, "n": 2})
                srv.configure(truncate=1.0)
                cut = await c.chat({**req, "stream": True})
                return plain, streamed, cut

    plain, streamed, cut = asyncio.run(main())
    assert plain.stream is None and streamed.status == "ok", streamed.error
    assert [ch["message"] for ch in streamed.body["choices"]] == [plain.body["choices"][0]["message"]] * 2
    assert streamed.body["usage"]["completion_tokens"] == 2 * plain.body["usage"]["completion_tokens"]
    for i in (0, 1):
        ttft, itl = streamed.stream.for_choice(i)
        assert latency * 1000 <= ttft < latency * 1000 + 250, ttft
        assert 0.9 * token_delay * 1000 <= itl < token_delay * 1000 + 40, itl
    assert streamed.latency_ms >= ttft + 0.9 * token_delay * 1000 * len(streamed.stream.choices[0].itl_gaps_ms)
    assert cut.status == "error" and "truncated" in cut.error    # the connection closed mid-stream


# -- harness eval --stream ----------------------------------------------------------------------------

def write_suite(path: Path) -> Path:
    lines = [json.dumps({"suite": {"name": "stream-suite", "protocol": "roo-xml", "mode": "code"}})]
    for i in range(3):
        p = f"src/a{i}.py"
        lines.append(json.dumps({
            "id": f"s{i}", "split": "test", "messages": [{"role": "user", "content": f"<task>\nShow me {p}.\n</task>"}],
            "expect": {"calls": [{"name": "read_file"}]},
            "reference": {"role": "assistant", "content": CLOSED.replace("a1", f"a{i}")}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def harness(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT),
               COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def results(out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return {(r["id"], r["sample"]): r for r in rows}


def test_eval_stream_lines_summary_leaderboard_report(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite.jsonl")
    script = write_script(tmp_path / "rules.jsonl")
    with spawn_server("--script", str(script), "--latency", "0.1", "--token-delay", "0.01") as url:
        out = tmp_path / "run"
        r = harness(tmp_path, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted",
                    "--out", str(out), "--quiet", "--stream")
        assert r.returncode in (0, 1), r.stderr
        lines = results(out)
        assert len(lines) == 3 and all(x["status"] == "ok" for x in lines.values())
        for x in lines.values():
            assert 100 <= x["ttft_ms"] < 600 and 9 <= x["itl_ms"] < 60, x
            assert x["usage"]["completion_tokens"] > 0        # from the stream's last chunk
        # the unclosed tool at the end of the stream runs with what it has, as Roo does
        unclosed = lines[("s0", 0)]
        assert unclosed["response"]["content"] == UNCLOSED
        assert unclosed["calls"][0]["name"] == "read_file" and "src/a0.py" in json.dumps(unclosed["calls"][0])
        assert "unclosed_tool" in {v["code"] for v in unclosed["violations"]}
        assert lines[("s1", 0)]["passed"] is True
        summary = json.loads((out / "summary.json").read_text())
        assert set(summary["ttft_ms"]) == {"p50", "p95"} and set(summary["itl_ms"]) == {"p50", "p95"}
        assert summary["ttft_ms"]["p50"] >= 100 and summary["ttft_ms"]["p95"] >= summary["ttft_ms"]["p50"]
        assert json.loads((out / "run.json").read_text())["client"]["stream"] is True

        rep = harness(tmp_path, "report", str(out))
        assert rep.returncode == 0 and "time to first token p50" in rep.stdout, rep.stdout + rep.stderr
        board = harness(tmp_path, "leaderboard", "--json")
        row = json.loads(board.stdout)[0]
        assert row["ttft_p50"] == pytest.approx(summary["ttft_ms"]["p50"])
        assert "TTFT ms" in harness(tmp_path, "leaderboard").stdout

        # without --stream: no timing fields, none in the summary
        plain = tmp_path / "plain"
        harness(tmp_path, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted",
                "--out", str(plain), "--quiet", "--no-cache")
        assert "ttft_ms" not in next(iter(results(plain).values()))
        assert "ttft_ms" not in json.loads((plain / "summary.json").read_text())


@pytest.mark.parametrize("no_n", [False, True])
def test_eval_stream_with_samples(tmp_path: Path, no_n: bool) -> None:
    """k samples: one streamed request with n=k (choices by index, each with its own TTFT), or k requests
    when the endpoint refuses n."""
    suite = write_suite(tmp_path / "suite.jsonl")
    script = write_script(tmp_path / "rules.jsonl")
    args = ["--script", str(script), "--latency", "0.05", "--token-delay", "0.005"] + (["--no-n"] if no_n else [])
    with spawn_server(*args) as url:
        out = tmp_path / "run"
        r = harness(tmp_path, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted",
                    "--out", str(out), "--quiet", "--stream", "--samples", "3", "--temperature", "0.7")
        assert r.returncode in (0, 1), r.stderr
    lines = results(out)
    assert sorted(lines) == [(f"s{i}", s) for i in range(3) for s in range(3)]
    assert all(x["status"] == "ok" and x["ttft_ms"] >= 50 and x["itl_ms"] is not None for x in lines.values())
    runner = json.loads((out / "summary.json").read_text())["runner"]
    assert runner["n_supported"] is (not no_n)
    # n honoured: one request per case; refused: the probe, then one request per sample
    assert runner["requests_sent"] == (1 + 9 if no_n else 3)


def test_leaderboard_of_an_older_schema_gains_the_ttft_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.log import leaderboard as store
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    old = [(n, t) for n, t in store._COLUMNS if not n.startswith("ttft_")]
    con = sqlite3.connect(tmp_path / store.DB_NAME)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                + ", ".join(f"{n} {t}" for n, t in old) + ")")
    con.execute("INSERT INTO runs (run_dir, model) VALUES ('/old/run', 'm0')")
    con.commit()
    con.close()
    rows = store.list_runs()
    assert rows[0]["model"] == "m0" and rows[0]["ttft_p50"] is None
    cols = {r[1] for r in sqlite3.connect(tmp_path / store.DB_NAME).execute("PRAGMA table_info(runs)")}
    assert {"ttft_p50", "ttft_p95"} <= cols
