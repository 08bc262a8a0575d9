"""Fuzz properties of every parser and of the suite loader (hypothesis), as a complement to the
per-module tests.

Audit of what those tests already hold, so that this file adds only what is missing:

| parser | never raises | linear time | round trip |
|---|---|---|---|
| roo scanner (test_roo_scanner) | scan, split_leading_think on text | 8x ratio on one fixed unit | naive-model + streaming equality |
| roo-xml (test_roo_xml, test_render) | - | - | format_call, format_xml_call |
| roo-native, native (test_native_wire) | message shapes, one fixed BFCL tool list | five fixed 1 MiB inputs | format_call |
| hermes (test_hermes_wire) | text and shapes, one tool list | nine fixed 1 MiB inputs | format_call |
| BFCL answers (test_bfcl*) | - | - | - |
| suite loader (test_suite_loader) | fixed malformed files only | - | - |

Added here: roo-xml parse + lints on arbitrary text (lone surrogates included) and message shapes;
every wire format with arbitrary `tools` values; BFCL answers (`harness.score.verdicts.judge` with BFCL's
checker) on random function docs, answers and model calls; the suite loader on arbitrary bytes, on
token soup and on structurally random cases, as YAML and JSONL (a Suite, or SuiteError whose every
line is FILE:LINE: message); a CPU-time ratio (10x input vs 1x, generous bound) for each parser on
inputs built from random units; round trips for native calls under dotted tool names and for
`dump_suite` -> `load_suite`; and the equivalences the scoring fast paths rely on (`parse_calls` ==
`parse().calls`, schema.fast agrees with jsonschema, cached function sets follow edited tools).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocols
from harness.suite.model import Case, Expect, ExpectedCall
from harness.errors import SuiteError
from harness.score.verdicts import judge
from harness.suite import case_to_dict, check, dump_suite, load_suite
from protocols import violations as V
from protocols.types import ToolCall

ROO = protocols.get("roo-xml")
ROO_NATIVE = protocols.get("roo-native")
NATIVE = protocols.get("native")
HERMES = protocols.get("hermes")
MODES = [None, "code", "ask", "architect", "debug", "orchestrator", "no-such-mode"]
def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


_WORK: list[Path] = []   # this module's scratch folder (hypothesis runs many examples per test)


@pytest.fixture(scope="module", autouse=True)
def _private_folders():
    """The suite loader's caches and the files written here in a folder of this module."""
    old = {k: os.environ.get(k) for k in ("HARNESS_CACHE_DIR", "HARNESS_HOME")}
    with tempfile.TemporaryDirectory() as d:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(d) / "cache")
        os.environ["HARNESS_HOME"] = str(Path(d) / "home")
        _WORK.append(Path(d) / "files")
        _WORK[-1].mkdir()
        yield
        _WORK.pop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# -- strategies -------------------------------------------------------------------------------------

# every code point, lone surrogates included (a JSON "\ud800" escape decodes to one)
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=80)
ROO_ATOMS = [
    "<read_file>", "</read_file>", "<write_to_file>", "</write_to_file>", "<apply_diff>", "</apply_diff>",
    "<attempt_completion>", "</attempt_completion>", "<ask_followup_question>", "<update_todo_list>",
    "<execute_command>", "</execute_command>", "<args>", "</args>", "<file>", "</file>", "<path>", "</path>",
    "<line_range>", "1-2", "0-5", "<content>", "</content>", "<line_count>", "</line_count>", "<diff>", "</diff>",
    "<command>", "</command>", "<result>", "</result>", "<follow_up>", "<suggest mode=\"ask\">", "</suggest>",
    "<todos>", "[ ] a", "[x] b", "<think>", "</think>", "<thinking>", "</thinking>", "<<<<<<< SEARCH", "=======",
    ">>>>>>> REPLACE", "-------", ":start_line:", ":end_line:", "3", "\\=======", "```", "// rest of code",
    "# ... existing code ...", "path/to/", "your_file", "Sure!", "Would you like more?", "<", ">", "/", "\n",
    " ", "x", "\u00a0", "\ufeff", "\u2028", "\ud800", "\U0001f600", "<tool_call>", "</tool_call>",
    '{"name": "get_weather", "arguments": {"city": "Oslo"}}', '{"name": ', "{", "}",
]
soup = st.lists(st.sampled_from(ROO_ATOMS) | any_text, max_size=40).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(any_char, max_size=12),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(any_char, max_size=6), c, max_size=4),
    max_leaves=16)
names = st.sampled_from(["read_file", "execute_command", "get_weather", "math.factorial", "geo.distance/km",
                         "math_factorial", "mcp--s--t", "", "nope"]) | st.text(any_char, max_size=10)
raw_arguments = json_values | json_values.map(json.dumps) | soup
tool_call_entries = st.fixed_dictionaries({}, optional={
    "id": json_values, "type": st.just("function") | json_values,
    "function": st.fixed_dictionaries({}, optional={"name": names | json_values, "arguments": raw_arguments})
    | json_values}) | json_values
message_shapes = st.fixed_dictionaries({}, optional={
    "role": st.just("assistant") | json_values,
    "content": soup | json_values | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": soup})
                                             | json_values, max_size=3),
    "tool_calls": st.lists(tool_call_entries, max_size=3) | json_values,
    "function_call": json_values, "reasoning_content": json_values}) | soup | json_values

SCHEMAS = [
    {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
     "required": ["city"]},
    {"type": "dict", "properties": {"n": {"type": "integer", "minimum": 0}, "x": {"type": "float"},
                                    "tags": {"type": "array", "items": {"type": "string"}}}},
    {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
     "additionalProperties": False},
    {"type": "object", "properties": {"p": {"type": "string", "pattern": "^[a-z]+$"}}, "required": ["p"]},
    {"type": "object"},
    {"type": "object", "properties": {"r": {"$ref": "#/$defs/nope"}}},
]
tool_dicts = st.builds(
    lambda name, schema, strict, wrap: ({"type": "function", "function": {"name": name, "parameters": schema,
                                                                          "strict": strict}}
                                        if wrap else {"name": name, "parameters": schema}),
    names, st.sampled_from(SCHEMAS) | json_values, st.booleans(), st.booleans())
tools_values = st.none() | st.lists(tool_dicts | json_values, max_size=4) | json_values


def _codes_ok(turn: Any) -> None:
    assert all(v.code in V.CODES and isinstance(v.detail, str) for v in turn.violations), turn.violations
    assert bool(turn.calls) != (V.NO_TOOL_CALL in turn.codes), (turn.codes, turn.calls)
    json.dumps(turn.to_dict(), default=repr)   # result lines are JSON


# -- never raises -----------------------------------------------------------------------------------

@fuzz(300)
@given(text=soup, mode=st.sampled_from(MODES))
def test_roo_xml_parse_and_lints_never_raise_on_text(text, mode):
    for message in (text, {"role": "assistant", "content": text}):
        _codes_ok(ROO.parse(message, mode=mode))
    from protocols.lints import call_lints
    for tool in ("apply_diff", "write_to_file", "attempt_completion", "ask_followup_question", "read_file",
                 "update_todo_list"):
        params = {p: text for p in ("diff", "content", "path", "result", "follow_up", "args", "todos", "line_count")}
        assert all(v.code in V.CODES for v in call_lints(tool, params, ("code", "ask")))


@fuzz(250)
@given(message=message_shapes, mode=st.sampled_from(MODES), tools=tools_values)
def test_every_wire_format_never_raises_on_any_message_and_tools(message, mode, tools):
    for proto in (ROO, ROO_NATIVE, NATIVE, HERMES):
        turn = proto.parse(message, mode=mode, tools=tools)
        _codes_ok(turn)
        assert proto.parse_calls(message, mode=mode, tools=tools) == turn.calls


@pytest.mark.parametrize("message", [None, 5, 2.5, True, [1, "a"], ("x",), b"<read_file>"])
def test_roo_xml_parse_of_a_non_message_is_no_call(message):
    """Found by the property above: roo-xml raised AttributeError on a message that is neither text
    nor a mapping (the other wire formats already answered no_tool_call)."""
    for proto in (ROO, ROO_NATIVE, NATIVE, HERMES):
        turn = proto.parse(message, mode="code")
        assert turn.calls == [] and turn.codes[0] == V.NO_TOOL_CALL


# -- BFCL answers -----------------------------------------------------------------------------------

BFCL_TYPES = ["string", "integer", "float", "boolean", "array", "tuple", "dict", "any", "String", None, 5]
bfcl_values = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from(
    ["Paris", "paris", "", "New-York", "a b", "'x'"]) | st.lists(st.sampled_from(["a", "B", "", 1]), max_size=3)


@st.composite
def bfcl_cases(draw):
    fns = []
    for i in range(draw(st.integers(1, 3))):
        props = {}
        for j in range(draw(st.integers(0, 3))):
            t = draw(st.sampled_from(BFCL_TYPES))
            spec = {} if t is None else {"type": t}
            if t in ("array", "tuple"):
                spec["items"] = {"type": draw(st.sampled_from(["string", "integer", "dict", "float"]))}
            if t == "dict":
                spec["properties"] = {"k": {"type": "string"}}
            props[f"p{j}"] = spec
        name = draw(st.sampled_from([f"fn{i}", f"mod.fn{i}", f"fn_{i}"]))
        fns.append({"name": name, "description": "d",
                    "parameters": {"type": "dict", "properties": props,
                                   "required": draw(st.lists(st.sampled_from(list(props) + ["ghost"]), max_size=2))}})
    category = draw(st.sampled_from(["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
                                     "live_relevance", "live_simple", ""]))
    calls = []
    for _ in range(draw(st.integers(0, 2))):
        fn = draw(st.sampled_from(fns))
        answer = {p: draw(st.lists(bfcl_values | st.dictionaries(st.just("k"), st.lists(bfcl_values, max_size=2)),
                                   max_size=3))
                  for p in fn["parameters"]["properties"]}
        calls.append(ExpectedCall(draw(st.sampled_from([fn["name"], "other"])), answer))
    from protocols.bfcl import functions_to_tools
    expect = Expect(calls=tuple(calls), any_order="parallel" in category, checker="bfcl", functions=tuple(fns),
                    category=category)
    return Case("b", "native", [], expect=expect, tools=functions_to_tools(fns))


bfcl_arguments = st.dictionaries(st.sampled_from(["p0", "p1", "p2", "ghost", "k"]),
                                 bfcl_values | json_values, max_size=3).map(json.dumps) | raw_arguments
bfcl_messages = st.builds(
    lambda calls, content: {"role": "assistant", "content": content,
                            "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                           for i, (n, a) in enumerate(calls)]},
    st.lists(st.tuples(st.sampled_from(["fn0", "mod_fn0", "mod.fn1", "fn_1", "fn2", "x"]) | names, bfcl_arguments),
             max_size=3),
    st.none() | soup) | message_shapes


@fuzz(200)
@given(case=bfcl_cases(), message=bfcl_messages)
def test_bfcl_answers_never_raise_and_judge_reads_only_the_calls(case, message):
    verdict = judge(case, message, NATIVE)
    assert verdict.passed == (not verdict.violations)
    assert all(v.code in V.CODES for v in verdict.violations)
    turn = NATIVE.parse(message, tools=case.tools)
    assert verdict.calls == turn.calls   # the calls-only parse gives the calls of the full one
    from harness.score.verdicts import score
    assert score(case, turn, NATIVE).to_dict() == verdict.to_dict()


# -- suite loader -----------------------------------------------------------------------------------

GOOD_YAML = """name: fuzz
protocol: roo-xml
mode: code
cases:
  - id: read-one
    split: train
    tags: [read_file]
    messages:
      - role: user
        content: "Show me src/app.py"
    expect:
      calls:
        - name: read_file
          arguments:
            args: {type: string, pattern: "src/app"}
    reference:
      content: "<read_file>\\n<args>\\n<file>\\n<path>src/app.py</path>\\n</file>\\n</args>\\n</read_file>"
  - id: weather
    protocol: native
    tools: [{type: function, function: {name: get_weather, parameters: {type: object, properties: {city: {type: string}}}}}]
    messages: [{role: user, content: Paris?}]
    expect: {calls: [{name: get_weather, arguments: {city: [Paris]}}]}
"""
YAML_ATOMS = ["\n", "  ", "- ", ": ", "cases:", "id: a", "protocol: ", "roo-xml", "native", "messages:",
              "[", "]", "{", "}", ",", "'", '"', "&a", "*a", "!!python/object", "? ", "|", ">", "#", "---", "...",
              "expect:", "calls:", "name: read_file", "arguments:", "tools:", "null", "~", "1e9", "\t", "%YAML 1.2",
              "\x00", "\ufeff", "\ud800"]
JSONL_ATOMS = ['{"id": "a"', '"protocol": "native"', '"messages": []', '"expect": {"calls": []}', ", ", "}", "{",
               "[", "]", '"suite": {}', "\n", "null", '"tools": 5', '"split": "train"', "\\u0000", '"\\ud800"']
CASE_KEYS = ["id", "protocol", "mode", "split", "tags", "messages", "tools", "expect", "reference", "meta", "bogus"]
structured_cases = st.dictionaries(
    st.sampled_from(CASE_KEYS),
    json_values | st.sampled_from(["roo-xml", "native", "hermes", "xml:nope.json", "code", "train"])
    | st.fixed_dictionaries({}, optional={"calls": st.lists(st.fixed_dictionaries(
        {"name": names}, optional={"arguments": st.dictionaries(st.text(max_size=4), json_values, max_size=2)}),
        max_size=2) | json_values, "any_order": json_values, "checker": st.sampled_from(["schema", "bfcl", "x"]),
        "functions": json_values, "category": json_values})
    | st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool", "x"])},
                                     optional={"content": json_values | soup}), max_size=2),
    max_size=8)


def _check_file(path: Path) -> None:
    """The loader's whole contract on one file: a suite, or every problem as FILE:LINE: message."""
    suite, problems = check(path)
    if suite is None:
        assert problems
        for line in problems:
            assert re.match(re.escape(str(path)) + r":\d+: \S", line), line
        with pytest.raises(SuiteError):
            load_suite(path)
    else:
        assert not problems and suite.cases


def _write(name: str, data: bytes) -> Path:
    """A fresh folder per file: the suite's name comes from the file name, and no cache is shared."""
    p = Path(tempfile.mkdtemp(dir=_WORK[-1])) / name
    p.write_bytes(data)
    return p


@fuzz(200)
@given(data=st.binary(max_size=300) | soup.map(lambda s: s.encode("utf-8", "surrogatepass"))
       | st.lists(st.sampled_from(YAML_ATOMS) | st.text(max_size=5), max_size=40).map(
           lambda xs: "".join(xs).encode("utf-8", "surrogatepass"))
       | st.lists(st.sampled_from(JSONL_ATOMS), max_size=30).map(lambda xs: "".join(xs).encode("utf-8", "surrogatepass")),
       ext=st.sampled_from([".yaml", ".yml", ".jsonl"]))
def test_suite_loader_on_arbitrary_bytes(data, ext):
    _check_file(_write("s" + ext, data))


@fuzz(150)
@given(cut=st.integers(0, len(GOOD_YAML)), length=st.integers(0, 40), insert=st.sampled_from(YAML_ATOMS) | st.text(
    max_size=4))
def test_suite_loader_on_mutated_valid_yaml(cut, length, insert):
    text = GOOD_YAML[:cut] + insert + GOOD_YAML[cut + length:]
    _check_file(_write("m.yaml", text.encode("utf-8", "surrogatepass")))


@fuzz(80)
@given(cases=st.lists(structured_cases, min_size=1, max_size=3),
       header=st.none() | st.dictionaries(st.sampled_from(["name", "protocol", "mode", "x"]), json_values, max_size=2))
def test_suite_loader_on_structurally_random_cases(cases, header):
    lines = ([json.dumps({"suite": header})] if header is not None else []) + [json.dumps(c) for c in cases]
    _check_file(_write("c.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass")))
    import yaml
    try:
        text = yaml.safe_dump({"cases": cases}, allow_unicode=True)
    except yaml.YAMLError:
        return
    _check_file(_write("c.yaml", text.encode("utf-8", "surrogatepass")))


# -- round trips ------------------------------------------------------------------------------------

finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(any_char, max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(any_char, max_size=6), c, max_size=3), max_leaves=10)
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


@fuzz(100)
@given(names_=st.lists(st.sampled_from(["math.factorial", "geo.distance/km", "math_factorial", "a.b.c", "a_b_c",
                                         "plain", "x-y"]), min_size=1, max_size=4, unique=True),
       picks=st.lists(st.integers(0, 3), min_size=1, max_size=3),
       args=st.dictionaries(st.text(max_size=6), finite_json, max_size=3))
def test_native_round_trip_under_dotted_names(names_, picks, args):
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in names_]
    calls = [ToolCall(names_[i % len(names_)], args) for i in picks]
    msg = NATIVE.format_call(calls, tools=tools)
    turn = NATIVE.parse(msg, tools=tools)
    assert [c.name for c in turn.calls] == [c.name for c in calls]
    assert [c.arguments for c in turn.calls] == [json.loads(json.dumps(args))] * len(calls)
    assert V.UNKNOWN_TOOL not in turn.codes and V.INVALID_JSON_ARGUMENTS not in turn.codes


@st.composite
def valid_cases(draw):
    out = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["roo", "native"]))
        msgs = [{"role": "user", "content": draw(plain_text.filter(str.strip))}]
        if kind == "roo":
            expect = Expect(calls=(ExpectedCall("execute_command", {"command": {"const": draw(plain_text)}}),))
            out.append(Case(f"c{i}", "roo-xml", msgs, expect=expect, mode=draw(st.sampled_from(["code", "ask"])),
                            split=draw(st.sampled_from(["train", "test"])),
                            tags=draw(st.lists(plain_text.filter(str.strip), max_size=2))))
        else:
            tools = [{"type": "function", "function": {"name": "get_weather", "description": draw(plain_text),
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
            alts = draw(st.lists(plain_text | st.integers(-5, 5) | st.booleans(), min_size=1, max_size=3))
            expect = Expect(calls=(ExpectedCall("get_weather", {"city": alts}),) if draw(st.booleans()) else (),
                            any_order=draw(st.booleans()))
            out.append(Case(f"c{i}", "native", msgs, expect=expect, tools=tools))
    return out


@fuzz(60)
@given(cases=valid_cases(), ext=st.sampled_from([".yaml", ".jsonl"]))
def test_dump_suite_then_load_suite_gives_the_same_cases(cases, ext):
    path = _write("rt" + ext, b"")
    dump_suite(cases, path, top={"name": "rt"})
    loaded = load_suite(path)
    assert [case_to_dict(c) for c in loaded.cases] == [case_to_dict(c) for c in cases]


# -- what the scoring fast paths rely on -------------------------------------------------------------

schema_types = st.sampled_from(["string", "integer", "number", "boolean", "null", "array", "object"])
small_json = st.recursive(
    st.none() | st.booleans() | st.integers(-4, 4) | st.floats(-4, 4, allow_nan=False) | st.sampled_from(
        [1.0, -0.0, 10 ** 20, 1e20, "a", "ab", "1", ""]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x"]), c, max_size=3),
    max_leaves=8)
nums = st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False)
leaf_schemas = st.fixed_dictionaries({}, optional={
    "type": schema_types | st.lists(schema_types, min_size=1, max_size=3, unique=True),
    "enum": st.lists(small_json, max_size=3), "const": small_json, "minimum": nums, "maximum": nums,
    "exclusiveMinimum": nums, "exclusiveMaximum": nums, "minLength": st.integers(0, 3),
    "maxLength": st.integers(0, 3), "pattern": st.sampled_from(["^a", "b$", "[0-9]"]), "minItems": st.integers(0, 2),
    "maxItems": st.integers(0, 2), "format": st.just("date"), "multipleOf": st.just(2), "title": st.just("t")}) \
    | st.booleans()
schemas = st.recursive(leaf_schemas, lambda c: st.fixed_dictionaries({}, optional={
    "type": schema_types, "properties": st.dictionaries(st.sampled_from(["a", "b"]), c, max_size=2),
    "required": st.lists(st.sampled_from(["a", "b", "x"]), max_size=2, unique=True),
    "additionalProperties": st.booleans() | c, "items": c, "anyOf": st.lists(c, min_size=1, max_size=2),
    "allOf": st.lists(c, min_size=1, max_size=2), "not": c}), max_leaves=8)


@fuzz(200)
@given(schema=schemas, instances=st.lists(small_json, min_size=1, max_size=5))
def test_schema_fast_path_agrees_with_jsonschema(schema, instances):
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from protocols.schema.fast import compile_fast
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return
    fast = compile_fast(schema)
    validator = Draft202012Validator(schema)
    for x in instances:
        valid = not any(True for _ in validator.iter_errors(x))
        if fast is not None:
            assert fast(x) == valid, (schema, x)   # exact on JSON values; the callers rely on "True => valid"


def test_cached_function_sets_follow_edited_tools():
    tools = [{"type": "function", "function": {"name": "a.b", "parameters": {"type": "object", "properties": {
        "n": {"type": "integer"}}, "required": ["n"]}}}]
    call = {"role": "assistant", "tool_calls": [{"id": "1", "type": "function",
                                                 "function": {"name": "a_b", "arguments": '{"n": 1}'}}]}
    assert NATIVE.parse(call, tools=tools).codes == []
    tools[0]["function"]["name"] = "c.d"                      # renamed in place
    assert NATIVE.parse(call, tools=tools).codes == [V.UNKNOWN_TOOL]
    tools[0]["function"]["name"] = "a.b"
    tools[0]["function"]["parameters"] = {"type": "object", "properties": {"n": {"type": "string"}}}
    assert NATIVE.parse(call, tools=tools).codes == [V.INVALID_PARAM_VALUE]   # new schema object
    tools.append({"type": "function", "function": {"name": "a_b", "parameters": {"type": "object"}}})
    assert NATIVE.parse(call, tools=tools).calls[0].name == "a_b"             # an exact name now wins


# -- linear time ------------------------------------------------------------------------------------

def _cpu(fn: Any, arg: Any) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.process_time()
        fn(arg)
        best = min(best, time.process_time() - t0)
    return best


def _ratio_ok(fn: Any, make: Any, base: int) -> None:
    """10x the input may cost at most 30x the CPU time (+20 ms): linear passes, quadratic does not
    (it costs 100x)."""
    small, big = make(base), make(10 * base)
    fn(small)   # warm caches (compiled patterns, validators)
    t1, t10 = _cpu(fn, small), _cpu(fn, big)
    assert t10 <= 30 * t1 + 0.02, f"1x: {t1 * 1e3:.1f} ms, 10x: {t10 * 1e3:.1f} ms"


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // max(1, len(unit)) + 1))[:n]


units = st.lists(st.sampled_from(ROO_ATOMS), min_size=1, max_size=8).map("".join)
LINEAR = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))


@LINEAR
@given(unit=units)
def test_roo_xml_parse_is_linear(unit):
    _ratio_ok(lambda t: ROO.parse(t, mode="code"), lambda n: _repeat(unit, n), 20_000)


@LINEAR
@given(unit=units, where=st.sampled_from(["content", "arguments"]))
def test_native_parses_are_linear(unit, where):
    def make(n: int) -> dict[str, Any]:
        text = _repeat(unit, n)
        if where == "content":
            return {"role": "assistant", "content": text}
        return {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {
            "name": "write_to_file", "arguments": json.dumps({"path": "a.py", "content": text, "line_count": 1})}}]}
    _ratio_ok(lambda m: ROO_NATIVE.parse(m, mode="code"), make, 20_000)
    _ratio_ok(lambda m: NATIVE.parse(m, tools=[{"name": "write_to_file", "parameters": SCHEMAS[3]}]), make, 20_000)


@LINEAR
@given(unit=units)
def test_hermes_parse_is_linear(unit):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMAS[0]}}]
    _ratio_ok(lambda t: HERMES.parse(t, tools=tools), lambda n: _repeat(unit, n), 20_000)


@LINEAR
@given(case=bfcl_cases(), unit=units)
def test_bfcl_answer_scoring_is_linear(case, unit):
    def make(n: int) -> dict[str, Any]:
        args = {"p0": _repeat(unit, n // 2), "p1": [_repeat(unit, 20)] * (n // 40)}
        return {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {
            "name": "fn0", "arguments": json.dumps(args)}}]}
    _ratio_ok(lambda m: judge(case, m, NATIVE), make, 20_000)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(ext=st.sampled_from([".yaml", ".jsonl"]))
def test_suite_loading_is_linear(ext):
    def make(n: int) -> Path:
        cases = [Case(f"c{i}", "native", [{"role": "user", "content": "Paris?"}],
                      tools=[{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMAS[0]}}],
                      expect=Expect(calls=(ExpectedCall("get_weather", {"city": ["Paris"]}),)))
                 for i in range(n)]
        path = _write("lin" + ext, b"")
        dump_suite(cases, path)
        return path

    os.environ["HARNESS_SUITE_CACHE"] = "0"
    try:
        _ratio_ok(lambda p: check(p, check_references=False), make, 30)
    finally:
        os.environ.pop("HARNESS_SUITE_CACHE", None)
