"""BFCL semantics (protocols.bfcl) and the BFCL importer (harness.suite.importers.bfcl, `harness import bfcl`)."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.suite.importers import bfcl as bfcl_import
from harness.suite.model import Case, Expect, ExpectedCall
from harness.cli import main
from protocols import ToolCall
from protocols import violations as V
from protocols.bfcl import (
    FLOAT_NOTE,
    PYTHON_HINT,
    BfclCategoryError,
    check,
    check_result,
    expected_from_calls,
    functions_to_tools,
    normalize_string,
    to_json_schema,
)

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "bfcl"


def fn(name, props, required=()):
    return {"name": name, "description": f"{name} doc.",
            "parameters": {"type": "dict", "properties": props, "required": list(required)}}


T = {t: {"type": t, "description": t} for t in ("string", "integer", "float", "boolean", "dict", "any")}
WEATHER = fn("get_weather", {"city": T["string"], "days": T["integer"], "temp": T["float"],
                             "metric": T["boolean"], "label": T["any"]}, ["city"])


def one(args, answer, functions=(WEATHER,), category="simple_python", name=None):
    """Verdict for a single call to the first function."""
    call = ToolCall(name or functions[0]["name"], args)
    return check_result(list(functions), [call], [{functions[0]["name"]: answer}], category)


# -- strings ------------------------------------------------------------------------------------------

def test_normalize_string_drops_exactly_bfcls_characters():
    assert normalize_string("New York, NY") == "newyorkny"
    assert normalize_string("a.b/c-d_e*f^g h") == "abcdefgh"
    assert normalize_string("It's") == 'it"s'
    # anything else stays: tabs, newlines, other punctuation
    assert normalize_string("a\tb") == "a\tb"
    assert normalize_string("a!b;c:d?(e)") == "a!b;c:d?(e)"


@pytest.mark.parametrize("value", ["new york ny", "NEW-YORK/NY", "New_York.NY", "new york, ny ", "NewYork*NY^"])
def test_string_variants_that_bfcl_accepts(value):
    assert one({"city": value}, {"city": ["New York, NY"]}).valid


@pytest.mark.parametrize("value", ["New York, NY!", "New\tYork, NY", "York, NY", "'New York, NY'"])
def test_string_variants_that_bfcl_rejects(value):
    r = one({"city": value}, {"city": ["New York, NY"]})
    assert not r.valid and r.error_type == "value_error:string" and r.code == V.WRONG_ARGUMENTS


def test_quotes_are_normalised_single_to_double():
    assert one({"city": 'say "hi"'}, {"city": ["say 'hi'"]}).valid


def test_string_alternatives():
    answer = {"city": ["Boston, MA", "Boston"]}
    assert one({"city": "boston"}, answer).valid
    assert one({"city": "Boston MA"}, answer).valid
    assert not one({"city": "Cambridge"}, answer).valid


# -- numbers and types ----------------------------------------------------------------------------------

def test_int_accepted_for_float_but_not_float_for_int():
    assert one({"city": "x", "temp": 20}, {"city": ["x"], "temp": [20.0]}).valid
    r = one({"city": "x", "days": 3.0}, {"city": ["x"], "days": [3]})
    assert not r.valid and r.error_type == "type_error:simple" and r.code == V.INVALID_PARAM_VALUE


def test_int_for_float_is_still_compared_by_value():
    r = one({"city": "x", "temp": 20}, {"city": ["x"], "temp": [20.5]})
    assert not r.valid and r.error_type == "value_error:others"


def test_bool_is_not_an_int_and_int_is_not_a_bool():
    assert not one({"city": "x", "days": True}, {"city": ["x"], "days": [1]}).valid
    assert not one({"city": "x", "metric": 1}, {"city": ["x"], "metric": [True]}).valid
    assert one({"city": "x", "metric": True}, {"city": ["x"], "metric": [True]}).valid


def test_number_given_as_string_is_a_type_error():
    r = one({"city": "x", "days": "3"}, {"city": ["x"], "days": [3]})
    assert r.error_type == "type_error:simple"
    assert check([WEATHER], [ToolCall("get_weather", {"city": "x", "days": "3"})],
                 [{"get_weather": {"city": ["x"], "days": [3]}}], "simple_python")[0].code == V.INVALID_PARAM_VALUE


def test_any_is_a_string():
    assert one({"city": "x", "label": "avg"}, {"city": ["x"], "label": ["avg"]}).valid
    assert one({"city": "x", "label": 1}, {"city": ["x"], "label": ["avg"]}).error_type == "type_error:simple"


def test_variable_answer_of_another_type_is_compared_exactly():
    # an integer parameter whose answer is the string "dontcare" (BFCL's live data has these)
    answer = {"city": ["x"], "days": ["", "dontcare"]}
    assert one({"city": "x", "days": "dontcare"}, answer).valid
    assert not one({"city": "x", "days": "DontCare"}, answer).valid   # no normalisation for variables
    assert not one({"city": "x", "days": 0}, answer).valid


def test_null_value():
    assert not one({"city": None}, {"city": ["x"]}).valid
    assert one({"city": "x", "days": None}, {"city": ["x"], "days": [None, ""]}).valid


# -- parameters ---------------------------------------------------------------------------------------------

def test_optional_parameter_marked_with_empty_string_may_be_omitted():
    answer = {"city": ["x"], "days": [3, ""]}
    assert one({"city": "x"}, answer).valid
    assert one({"city": "x", "days": 3}, answer).valid
    assert not one({"city": "x", "days": 4}, answer).valid


def test_answer_parameter_without_empty_string_must_be_given():
    r = one({"city": "x"}, {"city": ["x"], "days": [3]})
    assert not r.valid and r.error_type == "simple_function_checker:missing_optional"
    assert r.code == V.MISSING_REQUIRED_PARAM


def test_required_parameter_missing():
    r = one({"days": 3}, {"city": ["x"], "days": [3]})
    assert r.error_type == "simple_function_checker:missing_required" and r.code == V.MISSING_REQUIRED_PARAM


def test_unexpected_parameters_fail_whether_unknown_or_unanswered():
    r = one({"city": "x", "country": "US"}, {"city": ["x"]})
    assert r.error_type == "simple_function_checker:unexpected_param" and r.code == V.UNEXPECTED_PARAM
    # in the schema but not in the answer: still unexpected
    assert one({"city": "x", "days": 3}, {"city": ["x"]}).error_type == "simple_function_checker:unexpected_param"


def test_answer_parameter_missing_from_schema_can_only_be_left_out():
    f = fn("f", {"a": T["integer"]}, ["a"])
    assert one({"a": 1}, {"a": [1], "ghost": ["", 2]}, functions=[f]).valid
    assert not one({"a": 1, "ghost": 2}, {"a": [1], "ghost": ["", 2]}, functions=[f]).valid


def test_detail_carries_bfcl_error_type():
    vs = check([WEATHER], [ToolCall("get_weather", {"city": "Paris"})], [{"get_weather": {"city": ["Rome"]}}],
               "simple_python")
    assert len(vs) == 1 and vs[0].code == V.WRONG_ARGUMENTS and vs[0].detail.startswith("value_error:string")
    assert check([WEATHER], [ToolCall("get_weather", {"city": "Rome"})], [{"get_weather": {"city": ["Rome"]}}],
                 "simple_python") == []


# -- lists, tuples, dicts ------------------------------------------------------------------------------------

LISTS = fn("f", {"names": {"type": "array", "items": {"type": "string"}, "description": ""},
                 "nums": {"type": "array", "items": {"type": "integer"}, "description": ""},
                 "pair": {"type": "tuple", "items": {"type": "float"}, "description": ""}})


def test_list_elements_normalised_and_ordered():
    answer = {"names": [["New York", "Los Angeles"]]}
    assert one({"names": ["new-york", "LOS ANGELES"]}, answer, functions=[LISTS]).valid
    r = one({"names": ["Los Angeles", "New York"]}, answer, functions=[LISTS])
    assert not r.valid and r.error_type == "value_error:list/tuple"
    assert not one({"names": ["New York"]}, answer, functions=[LISTS]).valid


def test_list_item_types_checked():
    r = one({"nums": [1, "2"]}, {"nums": [[1, 2]]}, functions=[LISTS])
    assert not r.valid and r.error_type == "type_error:nested" and r.code == V.INVALID_PARAM_VALUE
    # items are not promoted from int to float (only top-level values are)
    assert one({"pair": [1, 2.0]}, {"pair": [[1.0, 2.0]]}, functions=[LISTS]).error_type.startswith("type_error")
    assert one({"pair": [1.0, 2.0]}, {"pair": [[1.0, 2.0]]}, functions=[LISTS]).valid


def test_optional_list_accepts_empty_list():
    assert one({"nums": []}, {"nums": ["", [1, 2]]}, functions=[LISTS]).valid
    assert not one({"nums": []}, {"nums": [[1, 2]]}, functions=[LISTS]).valid


DICTS = fn("g", {"opts": {"type": "dict", "description": "", "properties": {
    "units": T["string"], "wind": T["boolean"]}},
    "people": {"type": "array", "items": {"type": "dict"}, "description": ""}})


def test_nested_dict_checked_recursively():
    answer = {"opts": [{"units": ["metric"], "wind": [True, ""]}]}
    assert one({"opts": {"units": "METRIC", "wind": True}}, answer, functions=[DICTS]).valid
    assert one({"opts": {"units": "metric"}}, answer, functions=[DICTS]).valid        # optional nested key
    r = one({"opts": {"wind": True}}, answer, functions=[DICTS])                       # missing nested key
    assert not r.valid and r.error_type == "value_error:dict_key"
    assert one({"opts": {"units": "metric", "x": 1}}, answer, functions=[DICTS]).error_type == "value_error:dict_key"
    assert one({"opts": {"units": "imperial"}}, answer, functions=[DICTS]).error_type == "value_error:dict_value"
    # an optional dict: may be left out, but a given dict must still match a real alternative
    optional = {"opts": ["", {"units": ["metric"]}]}
    assert one({}, optional, functions=[DICTS]).valid
    assert one({"opts": {"units": "metric"}}, optional, functions=[DICTS]).valid
    assert not one({"opts": {"units": "imperial"}}, optional, functions=[DICTS]).valid
    r = one({"opts": {"units": "metric"}}, {"opts": [""]}, functions=[DICTS])   # nothing to compare with
    assert not r.valid and r.error_type == "dict_checker:unclear"


def test_list_of_dicts():
    answer = {"people": [[{"name": ["Ann"], "age": [30]}, {"name": ["Bob"], "age": [31, ""]}]]}
    assert one({"people": [{"name": "ann", "age": 30}, {"name": "Bob"}]}, answer, functions=[DICTS]).valid
    r = one({"people": [{"name": "Ann", "age": 30}]}, answer, functions=[DICTS])
    assert not r.valid and r.error_type == "value_error:list_dict_count"
    assert not one({"people": [{"name": "Bob"}, {"name": "Ann", "age": 30}]}, answer, functions=[DICTS]).valid


# -- names, counts, categories -------------------------------------------------------------------------------

DOTTED = fn("math.hypot", {"x": T["float"], "y": T["float"]}, ["x", "y"])


def test_dotted_names_accepted_as_sent_or_sanitised():
    answer = {"x": [3.0], "y": [4.0]}
    assert one({"x": 3, "y": 4}, answer, functions=[DOTTED], name="math.hypot").valid
    assert one({"x": 3, "y": 4}, answer, functions=[DOTTED], name="math_hypot").valid
    r = one({"x": 3, "y": 4}, answer, functions=[DOTTED], name="hypot")
    assert r.error_type == "simple_function_checker:wrong_func_name" and r.code == V.WRONG_TOOL
    # an undotted name is never matched by a dotted variant
    assert not one({"city": "x"}, {"city": ["x"]}, name="get.weather").valid


def test_simple_needs_exactly_one_call():
    exp = [{"get_weather": {"city": ["x"]}}]
    two = [ToolCall("get_weather", {"city": "x"})] * 2
    r = check_result([WEATHER], two, exp, "simple_python")
    assert r.error_type == "simple_function_checker:wrong_count" and r.code == V.WRONG_TOOL
    assert "got 2" in r.violations()[0].detail
    assert check([WEATHER], [], exp, "live_simple")[0].code == V.NO_TOOL_CALL


def test_multiple_chooses_the_expected_function():
    fns = [WEATHER, DOTTED]
    exp = [{"math.hypot": {"x": [3.0], "y": [4.0]}}]
    assert check(fns, [ToolCall("math.hypot", {"x": 3.0, "y": 4})], exp, "multiple") == []
    vs = check(fns, [ToolCall("get_weather", {"city": "x"})], exp, "live_multiple")
    assert [v.code for v in vs] == [V.WRONG_TOOL]


def test_simple_checks_against_the_first_function_doc():
    # BFCL's simple checker uses function[0], whatever the answer's key says
    fns = [WEATHER, DOTTED]
    assert not check_result(fns, [ToolCall("math.hypot", {"x": 3.0, "y": 4.0})],
                            [{"math.hypot": {"x": [3.0], "y": [4.0]}}], "simple_python").valid


AREA = fn("area", {"b": T["integer"], "h": T["integer"], "unit": T["string"]}, ["b", "h"])
PAR_EXP = [{"area": {"b": [10], "h": [5], "unit": ["", "cm"]}}, {"area": {"b": [3], "h": [4], "unit": ["", "cm"]}}]


def test_parallel_in_any_order():
    a, b = ToolCall("area", {"b": 10, "h": 5}), ToolCall("area", {"b": 3, "h": 4, "unit": "CM"})
    assert check([AREA], [a, b], PAR_EXP, "parallel") == []
    assert check([AREA], [b, a], PAR_EXP, "live_parallel") == []
    dropped = check_result([AREA], [a], PAR_EXP, "parallel")
    assert dropped.error_type == "parallel_function_checker_no_order:wrong_count" and dropped.code == V.WRONG_TOOL
    dup = check_result([AREA], [a, a], PAR_EXP, "parallel_multiple")
    assert dup.error_type == "parallel_function_checker_no_order:cannot_find_match"
    assert dup.code == V.WRONG_ARGUMENTS   # the nearest candidate had the right name but a wrong value


def test_parallel_matching_is_greedy_like_bfcl():
    # expected[0] accepts either call; greedy matching gives it the first one, leaving expected[1]
    # (which accepts only that first call) unmatched, although a perfect matching exists
    exp = [{"area": {"b": [10, 3], "h": [5, 4]}}, {"area": {"b": [10], "h": [5]}}]
    x, y = ToolCall("area", {"b": 10, "h": 5}), ToolCall("area", {"b": 3, "h": 4})
    assert not check_result([AREA], [x, y], exp, "parallel").valid
    assert check_result([AREA], [y, x], exp, "parallel").valid


def test_irrelevance_passes_iff_no_call_is_decoded():
    assert check([WEATHER], [], [], "irrelevance") == []
    vs = check([WEATHER], [ToolCall("get_weather", {"city": "x"})], [], "live_irrelevance")
    assert [v.code for v in vs] == [V.UNEXPECTED_TOOL_CALL] and vs[0].detail.startswith("irrelevance_error")
    assert check([WEATHER], [ToolCall("get_weather", {})], [], "irrelevance")[0].code == V.UNEXPECTED_TOOL_CALL
    # arguments that do not decode to an object: BFCL decodes no call, so irrelevance passes
    assert check([WEATHER], [ToolCall("get_weather", '{"city": ')], [], "irrelevance") == []
    assert check([WEATHER], [ToolCall("get_weather", {"city": "x"}), ToolCall("get_weather", "[1]")], [],
                 "irrelevance") == []


def test_relevance_passes_on_any_decoded_call():
    assert check([WEATHER], [ToolCall("whatever", {"a": 1})], [], "live_relevance") == []
    assert check([WEATHER], [], [], "live_relevance")[0].code == V.NO_TOOL_CALL


def test_undecodable_arguments_fail_call_categories():
    exp = [{"get_weather": {"city": ["x"]}}]
    r = check_result([WEATHER], [ToolCall("get_weather", '{"city": "x"')], exp, "simple_python")
    assert r.error_type == "ast_decoder:decoder_failed" and r.code == V.INVALID_JSON_ARGUMENTS
    r = check_result([WEATHER], [ToolCall("get_weather", '["x"]')], exp, "simple_python")
    assert r.error_type == "ast_decoder:decoder_wrong_output_format"
    # a raw string that is a JSON object is decoded like BFCL would
    assert check_result([WEATHER], [ToolCall("get_weather", '{"city": "X"}')], exp, "simple_python").valid


def test_expected_from_calls():
    assert expected_from_calls([ExpectedCall("f", {"a": [1, ""]}), {"name": "g", "arguments": {"b": ["x"]}}]) == [
        {"f": {"a": [1, ""]}}, {"g": {"b": ["x"]}}]


def test_java_and_javascript_are_refused():
    with pytest.raises(BfclCategoryError):
        check([WEATHER], [], [{"get_weather": {}}], "simple_java")
    with pytest.raises(BfclCategoryError):
        check([WEATHER], [], [{"get_weather": {}}], "simple_javascript")


def test_malformed_answers_do_not_raise():
    r = check_result([WEATHER], [ToolCall("get_weather", {"city": "x"})], [{"get_weather": {"city": 5}}],
                     "simple_python")
    assert not r.valid and r.error_type.startswith("checker_error")


# -- the request -------------------------------------------------------------------------------------------------

def test_to_json_schema_maps_bfcl_types_like_bfcl():
    params = {"type": "dict", "required": ["a"], "properties": {
        "a": {"type": "float", "description": "A."},
        "b": {"type": "tuple", "items": {"type": "float"}, "description": "B."},
        "c": {"type": "any", "description": "C."},
        "d": {"type": "dict", "description": "D.", "properties": {"e": {"type": "float", "description": "E."},
                                                                   "f": {"type": "boolean", "description": "F."}}},
        "g": {"type": "array", "description": "G.", "items": {"type": "dict", "properties": {
            "h": {"type": "integer", "description": "H."}, "i": {"type": "tuple", "description": "I."}}}},
        "j": {"description": "no type"},
        "k": {"type": "mystery", "description": "K."},
        "l": {"type": "array", "description": "L.", "items": {"type": "array", "items": {"type": "float"}}},
        "m": {"type": "string", "enum": ["x", "y"], "default": "x", "description": "M."},
    }}
    before = copy.deepcopy(params)
    s = to_json_schema(params)
    assert params == before   # not mutated
    p = s["properties"]
    assert s["type"] == "object" and s["required"] == ["a"]
    assert p["a"] == {"type": "number", "description": "A." + FLOAT_NOTE, "format": "float"}
    assert p["b"] == {"type": "array", "items": {"type": "number"}, "description": "B."}   # items: no note
    assert p["c"]["type"] == "string"
    assert p["d"]["type"] == "object"
    assert p["d"]["properties"]["e"] == {"type": "number", "description": "E." + FLOAT_NOTE, "format": "float"}
    assert p["g"]["items"]["type"] == "object"
    assert p["g"]["items"]["properties"]["h"]["type"] == "integer"
    assert p["g"]["items"]["properties"]["i"]["type"] == "array"
    assert p["j"]["type"] == "string" and p["k"]["type"] == "string"
    assert p["l"]["items"] == {"type": "array", "items": {"type": "number"}}
    assert p["m"] == {"type": "string", "enum": ["x", "y"], "default": "x", "description": "M."}
    assert list(p["a"]) == ["type", "description", "format"]   # BFCL's key order (request bytes, caching)


def test_functions_to_tools():
    tools = functions_to_tools([DOTTED, WEATHER])
    assert [t["type"] for t in tools] == ["function", "function"]
    f = tools[0]["function"]
    assert f["name"] == "math.hypot"   # the native protocol sanitises on the wire
    assert f["description"] == "math.hypot doc." + PYTHON_HINT
    assert f["parameters"]["type"] == "object" and f["parameters"]["properties"]["x"]["type"] == "number"
    assert functions_to_tools([DOTTED], hint="")[0]["function"]["description"] == "math.hypot doc."
    assert DOTTED["parameters"]["type"] == "dict"   # input untouched


# -- the importer -------------------------------------------------------------------------------------------------

def test_import_fixture_produces_valid_cases():
    by_cat = bfcl_import.import_bfcl(FIXTURE)
    assert {c: len(v) for c, v in by_cat.items()} == {
        "simple_python": 3, "multiple": 2, "parallel": 2, "parallel_multiple": 2, "live_simple": 2,
        "live_multiple": 2, "live_parallel": 1, "live_parallel_multiple": 1, "irrelevance": 2,
        "live_irrelevance": 1}
    raw = {json.loads(line)["id"]: json.loads(line)
           for path in FIXTURE.glob("BFCL_v4_*.json") for line in path.read_text().splitlines()}
    for cat, cases in by_cat.items():
        for c in cases:
            assert set(c) == {"id", "protocol", "split", "tags", "messages", "tools", "expect", "reference"}
            src = raw[c["id"]]
            assert c["protocol"] == "native" and c["split"] == "test" and c["tags"] == [cat]
            assert c["messages"] == src["question"][0]
            assert c["tools"] == functions_to_tools(src["function"])
            ex = c["expect"]
            assert ex["checker"] == "bfcl" and ex["category"] == cat and ex["functions"] == src["function"]
            assert ex["any_order"] == ("parallel" in cat)
            json.dumps(c)   # JSON-serialisable
            case = Case(id=c["id"], protocol=c["protocol"], messages=c["messages"], tools=c["tools"],
                        tags=c["tags"], split=c["split"], reference=c["reference"],
                        expect=Expect(calls=tuple(ExpectedCall(e["name"], e["arguments"]) for e in ex["calls"]),
                                      any_order=ex["any_order"], checker="bfcl", functions=tuple(ex["functions"]),
                                      category=cat))
            # the reference is a right answer under BFCL's semantics
            ref = c["reference"]
            assert ref["role"] == "assistant"
            wire_to_name = {n.replace(".", "_"): n for n in (f["name"] for f in src["function"])}
            calls = [ToolCall(wire_to_name.get(tc["function"]["name"], tc["function"]["name"]),
                              json.loads(tc["function"]["arguments"])) for tc in ref.get("tool_calls", [])]
            expected = [{e.name: e.arguments} for e in case.expect.calls]
            assert check(list(case.expect.functions), calls, expected, cat) == [], c["id"]
            if "irrelevance" in cat:
                assert ex["calls"] == [] and "tool_calls" not in ref


def test_reference_details():
    cases = {c["id"]: c for cs in bfcl_import.import_bfcl(FIXTURE).values() for c in cs}
    tc = cases["simple_python_1"]["reference"]["tool_calls"][0]["function"]
    assert tc["name"] == "weather_get_forecast"   # the wire name, as the native protocol sends it
    assert json.loads(tc["arguments"]) == {"city": "New York, NY", "days": 5,
                                           "options": {"units": "metric", "include_wind": True}}
    # ""-only parameters are left out; the first real alternative is used otherwise
    args = json.loads(cases["live_simple_1-1-0"]["reference"]["tool_calls"][0]["function"]["arguments"])
    assert args == {"base": 7, "height": 2}
    args = json.loads(cases["live_simple_0-0-0"]["reference"]["tool_calls"][0]["function"]["arguments"])
    assert args["price_range"] == "dontcare" and args["has_seating_outdoors"] is False
    assert "min_rating" not in args   # "dontcare" for an integer: BFCL accepts it, but "" allows leaving it out
    assert cases["live_simple_0-0-0"]["messages"][0]["role"] == "system"
    assert [c["expect"]["calls"][0]["name"] for c in [cases["multiple_0"]]] == ["currency.convert"]


def test_reference_prefers_values_that_fit_the_request_schema():
    doc = fn("f", {"mode": {"type": "string", "enum": ["AIR_CLEAN", "COOL"], "description": ""},
                   "rooms": {"type": "integer", "description": ""}, "when": {"type": "string", "description": ""},
                   "venue": {"type": "string", "description": ""}})
    answer = {"mode": ["Air_Clean", "AIR_CLEAN"], "rooms": ["dontcare", 2], "when": [None, ""], "venue": [True]}
    args = bfcl_import.reference_arguments(doc, answer)
    # the enum's spelling, the integer, `when` left out, and BFCL's own (ill-typed) answer when nothing fits
    assert args == {"mode": "AIR_CLEAN", "rooms": 2, "venue": True}
    assert one(args, answer, functions=[doc]).valid


def test_category_selection_and_aliases():
    by_cat = bfcl_import.import_bfcl(FIXTURE, "simple, live_parallel")
    assert list(by_cat) == ["simple_python", "live_parallel"]
    with pytest.raises(bfcl_import.UserError, match="unknown BFCL category 'simple_java'"):
        bfcl_import.import_bfcl(FIXTURE, "simple_java")


def test_older_file_name_for_simple(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    shutil.copy(FIXTURE / "BFCL_v4_simple_python.json", tmp_path / "BFCL_v3_simple.json")
    shutil.copy(FIXTURE / "possible_answer" / "BFCL_v4_simple_python.json",
                tmp_path / "possible_answer" / "BFCL_v3_simple.json")
    assert len(bfcl_import.import_bfcl(tmp_path, "simple_python")["simple_python"]) == 3


def _copy_fixture(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_bad_data_line_names_file_and_line(tmp_path):
    data = _copy_fixture(tmp_path)
    path = data / "BFCL_v4_parallel.json"
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:-5]
    path.write_text("\n".join(lines))
    with pytest.raises(bfcl_import.InputError, match=r"BFCL_v4_parallel\.json:2: invalid JSON"):
        bfcl_import.import_bfcl(data, "parallel")
    lines[1] = json.dumps({"id": "parallel_1", "question": "hi", "function": []})
    path.write_text("\n".join(lines))
    with pytest.raises(bfcl_import.InputError, match=r"BFCL_v4_parallel\.json:2: field 'question'"):
        bfcl_import.import_bfcl(data, "parallel")


def test_missing_answer_is_an_error(tmp_path):
    data = _copy_fixture(tmp_path)
    ans = data / "possible_answer" / "BFCL_v4_multiple.json"
    ans.write_text(ans.read_text().splitlines()[0])
    with pytest.raises(bfcl_import.InputError, match=r"BFCL_v4_multiple\.json:2: id 'multiple_1' has no answer"):
        bfcl_import.import_bfcl(data, "multiple")
    (data / "possible_answer" / "BFCL_v4_multiple.json").unlink()
    with pytest.raises(bfcl_import.InputError, match="no such file"):
        bfcl_import.import_bfcl(data, "multiple")


# -- the CLI ---------------------------------------------------------------------------------------------------------

def test_cli_import(tmp_path, capsys):
    out = tmp_path / "suites" / "bfcl.jsonl"
    assert main(["import", "bfcl", "--data", str(FIXTURE), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 18 and len({json.loads(x)["id"] for x in lines}) == 18
    printed = capsys.readouterr().out
    assert "live_multiple" in printed and "18" in printed


def test_cli_missing_data_dir(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["import", "bfcl", "--data", str(missing), "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "pip install --no-deps bfcl-eval" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_without_installed_bfcl(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bfcl_import.importlib.util, "find_spec", lambda name: None)
    assert main(["import", "bfcl", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps bfcl-eval" in err and "--data" in err


def test_default_data_dir_found_without_import(tmp_path, monkeypatch):
    pkg = tmp_path / "bfcl_eval"
    shutil.copytree(FIXTURE, pkg / "data")
    seen = []

    def fake_find_spec(name):
        seen.append(name)
        return SimpleNamespace(submodule_search_locations=[str(pkg)])

    monkeypatch.setattr(bfcl_import.importlib.util, "find_spec", fake_find_spec)
    assert bfcl_import.default_data_dir() == pkg / "data"
    assert seen == ["bfcl_eval"]
    assert len(bfcl_import.import_bfcl(None, "irrelevance")["irrelevance"]) == 2


def test_cli_bad_line(tmp_path, capsys):
    data = _copy_fixture(tmp_path)
    (data / "BFCL_v4_irrelevance.json").write_text('{"id": "irrelevance_0"}')
    assert main(["import", "bfcl", "--data", str(data), "--categories", "irrelevance",
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "BFCL_v4_irrelevance.json:1: field 'question'" in capsys.readouterr().err
