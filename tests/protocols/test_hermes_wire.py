"""The hermes wire format: <tool_call>{json}</tool_call> blocks in the assistant text."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocols
from protocols import violations as V
from protocols.wire.hermes import HermesProtocol, scan_blocks, split_reasoning
from protocols.types import ToolCall

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["c", "f"]}},
                       "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "math.factorial", "description": "n!",
        "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}},
]


@pytest.fixture(scope="module")
def hermes() -> HermesProtocol:
    return protocols.get("hermes")


@pytest.fixture(scope="module")
def roo_hermes() -> HermesProtocol:
    """Roo's native catalog (strict schemas, modes, one call per turn) over the hermes wire format."""
    return protocols.get("hermes:roo-native-v3.41.0.json")


def block(name, args, *, close=True, as_string=False):
    a = json.dumps(args) if as_string else args
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": a}) + ("\n</tool_call>" if close else "")


def test_valid_single_call(hermes):
    turn = hermes.parse("Let me check.\n" + block("get_weather", {"city": "Paris"}), tools=TOOLS)
    assert turn.codes == []
    assert [c.to_dict() for c in turn.calls] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert turn.text == "Let me check."


def test_whitespace_and_string_arguments(hermes):
    text = '<tool_call>   \n\n {"name" : "get_weather",\n "arguments": "{\\"city\\": \\"Oslo\\"}"}  \n</tool_call>'
    turn = hermes.parse({"role": "assistant", "content": text}, tools=TOOLS)
    assert turn.codes == [] and turn.calls[0].arguments == {"city": "Oslo"}


def test_parallel_calls_and_trailing_text_are_legal(hermes):
    text = block("get_weather", {"city": "Paris"}) + "\n" + block("get_weather", {"city": "Rome"}) + "\nDone."
    turn = hermes.parse(text, tools=TOOLS)
    assert turn.codes == []
    assert [c.arguments["city"] for c in turn.calls] == ["Paris", "Rome"]
    assert V.TEXT_AFTER_TOOL_CALL not in turn.codes


def test_multiple_calls_with_one_call_catalog(roo_hermes):
    cmd = {"command": "ls", "cwd": None}
    turn = roo_hermes.parse(block("execute_command", cmd) + block("execute_command", cmd), mode="code")
    assert turn.codes == [V.MULTIPLE_TOOL_CALLS]


def test_no_call(hermes):
    assert hermes.parse("The weather is nice.", tools=TOOLS).codes == [V.NO_TOOL_CALL]
    assert hermes.parse({"content": None}, tools=TOOLS).codes == [V.NO_TOOL_CALL]


def test_think_block_is_not_scanned(hermes):
    text = "<think>I could call " + block("get_weather", {"city": "Paris"}) + " here</think>\nIt is sunny."
    turn = hermes.parse(text, tools=TOOLS)
    assert turn.codes == [V.NO_TOOL_CALL]
    assert "think" in turn.violations[0].detail
    assert "get_weather" in turn.reasoning
    ok = hermes.parse("<think>plan</think>\n" + block("get_weather", {"city": "Paris"}), tools=TOOLS)
    assert ok.codes == [] and ok.reasoning == "plan"
    # a <think> that does not open the message is ordinary text
    later = hermes.parse("Hi <think>x</think>" + block("get_weather", {"city": "Paris"}), tools=TOOLS)
    assert later.codes == [] and len(later.calls) == 1


def test_unclosed_think_swallows_everything(hermes):
    turn = hermes.parse("<think>" + block("get_weather", {"city": "Paris"}), tools=TOOLS)
    assert turn.calls == [] and turn.codes == [V.NO_TOOL_CALL]


def test_unclosed_final_block_is_decoded(hermes):
    turn = hermes.parse(block("get_weather", {"city": "Paris"}, close=False), tools=TOOLS)
    assert turn.codes == [V.UNCLOSED_TOOL]
    assert turn.calls[0].name == "get_weather" and turn.calls[0].arguments == {"city": "Paris"}
    assert turn.calls[0].closed is False


def test_invalid_json_keeps_the_call(hermes):
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"</tool_call>'
    turn = hermes.parse(text, tools=TOOLS)
    assert turn.codes == [V.INVALID_JSON_ARGUMENTS]
    assert turn.calls[0].name == "get_weather"
    assert turn.calls[0].arguments == '{"name": "get_weather", "arguments": {"city": "Paris"'
    turn = hermes.parse("<tool_call>not json at all</tool_call>", tools=TOOLS)
    assert turn.codes == [V.INVALID_JSON_ARGUMENTS] and turn.calls[0].name == ""
    turn = hermes.parse('<tool_call>{"name": "get_weather", "arguments": "{oops"}</tool_call>', tools=TOOLS)
    assert turn.codes == [V.INVALID_JSON_ARGUMENTS] and turn.calls[0].arguments == "{oops"
    assert hermes.parse("<tool_call></tool_call>", tools=TOOLS).codes == [V.INVALID_JSON_ARGUMENTS]


def test_schema_violations(hermes):
    assert hermes.parse(block("get_weather", {}), tools=TOOLS).codes == [V.MISSING_REQUIRED_PARAM]
    assert hermes.parse(block("get_weather", {"city": "x", "days": 3}), tools=TOOLS).codes == [V.UNEXPECTED_PARAM]
    assert hermes.parse(block("get_weather", {"city": 3}), tools=TOOLS).codes == [V.INVALID_PARAM_VALUE]
    assert hermes.parse(block("get_weather", {"city": "x", "unit": "k"}), tools=TOOLS).codes == \
        [V.INVALID_PARAM_VALUE]
    turn = hermes.parse(block("get_forecast", {"city": "x"}), tools=TOOLS)
    assert turn.codes == [V.UNKNOWN_TOOL] and turn.calls[0].name == "get_forecast"


def test_roo_catalog_rules(roo_hermes):
    turn = roo_hermes.parse(block("execute_command", {"command": "ls"}), mode="code")
    assert turn.codes == [V.MISSING_REQUIRED_PARAM] and "'cwd'" in turn.violations[0].detail
    assert roo_hermes.parse(block("execute_command", {"command": "ls", "cwd": None}), mode="ask").codes == \
        [V.TOOL_NOT_ALLOWED_IN_MODE]
    turn = roo_hermes.parse(block("write_to_file", {"path": "app.js", "content": "x = 1\n"}), mode="architect")
    assert turn.codes == [V.FILE_RESTRICTED]


def test_roo_catalog_lints(roo_hermes):
    turn = roo_hermes.parse(block("attempt_completion", {"result": "Done. Anything else?"}), mode="code")
    assert turn.codes == [V.QUESTION_IN_COMPLETION]


def test_dotted_names_accept_both_spellings(hermes):
    for name in ("math.factorial", "math_factorial"):
        turn = hermes.parse(block(name, {"number": 4}), tools=TOOLS)
        assert turn.codes == [] and turn.calls[0].name == "math.factorial"


def test_format_call_round_trip(hermes):
    calls = [ToolCall("math.factorial", {"number": 4}), ToolCall("get_weather", {"city": "Zürich"})]
    m = hermes.format_call(calls, text="Two calls.")
    assert m["role"] == "assistant" and m["content"].startswith("Two calls.")
    assert "tool_calls" not in m
    turn = hermes.parse(m, tools=TOOLS)
    assert turn.codes == [] and [c.to_dict() for c in turn.calls] == [c.to_dict() for c in calls]
    assert turn.text == "Two calls."


def test_render_and_request(hermes, roo_hermes):
    text = hermes.render_system(tools=TOOLS, style="full")
    assert "get_weather" in text and "<tool_call>" in text
    assert "execute_command" not in roo_hermes.render_system(mode="ask", style="compact")
    assert hermes.request_tools(tools=TOOLS) is None
    assert hermes.stop_sequences() == []


def test_server_extracted_tool_calls_are_accepted(hermes):
    m = {"content": "", "tool_calls": [{"id": "c1", "type": "function",
                                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    turn = hermes.parse(m, tools=TOOLS)
    assert turn.codes == [] and turn.calls[0].arguments == {"city": "Paris"}


def test_helpers():
    assert split_reasoning("  <think>a</think>b") == ("a", "b")
    assert split_reasoning("a</think>b") == ("a", "b")
    assert split_reasoning("<think>open") == ("open", "")
    assert scan_blocks("a<tool_call>x</tool_call>b<tool_call>y") == ([("x", True), ("y", False)], "ab")


# -- properties ---------------------------------------------------------------------------------

fragments = st.sampled_from(["<tool_call>", "</tool_call>", "<think>", "</think>", "{", "}", '"name"', ":",
                             '"get_weather"', '"arguments"', '{"city": "x"}', ",", '"', "\\", "\n", " ", "[", "]",
                             '"math.factorial"', "null", "1e999", "<read_file>"])
texts = st.lists(fragments | st.text(max_size=10), max_size=40).map("".join) | st.text()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=20)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, mode=st.sampled_from([None, "code", "ask", "nope"]))
def test_parse_never_raises_on_text(hermes, roo_hermes, text, mode):
    for proto, tools in ((hermes, TOOLS), (hermes, None), (roo_hermes, None)):
        turn = proto.parse(text, mode=mode, tools=tools)
        assert all(v.code in V.CODES for v in turn.violations)
        assert bool(turn.calls) != (V.NO_TOOL_CALL in turn.codes)


@settings(max_examples=200, deadline=None)
@given(message=json_values | st.fixed_dictionaries({}, optional={"content": json_values | texts,
                                                                   "tool_calls": json_values}))
def test_parse_never_raises_on_shapes(hermes, message):
    turn = hermes.parse(message, tools=TOOLS)
    assert all(v.code in V.CODES for v in turn.violations)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["get_weather", "math.factorial", "x"]),
       args=st.dictionaries(st.text(max_size=8), json_values, max_size=3))
def test_round_trip_property(hermes, name, args):
    turn = hermes.parse(hermes.format_call([ToolCall(name, args)]), tools=TOOLS)
    assert len(turn.calls) == 1 and turn.calls[0].arguments == json.loads(json.dumps(args))
    assert V.INVALID_JSON_ARGUMENTS not in turn.codes and V.UNCLOSED_TOOL not in turn.codes


MIB = 1 << 20


@pytest.mark.parametrize("text", [
    "x" * MIB,
    "<tool_call>" * (MIB // 11),
    "<tool_call>{" * (MIB // 12),
    "</tool_call>" * (MIB // 12),
    block("get_weather", {"city": "a" * MIB}),
    '<tool_call>{"name": "get_weather", "arguments": {"city": "' + "\\" * MIB,
    "<think>" + "y" * MIB,
    '"name"' + " " * MIB,
    "<tool_call>" + '"name": ' * (MIB // 8),
], ids=["prose", "opens", "opens-brace", "closes", "big-arg", "backslashes", "unclosed-think", "name-spaces",
        "many-names"])
def test_linear_time(hermes, roo_hermes, text):
    for proto, tools in ((hermes, TOOLS), (roo_hermes, None)):
        t0 = time.perf_counter()
        proto.parse(text, mode="code", tools=tools)
        assert time.perf_counter() - t0 < 1.0
