"""`harness score` / `report` / `leaderboard` as real subprocesses on a tiny suite written here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SUITE = textwrap.dedent("""\
    name: tiny
    protocol: roo-xml
    mode: code
    cases:
      - id: read-1
        split: test
        tags: [read, single-turn]
        messages:
          - {role: user, content: "Show me config.yaml"}
        expect:
          calls:
            - name: read_file
              arguments:
                args: {type: string, pattern: "<path>config\\\\.yaml</path>"}
      - id: cmd-1
        split: test
        tags: [command]
        messages:
          - {role: user, content: "Run the tests"}
        expect:
          calls:
            - name: execute_command
              arguments:
                command: ["pytest -q", "python -m pytest -q"]
      - id: chat-1
        split: test
        tags: [irrelevance]
        messages:
          - {role: user, content: "What is 2+2? Do not use tools."}
        expect:
          calls: []
      - id: weather-1
        protocol: native
        split: test
        tags: [native]
        messages:
          - {role: user, content: "Weather in Paris?"}
        tools:
          - type: function
            function:
              name: get_weather
              parameters:
                type: object
                properties: {city: {type: string}}
                required: [city]
        expect:
          calls:
            - name: get_weather
              arguments:
                city: {const: Paris}
    """)

READ_OK = "<read_file>\n<args>\n  <file>\n    <path>config.yaml</path>\n  </file>\n</args>\n</read_file>"
READ_BAD = "<read_file>\n<args>\n  <file>\n    <path>conf.yml</path>\n  </file>\n</args>\n</read_file>"
CMD_OK = "<execute_command>\n<command>pytest -q</command>\n</execute_command>"
CMD_WRONG_TOOL = "<list_files>\n<path>.</path>\n</list_files>"


def weather(city: str) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]}


RESPONSES = [
    {"id": "read-1", "sample": 0, "message": READ_OK},
    {"id": "read-1", "sample": 1, "message": READ_BAD},
    {"id": "cmd-1", "sample": 0, "message": {"role": "assistant", "content": CMD_OK}},
    {"id": "cmd-1", "sample": 1, "message": CMD_WRONG_TOOL},
    {"id": "chat-1", "sample": 0, "message": "4"},
    {"id": "chat-1", "sample": 1, "message": CMD_OK},
    {"id": "weather-1", "sample": 0, "message": weather("Paris"), "usage": {"prompt_tokens": 50, "completion_tokens": 9}},
    {"id": "weather-1", "sample": 1, "message": weather("Rome")},
]
EXPECTED = {("read-1", 0): True, ("read-1", 1): False, ("cmd-1", 0): True, ("cmd-1", 1): False,
            ("chat-1", 0): True, ("chat-1", 1): False, ("weather-1", 0): True, ("weather-1", 1): False}


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["HARNESS_HOME"] = str(tmp_path / "home")
    e["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")
    e["COLUMNS"] = "200"
    return e


@pytest.fixture
def files(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SUITE)
    resp = tmp_path / "responses.jsonl"
    resp.write_text("".join(json.dumps(r) + "\n" for r in RESPONSES))
    return suite, resp


def harness(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_score_writes_a_run_dir_and_registers_it(tmp_path, env, files):
    suite, resp = files
    out = tmp_path / "run"
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out, "--model", "rec-model",
                "--system-prompt", "compact")
    assert p.returncode == 0, p.stderr
    assert "50.0%" in p.stdout and "4/8" in p.stdout
    assert "wrong_tool" in p.stdout and "unexpected_tool_call" in p.stdout

    manifest = json.loads((out / "run.json").read_text())
    assert manifest["suite"]["name"] == "tiny" and len(manifest["suite"]["hash"]) >= 16
    assert manifest["endpoint"] is None and manifest["model"] == "rec-model"
    assert manifest["system_prompt"] == {"style": "compact"}
    assert sorted(p["name"] for p in manifest["protocol"]) == ["native", "roo-xml"]
    assert manifest["started_at"] and manifest["ended_at"] and manifest["harness_version"]

    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 8
    assert {(r["id"], r["sample"]): r["passed"] for r in lines} == EXPECTED
    for r in lines:
        assert {"id", "sample", "status", "passed", "violations", "calls", "response", "usage", "latency_ms",
                "request_hash"} <= set(r)
        assert r["status"] == "ok" and r["response"]["role"] == "assistant"
    by = {(r["id"], r["sample"]): r for r in lines}
    assert [v["code"] for v in by[("read-1", 1)]["violations"]] == ["wrong_arguments"]
    assert [v["code"] for v in by[("cmd-1", 1)]["violations"]] == ["wrong_tool"]
    assert [v["code"] for v in by[("chat-1", 1)]["violations"]] == ["unexpected_tool_call"]
    assert by[("weather-1", 0)]["calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert by[("weather-1", 0)]["usage"]["prompt_tokens"] == 50

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cases"] == 4 and summary["n_samples"] == 8 and summary["passed"] == 4
    assert summary["pass_rate"] == 0.5 and summary["errors"] == 0
    assert summary["pass_at_k"] == {"1": 0.5, "2": 1.0} and summary["pass_hat_k"]["2"] == 0.0
    assert summary["by_tool"]["(none)"] == {"n": 2, "passed": 1, "pass_rate": 0.5}
    assert set(summary["by_tool"]) == {"(none)", "execute_command", "get_weather", "read_file"}
    assert summary["by_tag"]["single-turn"]["n"] == 2
    assert summary["by_violation"] == {"unexpected_tool_call": 1, "wrong_arguments": 2, "wrong_tool": 1}

    lb = harness(env, "leaderboard", "--json")
    assert lb.returncode == 0, lb.stderr
    rows = json.loads(lb.stdout)
    assert len(rows) == 1 and rows[0]["model"] == "rec-model" and rows[0]["suite"] == "tiny"
    assert rows[0]["pass_rate"] == 0.5 and rows[0]["run_dir"] == str(out.resolve())
    table = harness(env, "leaderboard", "--suite", "tiny")
    assert table.returncode == 0 and "rec-model" in table.stdout
    assert json.loads(harness(env, "leaderboard", "--json", "--suite", "other").stdout) == []

    rep = harness(env, "report", out)
    assert rep.returncode == 0, rep.stderr
    assert "50.0%" in rep.stdout and "read_file" in rep.stdout and "wrong_arguments" in rep.stdout
    rep_json = harness(env, "report", out, "--json")
    assert json.loads(rep_json.stdout) == summary

    # an existing run is not overwritten without --force
    again = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    forced = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out, "--force", "--model", "rec-model")
    assert forced.returncode == 0, forced.stderr
    assert len(json.loads(harness(env, "leaderboard", "--json").stdout)) == 1   # same run dir, one row


def test_a_lone_surrogate_in_a_response_is_scored_and_written(tmp_path, env, files):
    suite, _ = files
    resp = tmp_path / "odd.jsonl"
    resp.write_text('{"id": "%s", "message": "<read_file><path>\\ud800x</path></read_file>"}\n' % "read-1")
    out = tmp_path / "odd-run"
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    line = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert line["id"] == "read-1" and "\\ud800" in json.dumps(line)   # kept, escaped
    assert json.loads((out / "summary.json").read_text())["n_cases"] >= 1


@pytest.mark.parametrize("threshold,code", [("0.5", 0), ("50", 0), ("0.51", 1), ("75", 1), ("1", 1)])
def test_fail_under(tmp_path, env, files, threshold, code):
    suite, resp = files
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", tmp_path / f"r{threshold}",
                "--fail-under", threshold, "--quiet")
    assert p.returncode == code, p.stderr
    if code:
        assert "--fail-under" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / f"r{threshold}" / "summary.json").exists()   # the run is kept either way


def test_fail_under_rejects_nonsense(tmp_path, env, files):
    suite, resp = files
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", tmp_path / "x", "--fail-under", "250")
    assert p.returncode == 2 and "fail-under" in p.stderr


@pytest.mark.parametrize("bad_line,expect", [
    ('{"id": "read-1", "sample": 0, "message": "x"', "invalid JSON"),
    ('{"id": "nope", "sample": 0, "message": "x"}', "unknown case id 'nope'"),
    ('{"id": "read-1", "sample": 0, "message": "dup"}', "duplicate response"),
    ('{"id": "read-1", "sample": -1, "message": "x"}', "sample"),
    ('{"id": "read-1", "sample": 5}', "message"),
    ('["not", "an", "object"]', "expected a JSON object"),
])
def test_bad_responses_give_one_line_with_file_and_line(tmp_path, env, files, bad_line, expect):
    suite, _ = files
    resp = tmp_path / "bad.jsonl"
    resp.write_text(json.dumps(RESPONSES[0]) + "\n\n" + bad_line + "\n" + json.dumps(RESPONSES[2]) + "\n")
    out = tmp_path / "run"
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out)
    assert p.returncode == 2
    err = p.stderr.strip()
    assert "Traceback" not in p.stderr and len(err.splitlines()) == 1, p.stderr
    assert err.startswith("harness: error: ") and f"{resp}:3:" in err and expect in err, err
    assert not (out / "results.jsonl").exists()      # a bad file never half-runs


def test_missing_inputs_are_one_line_errors(tmp_path, env, files):
    suite, resp = files
    p = harness(env, "score", "--suite", suite, "--responses", tmp_path / "none.jsonl", "--out", tmp_path / "r")
    assert p.returncode == 2 and "none.jsonl" in p.stderr and "Traceback" not in p.stderr
    p = harness(env, "score", "--suite", tmp_path / "nosuite.yaml", "--responses", resp, "--out", tmp_path / "r")
    assert p.returncode == 2 and "nosuite.yaml" in p.stderr and "Traceback" not in p.stderr
    p = harness(env, "report", tmp_path)
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", tmp_path / "r", "--protocol", "nope")
    assert p.returncode == 2 and "nope" in p.stderr and "Traceback" not in p.stderr


def test_report_recomputes_a_missing_summary(tmp_path, env, files):
    suite, resp = files
    out = tmp_path / "run"
    assert harness(env, "score", "--suite", suite, "--responses", resp, "--out", out, "--quiet").returncode == 0
    (out / "summary.json").unlink()
    with open(out / "results.jsonl", "a") as f:
        f.write('{"id": "read-1", "sample": 7, "sta')        # a crash mid-line
    p = harness(env, "report", out, "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["n_samples"] == 8 and s["passed"] == 4 and "truncated" in p.stderr
    assert set(s["by_tool"]) == {"(none)", "execute_command", "get_weather", "read_file"}   # suite reloaded
    assert (out / "summary.json").exists()


def test_score_imports_no_heavy_stacks(tmp_path, env, files):
    suite, resp = files
    code = ("import sys; from harness.cli import main; "
            f"rc = main(['score', '--suite', {str(suite)!r}, '--responses', {str(resp)!r}, '--out', "
            f"{str(tmp_path / 'light')!r}, '--quiet']); "
            "main(['leaderboard']); main(['report', " + repr(str(tmp_path / 'light')) + "]); "
            "heavy = [m for m in ('torch', 'transformers', 'gradio', 'peft', 'trl') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout


def test_protocol_override_and_system_prompt_file(tmp_path, env, files):
    suite, _ = files
    resp = tmp_path / "r.jsonl"
    resp.write_text(json.dumps({"id": "read-1", "message": READ_OK}) + "\n"      # sample numbered 0
                    + json.dumps({"id": "read-1", "message": READ_OK}) + "\n")   # then 1
    sp = tmp_path / "prompt.txt"
    sp.write_text("You are Roo. Use tools.")
    out = tmp_path / "run"
    p = harness(env, "score", "--suite", suite, "--responses", resp, "--out", out, "--system-prompt-file", sp,
                "--protocol", "hermes", "--no-register")
    assert p.returncode == 0, p.stderr
    m = json.loads((out / "run.json").read_text())
    assert m["protocol"]["name"] == "hermes"
    assert m["system_prompt"]["style"] == "file" and m["system_prompt"]["path"] == str(sp.resolve())
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["sample"] for r in lines] == [0, 1]
    assert all(not r["passed"] for r in lines)   # XML tags are not hermes tool calls
    assert not (Path(env["HARNESS_HOME"]) / "leaderboard.sqlite").exists()
