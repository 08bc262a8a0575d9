"""harness.score.verdicts: verdicts from a parsed turn and a case's expectation."""
from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from harness.suite.model import Case, Expect, ExpectedCall
from harness.score.verdicts import (ANY_KEY, NONE_KEY, Verdict, arguments_problems, by_tool_key, score,
                             validator_for)
from protocols import violations as V
from protocols.types import ToolCall, Turn, Violation

MULTI = SimpleNamespace(catalog=None)                                      # many calls may run
ONE = SimpleNamespace(catalog=SimpleNamespace(one_call_per_turn=True))     # Roo: only the first runs


def case(calls=None, **kw) -> Case:
    expect_kw = {k: kw.pop(k) for k in ("any_order", "checker", "functions", "category") if k in kw}
    exp = None if calls is None else tuple(ExpectedCall(n, a) for n, a in calls)
    return Case(id=kw.pop("id", "c1"), protocol="roo-xml", messages=[], expect=Expect(calls=exp, **expect_kw), **kw)


def turn(*calls, violations=()) -> Turn:
    return Turn(calls=[ToolCall(n, a) for n, a in calls], violations=list(violations))


def codes(v: Verdict) -> list[str]:
    return [x.code for x in v.violations]


NO_CALL = Violation(V.NO_TOOL_CALL, "the response has no tool call")


# -- irrelevance ----------------------------------------------------------------------------------

def test_irrelevance_no_call_passes_and_drops_no_tool_call():
    v = score(case([]), turn(violations=[NO_CALL]), ONE)
    assert v.passed and v.violations == []


def test_irrelevance_call_is_unexpected_tool_call():
    v = score(case([]), turn(("read_file", {"path": "a"})), ONE)
    assert not v.passed
    assert codes(v) == [V.UNEXPECTED_TOOL_CALL]
    assert "read_file" in v.violations[0].detail
    assert v.calls[0].name == "read_file"


def test_irrelevance_other_violation_still_fails():
    v = score(case([]), turn(violations=[NO_CALL, Violation(V.CONVERSATIONAL_OPENER, "Great")]), ONE)
    assert codes(v) == [V.CONVERSATIONAL_OPENER] and not v.passed


# -- any call / protocol violations -----------------------------------------------------------

def test_expect_none_accepts_any_call_but_keeps_protocol_violations():
    assert score(case(None), turn(("anything", {})), ONE).passed
    v = score(case(None), turn(("x", {}), violations=[Violation(V.UNCLOSED_TOOL, "x")]), ONE)
    assert codes(v) == [V.UNCLOSED_TOOL]


def test_protocol_violations_come_first_and_stay():
    v = score(case([("read_file", {"path": {"const": "a"}})]),
              turn(("read_file", {"path": "b"}), violations=[Violation(V.TEXT_AFTER_TOOL_CALL, "t")]), ONE)
    assert codes(v) == [V.TEXT_AFTER_TOOL_CALL, V.WRONG_ARGUMENTS]


def test_missing_call_reports_no_tool_call_once():
    c = case([("read_file", {})])
    assert codes(score(c, turn(violations=[NO_CALL]), ONE)) == [V.NO_TOOL_CALL]
    v = score(c, turn(), MULTI)   # a protocol that did not say so itself
    assert codes(v) == [V.NO_TOOL_CALL] and "read_file" in v.violations[0].detail


# -- names and counts --------------------------------------------------------------------------

def test_wrong_tool_detail():
    v = score(case([("read_file", {})]), turn(("write_to_file", {})), ONE)
    assert codes(v) == [V.WRONG_TOOL]
    assert v.violations[0].detail == "expected read_file, got write_to_file"


def test_count_mismatch_is_wrong_tool_with_counts():
    v = score(case([("a", {})]), turn(("a", {}), ("b", {})), MULTI)
    assert codes(v) == [V.WRONG_TOOL]
    assert "expected 1 call" in v.violations[0].detail and "got 2 calls" in v.violations[0].detail
    v = score(case([("a", {}), ("b", {})]), turn(("a", {})), MULTI)
    assert codes(v) == [V.WRONG_TOOL] and "expected 2 calls" in v.violations[0].detail


def test_one_call_per_turn_counts_only_the_first_call():
    mult = Violation(V.MULTIPLE_TOOL_CALLS, "2 calls")
    t = turn(("read_file", {"path": "a"}), ("write_to_file", {}), violations=[mult])
    c = case([("read_file", {"path": ["a"]})])
    assert codes(score(c, t, ONE)) == [V.MULTIPLE_TOOL_CALLS]
    # without the rule the second call is a count mismatch too
    assert codes(score(c, turn(("read_file", {"path": "a"}), ("write_to_file", {})), MULTI)) == [V.WRONG_TOOL]
    # and only the first call is compared: a wrong first call is wrong even if the second is right
    t2 = turn(("write_to_file", {}), ("read_file", {"path": "a"}), violations=[mult])
    assert codes(score(c, t2, ONE)) == [V.MULTIPLE_TOOL_CALLS, V.WRONG_TOOL]


# -- arguments ----------------------------------------------------------------------------------

def test_schema_argument_mismatch_names_param_and_value():
    v = score(case([("read_file", {"path": {"const": "config.yaml"}})]), turn(("read_file", {"path": "conf.yml"})), ONE)
    assert codes(v) == [V.WRONG_ARGUMENTS]
    d = v.violations[0].detail
    assert "path" in d and "conf.yml" in d and "read_file" in d


def test_schema_argument_match_and_patterns():
    c = case([("search_files", {"path": {"const": "src"}, "regex": {"type": "string", "pattern": "TODO"}})])
    assert score(c, turn(("search_files", {"path": "src", "regex": "TODO|FIXME"})), ONE).passed
    assert not score(c, turn(("search_files", {"path": "src", "regex": "XXX"})), ONE).passed


def test_long_values_are_truncated_in_details():
    long = "x" * 5000
    v = score(case([("write_to_file", {"content": {"const": "short"}})]), turn(("write_to_file", {"content": long})), ONE)
    d = v.violations[0].detail
    assert len(d) < 400 and "…" in d


def test_absent_param_is_null_for_schemas():
    nullable = case([("f", {"x": {"type": ["string", "null"]}})])
    assert score(nullable, turn(("f", {})), ONE).passed
    required = case([("f", {"x": {"type": "string"}})])
    v = score(required, turn(("f", {})), ONE)
    assert codes(v) == [V.WRONG_ARGUMENTS] and "x: missing" in v.violations[0].detail


def test_alternatives_and_optional_empty_string():
    c = case([("f", {"unit": ["celsius", ""], "city": ["Paris", "Paris, France"]})])
    assert score(c, turn(("f", {"city": "Paris"})), ONE).passed            # unit omitted: allowed by ""
    assert score(c, turn(("f", {"city": "Paris, France", "unit": "celsius"})), ONE).passed
    v = score(c, turn(("f", {"city": "Lyon"})), ONE)
    assert codes(v) == [V.WRONG_ARGUMENTS] and "city" in v.violations[0].detail and "Lyon" in v.violations[0].detail
    v = score(case([("f", {"city": ["Paris"]})]), turn(("f", {})), ONE)
    assert codes(v) == [V.WRONG_ARGUMENTS] and "missing" in v.violations[0].detail


def test_alternatives_xml_raw_strings_and_bool_int_apart():
    assert score(case([("f", {"n": [10]})]), turn(("f", {"n": "10"})), ONE).passed     # XML raw string
    assert score(case([("f", {"flag": [True]})]), turn(("f", {"flag": "true"})), ONE).passed
    assert not score(case([("f", {"n": [1]})]), turn(("f", {"n": True})), ONE).passed  # True is not 1
    assert not score(case([("f", {"flag": [True]})]), turn(("f", {"flag": 1})), ONE).passed
    assert score(case([("f", {"x": [2.0]})]), turn(("f", {"x": 2})), ONE).passed


def test_non_object_arguments_are_wrong_arguments():
    c = case([("f", {"x": ["1"]})])
    v = score(c, Turn(calls=[ToolCall("f", "{not json")], violations=[Violation(V.INVALID_JSON_ARGUMENTS, "")]), MULTI)
    assert codes(v) == [V.INVALID_JSON_ARGUMENTS, V.WRONG_ARGUMENTS]


def test_extra_params_are_the_protocols_business():
    assert arguments_problems(ExpectedCall("f", {"a": ["1"]}), ToolCall("f", {"a": "1", "b": "2"})) == []


# -- order ---------------------------------------------------------------------------------------

def test_ordered_vs_any_order():
    exp = [("get", {"x": [1]}), ("get", {"x": [2]})]
    t = turn(("get", {"x": 2}), ("get", {"x": 1}))
    assert codes(score(case(exp), t, MULTI)) == [V.WRONG_ARGUMENTS, V.WRONG_ARGUMENTS]
    assert score(case(exp, any_order=True), t, MULTI).passed


def test_any_order_uses_a_maximum_matching_not_greedy():
    # greedy would pair e1 with the first call (x=1) and leave e2 unmatched
    exp = [("get", {"x": [1, 2]}), ("get", {"x": [1]})]
    t = turn(("get", {"x": 1}), ("get", {"x": 2}))
    assert score(case(exp, any_order=True), t, MULTI).passed


def test_any_order_reports_what_is_left():
    exp = [("a", {"x": [1]}), ("b", {})]
    v = score(case(exp, any_order=True), turn(("c", {}), ("a", {"x": 3})), MULTI)
    assert sorted(codes(v)) == [V.WRONG_ARGUMENTS, V.WRONG_TOOL]
    assert any(x.detail == "expected b, got c" for x in v.violations)


# -- bfcl ----------------------------------------------------------------------------------------

def test_bfcl_checker_gets_bfcl_shapes_and_no_tool_call_is_not_doubled(monkeypatch):
    seen = {}

    def check(functions, calls, expected, category):
        seen.update(functions=functions, calls=calls, expected=expected, category=category)
        if not calls:
            return [Violation(V.NO_TOOL_CALL, "bfcl: no call")]
        return [Violation(V.WRONG_ARGUMENTS, "bfcl says no")]

    fake = types.ModuleType("protocols.bfcl")
    fake.check = check
    monkeypatch.setitem(sys.modules, "protocols.bfcl", fake)
    import protocols
    monkeypatch.setattr(protocols, "bfcl", fake, raising=False)
    fn = {"name": "math.factorial", "parameters": {"type": "dict", "properties": {"n": {"type": "integer"}}}}
    c = case([("math.factorial", {"n": [5]})], checker="bfcl", functions=(fn,), category="simple")
    v = score(c, turn(("math.factorial", {"n": 4})), MULTI)
    assert codes(v) == [V.WRONG_ARGUMENTS]
    assert seen["expected"] == [{"math.factorial": {"n": [5]}}]
    assert seen["functions"] == [fn] and seen["category"] == "simple"
    assert [c.name for c in seen["calls"]] == ["math.factorial"]
    v = score(c, turn(violations=[NO_CALL]), MULTI)
    assert codes(v) == [V.NO_TOOL_CALL]


BFCL_FN = {"name": "math.hypot", "description": "hypotenuse",
           "parameters": {"type": "dict", "properties": {"x": {"type": "float"}, "y": {"type": "float"},
                                                          "unit": {"type": "string"}},
                          "required": ["x", "y"]}}


def _bfcl_case(calls, category):
    return Case(id="b", protocol="native", messages=[], tools=None,
                expect=Expect(calls=calls, checker="bfcl", functions=(BFCL_FN,), category=category))


def _msg(*calls):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": str(i), "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)]}


def test_bfcl_with_the_real_checker_and_native_protocol():
    import protocols
    from protocols import bfcl
    proto = protocols.get("native")
    tools = bfcl.functions_to_tools([BFCL_FN])
    c = _bfcl_case((ExpectedCall("math.hypot", {"x": [3.0], "y": [4.0], "unit": ["", "cm"]}),), "simple")
    ok = proto.parse(_msg(("math_hypot", '{"x": 3, "y": 4.0}')), tools=tools)       # int for float, unit omitted
    assert score(c, ok, proto).passed, score(c, ok, proto).violations
    ok2 = proto.parse(_msg(("math_hypot", '{"x": 3, "y": 4, "unit": "CM"}')), tools=tools)   # BFCL normalises
    assert score(c, ok2, proto).passed
    bad = proto.parse(_msg(("math_hypot", '{"x": 3, "y": 5}')), tools=tools)
    assert V.WRONG_ARGUMENTS in codes(score(c, bad, proto))
    none = score(c, proto.parse({"role": "assistant", "content": "no idea"}, tools=tools), proto)
    assert codes(none) == [V.NO_TOOL_CALL]                                     # once, not twice
    irr = _bfcl_case((), "irrelevance")
    assert score(irr, proto.parse({"role": "assistant", "content": "I cannot."}, tools=tools), proto).passed
    v = score(irr, ok, proto)
    assert codes(v) == [V.UNEXPECTED_TOOL_CALL]
    rel = _bfcl_case(None, "live_relevance")
    assert score(rel, ok, proto).passed
    assert codes(score(rel, proto.parse({"role": "assistant", "content": "hm"}, tools=tools), proto)) == [V.NO_TOOL_CALL]


# -- helpers -------------------------------------------------------------------------------------

def test_validator_cache_compiles_once_per_schema():
    s1 = {"type": "string", "minLength": 3}
    s2 = {"minLength": 3, "type": "string"}   # equal, another object
    assert validator_for(s1) is validator_for(s1)
    assert validator_for(s1) is validator_for(s2)
    assert validator_for({"const": 1}) is not validator_for(s1)


def test_by_tool_key():
    assert by_tool_key(case([("read_file", {}), ("x", {})])) == "read_file"
    assert by_tool_key(case([])) == NONE_KEY
    assert by_tool_key(case(None), turn(("list_files", {}))) == "list_files"
    assert by_tool_key(case(None), [{"name": "ls", "arguments": {}}]) == "ls"
    assert by_tool_key(case(None), turn()) == ANY_KEY


def test_with_real_native_protocol():
    import protocols
    proto = protocols.get("native")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    c = Case(id="w", protocol="native", messages=[], tools=tools,
             expect=Expect(calls=(ExpectedCall("get_weather", {"city": {"const": "Paris"}}),)))
    msg = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    v = score(c, proto.parse(msg, tools=tools), proto)
    assert v.passed, v.violations
    msg["tool_calls"][0]["function"]["arguments"] = '{"city": "Rome"}'
    v = score(c, proto.parse(msg, tools=tools), proto)
    assert codes(v) == [V.WRONG_ARGUMENTS]
    v = score(c, proto.parse({"role": "assistant", "content": "It is sunny."}, tools=tools), proto)
    assert codes(v) == [V.NO_TOOL_CALL]


@pytest.mark.parametrize("value,ok", [("a.py", True), ("b.py", False)])
def test_verdict_to_dict(value, ok):
    v = score(case([("read_file", {"path": ["a.py"]})]), turn(("read_file", {"path": value})), ONE)
    d = v.to_dict()
    assert d["passed"] is ok and d["calls"] == [{"name": "read_file", "arguments": {"path": value}}]
    assert all(set(x) == {"code", "detail"} for x in d["violations"])


# -- the fast path agrees with jsonschema ----------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.score.verdicts import _fast_predicate, check_for  # noqa: E402

FAST_SCHEMAS = [
    {"const": "config.yaml"}, {"const": 1}, {"const": True}, {"const": [1, "a"]}, {"const": {"a": 1}},
    {"enum": ["a", 1, None, False]}, {"type": "string"}, {"type": "integer"}, {"type": "number"},
    {"type": ["string", "null"]}, {"type": "boolean"}, {"type": "array"}, {"type": "object"},
    {"type": "string", "pattern": "^src/.*\\.py$"}, {"pattern": "TODO"}, {"type": "string", "minLength": 2, "maxLength": 4},
    {"minimum": 0, "maximum": 10}, {"type": "integer", "minimum": 1, "description": "n"},
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(-20, 20, allow_nan=False)
    | st.sampled_from(["", "a", "config.yaml", "src/x.py", "TODO: x", "abcde", "1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
    max_leaves=5)


@settings(max_examples=300)
@given(st.sampled_from(FAST_SCHEMAS), json_values)
def test_fast_path_agrees_with_jsonschema(schema, value):
    assert _fast_predicate(schema) is not None
    assert check_for(schema).ok(value) == validator_for(schema).is_valid(value)


def test_fast_path_declines_what_it_does_not_know():
    for schema in ({"type": "string", "format": "email"}, {"anyOf": [{"const": 1}]}, {"$schema": "x", "const": 1},
                   {"type": "object", "properties": {"a": {"const": 1}}}):
        assert _fast_predicate(schema) is None
    chk = check_for({"type": "object", "required": ["a"]})
    assert chk.ok({"a": 1}) and not chk.ok({}) and "'a' is a required property" in chk.why({})
