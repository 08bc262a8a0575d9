"""`harness eval` / `compare` / `merge` as real subprocesses against the scripted server (a real HTTP peer
on loopback, its own process). No sleeps as synchronisation: the kill test polls results.jsonl with a
deadline; everything else waits for processes to finish."""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.testing import spawn_server

ROOT = Path(__file__).resolve().parents[2]
RESULT_FIELDS = ["id", "sample", "status", "passed", "violations", "calls", "response", "usage", "latency_ms",
                 "request_hash"]
SECRET = "sk-test-SECRET-0123456789"


# -- helpers ----------------------------------------------------------------------------------------

def write_suite(path: Path, n_distinct: int = 30, n_dupes: int = 10) -> Path:
    """A roo-xml suite: n_distinct read_file/execute_command cases, plus n_dupes cases whose request
    is byte-identical to one of the first ones (other id, same messages and expectation)."""
    lines = [json.dumps({"suite": {"name": "tiny-eval", "protocol": "roo-xml", "mode": "code"}})]
    for i in range(n_distinct + n_dupes):
        j = i if i < n_distinct else i - n_distinct
        split = "train" if i % 4 == 3 else "test"
        if j % 3 == 2:
            cmd = f"pytest -q tests/test_{j}.py"
            case = {"messages": [{"role": "user", "content": f"<task>\nRun {cmd}\n</task>"}],
                    "expect": {"calls": [{"name": "execute_command", "arguments": {"command": {"const": cmd}}}]},
                    "reference": {"role": "assistant",
                                  "content": f"<execute_command>\n<command>{cmd}</command>\n</execute_command>"},
                    "tags": ["execute_command"]}
        else:
            p = f"src/mod_{j}.py"
            case = {"messages": [{"role": "user", "content": f"<task>\nShow me {p}.\n</task>"}],
                    "expect": {"calls": [{"name": "read_file"}]},
                    "reference": {"role": "assistant", "content":
                                  f"<read_file>\n<args>\n<file>\n<path>{p}</path>\n</file>\n</args>\n</read_file>"},
                    "tags": ["read_file"]}
        lines.append(json.dumps({"id": f"c{i:03d}", "split": split, **case}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT),
               COLUMNS="200")
    env.update(extra)
    return env


def harness(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def eval_args(suite: Path | str, url: str, out: Path, *extra: str) -> list[str]:
    return ["eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out", str(out),
            "--system-prompt", "compact", "--quiet", "--split", "all", *extra]   # all: the tests count every case


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as r:
        return json.loads(r.read())


def reset_stats(url: str) -> None:
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/reset_stats", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def raw_lines(out: Path) -> list[dict]:
    """Every complete line of results.jsonl (a kill -9 may leave a last line without its newline: the
    next run cuts it off, and so does this reader)."""
    parts = (out / "results.jsonl").read_bytes().split(b"\n")
    return [json.loads(x) for x in parts[:-1] if x.strip()]


def case_ids(suite: Path, split: str | None = None) -> list[str]:
    ids = []
    for x in suite.read_text().splitlines()[1:]:
        c = json.loads(x)
        if split in (None, "all") or c.get("split", "test") == split:
            ids.append(c["id"])
    return ids


def verdicts(out: Path) -> dict[tuple[str, int], bool]:
    return {(r["id"], r["sample"]): r["passed"] for r in raw_lines(out) if r["status"] == "ok"}


@pytest.fixture()
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "tiny.jsonl")


# -- the run directory ------------------------------------------------------------------------------

def test_run_dir_fields_dedupe_cache_and_leaderboard(tmp_path: Path, suite: Path) -> None:
    env = make_env(tmp_path)
    ids = case_ids(suite)
    with spawn_server("--suite", str(suite), "--answer", "mix:0.7", "--seed", "3") as url:
        out = tmp_path / "run1"
        r = harness(env, *eval_args(suite, url, out, "--seed", "11", "--temperature", "0.7"))
        assert r.returncode == 0, r.stderr
        st = server_stats(url)
        # dedupe: 40 cases, 30 distinct requests
        assert st["chat_requests"] == 30, st
        assert st["unmatched"] == 0

        m = json.loads((out / "run.json").read_text())
        assert m["suite"]["name"] == "tiny-eval" and len(m["suite"]["hash"]) >= 16
        assert m["endpoint"] == url and m["model"] == "scripted"
        assert m["protocol"]["name"] == "roo-xml"
        assert m["system_prompt"]["style"] == "compact"
        assert m["sampling"]["temperature"] == 0.7 and m["sampling"]["samples"] == 1
        assert m["seed"] == 11
        assert m["harness_version"] and m["started_at"] and m["ended_at"] and m["host"]
        assert m["api_key_env"] == "OPENAI_API_KEY"

        lines = raw_lines(out)
        assert sorted((x["id"], x["sample"]) for x in lines) == sorted((i, 0) for i in ids)
        for x in lines:
            assert list(x)[: len(RESULT_FIELDS)] == RESULT_FIELDS and set(x) == set(RESULT_FIELDS), x
            assert x["status"] == "ok" and isinstance(x["passed"], bool)
            assert set(x["usage"]) == {"prompt_tokens", "completion_tokens", "cached_tokens"}
            assert x["latency_ms"] > 0 and len(x["request_hash"]) == 32
            assert x["response"]["role"] == "assistant"
        # duplicated cases share one request (same hash) but each has its own line
        by_id = {x["id"]: x for x in lines}
        assert by_id["c030"]["request_hash"] == by_id["c000"]["request_hash"]
        assert by_id["c030"]["response"] == by_id["c000"]["response"]
        # usage of a shared request is split, not counted twice
        assert sum(x["usage"]["prompt_tokens"] for x in lines) == st["prompt_tokens"]
        assert sum(x["usage"]["completion_tokens"] for x in lines) == st["completion_tokens"]

        s = json.loads((out / "summary.json").read_text())
        for k in ("n_cases", "n_samples", "passed", "pass_rate", "ci95", "pass_at_k", "pass_hat_k", "by_tool",
                  "by_tag", "by_violation", "tokens", "latency_ms", "wall_s", "requests_per_s", "errors"):
            assert k in s, k
        assert s["n_cases"] == 40 and s["n_samples"] == 40 and s["errors"] == 0
        assert s["passed"] == sum(1 for x in lines if x["passed"])
        assert 0 < s["pass_rate"] < 1   # mix:0.7 answers: some pass, some fail
        assert s["tokens"]["prompt"] == st["prompt_tokens"]
        assert s["tokens"]["cached"] == st["cached_tokens"] > 0   # prefix-ordered: the server's cache hit
        assert s["runner"]["requests_sent"] == 30 and s["runner"]["deduped"] == 10

        # registered in the leaderboard
        r = harness(env, "leaderboard", "--json")
        assert r.returncode == 0, r.stderr
        assert str(out.resolve()) in r.stdout

        # a rerun costs no request: every answer comes from the response cache
        reset_stats(url)
        out2 = tmp_path / "run2"
        r = harness(env, *eval_args(suite, url, out2, "--seed", "11", "--temperature", "0.7"))
        assert r.returncode == 0, r.stderr
        assert server_stats(url)["chat_requests"] == 0
        assert verdicts(out2) == verdicts(out)
        assert json.loads((out2 / "summary.json").read_text())["runner"]["cache_hits"] == 30

        # --split test only
        reset_stats(url)
        out3 = tmp_path / "run3"
        r = harness(env, *eval_args(suite, url, out3, "--split", "test", "--no-cache"))
        assert r.returncode == 0, r.stderr
        assert {x["id"] for x in raw_lines(out3)} == set(case_ids(suite, "test"))


def test_samples_n_and_fallback(tmp_path: Path, suite: Path) -> None:
    env = make_env(tmp_path)
    ids = case_ids(suite)
    want = sorted((i, s) for i in ids for s in range(5))
    with spawn_server("--suite", str(suite), "--answer", "mix:0.6") as url:
        out = tmp_path / "n5"
        r = harness(env, *eval_args(suite, url, out, "--samples", "5"))
        assert r.returncode == 0, r.stderr
        st = server_stats(url)
        assert st["chat_requests"] == 30 and st["n_total"] == 150   # one request per distinct case, n=5
        assert sorted((x["id"], x["sample"]) for x in raw_lines(out)) == want
        s = json.loads((out / "summary.json").read_text())
        assert set(s["pass_at_k"]) == {"1", "2", "5"} and s["runner"]["n_supported"] is True
        tokens_n = s["tokens"]["prompt"]
    with spawn_server("--suite", str(suite), "--answer", "mix:0.6", "--no-n") as url:
        out = tmp_path / "sep"
        r = harness(env, *eval_args(suite, url, out, "--samples", "5", "--no-cache", "--seed", "5"))
        assert r.returncode == 0, r.stderr
        st = server_stats(url)
        assert st["by_status"].get("400", 0) == 1       # one probe learnt that n is refused
        assert st["by_status"]["200"] == 151            # then 5 requests per distinct case (+ GET /models)
        lines = raw_lines(out)
        assert sorted((x["id"], x["sample"]) for x in lines) == want
        assert all(x["status"] == "ok" for x in lines)
        s = json.loads((out / "summary.json").read_text())
        assert s["runner"]["n_supported"] is False
        tokens_sep = s["tokens"]["prompt"]
    ratio = tokens_n / tokens_sep
    assert 0.17 <= ratio <= 0.23, (tokens_n, tokens_sep)


def test_fault_matrix_then_one_resume(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    out = tmp_path / "faults"
    args = ["--suite", "roo-starter", "--answer", "reference", "--fail-429", "0.1", "--retry-after", "0.5",
            "--fail-500", "0.05", "--drop", "0.02", "--hang", "0.01", "--seed", "7"]
    with spawn_server(*args) as url:
        eargs = eval_args("roo-starter", url, out, "--split", "test", "--timeout", "3", "--concurrency", "16",
                          "--max-retries", "3")
        r = harness(env, *eargs, timeout=240)
        assert r.returncode in (0, 1), r.stderr
        st = server_stats(url)
        assert st["faults"].get("fail_429", 0) > 0 and st["faults"].get("fail_500", 0) > 0
        assert st["faults"].get("hang", 0) + st["faults"].get("drop", 0) > 0
        lines = raw_lines(out)
        keys = collections.Counter((x["id"], x["sample"]) for x in lines)
        assert len(keys) == 170 and max(keys.values()) == 1          # every case once, none twice
        n_err = sum(1 for x in lines if x["status"] == "error")
        for x in lines:
            if x["status"] == "error":
                assert x["error"] and x["passed"] is None
        if n_err:
            r = harness(env, *eargs, "--resume", timeout=240)
            assert r.returncode == 0, r.stderr
        lines = raw_lines(out)
        ok = collections.Counter((x["id"], x["sample"]) for x in lines if x["status"] == "ok")
        assert len(ok) == 170 and max(ok.values()) == 1
        s = json.loads((out / "summary.json").read_text())
        assert s["n_samples"] == 170 and s["errors"] == 0 and s["pass_rate"] == 1.0


def test_kill_9_then_resume(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    out = tmp_path / "killed"
    conc = 8
    with spawn_server("--suite", "roo-starter", "--answer", "mix:0.8", "--latency", "0.25") as url:
        eargs = eval_args("roo-starter", url, out, "--split", "test", "--concurrency", str(conc))
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *eargs], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        try:
            while True:   # poll the file, bounded: kill once some lines are written
                n = results.read_bytes().count(b"\n") if results.exists() else 0
                if n >= 40 or proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert proc.poll() is None, "the run finished before it could be killed"
            assert n >= 40, "no results were written in time"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
        before = len({(x["id"], x["sample"]) for x in raw_lines(out)})
        assert 40 <= before < 170
        assert not (out / "summary.json").exists()
        r = harness(env, *eargs, "--resume", timeout=120)
        assert r.returncode == 0, r.stderr
        lines = raw_lines(out)
        keys = collections.Counter((x["id"], x["sample"]) for x in lines)
        assert len(keys) == 170 and max(keys.values()) == 1       # all exactly once
        assert all(x["status"] == "ok" for x in lines)
        total = server_stats(url)["chat_requests"]
        # asked again: at most what was in flight when the process died
        assert 170 <= total <= 170 + conc, total
        s = json.loads((out / "summary.json").read_text())
        assert s["runner"]["resumed_samples"] == before and s["n_samples"] == 170
        m = json.loads((out / "run.json").read_text())
        assert m["resumed"] and m["ended_at"]


def test_shards_merge_equal_unsharded_and_compare(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    with spawn_server("--suite", "roo-starter", "--answer", "mix:0.7", "--models", "scripted,other") as url:
        full = tmp_path / "full"
        assert harness(env, *eval_args("roo-starter", url, full, "--split", "test", "--no-cache")).returncode == 0
        shards = []
        for i in range(2):
            o = tmp_path / f"shard{i}"
            r = harness(env, *eval_args("roo-starter", url, o, "--split", "test", "--shard", f"{i}/2", "--no-cache"))
            assert r.returncode == 0, r.stderr
            shards.append(o)
        ids0 = {x["id"] for x in raw_lines(shards[0])}
        ids1 = {x["id"] for x in raw_lines(shards[1])}
        assert ids0 and ids1 and not ids0 & ids1
        merged = tmp_path / "merged"
        r = harness(env, "merge", str(shards[0]), str(shards[1]), "--out", str(merged), "--quiet")
        assert r.returncode == 0, r.stderr
        assert verdicts(merged) == verdicts(full)
        sm, sf = (json.loads((d / "summary.json").read_text()) for d in (merged, full))
        assert sm["n_samples"] == sf["n_samples"] == 170 and sm["passed"] == sf["passed"]
        assert sm["by_tool"] == sf["by_tool"]

        # a run of another model is refused, naming what differs
        other = tmp_path / "other"
        r = harness(env, "eval", "--suite", "roo-starter", "--endpoint", url, "--model", "other", "--out", str(other),
                    "--system-prompt", "compact", "--quiet", "--split", "test", "--shard", "0/2")
        assert r.returncode == 0, r.stderr
        r = harness(env, "merge", str(shards[1]), str(other), "--out", str(tmp_path / "bad"))
        assert r.returncode == 2 and "model" in r.stderr

    # compare: a run answered by reference vs the mixed one
    with spawn_server("--suite", "roo-starter", "--answer", "reference") as url:
        good = tmp_path / "good"
        assert harness(env, *eval_args("roo-starter", url, good, "--split", "test", "--no-cache")).returncode == 0
    r = harness(env, "compare", str(full), str(good), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    vf, vg = verdicts(full), verdicts(good)
    expect_up = sorted(i for (i, _), p in vf.items() if not p and vg[(i, 0)])
    assert res["flipped"]["fail_to_pass"] == expect_up and len(expect_up) > 10
    assert res["flipped"]["pass_to_fail"] == []
    assert res["paired"]["significant"] and res["paired"]["p_value"] < 0.001
    r = harness(env, "compare", str(full), str(good))
    assert r.returncode == 0 and "fail → pass" in r.stdout and "McNemar" in r.stdout


def test_junit_fail_under_and_dry_run(tmp_path: Path, suite: Path) -> None:
    env = make_env(tmp_path)
    with spawn_server("--suite", str(suite), "--answer", "mix:0.5") as url:
        r = harness(env, *eval_args(suite, url, tmp_path / "dry", "--dry-run"))
        assert r.returncode == 0, r.stderr
        assert "dry run: 30 requests" in r.stdout and "prompt tokens (estimate" in r.stdout
        assert server_stats(url)["chat_requests"] == 0
        assert not (tmp_path / "dry").exists()

        out = tmp_path / "j"
        junit = tmp_path / "reports" / "junit.xml"
        r = harness(env, *eval_args(suite, url, out, "--junit", str(junit), "--fail-under", "0.99"))
        assert r.returncode == 1 and "fail-under" in r.stderr
        root = ET.parse(junit).getroot()
        cases = root.findall("testcase")
        lines = raw_lines(out)
        assert len(cases) == len(lines) == 40
        failed = [x for x in lines if not x["passed"]]
        assert int(root.get("failures")) == len(failed) == len(root.findall("testcase/failure")) > 0
        f = root.find("testcase/failure")
        assert f is not None and f.get("message")

        # after the run (cache on), the dry run says everything is answered by the cache
        r = harness(env, *eval_args(suite, url, tmp_path / "dry2", "--dry-run"))
        assert "dry run: 0 requests" in r.stdout and "30 answered by the cache" in r.stdout


def test_user_errors_exit_2(tmp_path: Path, suite: Path) -> None:
    env = make_env(tmp_path)
    with spawn_server("--suite", str(suite)) as url:
        out = tmp_path / "r"
        assert harness(env, *eval_args(suite, url, out)).returncode == 0
        r = harness(env, *eval_args(suite, url, out))
        assert r.returncode == 2 and "--resume" in r.stderr
        r = harness(env, "eval", "--suite", str(suite), "--endpoint", url, "--model", "another", "--out", str(out),
                    "--system-prompt", "compact", "--resume", "--quiet")
        assert r.returncode == 2 and "model" in r.stderr and "differs" in r.stderr
        r = harness(env, *eval_args(suite, url, out, "--samples", "3", "--resume"))
        assert r.returncode == 2 and "sampling" in r.stderr
        r = harness(env, *eval_args(suite, url, tmp_path / "none", "--resume"))
        assert r.returncode == 2 and "no run to resume" in r.stderr
        r = harness(env, *eval_args(tmp_path / "missing.jsonl", url, tmp_path / "x"))
        assert r.returncode == 2
        # a finished run resumed with the same settings asks nothing
        reset_stats(url)
        r = harness(env, *eval_args(suite, url, out, "--resume"))
        assert r.returncode == 0 and server_stats(url)["chat_requests"] == 0


def test_api_key_never_written(tmp_path: Path, suite: Path) -> None:
    env = make_env(tmp_path, OPENAI_API_KEY=SECRET)
    with spawn_server("--suite", str(suite), "--api-key", SECRET) as url:
        out = tmp_path / "run"
        r = harness(env, *eval_args(suite, url, out, "--junit", str(tmp_path / "j.xml")))
        assert r.returncode == 0, r.stderr
        # the server requires the key (401 otherwise): every answer is ok, so it saw it
        assert server_stats(url)["by_status"] == {"200": 31}    # 30 chat requests + the pre-flight's /models
        assert all(x["status"] == "ok" for x in raw_lines(out))
        assert SECRET not in r.stdout and SECRET not in r.stderr
        files = [p for d in (out, tmp_path / "cache", tmp_path / "home") for p in d.rglob("*") if p.is_file()]
        files.append(tmp_path / "j.xml")
        assert any(p.name.startswith("responses.sqlite") for p in files)
        for p in files:
            assert SECRET.encode() not in p.read_bytes(), p
        assert json.loads((out / "run.json").read_text())["api_key_env"] == "OPENAI_API_KEY"
        # without the key the server refuses: error lines, exit 1, still no secret anywhere
        env2 = make_env(tmp_path)
        out2 = tmp_path / "nokey"
        r = harness(env2, *eval_args(suite, url, out2, "--no-cache"))
        assert r.returncode == 1
        assert all(x["status"] == "error" and "401" in x["error"] for x in raw_lines(out2))
