"""The native (OpenAI tool_calls) wire format: roo-native's strict schemas and rules, BFCL-style `native`."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocols
from protocols import violations as V
from protocols.wire.arguments import decode_arguments
from protocols.wire.names import mcp_parts, sanitize_name
from protocols.types import ToolCall
from protocols.wire.native import NativeProtocol


@pytest.fixture(scope="module")
def roo() -> NativeProtocol:
    return protocols.get("roo-native")


@pytest.fixture(scope="module")
def native() -> NativeProtocol:
    return protocols.get("native")


def msg(*calls, content=None, ids=True):
    """An assistant message with calls given as (name, arguments) — arguments a dict or a raw string."""
    tcs = []
    for i, (name, args) in enumerate(calls):
        entry = {"type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        if ids:
            entry["id"] = f"call_{i}"
        tcs.append(entry)
    out = {"role": "assistant", "content": content}
    if tcs:
        out["tool_calls"] = tcs
    return out


READ = {"files": [{"path": "src/app.py", "line_ranges": None}]}
CMD = {"command": "ls -la", "cwd": None}

BFCL_TOOLS = [
    {"type": "function", "function": {
        "name": "math.factorial", "description": "n!",
        "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}},
    {"type": "function", "function": {
        "name": "geo.distance/km", "description": "distance",
        "parameters": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["km", "mi"]}},
                       "required": ["a", "b"], "additionalProperties": False}}},
]


# -- roo-native ---------------------------------------------------------------------------------

def test_valid_single_call(roo):
    turn = roo.parse(msg(("read_file", READ), content="Reading the entry point."), mode="code")
    assert turn.codes == []
    assert [c.name for c in turn.calls] == ["read_file"]
    assert turn.calls[0].arguments == READ
    assert turn.calls[0].id == "call_0"
    assert turn.text == "Reading the entry point."


def test_strict_nullable_optional_omitted_is_missing(roo):
    turn = roo.parse(msg(("execute_command", {"command": "ls"})), mode="code")
    assert turn.codes == [V.MISSING_REQUIRED_PARAM]
    assert "execute_command" in turn.violations[0].detail and "'cwd'" in turn.violations[0].detail
    assert "null" in turn.violations[0].detail


def test_nested_strict_key_missing(roo):
    turn = roo.parse(msg(("read_file", {"files": [{"path": "a.py"}]})), mode="code")
    assert turn.codes == [V.MISSING_REQUIRED_PARAM]
    assert "files[0].line_ranges" in turn.violations[0].detail


def test_extra_key_is_unexpected(roo):
    turn = roo.parse(msg(("execute_command", {**CMD, "timeout": 30})), mode="code")
    assert turn.codes == [V.UNEXPECTED_PARAM]
    assert "'timeout'" in turn.violations[0].detail


def test_wrong_type_is_invalid_value(roo):
    turn = roo.parse(msg(("list_files", {"path": ".", "recursive": "yes"})), mode="code")
    assert turn.codes == [V.INVALID_PARAM_VALUE]
    assert "list_files" in turn.violations[0].detail and "recursive" in turn.violations[0].detail


def test_enum_and_min_items(roo):
    turn = roo.parse(msg(("fetch_instructions", {"task": "make_coffee"})), mode="code")
    assert turn.codes == [V.INVALID_PARAM_VALUE]
    turn = roo.parse(msg(("read_file", {"files": []})), mode="code")
    assert turn.codes == [V.INVALID_PARAM_VALUE]


def test_one_violation_per_distinct_problem(roo):
    turn = roo.parse(msg(("execute_command", {"cmd": "ls", "dir": "."})), mode="code")
    assert sorted(turn.codes) == sorted([V.MISSING_REQUIRED_PARAM] * 2 + [V.UNEXPECTED_PARAM] * 2)
    assert len({v.detail for v in turn.violations}) == 4


def test_invalid_json_keeps_the_call_with_raw_text(roo):
    raw = '{"command": "ls", "cwd": null'
    turn = roo.parse(msg(("execute_command", raw)), mode="code")
    assert turn.codes == [V.INVALID_JSON_ARGUMENTS]
    assert turn.calls[0].name == "execute_command" and turn.calls[0].arguments == raw


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "null", "NaN", '"{\\"command\\": \\"ls\\"}"', "   "])
def test_arguments_that_are_not_an_object(roo, raw):
    turn = roo.parse(msg(("execute_command", raw)), mode="code")
    assert V.INVALID_JSON_ARGUMENTS in turn.codes
    assert turn.calls[0].arguments == raw


def test_empty_arguments_string_is_empty_object(roo):
    turn = roo.parse(msg(("attempt_completion", "")), mode="code")
    assert turn.calls[0].arguments == {}
    assert turn.codes == [V.MISSING_REQUIRED_PARAM]


def test_two_calls_on_roo_native(roo):
    turn = roo.parse(msg(("read_file", READ), ("list_files", {"path": ".", "recursive": False})), mode="code")
    assert turn.codes == [V.MULTIPLE_TOOL_CALLS]
    assert [c.name for c in turn.calls] == ["read_file", "list_files"]


def test_no_calls(roo):
    turn = roo.parse({"role": "assistant", "content": "I will read the file now."}, mode="code")
    assert turn.codes == [V.NO_TOOL_CALL]
    turn = roo.parse("plain text", mode="code")
    assert turn.codes == [V.NO_TOOL_CALL]


def test_xml_written_as_text_is_no_call_with_detail(roo):
    turn = roo.parse({"content": "<read_file>\n<path>a.py</path>\n</read_file>"}, mode="code")
    assert turn.codes == [V.NO_TOOL_CALL]
    assert "<read_file>" in turn.violations[0].detail and "text" in turn.violations[0].detail


def test_reasoning_content_is_ignored(roo):
    turn = roo.parse({"content": "", "reasoning_content": "<read_file><path>a</path></read_file>"}, mode="code")
    assert turn.codes == [V.NO_TOOL_CALL]
    assert "<read_file>" not in turn.violations[0].detail
    assert turn.reasoning.startswith("<read_file>")


def test_text_alongside_a_call_is_allowed(roo):
    turn = roo.parse(msg(("execute_command", CMD), content="Listing first."), mode="code")
    assert turn.codes == []


def test_unknown_tool(roo):
    turn = roo.parse(msg(("read_files", READ)), mode="code")
    assert turn.codes == [V.UNKNOWN_TOOL]
    assert "read_files" in turn.violations[0].detail
    assert turn.calls[0].name == "read_files"


def test_tool_not_allowed_in_mode(roo):
    turn = roo.parse(msg(("execute_command", CMD)), mode="ask")
    assert turn.codes == [V.TOOL_NOT_ALLOWED_IN_MODE]
    assert "execute_command" in turn.violations[0].detail and "ask" in turn.violations[0].detail


def test_architect_file_restriction(roo):
    bad = roo.parse(msg(("write_to_file", {"path": "app.js", "content": "console.log(1)\n"})), mode="architect")
    assert bad.codes == [V.FILE_RESTRICTED]
    assert "app.js" in bad.violations[0].detail
    good = roo.parse(msg(("write_to_file", {"path": "notes/plan.md", "content": "# Plan\n\n1. Read the code.\n"})),
                     mode="architect")
    assert good.codes == []


def test_mcp_dynamic_tools(roo):
    for name in ("mcp--github--create_issue", "mcp__github__create_issue"):
        turn = roo.parse(msg((name, {"title": "bug", "labels": ["x"]})), mode="code")
        assert turn.codes == [], name
        assert turn.calls[0].name == name
    assert roo.parse(msg(("mcp--github--create_issue", "[1]")), mode="code").codes == [V.INVALID_JSON_ARGUMENTS]
    assert roo.parse(msg(("mcp--github", {})), mode="code").codes == [V.UNKNOWN_TOOL]
    # orchestrator mode has no mcp group
    assert roo.parse(msg(("mcp--github--create_issue", {})), mode="orchestrator").codes == \
        [V.TOOL_NOT_ALLOWED_IN_MODE]
    assert mcp_parts("mcp__my___server__do_it") == ("my___server", "do_it")


def test_value_lints_apply_on_roo_native(roo):
    turn = roo.parse(msg(("attempt_completion", {"result": "Fixed the bug. Would you like me to add tests?"})),
                     mode="code")
    assert turn.codes == [V.QUESTION_IN_COMPLETION]
    turn = roo.parse(msg(("apply_diff", {"path": "a.py", "diff": "<<<<<<< SEARCH\nfoo\n>>>>>>> REPLACE"})),
                     mode="code")
    assert turn.codes == [V.MALFORMED_DIFF]
    # the case-tools protocol has no Roo lints
    tools = [{"name": "attempt_completion", "parameters": {"type": "object", "properties": {"result": {"type": "string"}}}}]
    assert protocols.get("native").parse(msg(("attempt_completion", {"result": "Done. More?"})), tools=tools).codes == []


def test_call_without_id_is_noted_not_a_code(roo):
    turn = roo.parse(msg(("execute_command", {"command": "ls"}), ids=False), mode="code")
    assert turn.codes == [V.MISSING_REQUIRED_PARAM]
    assert "no id" in turn.violations[0].detail
    assert roo.parse(msg(("execute_command", CMD), ids=False), mode="code").codes == []


def test_legacy_function_call_and_decoded_arguments(roo):
    turn = roo.parse({"content": None, "function_call": {"name": "execute_command", "arguments": json.dumps(CMD)}},
                     mode="code")
    assert turn.codes == [] and turn.calls[0].arguments == CMD
    turn = roo.parse({"tool_calls": [{"id": "x", "function": {"name": "execute_command", "arguments": CMD}}]},
                     mode="code")
    assert turn.codes == [] and turn.calls[0].arguments == CMD


def test_request_tools_follow_the_mode(roo):
    names = [t["function"]["name"] for t in roo.request_tools(mode="ask")]
    assert "read_file" in names and "execute_command" not in names and "write_to_file" not in names
    assert all(t["type"] == "function" for t in roo.request_tools(mode="code"))
    assert roo.stop_sequences() == []


def test_format_call_round_trip(roo):
    calls = [ToolCall("execute_command", {"command": "echo héllo", "cwd": None})]
    m = roo.format_call(calls, text="Running it.")
    assert m["role"] == "assistant" and m["content"] == "Running it."
    assert m["tool_calls"][0]["id"] == "call_0" and m["tool_calls"][0]["type"] == "function"
    assert "héllo" in m["tool_calls"][0]["function"]["arguments"]  # ensure_ascii=False
    turn = roo.parse(m, mode="code")
    assert turn.codes == [] and [c.to_dict() for c in turn.calls] == [c.to_dict() for c in calls]
    assert roo.format_call(calls)["content"] is None


def test_render_system_uses_catalog(roo):
    text = roo.render_system(mode="code", style="full")
    assert isinstance(text, str) and text


# -- native (BFCL / case tools) -----------------------------------------------------------------

def test_sanitize_name():
    assert sanitize_name("math.factorial") == "math_factorial"
    assert sanitize_name("geo.distance/km") == "geo_distance_km"
    assert sanitize_name("ok_name-1") == "ok_name-1"


def test_dotted_name_round_trip(native):
    sent = native.request_tools(tools=BFCL_TOOLS)
    assert [t["function"]["name"] for t in sent] == ["math_factorial", "geo_distance_km"]
    assert BFCL_TOOLS[0]["function"]["name"] == "math.factorial"  # the case is not mutated
    for wire_name in ("math_factorial", "math.factorial"):
        turn = native.parse(msg((wire_name, {"number": 5})), tools=BFCL_TOOLS)
        assert turn.codes == [] and turn.calls[0].name == "math.factorial"
    m = native.format_call([ToolCall("geo.distance/km", {"a": "Paris", "b": "Rome"})], tools=BFCL_TOOLS)
    assert m["tool_calls"][0]["function"]["name"] == "geo_distance_km"
    turn = native.parse(m, tools=BFCL_TOOLS)
    assert turn.codes == [] and turn.calls[0].name == "geo.distance/km"


def test_sanitised_name_collisions_stay_distinct(native):
    tools = [{"name": "a.b", "parameters": {"type": "object", "properties": {}}},
             {"name": "a_b", "parameters": {"type": "object", "properties": {}}}]
    names = [t["function"]["name"] for t in native.request_tools(tools=tools)]
    assert len(set(names)) == 2 and "a_b" in names
    assert names[1] == "a_b"  # an already valid name is sent as it is
    assert native.parse(msg(("a_b", {})), tools=tools).calls[0].name == "a_b"
    assert native.parse(msg((names[0], {})), tools=tools).calls[0].name == "a.b"
    assert native.parse(msg(("a.b", {})), tools=tools).calls[0].name == "a.b"


def test_case_tools_validation(native):
    assert native.parse(msg(("math.factorial", {"number": "5"})), tools=BFCL_TOOLS).codes == [V.INVALID_PARAM_VALUE]
    assert native.parse(msg(("math.factorial", {})), tools=BFCL_TOOLS).codes == [V.MISSING_REQUIRED_PARAM]
    # additionalProperties not false and not strict: extra keys are fine
    assert native.parse(msg(("math.factorial", {"number": 5, "x": 1})), tools=BFCL_TOOLS).codes == []
    assert native.parse(msg(("geo.distance/km", {"a": "x", "b": "y", "c": 1})), tools=BFCL_TOOLS).codes == \
        [V.UNEXPECTED_PARAM]
    assert native.parse(msg(("geo.distance/km", {"a": "x", "b": "y", "unit": "ly"})), tools=BFCL_TOOLS).codes == \
        [V.INVALID_PARAM_VALUE]
    assert native.parse(msg(("weather", {})), tools=BFCL_TOOLS).codes == [V.UNKNOWN_TOOL]
    # parallel calls are legal without a one-call catalog
    assert native.parse(msg(("math.factorial", {"number": 1}), ("math.factorial", {"number": 2})),
                        tools=BFCL_TOOLS).codes == []


def test_case_tool_marked_strict(native):
    tools = [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}},
        "required": ["a"]}}}]
    turn = native.parse(msg(("f", {"a": "x"})), tools=tools)
    assert turn.codes == [V.MISSING_REQUIRED_PARAM] and "'b'" in turn.violations[0].detail
    assert native.parse(msg(("f", {"a": "x", "b": None, "c": 1})), tools=tools).codes == [V.UNEXPECTED_PARAM]


def test_bfcl_type_names_and_bare_functions(native):
    tools = [{"name": "calc.area", "description": "", "parameters": {
        "type": "dict", "properties": {"w": {"type": "float"}, "dims": {"type": "tuple", "items": {"type": "integer"}},
                                       "meta": {"type": "any"}}, "required": ["w"]}}]
    assert native.parse(msg(("calc_area", {"w": 2, "dims": [1, 2], "meta": {"k": 1}})), tools=tools).codes == []
    assert native.parse(msg(("calc_area", {"w": "2"})), tools=tools).codes == [V.INVALID_PARAM_VALUE]
    sent = native.request_tools(tools=tools)
    assert sent[0]["type"] == "function" and sent[0]["function"]["name"] == "calc_area"
    assert sent[0]["function"]["parameters"]["type"] == "object"


def test_bad_user_schema_is_reported_not_raised(native):
    tools = [{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": 5}}}},
             {"name": "g", "parameters": "not a schema"},
             {"name": "h", "parameters": {"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}}}]
    for name in ("f", "g", "h"):
        turn = native.parse(msg((name, {"x": "1"})), tools=tools)
        assert turn.calls[0].name == name
        assert turn.codes == [V.INVALID_PARAM_VALUE]
        assert name in turn.violations[0].detail and "checked" in turn.violations[0].detail


def test_native_without_tools_accepts_any_name(native):
    turn = native.parse(msg(("anything.goes", {"x": [1, {"y": None}]})))
    assert turn.codes == [] and turn.calls[0].name == "anything.goes"
    assert native.parse(msg(("f", "[1]"))).codes == [V.INVALID_JSON_ARGUMENTS]
    assert native.parse(msg(("", {}))).codes == [V.UNKNOWN_TOOL]
    assert native.parse({"content": "no calls"}).codes == [V.NO_TOOL_CALL]
    assert native.parse({"content": "x"}).calls == []


def test_decode_arguments():
    assert decode_arguments("") == ({}, None)
    assert decode_arguments('{"a": 1}') == ({"a": 1}, None)
    assert decode_arguments({"a": 1}) == ({"a": 1}, None)
    assert decode_arguments("[" * 100_000)[1] is not None
    assert decode_arguments("Infinity")[1] is not None
    assert decode_arguments("1" * 10_000)[1] is not None  # over Python's int digit limit


@pytest.mark.parametrize("message", [
    None, 5, [], {}, {"tool_calls": 7}, {"tool_calls": [None, 3, "x"]}, {"tool_calls": {"function": {}}},
    {"tool_calls": [{"function": "read_file"}]}, {"tool_calls": [{"function": {"name": 5, "arguments": 7}}]},
    {"tool_calls": [{"function": {"name": "read_file", "arguments": [1]}}]},
    {"content": [{"type": "text", "text": "a"}, 4, None]}, {"content": {"nested": [1]}},
    {"function_call": "x"}, {"tool_calls": [{"function": {"name": "execute_command", "arguments": {1: 2}}}]},
])
def test_malformed_shapes_never_raise(roo, native, message):
    for proto in (roo, native):
        turn = proto.parse(message, mode="code")
        assert isinstance(turn.violations, list)
        assert turn.calls or V.NO_TOOL_CALL in turn.codes


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
names = st.sampled_from(["read_file", "execute_command", "write_to_file", "apply_diff", "attempt_completion",
                         "ask_followup_question", "mcp--s--t", "math.factorial", "nope", ""]) | st.text(max_size=12)
arguments = json_values | json_values.map(lambda v: json.dumps(v)) | st.text(max_size=40)
entries = st.fixed_dictionaries({}, optional={
    "id": json_values, "type": json_values,
    "function": st.fixed_dictionaries({}, optional={"name": names | json_values, "arguments": arguments}) | json_values,
}) | json_values
messages = st.fixed_dictionaries({}, optional={
    "role": json_values, "content": json_values | st.text(max_size=60), "tool_calls": st.lists(entries, max_size=3)
    | json_values, "function_call": json_values | st.fixed_dictionaries({"name": names, "arguments": arguments}),
    "reasoning_content": json_values,
}) | json_values | st.text(max_size=60)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, mode=st.sampled_from([None, "code", "ask", "architect", "orchestrator", "nope"]))
def test_parse_never_raises(roo, native, message, mode):
    for proto in (roo, native):
        turn = proto.parse(message, mode=mode)
        assert all(v.code in V.CODES for v in turn.violations)
        assert bool(turn.calls) != (V.NO_TOOL_CALL in turn.codes)
    turn = native.parse(message, tools=BFCL_TOOLS)
    assert all(v.code in V.CODES for v in turn.violations)


@settings(max_examples=200, deadline=None)
@given(args=st.dictionaries(st.sampled_from(["command", "cwd", "x"]), finite_json, max_size=3))
def test_format_parse_round_trip_property(roo, args):
    m = roo.format_call([ToolCall("execute_command", args)])
    turn = roo.parse(m, mode="code")
    assert turn.calls[0].arguments == json.loads(json.dumps(args))
    assert V.INVALID_JSON_ARGUMENTS not in turn.codes


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


MIB = 1 << 20


@pytest.mark.parametrize("content", [
    "x" * MIB, "<" * MIB, "<read_file" * (MIB // 10), "<tool_call>" * (MIB // 11), "\\" * MIB,
], ids=["prose", "lt", "tag-prefix", "tool_call-tags", "backslashes"])
def test_linear_time_on_big_content(roo, native, content):
    for proto in (roo, native):
        assert _timed(lambda: proto.parse({"content": content}, mode="code")) < 1.0


@pytest.mark.parametrize("payload", [
    json.dumps({"path": "big.txt", "content": "line of text\n" * (MIB // 13)}),
    '{"path": "a", "content": "' + "a" * MIB,            # unterminated string
    "[" * MIB,                                           # deep nesting
    '{"path": "' + "\\u00e9" * (MIB // 6) + '", "content": 1}',
    "9" * MIB,
], ids=["big-content", "unterminated-string", "deep-nesting", "escapes", "huge-number"])
def test_linear_time_on_big_arguments(roo, native, payload):
    assert _timed(lambda: roo.parse(msg(("write_to_file", payload)), mode="code")) < 1.0
    assert _timed(lambda: native.parse(msg(("write_to_file", payload)))) < 1.0
