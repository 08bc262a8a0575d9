"""zoo-native, cline-native, kilo-native: the agents' rules as their catalogs state them, and
`harness protocols list|show`."""
from __future__ import annotations

import json

import pytest

import protocols
from harness.cli import main


def call(name, args, i=0):
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}


def msg(*calls):
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def codes(p, m, mode=None):
    return protocols.get(p).parse(m, mode=mode).codes


# -- zoo-native: strict-nullable keys -----------------------------------------------------------

def test_strict_tool_missing_nullable_key_is_missing_required_param():
    turn = protocols.get("zoo-native").parse(msg(call("execute_command", {"command": "ls", "cwd": None})))
    assert turn.codes == ["missing_required_param"]
    assert "timeout" in turn.violations[0].detail and "null" in turn.violations[0].detail


def test_strict_tool_accepts_null_for_optionals():
    assert codes("zoo-native", msg(call("execute_command", {"command": "ls", "cwd": None, "timeout": None}))) == []
    assert codes("zoo-native", msg(call("search_files", {"path": ".", "regex": "x", "file_pattern": None}))) == []


def test_strict_tool_rejects_extra_key_and_wrong_type():
    assert codes("zoo-native", msg(call("list_files", {"path": ".", "recursive": True, "depth": 2}))) == \
        ["unexpected_param"]
    assert codes("zoo-native", msg(call("list_files", {"path": ".", "recursive": "yes"}))) == ["invalid_param_value"]


def test_read_file_is_strict_but_requires_only_path():
    assert codes("zoo-native", msg(call("read_file", {"path": "a.py"}))) == []
    assert codes("zoo-native", msg(call("read_file", {"path": "a.py", "mode": "indentation",
                                                      "indentation": {"anchor_line": 3}}))) == []
    assert codes("zoo-native", msg(call("read_file", {"mode": "slice"}))) == ["missing_required_param"]
    assert codes("zoo-native", msg(call("read_file", {"path": "a", "mode": "lines"}))) == ["invalid_param_value"]


def test_non_strict_tools_are_plain_schemas():
    # edit: replace_all optional and may be left out; read_command_output likewise
    assert codes("zoo-native", msg(call("edit", {"file_path": "a", "old_string": "x", "new_string": "y"}))) == []
    assert codes("zoo-native", msg(call("read_command_output", {"artifact_id": "cmd-1.txt"}))) == []
    assert codes("zoo-native", msg(call("edit", {"file_path": "a", "old_string": "x"}))) == ["missing_required_param"]


def test_aliases_run_as_the_canonical_tool():
    turn = protocols.get("zoo-native").parse(msg(call("write_file", {"path": "a.txt", "content": "hi\n"})))
    assert [c.name for c in turn.calls] == ["write_to_file"] and turn.codes == []
    turn = protocols.get("zoo-native").parse(
        msg(call("search_and_replace", {"file_path": "a", "old_string": "x", "new_string": "y"})))
    assert [c.name for c in turn.calls] == ["edit"] and turn.codes == []
    # an alias is checked against its target's schema
    assert codes("zoo-native", msg(call("write_file", {"path": "a.txt"}))) == ["missing_required_param"]
    # roo-native (v3.41) had no such alias
    assert "unknown_tool" in codes("roo-native", msg(call("write_file", {"path": "a.txt", "content": "x"})))


def test_mcp_names():
    turn = protocols.get("zoo-native").parse(msg(call("mcp--weather--forecast", {"city": "Oslo"})))
    assert turn.codes == [] and turn.calls[0].name == "mcp--weather--forecast"
    assert codes("zoo-native", msg(call("mcp--weather--forecast", {})), mode="orchestrator") == \
        ["tool_not_allowed_in_mode"]
    assert codes("zoo-native", msg(call("mcp-weather-forecast", {}))) == ["unknown_tool"]


def test_parallel_calls_are_judged_each_on_its_own():
    m = msg(call("read_file", {"path": "a.py"}, 0), call("list_files", {"path": ".", "recursive": False}, 1),
            call("execute_command", {"command": "ls"}, 2))
    turn = protocols.get("zoo-native").parse(m)
    assert len(turn.calls) == 3
    assert turn.codes == ["missing_required_param"] * 2      # only the third call is wrong: cwd, timeout
    assert all("execute_command" in v.detail for v in turn.violations)
    assert "multiple_tool_calls" in codes("roo-native", m)   # Roo v3.41: one call per response


def test_new_task_must_be_last():
    nt = call("new_task", {"mode": "code", "message": "do it", "todos": None}, 1)
    first = call("update_todo_list", {"todos": "[ ] a"}, 0)
    assert codes("zoo-native", msg(first, nt)) == []
    turn = protocols.get("zoo-native").parse(msg(nt, first))
    assert turn.codes == ["multiple_tool_calls"] and "update_todo_list" in turn.violations[0].detail


def test_modes_and_web_group():
    fetch = msg(call("fetch_web_content", {"url": "https://example.com", "prompt": None}))
    assert codes("zoo-native", fetch, mode="code") == []
    assert codes("zoo-native", fetch, mode="ask") == ["tool_not_allowed_in_mode"]
    arch = msg(call("write_to_file", {"path": "app.py", "content": "x = 1\n"}))
    assert codes("zoo-native", arch, mode="architect") == ["file_restricted"]


def test_zoo_request_tools_keep_the_schemas_as_written():
    tools = {t["function"]["name"]: t["function"] for t in protocols.get("zoo-native").request_tools(mode="code")}
    assert tools["read_file"]["strict"] is True and tools["read_file"]["parameters"]["required"] == ["path"]
    assert "strict" not in tools["edit"]
    assert tools["execute_command"]["parameters"]["required"] == ["command", "cwd", "timeout"]


# -- cline-native and kilo-native ---------------------------------------------------------------

def test_cline_native_one_call_and_optional_params():
    p = "cline-native"
    assert codes(p, msg(call("read_file", {"path": "a.py"}))) == []
    assert codes(p, msg(call("execute_command", {"command": "ls"}))) == ["missing_required_param"]
    two = msg(call("read_file", {"path": "a"}, 0), call("read_file", {"path": "b"}, 1))
    assert codes(p, two) == ["multiple_tool_calls"]


def test_kilo_native_opencode_tools():
    p = "kilo-native"
    names = set(protocols.get(p).catalog.tools)
    assert names == {"bash", "read", "glob", "grep", "edit", "write", "task", "webfetch", "todowrite", "websearch",
                     "codesearch", "skill", "apply_patch", "question", "plan_exit"}
    assert codes(p, msg(call("bash", {"command": "ls", "description": "List files"}),
                        call("read", {"filePath": "/w/a.py"}, 1))) == []
    assert codes(p, msg(call("bash", {"command": "ls"}))) == ["missing_required_param"]
    assert codes(p, msg(call("codesearch", {"query": "zod", "tokensNum": 10}))) == ["invalid_param_value"]


# -- catalogs name their source ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["zoo-native", "cline-xml", "cline-native", "kilo-native", "roo-xml", "roo-native"])
def test_every_agent_catalog_names_source_and_version(name):
    a = protocols.get(name).catalog.agent
    for key in ("name", "version", "repository", "commit", "date"):
        assert a.get(key), (name, key)


# -- the CLI ------------------------------------------------------------------------------------

def test_protocols_list(capsys):
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("zoo-native", "cline-xml", "cline-native", "kilo-native", "roo-xml", "roo-native"):
        assert name in out
    assert "Zoo Code 3.54.0" in out and "Cline 3.89.2" in out and "Kilo Code 7.2.40" in out
    assert "--protocol mcp:PATH" in out and "--protocol xml:PATH" in out and "--protocol native:PATH" in out


def test_protocols_list_json(capsys):
    assert main(["protocols", "list", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["zoo-native"]["tools"] == 22 and rows["cline-xml"]["wire"] == "cline-xml"


def test_protocols_show(capsys):
    assert main(["protocols", "show", "zoo-native"]) == 0
    out = capsys.readouterr().out
    assert "execute_command(command: string, cwd: string|null, timeout: number|null) [strict]" in out
    assert "write_file -> write_to_file" in out and "new_task" in out
    assert "compact prompt:" in out


def test_protocols_show_xml_prompt_and_unknown(capsys):
    assert main(["protocols", "show", "cline-xml"]) == 0
    out = capsys.readouterr().out
    assert "replace_in_file(path: string, diff: string" in out and "Reply with one XML tool call" in out
    assert main(["protocols", "show", "no-such"]) != 0
    assert "unknown protocol" in capsys.readouterr().err
