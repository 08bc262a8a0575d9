"""The Python API: harness.evaluate (async) and harness.evaluate_sync against the in-process scripted
server (a real HTTP server on loopback, run on an event loop of this process)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import harness
from harness.testing import ScriptedServer
from tests.harness.test_eval import raw_lines, write_suite


@pytest.fixture()
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path


class ServerThread:
    """The in-process ScriptedServer on its own event loop in a thread (evaluate_sync runs its own loop)."""

    def __init__(self, **opts: object) -> None:
        self.opts = opts
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        self.server = ScriptedServer(**self.opts)  # type: ignore[arg-type]
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def test_evaluate_sync_returns_the_summary(isolated: Path) -> None:
    suite = write_suite(isolated / "s.jsonl")
    out = isolated / "run"
    with ServerThread(suite=str(suite), answer="mix:0.7", seed=1) as srv:
        summary = harness.evaluate_sync(str(suite), srv.url, "scripted", samples=3, system_prompt="compact",
                                        out=out, seed=4)
        st = srv.stats()
    assert summary["n_cases"] == 40 and summary["n_samples"] == 120 and summary["errors"] == 0
    assert summary["run_dir"] == str(out)
    assert st["chat_requests"] == 30 and st["n_total"] == 90          # dedupe + n=3
    assert summary == {**json.loads((out / "summary.json").read_text()), "run_dir": str(out)}
    lines = raw_lines(out)
    assert sorted((x["id"], x["sample"]) for x in lines) == sorted(
        (f"c{i:03d}", s) for i in range(40) for s in range(3))
    assert summary["passed"] == sum(1 for x in lines if x["passed"])


def test_evaluate_async_in_a_running_loop(isolated: Path) -> None:
    suite = write_suite(isolated / "s.jsonl", n_distinct=12, n_dupes=0)

    async def main() -> tuple[dict, dict, dict]:
        async with ScriptedServer(suite=str(suite), answer="reference") as srv:
            first = await harness.evaluate(str(suite), [srv.url], "scripted", out=isolated / "a",
                                           system_prompt="compact", concurrency=4)
            second = await harness.evaluate(str(suite), srv.url, "scripted", out=isolated / "b",
                                            system_prompt="compact")
            with pytest.raises(harness.UserError):    # sync wrapper refuses a running loop
                harness.evaluate_sync(str(suite), srv.url, "scripted", out=isolated / "c")
            return first, second, srv.stats()

    first, second, st = asyncio.run(main())
    assert first["pass_rate"] == 1.0 and first["n_cases"] == 12
    assert st["chat_requests"] == 12                      # the second run came from the cache
    assert second["runner"]["cache_hits"] == 12 and second["pass_rate"] == 1.0


def test_evaluate_bad_input_is_a_user_error(isolated: Path) -> None:
    with pytest.raises(harness.UserError):
        harness.evaluate_sync(str(isolated / "nope.jsonl"), "http://127.0.0.1:9/v1", "m")
    suite = write_suite(isolated / "s.jsonl", n_distinct=3, n_dupes=0)
    with pytest.raises(harness.UserError):
        harness.evaluate_sync(str(suite), "http://127.0.0.1:9/v1", "m", split="dev")
    with pytest.raises(harness.UserError):
        harness.evaluate_sync(str(suite), "http://127.0.0.1:9/v1", "m", shard="3/2")


def test_import_harness_stays_light() -> None:
    code = ("import sys, harness; assert callable(harness.evaluate) and callable(harness.evaluate_sync); "
            "bad = [m for m in ('aiohttp', 'torch', 'transformers', 'gradio', 'harness.eval') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2], timeout=60)


def test_eval_path_imports_no_heavy_stack(tmp_path: Path) -> None:
    code = ("import sys, harness.eval.run, harness.cli.eval, harness.cli.compare, harness.cli.merge, "
            "harness.model.client, harness.model.cache; "
            "bad = [m for m in ('torch', 'transformers', 'gradio') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2], timeout=60)


def test_streamed_planning_small_chunks(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests planned while others are in flight (tiny chunks): every case once, identical requests
    that straddle chunks are still answered once each (joined while in flight, or asked again)."""
    import harness.eval.dispatch as dispatch
    monkeypatch.setattr(dispatch, "FEED_CHUNK", 3)
    suite = write_suite(isolated / "s.jsonl", n_distinct=30, n_dupes=30)

    async def main() -> tuple[dict, dict]:
        async with ScriptedServer(suite=str(suite), answer="mix:0.5", latency=0.01) as srv:
            s = await harness.evaluate(str(suite), srv.url, "scripted", out=isolated / "a", system_prompt="compact",
                                       concurrency=1, samples=2, cache=False)
            return s, srv.stats()

    summary, st = asyncio.run(main())
    lines = raw_lines(isolated / "a")
    keys = sorted((x["id"], x["sample"]) for x in lines)
    assert keys == sorted((f"c{i:03d}", s) for i in range(60) for s in range(2))
    assert all(x["status"] == "ok" for x in lines)
    assert 30 <= st["chat_requests"] <= 60 and summary["n_samples"] == 120
    assert summary["runner"]["requests_sent"] == st["chat_requests"]


def test_planned_bodies(isolated: Path) -> None:
    """Bodies: canonical JSON, the system prompt (rendered or the file's exact text, or the case's own),
    tools/tool_choice/parallel_tool_calls for native catalogs, sampling fields, prefix-aware order."""
    from harness.model.cache import canonical_json
    from harness.eval import EvalConfig
    from harness.eval.dispatch import Runner
    suite = write_suite(isolated / "s.jsonl", n_distinct=9, n_dupes=3)
    prompt = isolated / "prompt.txt"
    prompt.write_text("You are a careful agent.\n  Exact text, kept as is.  \n", encoding="utf-8")

    r = Runner(EvalConfig(suite=str(suite), endpoints=["http://x/v1"], model="m", system_prompt_file=str(prompt),
                          temperature=0.3, top_p=0.9, seed=5, samples=2, max_tokens=77))
    r.load()
    reqs = r.plan(set())
    assert len(reqs) == 9 and r.stats.deduped == 3
    for q in reqs:
        body = json.loads(q.body)
        assert canonical_json(body) == q.body
        assert body["messages"][0] == {"role": "system", "content": prompt.read_text(encoding="utf-8")}
        assert body["n"] == 2 and body["seed"] == 5 and body["temperature"] == 0.3 and body["top_p"] == 0.9
        assert body["max_tokens"] == 77 and body["model"] == "m" and "tools" not in body
    users = [json.loads(q.body)["messages"][1]["content"] for q in reqs]
    assert users == sorted(users)      # one prompt, one tools list: sorted by the messages

    r = Runner(EvalConfig(suite="roo-core-native", endpoints=["http://x/v1"], model="m", system_prompt="compact"))
    r.load()
    body = json.loads(r.plan(set())[0].body)
    assert body["tools"] and body["tool_choice"] == "auto" and body["parallel_tool_calls"] is False
    assert body["messages"][0]["role"] == "system" and "n" not in body and "seed" not in body

    # a case with its own system message keeps it; nothing is added
    own = isolated / "own.jsonl"
    lines = suite.read_text().splitlines()
    case = json.loads(lines[1])
    case["messages"].insert(0, {"role": "system", "content": "Case's own prompt."})
    own.write_text(lines[0] + "\n" + json.dumps(case) + "\n", encoding="utf-8")
    r = Runner(EvalConfig(suite=str(own), endpoints=["http://x/v1"], model="m"))
    r.load()
    msgs = json.loads(r.plan(set())[0].body)["messages"]
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[0]["content"] == "Case's own prompt."


def test_resume_plans_only_missing_samples(isolated: Path) -> None:
    from harness.eval import EvalConfig
    from harness.eval.dispatch import Runner
    suite = write_suite(isolated / "s.jsonl", n_distinct=3, n_dupes=0)
    r = Runner(EvalConfig(suite=str(suite), endpoints=["http://x/v1"], model="m", samples=5, seed=100))
    r.load()
    done = {("c000", s) for s in range(5)} | {("c001", 0), ("c001", 1), ("c001", 3)} | {("c002", 4)}
    reqs = r.plan(done)
    got = sorted((t[0].id, tuple(t[1]), json.loads(q.body).get("n", 1), json.loads(q.body)["seed"])
                 for q in reqs for t in q.targets)
    # consecutive missing samples share an n-request; its seed is seed + its first sample
    assert got == [("c001", (2,), 1, 102), ("c001", (4,), 1, 104), ("c002", (0, 1, 2, 3), 4, 100)]
    assert r.stats.skipped_done == 9 and r.stats.planned_samples == 6


def test_two_endpoints_share_the_load(isolated: Path) -> None:
    suite = write_suite(isolated / "s.jsonl", n_distinct=40, n_dupes=0)

    async def main() -> tuple[dict, dict, dict]:
        async with ScriptedServer(suite=str(suite), latency=0.02) as a, \
                ScriptedServer(suite=str(suite), latency=0.02) as b:
            s = await harness.evaluate(str(suite), [a.url, b.url], "scripted", out=isolated / "r",
                                       system_prompt="compact", concurrency=8, cache=False)
            return s, a.stats(), b.stats()

    summary, sa, sb = asyncio.run(main())
    assert summary["n_samples"] == 40 and summary["pass_rate"] == 1.0
    assert sa["chat_requests"] + sb["chat_requests"] == 40
    assert sa["chat_requests"] >= 5 and sb["chat_requests"] >= 5
    m = json.loads((isolated / "r" / "run.json").read_text())
    assert isinstance(m["endpoint"], list) and len(m["endpoint"]) == 2
