"""The runner right by default against real servers (issue 14, item 3): greedy unless asked otherwise,
stop sequences per protocol with the closing tag restored, the response cache keyed on the served
weights, `--split test` by default, a status line when piped, and the endpoint pre-flight.

Real processes on loopback: the scripted server (posing as vLLM or llama.cpp with --owned-by, with the
weights it reports in /v1/models set by --model-root) and `harness eval` as a subprocess; the pre-flight
failures against tiny stdlib HTTP servers started here and a closed port."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.eval import EvalConfig
from harness.eval.dispatch import Runner
from harness.eval.stops import StopPolicy, policy_for, restore_stop, stops_for, unclosed_tool
from harness.model.preflight import PreflightError, check_endpoint
from harness.testing import spawn_server

ROOT = Path(__file__).resolve().parents[2]
READ = "<read_file>\n<args>\n<file>\n<path>src/a.py</path>\n</file>\n</args>\n</read_file>"


def write_suite(path: Path, n: int = 12) -> Path:
    """A roo-xml suite (code mode) of read_file cases, every fourth one in the train split."""
    lines = [json.dumps({"suite": {"name": "defaults", "protocol": "roo-xml", "mode": "code"}})]
    for i in range(n):
        lines.append(json.dumps({
            "id": f"c{i:02d}", "split": "train" if i % 4 == 3 else "test",
            "messages": [{"role": "user", "content": f"<task>\nShow me src/a.py ({i}).\n</task>"}],
            "expect": {"calls": [{"name": "read_file"}]},
            "reference": {"role": "assistant", "content": READ}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_script(path: Path) -> Path:
    """One answer for every case: a good read_file call, then text and a second call (what a model that
    does not stop writes). Cut at </read_file> it is a single well-formed call."""
    msg = {"role": "assistant", "content": READ + "\n\nNow let me also run the tests.\n"
                                                  "<execute_command>\n<command>pytest</command>\n</execute_command>"}
    path.write_text(json.dumps({"contains": "Show me", "message": msg}) + "\n", encoding="utf-8")
    return path


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT),
               COLUMNS="200")
    env.update(extra)
    return env


def run_eval(env: dict[str, str], suite: Path, url: str, out: Path, *extra: str,
             quiet: bool = True) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "harness.cli", "eval", "--suite", str(suite), "--endpoint", url, "--model",
            "scripted", "--out", str(out), "--system-prompt", "compact", "--no-register", *extra]
    if quiet:
        args.append("--quiet")
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def results(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x.strip()]


def stats(url: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as r:
        return json.loads(r.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- greedy by default -----------------------------------------------------------------------------

def planned_bodies(suite: Path, **kw) -> list[dict]:
    r = Runner(EvalConfig(suite=str(suite), endpoints=["http://127.0.0.1:9/v1"], model="m", **kw))
    r.load()
    return [json.loads(q.body) for q in r.plan(set())]


def test_greedy_unless_samples_or_temperature(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    assert {b["temperature"] for b in planned_bodies(suite)} == {0.0}
    assert {b["temperature"] for b in planned_bodies(suite, temperature=0.7)} == {0.7}
    several = planned_bodies(suite, samples=3)
    assert all("temperature" not in b and b["n"] == 3 for b in several)   # k greedy samples would be copies


# -- stop sequences ----------------------------------------------------------------------------------

def test_stop_policy_rules():
    stop = tuple(f"</t{i}>" for i in range(6))
    assert stops_for(stop, policy_for(["vllm"])) == list(stop)              # vLLM: the whole list
    assert policy_for(["vllm"]).include_in_output and not policy_for(["vllm"]).guess_close
    assert stops_for(stop, policy_for([])) == []                            # unknown (OpenAI): > 4 -> none
    assert stops_for(stop[:4], policy_for(["openai"])) == list(stop[:4])    # <= 4 -> all of them
    assert stops_for(stop, policy_for(["vllm"], enabled=False)) == []       # --no-stop


def test_closing_tag_restored_vllm_and_openai_style():
    stops = ["</read_file>", "</execute_command>"]
    cut = READ[: -len("</read_file>")]
    msg = {"role": "assistant", "content": cut}           # vLLM without include_stop_str_in_output
    assert restore_stop(msg, {"finish_reason": "stop", "stop_reason": "</read_file>"}, stops) == "</read_file>"
    assert msg["content"] == READ
    kept = {"role": "assistant", "content": READ}          # vLLM with it: already there, nothing added
    assert restore_stop(kept, {"finish_reason": "stop", "stop_reason": "</read_file>"}, stops) is None
    assert kept["content"] == READ
    oa = {"role": "assistant", "content": cut}             # OpenAI: no stop_reason; the open tag is closed
    assert restore_stop(oa, {"finish_reason": "stop"}, stops) == "</read_file>" and oa["content"] == READ
    eos = {"role": "assistant", "content": cut}            # an end-of-turn token id: nothing was cut
    assert restore_stop(eos, {"finish_reason": "stop", "stop_reason": 2}, stops) is None
    length = {"role": "assistant", "content": cut}         # cut by max_tokens: left as it is (unclosed)
    assert restore_stop(length, {"finish_reason": "length"}, stops) is None
    assert unclosed_tool("text <read_file><path>x</path></read_file> more", stops) is None


def test_stop_sequences_in_the_body_per_endpoint(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    r = Runner(EvalConfig(suite=str(suite), endpoints=["http://127.0.0.1:9/v1"], model="m"))
    r.load()
    r.stop_policy = policy_for(["vllm"])
    body = json.loads(r.plan(set())[0].body)
    assert "</read_file>" in body["stop"] and "</execute_command>" in body["stop"]
    assert body["include_stop_str_in_output"] is True
    r2 = Runner(EvalConfig(suite=str(suite), endpoints=["http://127.0.0.1:9/v1"], model="m"))
    r2.load()
    r2.stop_policy = StopPolicy()                  # not known to take more than 4: Roo's code mode has 21
    assert "stop" not in json.loads(r2.plan(set())[0].body)


@pytest.mark.parametrize("owned_by", ["vllm", "llamacpp"])
def test_stop_ends_after_the_first_call_and_the_tag_is_kept(tmp_path, owned_by):
    suite, script = write_suite(tmp_path / "s.jsonl"), write_script(tmp_path / "script.jsonl")
    env = env_for(tmp_path)
    with spawn_server("--script", str(script), "--owned-by", owned_by) as url:
        r = run_eval(env, suite, url, tmp_path / "stop", "--split", "all")
        assert r.returncode == 0, r.stderr
        rows = results(tmp_path / "stop")
        assert len(rows) == 12 and all(x["passed"] for x in rows), rows[0]
        assert all(x["response"]["content"] == READ for x in rows)     # ends with its closing tag
        run = json.loads((tmp_path / "stop" / "run.json").read_text())
        assert run["endpoint_check"]["stop"]["server"] == owned_by
        assert run["endpoint_check"]["stop"]["include_stop_str_in_output"] is (owned_by == "vllm")
        r = run_eval(env, suite, url, tmp_path / "nostop", "--split", "all", "--no-stop", "--no-cache")
        rows = results(tmp_path / "nostop")
        assert not any(x["passed"] for x in rows)                      # the model went on: two calls
        assert {"multiple_tool_calls"} <= {v["code"] for v in rows[0]["violations"]}
        assert json.loads((tmp_path / "nostop" / "run.json").read_text())["endpoint_check"]["stop"]["enabled"] is False


# -- the response cache keyed on the served weights -----------------------------------------------

def test_restarted_server_with_other_weights_is_not_answered_from_the_cache(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    env = env_for(tmp_path)
    port = free_port()
    sent = []
    for i, root in enumerate(["/models/A", "/models/A", "/models/B", "/models/B"]):
        with spawn_server("--suite", str(suite), "--port", str(port), "--owned-by", "vllm",
                          "--model-root", root) as url:
            assert f":{port}/" in url
            r = run_eval(env, suite, url, tmp_path / f"run{i}", "--split", "all")
            assert r.returncode == 0, r.stderr
            sent.append(stats(url)["chat_requests"])
            m = json.loads((tmp_path / f"run{i}" / "run.json").read_text())
            assert m["endpoint_check"]["weights"] == [{"root": root}]
    # A: all sent; A again (restarted): 0; B under the same name: all sent again; B again: 0
    assert sent == [12, 0, 12, 0], sent


def test_model_revision_keys_the_cache(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    env = env_for(tmp_path)
    with spawn_server("--suite", str(suite)) as url:
        counts = []
        for i, rev in enumerate(["2026-01", "2026-01", "2026-02"]):
            before = stats(url)["chat_requests"]
            r = run_eval(env, suite, url, tmp_path / f"r{i}", "--split", "all", "--model-revision", rev)
            assert r.returncode == 0, r.stderr
            counts.append(stats(url)["chat_requests"] - before)
    assert counts == [12, 0, 12]


# -- split default and the status line -----------------------------------------------------------

def test_split_test_by_default_and_status_line_when_piped(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", n=40)
    env = env_for(tmp_path, HARNESS_STATUS_EVERY="0.1")
    with spawn_server("--suite", str(suite), "--latency", "0.03") as url:
        r = run_eval(env, suite, url, tmp_path / "run", "--concurrency", "2", quiet=False)
        assert r.returncode == 0, r.stderr
        assert "split test (the default" in r.stderr
        m = json.loads((tmp_path / "run" / "run.json").read_text())
        assert m["split"] == "test" and m["split_default"] is True
        assert m["sampling"]["temperature"] == 0.0 and m["sampling"]["decoding"] == "greedy"
        assert len(results(tmp_path / "run")) == 30               # the 10 train cases are left out
        lines = [x for x in r.stderr.splitlines() if x.startswith("eval ")]
        assert len(lines) >= 2, r.stderr                            # ~0.5 s of requests, a line per 0.1 s
        assert lines[-1].startswith("eval 30/30 (100%) · pass 100.0% · ") and "errors 0" in lines[-1]
        assert "req/s" in lines[0] and "ETA" in lines[0]
        r = run_eval(env, suite, url, tmp_path / "all", "--split", "all", "--no-cache")
        assert len(results(tmp_path / "all")) == 40


# -- the pre-flight ------------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        status, body = self.routes.get(self.path, (404, {"error": "not found"}))
        if status is None:          # hang: no answer until the test is over
            self.server.release.wait(30)
            return
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@contextlib.contextmanager
def http_server(routes: dict):
    handler = type("H", (_Handler,), {"routes": routes})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    srv.release = threading.Event()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()


MODELS = {"object": "list", "data": [{"id": "qwen", "object": "model", "owned_by": "vllm", "root": "/m/qwen"},
                                     {"id": "llama", "object": "model", "owned_by": "vllm"}]}


def timed_error(endpoint: str, model: str = "qwen", key: str | None = None) -> tuple[str, float]:
    t0 = time.perf_counter()
    with pytest.raises(PreflightError) as e:
        check_endpoint(endpoint, model, api_key=key, api_key_env="MY_KEY")
    took = time.perf_counter() - t0
    assert took <= 2.0 + 0.25, took
    return str(e.value), took


def test_preflight_failures_each_in_under_2_s():
    port = free_port()                                        # nothing listens there
    msg, _ = timed_error(f"http://127.0.0.1:{port}/v1")
    assert "cannot connect" in msg and "refused" in msg.lower() and "--no-preflight" in msg
    with http_server({"/v1/models": (200, MODELS)}) as base:
        msg, _ = timed_error(base)                           # the /v1 left out
        assert f"use --endpoint {base}/v1" in msg
        msg, _ = timed_error(base + "/v1", model="gpt-5")     # unknown model: the served ones listed
        assert "does not serve model 'gpt-5'" in msg and "llama, qwen" in msg
        ok = check_endpoint(base + "/v1", "qwen", api_key=None, api_key_env="MY_KEY")
        assert ok.owned_by == "vllm" and ok.identity == {"root": "/m/qwen"} and ok.elapsed_s < 2
    with http_server({"/v1/models": (401, {"error": {"message": "Incorrect API key"}})}) as base:
        msg, _ = timed_error(base + "/v1")
        assert "export MY_KEY=" in msg
        msg, _ = timed_error(base + "/v1", key="sk-wrong-0123456789")
        assert "the key in $MY_KEY was refused" in msg and "sk-wrong" not in msg
    with http_server({"/v1/models": (None, None)}) as base:
        msg, took = timed_error(base + "/v1")
        assert "no answer within 2 s" in msg and took >= 1.9
    with http_server({}) as base:                             # a good base without /models: warn, go on
        served = check_endpoint(base + "/v1", "qwen", api_key=None, api_key_env="MY_KEY")
        assert served.warning and "404" in served.warning and served.identity is None


def test_eval_against_a_closed_port_fails_fast_before_any_case(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    t0 = time.perf_counter()
    r = run_eval(env_for(tmp_path), suite, f"http://127.0.0.1:{free_port()}/v1", tmp_path / "run")
    took = time.perf_counter() - t0
    assert r.returncode == 2 and "cannot connect" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run" / "results.jsonl").exists()
    assert took < 10, took          # process start + imports; the check itself is under 2 s
    r = run_eval(env_for(tmp_path), suite, f"http://127.0.0.1:{free_port()}/v1", tmp_path / "run2",
                 "--no-preflight", "--max-retries", "0", "--timeout", "2")
    assert "cannot connect" not in r.stderr                   # skipped: the requests themselves fail


# -- cold load of a BFCL-sized suite -------------------------------------------------------------

COLD_LOAD = r"""
import json, sys, time
import jsonschema
calls = []
orig = jsonschema.Draft202012Validator.check_schema.__func__
jsonschema.Draft202012Validator.check_schema = classmethod(lambda cls, s, *a, **k: (calls.append(1), orig(cls, s, *a, **k)))
from harness.eval import EvalConfig
from harness.eval.dispatch import Runner
t = time.perf_counter()
r = Runner(EvalConfig(suite=sys.argv[1], endpoints=["http://127.0.0.1:9/v1"], model="m"))
r.load()
print(json.dumps({"s": time.perf_counter() - t, "cases": len(r.cases), "check_schema": len(calls)}))
"""


def write_bfcl_like(path: Path, n: int = 2311) -> Path:
    """n native cases shaped like BFCL's AST categories: each offers its own function, whose parameter
    schema has strings, numbers, enums, arrays and a nested object."""
    lines = [json.dumps({"suite": {"name": "bfcl-like", "protocol": "native"}})]
    for i in range(n):
        params = {"type": "object", "properties": {
            f"name_{i}": {"type": "string", "description": f"the name ({i})"},
            "count": {"type": "integer", "description": "how many", "default": 1},
            "unit": {"type": "string", "enum": ["m", "km", f"u{i}"], "description": "unit"},
            "values": {"type": "array", "items": {"type": "number"}, "description": "values"},
            "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}, "required": ["deep"]}},
            "required": [f"name_{i}"]}
        fn = {"name": f"fn_{i}", "description": f"function {i}", "parameters": params}
        lines.append(json.dumps({
            "id": f"b{i:04d}", "messages": [{"role": "user", "content": f"call fn_{i} for x{i}"}],
            "tools": [{"type": "function", "function": fn}],
            "expect": {"calls": [{"name": f"fn_{i}", "arguments": {f"name_{i}": {"const": f"x{i}"}}}]},
            "reference": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c0", "type": "function",
                 "function": {"name": f"fn_{i}", "arguments": json.dumps({f"name_{i}": f"x{i}"})}}]}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cold_load_of_a_bfcl_sized_suite(tmp_path):
    """No jsonschema meta-check for schemas the structural check accepts, so the first load of 2,311
    cases with 2,311 distinct tool schemas is fast (docs/benchmarks.md has the real BFCL figure)."""
    suite = write_bfcl_like(tmp_path / "bfcl.jsonl")
    env = env_for(tmp_path)
    out = subprocess.run([sys.executable, "-c", COLD_LOAD, str(suite)], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["cases"] == 2311 and r["check_schema"] == 0, r
    assert r["s"] < 3.0, r          # generous for a loaded 2-core machine; ~0.3 s unloaded
