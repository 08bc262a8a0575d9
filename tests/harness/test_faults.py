"""The endpoint fault matrix through `harness eval` (a real subprocess) against the scripted server (its own
process on loopback, reconfigured per case through POST /configure).

Every fault of issue 9 is one parametrized case: the run must end with each (case, sample) exactly once in
results.jsonl, as a verdict or as an `error` line whose reason names the fault, a summary whose counts
match the lines, the documented exit code and no traceback. Then the fault is switched off and `--resume`
asks again only what ended as an error, so each sample still appears once (nothing double-counted) and an
answer that got a verdict is never asked twice.

The client-level behaviour of each fault (retries, back-off, Retry-After) is tested in tests/harness/test_client.py;
this file checks what a user of `harness eval` sees. No sleeps: only processes that end are waited for.
"""
from __future__ import annotations

import collections
import json
import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.testing import FAULTS, spawn_server
from tests.harness.test_eval import eval_args, harness, make_env, raw_lines, reset_stats, server_stats

pytestmark = pytest.mark.timeout(120)

TIMEOUT_S = 0.5          # --timeout of the eval runs (the `hang` fault waits this long per attempt)
ATTEMPTS = 2             # --max-retries 1


# -- the suite: roo-xml text answers and native tool calls, with a duplicate request ---------------------

def _native(i: int, city: str, split: str = "test") -> dict[str, Any]:
    return {"id": f"n{i}", "protocol": "native", "split": split, "tags": ["native"],
            "messages": [{"role": "user", "content": f"What is the weather in {city}?"}],
            "tools": [{"type": "function", "function": {
                "name": "get_weather", "description": "Current weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}}],
            "expect": {"calls": [{"name": "get_weather", "arguments": {"city": {"const": city}}}]},
            "reference": {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]}}


def _roo(i: int, path: str) -> dict[str, Any]:
    return {"id": f"r{i}", "split": "test", "tags": ["read_file"],
            "messages": [{"role": "user", "content": f"<task>\nShow me {path}.\n</task>"}],
            "expect": {"calls": [{"name": "read_file"}]},
            "reference": {"role": "assistant", "content":
                          f"<read_file>\n<args>\n<file>\n<path>{path}</path>\n</file>\n</args>\n</read_file>"}}


def write_fault_suite(path: Path) -> Path:
    """4 roo-xml + 3 native cases, plus r9: the same request as r0 (dedupe shares it): 8 cases, 7 requests."""
    cases = [_roo(i, f"src/pkg_{i}/main.py") for i in range(4)]
    cases += [_native(i, c) for i, c in enumerate(("Paris", "Lima", "Oslo"))]
    dup = _roo(0, "src/pkg_0/main.py")
    dup["id"] = "r9"
    cases.append(dup)
    header = {"suite": {"name": "faults", "protocol": "roo-xml", "mode": "code"}}
    path.write_text("\n".join(json.dumps(x) for x in [header, *cases]) + "\n", encoding="utf-8")
    return path


N_CASES, N_REQUESTS = 8, 7
NATIVE = {"n0", "n1", "n2"}


# -- the matrix ----------------------------------------------------------------------------------------

@dataclass
class Fault:
    """One endpoint misbehaviour and what `harness eval` must make of it."""

    options: dict[str, Any]
    reason: str | None = None              # regex every error line's reason must match (None: verdicts)
    verdicts: dict[str, tuple[bool, str | None]] = field(default_factory=dict)  # id -> (passed, violation)
    retried: bool = True                   # the client retries it (ATTEMPTS requests per distinct request)


CUT_ROO = ("unclosed_tool",)               # a roo-xml answer cut in half: the tool never closes
MATRIX: dict[str, Fault] = {
    "429-retry-after": Fault({"fail_429": 1.0, "retry_after": 0.05},
                             r"^HTTP 429 after 2 attempts: Rate limit reached for requests"),
    "429-no-retry-after": Fault({"fail_429": 1.0, "no_retry_after": True},
                                r"^HTTP 429 after 2 attempts: Rate limit reached for requests"),
    "500": Fault({"fail_500": 1.0}, r"^HTTP 500 after 2 attempts: The server had an error"),
    "502": Fault({"fail_502": 1.0}, r"^HTTP 502 after 2 attempts: Bad gateway: the upstream model server"),
    "503": Fault({"fail_503": 1.0, "retry_after": 0.05}, r"^HTTP 503 after 2 attempts: The server is overloaded"),
    "timeout": Fault({"hang": 1.0}, rf"^timeout after 2 attempts: no complete answer within {TIMEOUT_S:g} s"),
    "connection-dropped": Fault({"drop": 1.0}, r"^connection error after 2 attempts: ServerDisconnectedError"),
    "connection-reset": Fault({"reset": 1.0}, r"^connection error after 2 attempts: .*[Cc]onnection reset by peer"),
    "truncated-body": Fault({"truncate": 1.0},     # the status line said 200, then the body stopped short
                            r"^(HTTP 200: )?truncated response body after 2 attempts: ClientPayloadError"),
    "invalid-json": Fault({"bad_json": 1.0}, r"^HTTP 200 with a body that is not a JSON object after 2 attempts"),
    "html-error-page": Fault({"html_error": 1.0}, r"^HTTP 502 after 2 attempts: 502 Bad Gateway 502 Bad Gateway nginx"),
    "empty-choices": Fault({"empty_choices": 1.0}, r"^the response has no choices$", retried=False),
    # the model's answer is judged as it came: a cut tool call is the model's failure, not the endpoint's
    "finish-length": Fault({"finish_length": 1.0}, None, {
        **{f"r{i}": (False, "unclosed_tool") for i in (0, 1, 2, 3, 9)},
        **{n: (False, "invalid_json_arguments") for n in NATIVE}}, retried=False),
    "broken-tool-arguments": Fault({"bad_args": 1.0}, None, {
        **{f"r{i}": (True, None) for i in (0, 1, 2, 3, 9)},
        **{n: (False, "invalid_json_arguments") for n in NATIVE}}, retried=False),
}


def test_the_matrix_covers_every_fault_of_the_server() -> None:
    """A fault added to the scripted server without a row here fails this test."""
    covered = {k for f in MATRIX.values() for k, v in f.options.items() if k in FAULTS and v}
    assert covered == set(FAULTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    suite = write_fault_suite(tmp_path_factory.mktemp("faults") / "faults.jsonl")
    with spawn_server("--suite", str(suite), "--answer", "reference", "--seed", "1") as url:
        yield url, suite


def configure(url: str, **opts: Any) -> None:
    """Every fault off, default timings, then `opts` (POST /configure of the scripted server)."""
    body = {**{f: 0.0 for f in FAULTS}, "retry_after": 1.0, "no_retry_after": False, "latency": 0.0, **opts}
    req = urllib.request.Request(url.rsplit("/v1", 1)[0] + "/configure", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def check_run(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each (case, sample) once as the run's result (RunDir.results(): a resumed error is replaced by its
    verdict), never two verdicts for one sample in results.jsonl, and summary.json's counts are those of
    the results."""
    from harness.log.rundir import RunDir
    want = {(i, 0) for i in ("r0", "r1", "r2", "r3", "r9", "n0", "n1", "n2")}
    raw = raw_lines(out)
    assert {(x["id"], x["sample"]) for x in raw} == want
    ok_keys = collections.Counter((x["id"], x["sample"]) for x in raw if x["status"] == "ok")
    assert not ok_keys or max(ok_keys.values()) == 1, [k for k, n in ok_keys.items() if n > 1]
    lines = RunDir(out).results()
    keys = collections.Counter((x["id"], x["sample"]) for x in lines)
    assert set(keys) == want and max(keys.values()) == 1
    s = json.loads((out / "summary.json").read_text())
    ok = [x for x in lines if x["status"] == "ok"]
    assert s["n_cases"] == len({x["id"] for x in ok})      # cases with a verdict
    assert s["n_samples"] == len(ok)
    assert s["errors"] == len(lines) - len(ok)
    assert s["passed"] == sum(1 for x in ok if x["passed"])
    assert s["missing"] == 0
    return lines, s


@pytest.mark.parametrize("name", list(MATRIX))
def test_fault_ends_as_a_verdict_or_an_error_line_then_resume(name: str, server: tuple[str, Path],
                                                              tmp_path: Path) -> None:
    url, suite = server
    fault = MATRIX[name]
    env = make_env(tmp_path)
    out = tmp_path / "run"
    args = eval_args(suite, url, out, "--timeout", str(TIMEOUT_S), "--max-retries", str(ATTEMPTS - 1),
                     "--concurrency", "8")
    configure(url, **fault.options)
    reset_stats(url)
    r = harness(env, *args, timeout=90)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    st = server_stats(url)
    assert st["faults"] == {next(k for k in fault.options if k in FAULTS): st["chat_requests"]}, st
    assert st["chat_requests"] == N_REQUESTS * (ATTEMPTS if fault.retried else 1), st
    lines, s = check_run(out)

    if fault.reason is not None:
        # nothing got a verdict: exit 1, each line an error naming the fault, and a hint to --resume
        assert r.returncode == 1, r.stderr
        assert "--resume" in r.stderr and f"{N_CASES} samples failed at the endpoint" in r.stderr
        for x in lines:
            assert x["status"] == "error" and x["passed"] is None and x["response"] is None, x
            assert re.search(fault.reason, x["error"]), (x["id"], x["error"])
        assert s["n_samples"] == 0 and s["errors"] == N_CASES and s["pass_rate"] is None
    else:
        assert r.returncode == 0, r.stderr
        for x in lines:
            passed, code = fault.verdicts[x["id"]]
            assert x["status"] == "ok" and x["passed"] is passed, x
            codes = [v["code"] for v in x["violations"]]
            assert (code in codes) if code else not codes, (x["id"], codes)
        assert s["errors"] == 0

    # the endpoint heals; --resume asks only the samples that ended as errors, each still once
    configure(url)
    reset_stats(url)
    r = harness(env, *args, "--resume", timeout=90)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    asked = server_stats(url)["chat_requests"]
    lines2, s2 = check_run(out)
    if fault.reason is not None:
        assert asked == N_REQUESTS
        assert all(x["status"] == "ok" and x["passed"] for x in lines2)
        assert len(raw_lines(out)) == 2 * N_CASES    # the error lines, then one verdict for each
        assert s2["n_samples"] == N_CASES and s2["pass_rate"] == 1.0 and s2["errors"] == 0
    else:
        assert asked == 0                      # a verdict is final: never asked again
        assert lines2 == lines and len(raw_lines(out)) == N_CASES   # results.jsonl unchanged
        assert s2["passed"] == s["passed"] and s2["n_samples"] == N_CASES
