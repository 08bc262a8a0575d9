"""An MCP server's tools as a suite, end to end with real processes: a small MCP server written with the
official SDK (tests/fakes/mcp_tools_server.py, stdio, tools/list in pages) -> `harness protocols
import-mcp` -> `harness suites generate --from-protocol mcp:tools.json` -> `harness eval` against the
scripted endpoint answering with the references. Plus import-mcp's errors, and property tests of the
value generator: every value it draws validates against its schema."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.suite.generate.regex_sample import Unsupported, sample
from harness.suite.generate.values_from_schema import NoValue, draw_arguments, draw_value, validator_for
from harness.testing import spawn_server

pytest.importorskip("mcp", reason="the MCP SDK is in the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, str(ROOT / "tests" / "fakes" / "mcp_tools_server.py")]


def run_harness(tmp: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT),
               COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=timeout)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """import-mcp against the real server, three tools per page (so 2 pages for its 4 tools)."""
    tmp = tmp_path_factory.mktemp("mcp")
    r = run_harness(tmp, "protocols", "import-mcp", "--out", "tools.json", "--", *SERVER, "--page-size", "3")
    assert r.returncode == 0, r.stderr
    assert "4 tools in 2 pages from weather-tools 1.4.2" in r.stdout, r.stdout
    return tmp / "tools.json"


def test_import_mcp_saves_every_page_with_server_and_revision(imported: Path) -> None:
    data = json.loads(imported.read_text())
    assert data["server"] == {"name": "weather-tools", "version": "1.4.2"}
    assert data["protocolVersion"] == "2026-07-28"     # the SDK's server/discover probe
    assert [len(p["tools"]) for p in data["pages"]] == [3, 1]
    assert data["pages"][0]["nextCursor"] and "nextCursor" not in data["pages"][1]
    names = [t["name"] for p in data["pages"] for t in p["tools"]]
    assert names == ["get_forecast", "delete_alert", "schedule_report", "set_threshold"]
    forecast = data["pages"][0]["tools"][0]
    assert forecast["annotations"] == {"readOnlyHint": True, "openWorldHint": True}
    assert "$defs" in forecast["inputSchema"]     # pydantic's nested model, by $ref


def test_two_commands_then_eval_every_case_once_references_pass(imported: Path) -> None:
    tmp = imported.parent
    r = run_harness(tmp, "suites", "generate", "--from-protocol", "mcp:tools.json", "--out", "s/suite.jsonl",
                    "--seed", "5", "--per-tool", "4")
    assert r.returncode == 0, r.stderr
    assert "for 4 tools" in r.stdout and "skipped" not in r.stderr, (r.stdout, r.stderr)
    suite = tmp / "s" / "suite.jsonl"
    rows = lines(suite)
    head, cases = rows[0]["suite"], rows[1:]
    assert head["protocol"] == "mcp:../tools.json"      # relative to the suite: it travels with its catalog
    assert len(cases) == 4 * 4 + 2
    assert {c["split"] for c in cases} == {"train", "test"}
    by_id = {c["id"]: c for c in cases}
    assert "mcp:read-only" in by_id["get_forecast-001"]["tags"]
    assert "mcp:destructive" in by_id["delete_alert-001"]["tags"]
    irr = [c for c in cases if "irrelevance" in c["tags"]]
    assert irr and all(c["expect"]["calls"] == [] for c in irr)
    with spawn_server("--suite", str(suite)) as url:
        out = tmp / "run"
        r = run_harness(tmp, "eval", "--suite", str(suite), "--endpoint", url, "--model", "scripted", "--out",
                        str(out), "--split", "all", "--quiet")
        assert r.returncode == 0, r.stderr
    results = lines(out / "results.jsonl")
    assert sorted(x["id"] for x in results) == sorted(by_id)      # every case, once
    assert all(x["status"] == "ok" and x["passed"] for x in results), [x for x in results if not x["passed"]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_rate"] == 1.0 and summary["n_cases"] == len(cases)


def test_zoo_names_suite_and_a_wrong_answer_fails(imported: Path) -> None:
    tmp = imported.parent
    r = run_harness(tmp, "suites", "generate", "--from-protocol", "mcp:tools.json?names=zoo", "--out", "zoo.jsonl",
                    "--per-tool", "2")
    assert r.returncode == 0, r.stderr
    cases = lines(tmp / "zoo.jsonl")[1:]
    called = {c["expect"]["calls"][0]["name"] for c in cases if c["expect"]["calls"]}
    assert called == {f"mcp--weather-tools--{t}" for t in ("get_forecast", "delete_alert", "schedule_report",
                                                           "set_threshold")}
    # a recorded answer with the plain name is an unknown tool under names=zoo
    one = next(c for c in cases if c["expect"]["calls"])
    msg = json.loads(json.dumps(one["reference"]))
    msg["tool_calls"][0]["function"]["name"] = msg["tool_calls"][0]["function"]["name"].split("--")[-1]
    (tmp / "answers.jsonl").write_text(json.dumps({"id": one["id"], "sample": 0, "message": msg}) + "\n")
    r = run_harness(tmp, "score", "--suite", "zoo.jsonl", "--responses", "answers.jsonl", "--out", "scored")
    assert r.returncode == 0, r.stderr
    res = lines(tmp / "scored" / "results.jsonl")
    got = next(x for x in res if x["id"] == one["id"])
    assert not got["passed"] and "unknown_tool" in {v["code"] for v in got["violations"]}


def test_import_mcp_legacy_handshake_negotiates_2025_11_25(tmp_path: Path) -> None:
    r = run_harness(tmp_path, "protocols", "import-mcp", "--legacy-handshake", "--out", "old.json", "--", *SERVER,
                    "--page-size", "2")
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "old.json").read_text())
    assert data["protocolVersion"] == "2025-11-25" and [len(p["tools"]) for p in data["pages"]] == [2, 2]
    import protocols
    assert list(protocols.get(f"mcp:{tmp_path / 'old.json'}").catalog.tools) == [
        "get_forecast", "delete_alert", "schedule_report", "set_threshold"]


@pytest.mark.parametrize("flag, expect", [
    ("--exit-early", "closed or failed before listing its tools"),
    ("--bad-schema", "'broken': inputSchema is not a valid JSON Schema 2020-12"),
])
def test_import_mcp_errors_name_the_cause(tmp_path: Path, flag: str, expect: str) -> None:
    r = run_harness(tmp_path, "protocols", "import-mcp", "--out", "t.json", "--", *SERVER, flag)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert expect in r.stderr and "Traceback" not in r.stderr, r.stderr
    if flag == "--exit-early":
        assert "missing configuration" in r.stderr       # the server's own stderr, quoted


def test_import_mcp_missing_command_and_timeout(tmp_path: Path) -> None:
    r = run_harness(tmp_path, "protocols", "import-mcp", "--out", "t.json", "--", "no-such-mcp-server-xyz")
    assert r.returncode == 2 and "no-such-mcp-server-xyz: command not found" in r.stderr, r.stderr
    r = run_harness(tmp_path, "protocols", "import-mcp", "--timeout", "3", "--out", "t.json", "--", *SERVER, "--hang")
    assert r.returncode == 2 and "no tools/list answer within 3s" in r.stderr, r.stderr
    assert not (tmp_path / "t.json").exists()


# -- the value generator ----------------------------------------------------------------------------

SCALARS = st.one_of(
    st.builds(lambda lo, w: {"type": "integer", "minimum": lo, "maximum": lo + w},
              st.integers(-1000, 1000), st.integers(0, 50)),
    st.builds(lambda lo, w: {"type": "number", "exclusiveMinimum": lo, "maximum": lo + w},
              st.integers(-50, 50), st.integers(1, 20)),
    st.builds(lambda v: {"enum": v}, st.lists(st.one_of(st.text(max_size=5), st.integers()), min_size=1, max_size=4)),
    st.builds(lambda v: {"const": v}, st.one_of(st.text(max_size=8), st.integers(), st.booleans())),
    st.sampled_from([{"type": "string", "format": f} for f in
                     ("date", "date-time", "time", "email", "uri", "uuid", "hostname", "ipv4", "ipv6")]),
    st.builds(lambda lo, w: {"type": "string", "minLength": lo, "maxLength": lo + w},
              st.integers(0, 30), st.integers(0, 10)),
    st.sampled_from([{"type": "string", "pattern": p} for p in
                     ("^[A-Z]{4}[0-9]{2}$", r"^v\d+\.\d+$", "^(red|green|blue)-[a-f0-9]{6}$", "[a-c]{2,}x?",
                      r"^\w+@\w+\.(com|org)$", "^#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?$")]),
    st.just({"type": "boolean"}),
    st.just({"type": ["string", "null"], "examples": ["alpha", "beta"]}),
    st.builds(lambda m: {"type": "integer", "multipleOf": m, "minimum": 0, "maximum": 100}, st.integers(1, 25)),
)


def _schemas() -> st.SearchStrategy[dict]:
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.builds(lambda items, lo, unique: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 2,
                                             **({"uniqueItems": True} if unique else {})},
                  inner, st.integers(0, 2), st.booleans()),
        st.builds(lambda props: {"type": "object", "properties": props,
                                 "required": [k for k in props if len(k) % 2 == 0]},   # some required, some not
                  st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, min_size=1, max_size=4)),
        st.builds(lambda a, b: {"anyOf": [a, b]}, inner, inner),
    ), max_leaves=6)


def _with_defs() -> st.SearchStrategy[dict]:
    """A root with $defs that its properties reach by $ref (how pydantic writes nested models)."""
    return st.builds(lambda d, other: {"type": "object", "$defs": {"D": d},
                                       "properties": {"a": {"$ref": "#/$defs/D"}, "b": other,
                                                      "c": {"type": "array", "items": {"$ref": "#/$defs/D"}}},
                                       "required": ["a", "c"]},
                     _schemas(), _schemas())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=st.one_of(_schemas(), _with_defs()), seed=st.integers(0, 2**32 - 1))
def test_every_drawn_value_validates_against_its_schema(schema: dict, seed: int) -> None:
    try:
        v = draw_value(schema, random.Random(seed))
    except NoValue:
        return   # allowed only when the schema cannot be drawn; never a wrong value
    errs = [e.message for e in validator_for(schema).iter_errors(v)]
    assert not errs, (schema, v, errs)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), optional_p=st.floats(0, 1))
def test_drawn_arguments_have_every_required_key_and_validate(seed: int, optional_p: float) -> None:
    schema = {"type": "object", "$defs": {"Loc": {"type": "object", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]}},
              "properties": {"loc": {"$ref": "#/$defs/Loc"}, "when": {"type": "string", "format": "date"},
                             "n": {"type": "integer", "minimum": 1, "maximum": 3},
                             "mode": {"enum": ["fast", "slow"], "default": "fast"},
                             "code": {"type": "string", "pattern": "(?<=x)y"}},   # unsupported: left out
              "required": ["loc", "when"], "additionalProperties": False}
    args = draw_arguments(schema, random.Random(seed), optional_p)
    assert {"loc", "when"} <= set(args) and "code" not in args
    assert not list(validator_for(schema).iter_errors(args))


def test_a_required_parameter_that_cannot_be_drawn_is_no_value() -> None:
    with pytest.raises(NoValue):
        draw_arguments({"type": "object", "properties": {"x": {"type": "string", "pattern": "(?!a)b"}},
                       "required": ["x"]}, random.Random(0))


@pytest.mark.parametrize("pattern", ["^[A-Z]{4}[0-9]{2}$", r"^v\d+\.\d+(-rc\d)?$", "(foo|bar)+baz", "a.c",
                                     r"^[\w.-]{3,8}$", "^(?:ab|cd){2}$"])
def test_regex_sample_matches(pattern: str) -> None:
    import re
    rng = random.Random(1)
    for _ in range(30):
        assert re.search(pattern, sample(pattern, rng)), pattern


@pytest.mark.parametrize("pattern", ["[^a]", "(?=a)b", r"(a)\1", r"\bword"])
def test_regex_sample_refuses_what_it_cannot_draw(pattern: str) -> None:
    with pytest.raises(Unsupported):
        sample(pattern, random.Random(0))


# -- the generator, in process ----------------------------------------------------------------------

def test_generate_is_seeded_leak_free_and_every_reference_passes(tmp_path: Path) -> None:
    import protocols
    from harness.suite.generate import leakage
    from harness.suite.generate.from_protocol import check_reference, generate_from_protocol
    from harness.suite.write import case_to_dict
    cat = tmp_path / "tools.json"
    cat.write_text(json.dumps({"tools": [
        {"name": f"tool_{i}", "description": f"Do task number {i}.",
         "inputSchema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9},
                                                           "tag": {"type": "string", "format": "uuid"}},
                         "required": ["n"]}} for i in range(3)]}))
    name = f"mcp:{cat}"
    top_a, a = generate_from_protocol(name, tmp_path / "s.jsonl", seed=4, per_tool=6)
    _, b = generate_from_protocol(name, tmp_path / "s.jsonl", seed=4, per_tool=6)
    _, c = generate_from_protocol(name, tmp_path / "s.jsonl", seed=5, per_tool=6)
    assert [case_to_dict(x) for x in a] == [case_to_dict(x) for x in b]
    assert [case_to_dict(x) for x in a] != [case_to_dict(x) for x in c]
    assert top_a["protocol"] == "mcp:tools.json" and leakage(a) == []
    proto = protocols.get(name)
    assert all(check_reference(x, proto) is None for x in a)
    # a case whose reference is wrong fails the same check: the check can fail
    bad = a[0]
    bad.expect.calls[0].arguments["n"] = {"const": 99}
    assert check_reference(bad, proto) is not None
    for x in a:
        if x.expect.calls:
            assert set(x.expect.calls[0].arguments) >= {"n"}        # required: always stated


def test_generate_needs_a_catalog(tmp_path: Path) -> None:
    from harness.suite.generate.from_protocol import GenerateError, generate_from_protocol
    with pytest.raises(GenerateError, match="has no catalog of its own"):
        generate_from_protocol("native", tmp_path / "s.jsonl")
