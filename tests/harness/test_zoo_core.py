"""The shipped zoo-core suite (zoo-native, every Zoo tool, next turns after tool results) and the two
generator features it needs: `history` turns and `int` values."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import protocols
from harness.score.verdicts import score
from harness.suite import dump_suite, load_suite
from harness.suite.generate import SpecError, generate_suite, leakage


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def suite():
    return load_suite("zoo-core")


def test_shipped_file_is_the_generator_output(suite, tmp_path: Path) -> None:
    gen = suite.meta["generator"]
    top, cases = generate_suite(gen["spec"], gen["seed"])
    out = tmp_path / "zoo-core.jsonl"
    dump_suite(cases, out, top=top)
    assert out.read_bytes() == Path(suite.path).read_bytes(), \
        "suites/zoo-core.jsonl is stale: run `harness suites generate --spec zoo-core --out suites/zoo-core.jsonl`"


def test_every_zoo_tool_and_both_splits(suite) -> None:
    tools = {c.expect.calls[0].name for c in suite.cases}
    assert tools == set(protocols.get("zoo-native").catalog.tools)
    splits = Counter(c.split for c in suite.cases)
    assert splits["train"] > 0 and splits["test"] > 0 and set(splits) == {"train", "test"}
    assert leakage(suite.cases) == []


def test_every_reference_passes_its_own_case(suite) -> None:
    proto = protocols.get("zoo-native")
    bad = []
    for c in suite.cases:
        turn = proto.parse(c.reference, mode=c.mode, tools=c.tools)
        v = score(c, turn, proto)
        if turn.violations or not v.passed or len(turn.calls) != 1:
            bad.append((c.id, [x.to_dict() for x in turn.violations + v.violations]))
    assert not bad, bad[:5]


def test_a_wrong_answer_fails(suite) -> None:
    """The expectations are not vacuous: another path, or a strict key left out, fails."""
    proto = protocols.get("zoo-native")
    c = next(c for c in suite.cases if c.id.startswith("exec-cwd"))
    args = json.loads(c.reference["tool_calls"][0]["function"]["arguments"])
    wrong = dict(args, cwd="elsewhere")
    msg = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "execute_command", "arguments": json.dumps(wrong)}}]}
    assert not score(c, proto.parse(msg, mode=c.mode), proto).passed
    del args["timeout"]
    msg["tool_calls"][0]["function"]["arguments"] = json.dumps(args)
    assert "missing_required_param" in proto.parse(msg, mode=c.mode).codes


def test_next_turn_cases_carry_the_call_and_its_tool_result(suite) -> None:
    nxt = [c for c in suite.cases if "next-turn" in c.tags]
    assert len(nxt) >= 20
    for c in nxt:
        roles = [m["role"] for m in c.messages]
        assert roles == ["user", "assistant", "tool"], (c.id, roles)
        call = c.messages[1]["tool_calls"][0]
        assert c.messages[2]["tool_call_id"] == call["id"]
        assert protocols.get("zoo-native").parse(c.messages[1], mode=c.mode).codes == []


def test_strict_optionals_are_null_and_read_file_keys_as_asked(suite) -> None:
    c = next(c for c in suite.cases if c.id.startswith("exec-0"))
    args = json.loads(c.reference["tool_calls"][0]["function"]["arguments"])
    assert args["cwd"] is None and args["timeout"] is None
    r = next(c for c in suite.cases if c.id.startswith("read-0"))
    assert list(json.loads(r.reference["tool_calls"][0]["function"]["arguments"])) == ["path"]
    s = next(c for c in suite.cases if c.id.startswith("read-slice"))
    sargs = json.loads(s.reference["tool_calls"][0]["function"]["arguments"])
    assert isinstance(sargs["offset"], int) and isinstance(sargs["limit"], int)


def _spec(task: dict, protocol: str = "zoo-native") -> dict:
    return {"name": "t", "protocol": protocol, "mode": "code", "seed": 1, "pools": {"d": ["src", "lib", "docs"]},
            "tasks": [task]}


def test_history_needs_a_native_protocol_and_its_fields() -> None:
    task = {"name": "h", "tool": "read_file", "count": 1, "slots": {"d": "d"}, "templates": ["list {d}"],
            "history": [{"tool": "list_files", "call": {"path": "{d}", "recursive": False}, "result": "a.py"}],
            "call": {"path": "{d}/a.py"}}
    _, cases = generate_suite(_spec(task))
    assert cases[0].messages[2] == {"role": "tool", "tool_call_id": "call_h0", "content": "a.py"}
    with pytest.raises(SpecError, match="native protocol"):
        generate_suite(_spec(dict(task, tool="read_file", call={"args": {"files": [{"path": "{d}"}]}}), "roo-xml"))
    with pytest.raises(SpecError, match="history\\[0\\]"):
        generate_suite(_spec(dict(task, history=[{"tool": "list_files"}])))


def test_int_values() -> None:
    task = {"name": "i", "tool": "execute_command", "count": 1, "slots": {"d": "d"}, "templates": ["run in {d}"],
            "call": {"command": "ls", "timeout": {"int": "45"}}}
    _, cases = generate_suite(_spec(task))
    args = json.loads(cases[0].reference["tool_calls"][0]["function"]["arguments"])
    assert args == {"command": "ls", "cwd": None, "timeout": 45}
    with pytest.raises(SpecError, match="int needs an integer"):
        generate_suite(_spec(dict(task, call={"command": "ls", "timeout": {"int": "{d}"}})))
