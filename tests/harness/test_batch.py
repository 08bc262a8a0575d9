"""`harness eval --batch` against the scripted Files + Batches endpoint in its own process, and the
endpoint's state machine in process through the harness's BatchClient."""
from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.testing import spawn_server
from tests.harness.test_eval import ROOT, SECRET, harness, make_env, raw_lines, server_stats, write_suite

FAST = ("--batch-time-scale", "0.01")


def batch_args(suite: Path | str, url: str, out: Path, *extra: str) -> list[str]:
    return ["eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out", str(out),
            "--system-prompt", "compact", "--split", "all", "--batch", "--batch-poll", "0.02", *extra]


def input_lines(out: Path) -> list[dict]:
    return [json.loads(x) for f in sorted((out / "batch").glob("input-*.jsonl")) for x in f.read_text().splitlines()]


def keys_once(out: Path) -> collections.Counter:
    return collections.Counter((x["id"], x["sample"]) for x in raw_lines(out))


# -- whole runs -------------------------------------------------------------------------------------

def test_2000_cases_each_scored_exactly_once_as_a_direct_run_scores_them(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "big.jsonl", n_distinct=2000, n_dupes=30)
    env = make_env(tmp_path)
    with spawn_server("--suite", str(suite), "--answer", "mix:0.7", "--seed", "5", *FAST) as url:
        out = tmp_path / "batch"
        r = harness(env, *batch_args(suite, url, out, "--quiet", "--prompt-cache-key"), timeout=300)
        assert r.returncode == 0, r.stderr
        keys = keys_once(out)
        assert len(keys) == 2030 and set(keys.values()) == {1}
        lines = raw_lines(out)
        assert all(x["status"] == "ok" for x in lines)
        stats = server_stats(url)
        assert stats["batches_created"] == 1 and stats["chat_requests"] == 0
        assert stats["batch_lines_answered"] == 2000          # the 30 duplicates shared a line
        sent = input_lines(out)
        assert len(sent) == 2000 and len({x["custom_id"] for x in sent}) == 2000
        assert {x["custom_id"] for x in sent} == {x["request_hash"] for x in lines}
        assert len({x["body"]["prompt_cache_key"] for x in sent}) == 1   # one (system prompt, tools) prefix
        s = json.loads((out / "summary.json").read_text())
        assert s["n_samples"] == 2030 and s["runner"]["requests_sent"] == 2000
        assert s["runner"]["batch"]["status"] == ["completed"]
        state = json.loads((out / "batch.json").read_text())
        assert len(state["batches"][0]["answered"]) == 2000

        # the same verdicts, line for line, as the direct run of the same requests
        direct = tmp_path / "direct"
        r = harness(env, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out",
                    str(direct), "--system-prompt", "compact", "--split", "all", "--quiet", "--no-cache",
                    "--prompt-cache-key", timeout=300)
        assert r.returncode == 0, r.stderr
        by = {(x["id"], x["sample"]): (x["passed"], x["request_hash"]) for x in lines}
        assert by == {(x["id"], x["sample"]): (x["passed"], x["request_hash"]) for x in raw_lines(direct)}
        assert 0.6 < s["pass_rate"] < 0.8


def kill_after_submission(env: dict[str, str], args: list[str]) -> None:
    """Run `harness eval --batch ...` and kill -9 it once it says its batch is submitted."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:        # ends at the process's exit at the latest
            seen.append(line)
            if " submitted " in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)


@pytest.mark.parametrize("lose_id", [False, True], ids=["id-recorded", "id-lost"])
def test_kill_9_after_submission_then_resume_polls_the_same_batch(tmp_path: Path, lose_id: bool) -> None:
    """id-lost: the crash came between creating the batch and recording its id; resume finds the batch
    by its input file id instead of creating a second one."""
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=60, n_dupes=0)
    env = make_env(tmp_path)
    out = tmp_path / "run"
    # each state lasts 0.5 s: the run is in `validating` when it is killed
    with spawn_server("--suite", str(suite), "--batch-time-scale", "0.5") as url:
        args = batch_args(suite, url, out)
        kill_after_submission(env, args)
        state = json.loads((out / "batch.json").read_text())
        bid = state["batches"][0]["id"]
        assert bid and not state["batches"][0]["collected"]
        if lose_id:
            del state["batches"][0]["id"]
            (out / "batch.json").write_text(json.dumps(state))
        assert not (out / "results.jsonl").exists() or not raw_lines(out)

        r = harness(env, *args, "--resume", timeout=120)
        assert r.returncode == 0, r.stderr
        assert " submitted " not in r.stderr and ("found again" in r.stderr) == lose_id
        stats = server_stats(url)
        assert stats["batches_created"] == 1 and stats["batch_lines_answered"] == 60
        keys = keys_once(out)
        assert len(keys) == 60 and set(keys.values()) == {1}
        s = json.loads((out / "summary.json").read_text())
        assert s["runner"]["batch"]["ids"] == [bid] and s["runner"]["requests_sent"] == 0


def test_a_pending_batch_nobody_needs_is_cancelled_not_awaited(tmp_path: Path) -> None:
    """Killed after submission, resumed without --batch (every request sent directly), then resumed
    with --batch: the old batch is cancelled at the provider instead of waited for."""
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=30, n_dupes=0)
    env = make_env(tmp_path)
    out = tmp_path / "run"
    # 10 s per state: the batch is still validating when the direct resume has answered everything
    with spawn_server("--suite", str(suite), "--batch-time-scale", "10") as url:
        args = batch_args(suite, url, out)
        kill_after_submission(env, args)
        direct = [a for a in args if a not in ("--batch", "--batch-poll", "0.02")]
        r = harness(env, *direct, "--resume", "--no-cache", "--quiet")
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["chat_requests"] == 30
        r = harness(env, *args, "--resume", timeout=60)
        assert r.returncode == 0, r.stderr
        assert "cancelled: its requests were answered otherwise" in r.stderr
        stats = server_stats(url)
        assert stats["batches_created"] == 1 and stats["batch_status"] in ({"cancelling": 1}, {"cancelled": 1})
        assert len(keys_once(out)) == 30
        assert json.loads((out / "batch.json").read_text())["batches"][0]["collected"]


def test_expired_batch_keeps_its_partial_output_and_resume_completes_the_rest(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=60, n_dupes=0)
    env = make_env(tmp_path)
    out = tmp_path / "run"
    with spawn_server("--suite", str(suite), "--batch-expire-after", "40", *FAST) as url:
        args = batch_args(suite, url, out, "--quiet")
        r = harness(env, *args, timeout=120)
        assert r.returncode == 0, r.stderr
        lines = raw_lines(out)
        by = collections.Counter(x["status"] for x in lines)
        assert by == {"ok": 40, "error": 20}
        assert all("batch_expired" in x["error"] for x in lines if x["status"] == "error")
        assert "--resume" in r.stderr
        s = json.loads((out / "summary.json").read_text())
        assert s["errors"] == 20 and s["n_samples"] == 40 and s["runner"]["batch"]["status"] == ["expired"]

        r = harness(env, *args, "--resume", timeout=120)     # 20 lines: under the expiry
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["batches_created"] == 2
        second = json.loads((out / "batch" / "input-1.jsonl").read_text().splitlines()[0])
        assert second["custom_id"] in {x["request_hash"] for x in lines if x["status"] == "error"}
        assert len((out / "batch" / "input-1.jsonl").read_text().splitlines()) == 20
        s = json.loads((out / "summary.json").read_text())
        assert s["errors"] == 0 and s["n_samples"] == 60 and s["missing"] == 0


def test_cache_hits_and_dedupe_never_reach_the_batch_file(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=40, n_dupes=10)
    env = make_env(tmp_path)
    with spawn_server("--suite", str(suite), *FAST) as url:
        first = tmp_path / "first"
        r = harness(env, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out",
                    str(first), "--system-prompt", "compact", "--split", "all", "--shard", "0/2", "--quiet")
        assert r.returncode == 0, r.stderr
        cached = {x["request_hash"] for x in raw_lines(first)}
        out = tmp_path / "batch"
        r = harness(env, *batch_args(suite, url, out, "--quiet"), timeout=120)
        assert r.returncode == 0, r.stderr
        sent = {x["custom_id"] for x in input_lines(out)}
        assert sent and not sent & cached
        assert len(sent) + len(cached) == 40           # every distinct request once, in one place
        s = json.loads((out / "summary.json").read_text())
        assert s["runner"]["cache_hits"] == len(cached) and s["n_samples"] == 50
        assert len(keys_once(out)) == 50
        # and what the batch answered is in the response cache: a direct rerun sends nothing
        before = server_stats(url)["chat_requests"]
        r = harness(env, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out",
                    str(tmp_path / "rerun"), "--system-prompt", "compact", "--split", "all", "--quiet")
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["chat_requests"] == before


def test_failed_lines_are_error_lines_that_a_direct_resume_asks_again(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=60, n_dupes=0)
    env = make_env(tmp_path)
    out = tmp_path / "run"
    with spawn_server("--suite", str(suite), "--batch-fail-lines", "0.25", *FAST) as url:
        r = harness(env, *batch_args(suite, url, out, "--quiet"), timeout=120)
        assert r.returncode == 0, r.stderr
        errors = [x for x in raw_lines(out) if x["status"] == "error"]
        assert 5 < len(errors) < 30
        assert all(x["error"].startswith("HTTP 500") for x in errors)
        assert (out / "batch" / "errors-0.jsonl").is_file()
        r = harness(env, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out",
                    str(out), "--system-prompt", "compact", "--split", "all", "--quiet", "--resume")
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["chat_requests"] == len(errors)
        s = json.loads((out / "summary.json").read_text())
        assert s["errors"] == 0 and s["n_samples"] == 60


def test_dry_run_batch_is_half_the_uncached_price_from_the_table(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    base = ["eval", "--suite", "roo-starter", "--model", "gpt-4o-mini-2024-07-18", "--dry-run", "--split", "all"]
    direct = harness(env, *base)
    batch = harness(env, *base, "--batch")
    assert direct.returncode == 0 and batch.returncode == 0, direct.stderr + batch.stderr

    def row(text: str, label: str) -> list[float]:
        m = re.search(rf"^{re.escape(label)}\s+\$([\d.]+)\s+\$([\d.]+)\s+\$([\d.]+)", text, re.M)
        assert m, text
        return [float(x) for x in m.groups()]
    tokens = int(re.search(r"prompt tokens \(estimate, chars/4\): ([\d,]+)", direct.stdout)[1].replace(",", ""))
    completion = int(re.search(r"completion tokens .*: ([\d,]+)", direct.stdout)[1].replace(",", ""))
    d, b = row(direct.stdout, "direct"), row(batch.stdout, "--batch")
    assert d[0] == pytest.approx(tokens * 0.15 / 1e6, abs=1e-4)          # gpt-4o-mini: $0.15 / 1M input
    assert d[1] == pytest.approx(completion * 0.60 / 1e6, abs=1e-4)
    assert b[2] == pytest.approx(d[2] / 2, abs=1e-4)
    assert "<- this run" in [x for x in batch.stdout.splitlines() if x.startswith("--batch")][0]
    over = harness(env, *base, "--batch", "--price-in", "1", "--price-out", "0")
    assert row(over.stdout, "--batch")[2] == pytest.approx(tokens / 2e6, abs=1e-4)


def test_api_key_never_in_batch_files_run_dir_logs_or_stderr(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=20, n_dupes=0)
    env = make_env(tmp_path, OPENAI_API_KEY=SECRET)
    out = tmp_path / "run"
    with spawn_server("--suite", str(suite), "--api-key", SECRET, *FAST) as url:
        r = harness(env, *batch_args(suite, url, out), timeout=120)
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["batches_created"] == 1
        assert len(keys_once(out)) == 20
        wrong = "sk-wrong-0123456789abcdef"
        bad = harness(make_env(tmp_path, OPENAI_API_KEY=wrong), *batch_args(suite, url, tmp_path / "bad", "--no-cache"))
        assert bad.returncode == 2 and "401" in bad.stderr and "Traceback" not in bad.stderr
    assert SECRET not in r.stdout + r.stderr and wrong not in bad.stdout + bad.stderr
    for root in (out, tmp_path / "bad", tmp_path / "home", tmp_path / "cache"):
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert SECRET.encode() not in data and wrong.encode() not in data, f


# -- the scripted endpoint's state machine, through BatchClient --------------------------------------

def test_state_machine_completed_failed_cancelled_and_list() -> None:
    from harness.model.batches import BatchAPIError, BatchClient, input_line
    from harness.testing import ScriptedServer

    async def go() -> None:
        async with ScriptedServer(batch_time_scale=0.02) as srv:
            srv.batch.configure(lines_per_step=1)
            async with BatchClient(srv.url) as bc:
                body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
                data = b"".join(input_line(f"r{i}", body) for i in range(5))
                f = await bc.upload(data, "in.jsonl")
                assert f["object"] == "file" and f["purpose"] == "batch" and f["bytes"] == len(data)
                seen: list[str] = []
                b = await bc.create(f["id"])
                while b["status"] not in ("completed", "failed", "expired", "cancelled"):
                    if not seen or seen[-1] != b["status"]:
                        seen.append(b["status"])
                    await asyncio.sleep(0.005)
                    b = await bc.retrieve(b["id"])
                seen.append(b["status"])
                assert seen == ["validating", "in_progress", "finalizing", "completed"]
                assert b["request_counts"] == {"total": 5, "completed": 5, "failed": 0}
                out = [json.loads(x) for x in (await bc.content(b["output_file_id"])).splitlines()]
                assert [x["custom_id"] for x in out] == [f"r{i}" for i in range(5)]
                assert out[0]["response"]["status_code"] == 200 and out[0]["response"]["body"]["choices"]

                bad = await bc.upload(b'{"custom_id": "a"}\nnot json\n', "bad.jsonl")
                b = await bc.create(bad["id"])
                while b["status"] == "validating":
                    await asyncio.sleep(0.005)
                    b = await bc.retrieve(b["id"])
                assert b["status"] == "failed" and b["errors"]["data"][1]["line"] == 2

                f2 = await bc.upload(b"".join(input_line(f"x{i}", body) for i in range(50)), "long.jsonl")
                b = await bc.create(f2["id"])
                while b["request_counts"]["completed"] < 2:      # in_progress, some lines answered
                    await asyncio.sleep(0.005)
                    b = await bc.retrieve(b["id"])
                assert (await bc.cancel(b["id"]))["status"] == "cancelling"
                while b["status"] != "cancelled":
                    await asyncio.sleep(0.005)
                    b = await bc.retrieve(b["id"])
                assert 0 < b["request_counts"]["completed"] < 50 and b["cancelled_at"]

                listed = await bc.list(limit=2)
                assert [x["status"] for x in listed] == ["cancelled", "failed", "completed"]
                with pytest.raises(BatchAPIError, match="404"):
                    await bc.retrieve("batch-nope")
            assert srv.stats()["batches_created"] == 3
    asyncio.run(go())


# -- pure parts ---------------------------------------------------------------------------------------

def test_split_lines_respects_line_and_byte_limits() -> None:
    from harness.model.batches import BatchAPIError, split_lines
    lines = [b"x" * 10] * 25
    assert [len(g) for g in split_lines(lines, max_lines=10)] == [10, 10, 5]
    assert [len(g) for g in split_lines(lines, max_bytes=35)] == [3] * 8 + [1]
    assert sum(split_lines(lines), []) == list(range(25))
    with pytest.raises(BatchAPIError, match="byte"):
        split_lines([b"x" * 50], max_bytes=40)


def test_prices_lookup_override_and_batch_cost() -> None:
    from harness.model.prices import resolve
    from harness.score.metrics import _cost
    p = resolve("gpt-4o-mini-2024-07-18")
    assert p is not None and (p["prompt"], p["cached"], p["completion"], p["batch_discount"]) == (0.15, 0.075, 0.6, 0.5)
    assert "platform.openai.com" in p["source"]
    assert resolve("my-local-model") is None
    q = resolve("gpt-4o-mini", {"completion": 1.0})
    assert q is not None and q["completion"] == 1.0 and "overridden: completion" in q["source"]
    c = _cost(p, 2_000_000, 1_000_000, 1_000_000, 10, passed=4)
    assert c["total"] == pytest.approx(0.15 + 0.075 + 0.6) and c["per_passed_case"] == pytest.approx(c["total"] / 4)
    half = _cost(p, 2_000_000, 1_000_000, 1_000_000, 10, passed=4, batch=(2_000_000, 1_000_000, 1_000_000))
    assert half["total"] == pytest.approx(c["total"] / 2) and half["batch"]["total"] == half["total"]


def test_openai_cache_shape_minimum_steps_and_routing() -> None:
    from harness.testing.prompt_cache import OpenAICacheShape
    c = OpenAICacheShape(machines=4, blocks_per_machine=16)
    small = ["s" * 2000, "u" * 100]                      # ~525 tokens: under the 1,024 minimum
    assert c.request(small, t=0) == 0 and c.request(small, t=1) == 0
    big = ["S" * 5000, "m" * 400, "n" * 400]             # 1,250 + 100 + 100 tokens
    assert c.request(big, t=2) == 0
    assert c.request(["S" * 5000, "m" * 400, "x" * 400], t=3) == 1280     # 1,350 cached -> 128-token steps
    assert c.request(["S" * 5000, "q" * 400], t=4, key="other") in (0, 1152)  # another key may route elsewhere


def test_python_api_batch_true(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness
    from harness.testing import ScriptedServer
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=12, n_dupes=0)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))

    async def go() -> tuple[dict, dict]:
        async with ScriptedServer(suite=str(suite)) as srv:
            s = await harness.evaluate(str(suite), srv.url, "scripted", split="all", out=tmp_path / "r",
                                       cache=False, batch=True, batch_poll=0.02, system_prompt="compact",
                                       price={"prompt": 1.0, "completion": 2.0})
            return s, srv.stats()
    summary, stats = asyncio.run(go())
    assert stats["batches_created"] == 1 and stats["chat_requests"] == 0
    assert summary["n_samples"] == 12 and summary["pass_rate"] == 1.0
    cost = summary["cost"]
    t = summary["tokens"]
    full = ((t["prompt"] - t["cached"]) * 1.0 + t["cached"] * 1.0 + t["completion"] * 2.0) / 1e6
    assert cost["total"] == pytest.approx(full * 0.5) and cost["source"] == "command line"


def test_a_failed_batch_turns_its_requests_into_error_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider rejects the input file (validating -> failed): every request becomes an error line
    naming the batch and the provider's first validation error; the next --resume sends a new batch."""
    import harness
    import harness.model.batches as mb
    from harness.testing import ScriptedServer
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=6, n_dupes=0)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    good = mb.input_line

    async def go() -> tuple[dict, dict, dict]:
        async with ScriptedServer(suite=str(suite)) as srv:
            kw = dict(split="all", out=tmp_path / "r", cache=False, batch=True, batch_poll=0.02,
                      system_prompt="compact")
            monkeypatch.setattr(mb, "input_line", lambda cid, body: b'{"custom_id": "x", "method": "GET"}\n')
            first = await harness.evaluate(str(suite), srv.url, "scripted", **kw)
            monkeypatch.setattr(mb, "input_line", good)
            second = await harness.evaluate(str(suite), srv.url, "scripted", resume=True, **kw)
            return first, second, srv.stats()
    first, second, stats = asyncio.run(go())
    assert first["errors"] == 6 and first["n_samples"] == 0 and first["runner"]["batch"]["status"] == ["failed"]
    errs = [x["error"] for x in raw_lines(tmp_path / "r") if x["status"] == "error"]
    assert len(errs) == 6 and all("ended failed" in e and "invalid_url" in e for e in errs)
    assert second["errors"] == 0 and second["n_samples"] == 6
    assert stats["batches_created"] == 2 and stats["batch_status"] == {"failed": 1, "completed": 1}


def test_a_run_over_the_per_file_limits_is_split_into_several_batches(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import harness
    import harness.model.batches as mb
    from harness.testing import ScriptedServer
    suite = write_suite(tmp_path / "s.jsonl", n_distinct=60, n_dupes=0)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mb, "MAX_LINES", 25)

    async def go() -> tuple[dict, dict]:
        async with ScriptedServer(suite=str(suite)) as srv:
            s = await harness.evaluate(str(suite), srv.url, "scripted", split="all", out=tmp_path / "r",
                                       cache=False, batch=True, batch_poll=0.02, system_prompt="compact")
            return s, srv.stats()
    summary, stats = asyncio.run(go())
    assert stats["batches_created"] == 3 and stats["batch_lines_answered"] == 60
    assert [len(f.read_text().splitlines()) for f in sorted((tmp_path / "r" / "batch").glob("input-*"))] == [25, 25, 10]
    assert summary["n_samples"] == 60 and summary["runner"]["batch"]["status"] == ["completed"] * 3
    assert len(keys_once(tmp_path / "r")) == 60
