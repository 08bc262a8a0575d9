"""BFCL's AST checker: `check(functions, calls, expected, category)` gives BFCL's verdict, `[]` when
BFCL says valid. `expected` is BFCL's `ground_truth`: `[{function_name: {param: [alternatives...]}}]`.
Mirrors `eval_checker/eval_runner.py` plus `eval_checker/ast_eval/ast_checker.py` (bfcl-eval 2026.3.23).

Semantics mirrored (all from BFCL's code):
  decoding   — a call whose arguments are not a JSON object makes the whole answer undecodable:
               invalid for call categories, *valid* for irrelevance (no call was decoded);
  relevance  — `*irrelevance*`: valid iff no call is decoded; `*relevance*`: iff one is;
  dispatch   — "parallel" in the category: order-free matching (greedy: each expected call, in
               order, takes the first unused model call that passes); else "multiple": exactly as
               many calls as expected, the first checked against the expected function (found by
               name); else exactly one call, checked against the *first* function doc;
  names      — exact, or with '.' replaced by '_' (what the wire carries for dotted names);
  params     — every schema-required param present; every given param must be both in the schema
               and in the answer; an answer param absent from the call fails unless `""` is among
               its alternatives;
  types      — strict Python types of the decoded JSON (bool is not int): string, integer, float
               (an int is accepted and compared as float; a float for an integer is not), boolean,
               array/tuple (→ list, items' types checked one level deep), dict, any (→ string).
               When the answer's first non-`""` alternative has another type than the declared
               one, BFCL treats the answer as a "variable": a value of the answer's type passes the
               type check and is compared exactly (no normalisation);
  strings    — compared after removing ' ', ',', '.', '/', '-', '_', '*', '^', lower-casing and
               turning "'" into '"' (other characters, tabs and newlines included, stay);
  lists      — string elements normalised (top level only), compared element-wise in order against
               each alternative (`""` among the alternatives thereby also accepts `[]`);
  dicts      — every key given must be in the alternative and its value (normalised if a string)
               among that key's alternatives; keys missing from the value fail unless `""` is
               among their alternatives; lists of dicts compare dict by dict, same length;
  others     — the value must equal one of the alternatives (Python equality: 5 == 5.0).

Not mirrored: Java/JavaScript categories (BFCL converts their string values with its own parsers;
`check` refuses them), multi-turn, agentic and format-sensitivity categories. Where BFCL's checker
would crash on malformed answers (e.g. a list of dicts holding a non-dict), `check` reports the
answer invalid with error type `checker_error:*` instead.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols import violations as V
from protocols.errors import UserError
from protocols.types import ToolCall, Violation

# BFCL type name → the Python type the checker demands of the decoded JSON value
_PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool,
    "array": list, "tuple": list, "dict": dict, "any": str,
}
_ITEM_CHECKED = ("array", "tuple")   # types whose items' types are checked (one level)
_DROPPED = re.compile(r"[ ,./\-_*^]")


class BfclCategoryError(UserError):
    """A category whose BFCL semantics this module does not implement."""


# -- the checker --------------------------------------------------------------------------------------

@dataclass
class CheckResult:
    """BFCL's verdict: `valid`, and when invalid BFCL's `error_type` (e.g. "value_error:string"),
    its messages, and our violation code."""

    valid: bool
    error_type: str = ""
    errors: list[str] = field(default_factory=list)
    code: str = ""

    def violations(self) -> list[Violation]:
        if self.valid:
            return []
        detail = f"{self.error_type}: {'; '.join(self.errors)}" if self.errors else self.error_type
        return [Violation(self.code, detail)]


_OK = CheckResult(True)

_CODES = {
    "wrong_count": V.WRONG_TOOL,
    "wrong_func_name": V.WRONG_TOOL,
    "missing_required": V.MISSING_REQUIRED_PARAM,
    "missing_optional": V.MISSING_REQUIRED_PARAM,   # not required by the schema, but by the answer
    "unexpected_param": V.UNEXPECTED_PARAM,
}


def _code_for(error_type: str) -> str:
    head, _, tail = error_type.partition(":")
    if tail in _CODES and "function_checker" in head:
        return _CODES[tail]
    if head == "type_error":
        return V.INVALID_PARAM_VALUE
    if head == "ast_decoder":
        return V.INVALID_JSON_ARGUMENTS
    if head == "irrelevance_error":
        return V.UNEXPECTED_TOOL_CALL
    if head == "relevance_error":
        return V.NO_TOOL_CALL
    return V.WRONG_ARGUMENTS   # value_error:*, dict_checker:*, list_dict_checker:*, checker_error:*


def _fail(error_type: str, message: str) -> CheckResult:
    return CheckResult(False, error_type, [message], _code_for(error_type))


def normalize_string(s: str) -> str:
    """BFCL's string normalisation: drop ' ,./-_*^', lower-case, "'" → '"'."""
    return _DROPPED.sub("", s).lower().replace("'", '"')


def _norm(v: Any) -> Any:
    return normalize_string(v) if type(v) is str else v


def _first_answer_type(alternatives: Sequence[Any]) -> type | None:
    """The type of the first alternative that is not the optional marker `""`."""
    for alt in alternatives:
        if alt != "":
            return type(alt)
    return None


def _as_sequence(alt: Any) -> list[Any] | None:
    """How BFCL indexes an alternative it expects to be a list (a string indexes as its characters)."""
    if isinstance(alt, (list, str)):
        return list(alt)
    if isinstance(alt, dict) and not alt:
        return []
    return None


def _type_check(param: str, value: Any, alternatives: Sequence[Any], declared: str,
                want: type, item_want: type | None) -> tuple[CheckResult, bool]:
    """(result, is_variable) for one value."""
    answer_type = _first_answer_type(alternatives)
    variable = answer_type is not None and answer_type is not want
    if type(value) is want:
        if item_want is None:
            return _OK, variable
        for alt in alternatives:
            if type(alt) is not list:
                return _OK, variable   # nothing to check the items against: accepted
            alt_type = _first_answer_type(alt)
            if all(type(item) is item_want or (alt_type is not None and type(item) is alt_type)
                   for item in value):
                return _OK, variable
        if answer_type is not None and type(value) is answer_type:
            return _fail("type_error:nested", f"Nested type checking failed for parameter {param!r}. Expected outer "
                         f"type {declared} with inner type {item_want.__name__}. Parameter value: {value!r}."), True
    elif answer_type is not None and type(value) is answer_type:
        return _OK, True
    return _fail("type_error:simple", f"Incorrect type for parameter {param!r}. Expected type {declared}, "
                 f"got {type(value).__name__}. Parameter value: {value!r}."), variable


def _string_check(param: str, value: str, alternatives: Sequence[Any]) -> CheckResult:
    if normalize_string(value) in [normalize_string(a) for a in alternatives if type(a) is str]:
        return _OK
    return _fail("value_error:string", f"Invalid value for parameter {param!r}: {value!r}. "
                 f"Expected one of {list(alternatives)}. Case insensitive.")


def _list_check(param: str, value: list, alternatives: Sequence[Any]) -> CheckResult:
    got = [_norm(v) for v in value]
    normalised = []
    for alt in alternatives:   # BFCL normalises every alternative before comparing
        seq = _as_sequence(alt)
        if seq is None:
            return _fail("checker_error:list", f"answer alternative {alt!r} is not a list")
        normalised.append([_norm(a) for a in seq])
    if got in normalised:
        return _OK
    return _fail("value_error:list/tuple", f"Invalid value for parameter {param!r}: {value!r}. "
                 f"Expected one of {list(alternatives)}.")


def _dict_against(value: dict, alt: Any) -> CheckResult:
    """One dict value against one alternative ({key: [alternatives]}). Like BFCL, the given keys are
    checked first (stopping at the first bad one), then the missing keys (the last error names the
    error type)."""
    if not isinstance(alt, dict):
        return _fail("checker_error:dict", f"answer alternative {alt!r} is not a dict")
    errors: list[str] = []
    error_type = ""
    for key, v in value.items():
        if key not in alt:
            errors.append(f"Unexpected dict key parameter: {key!r}.")
            error_type = "value_error:dict_key"
            break
        allowed = _as_sequence(alt[key])
        if allowed is None:
            return _fail("checker_error:dict", f"answer for dict key {key!r} is not a list")
        allowed = [_norm(a) for a in allowed]
        if _norm(v) not in allowed:
            errors.append(f"Invalid value for parameter {key!r}: {v!r}. Expected one of {allowed}.")
            error_type = "value_error:dict_value"
            break
    for key, allowed in alt.items():
        if key in value:
            continue
        if not isinstance(allowed, (list, str, dict)):
            return _fail("checker_error:dict", f"answer for dict key {key!r} is not a list")
        if "" not in allowed:
            errors.append(f"Missing dict key parameter: {key!r}.")
            error_type = "value_error:dict_key"
            break
    if not errors:
        return _OK
    return CheckResult(False, error_type, errors, _code_for(error_type))


def _dict_check(value: Any, alternatives: Sequence[Any]) -> CheckResult:
    last = _fail("dict_checker:unclear", "no dict alternative to compare with")
    for alt in alternatives:
        if alt == "":
            continue
        if not isinstance(value, dict):
            return _fail("checker_error:dict", f"value {value!r} is not a dict")
        last = _dict_against(value, alt)
        if last.valid:
            return _OK
    return last


def _list_of_dicts_check(value: list, alternatives: Sequence[Any]) -> CheckResult:
    last = _fail("list_dict_checker:unclear", "no list alternative to compare with")
    for alt in alternatives:
        seq = _as_sequence(alt)
        if seq is None:
            return _fail("checker_error:list_dict", f"answer alternative {alt!r} is not a list")
        if len(value) != len(seq):
            last = _fail("value_error:list_dict_count", "Wrong number of dictionaries in the list.")
            continue
        for item, item_alt in zip(value, seq):
            last = _dict_check(item, [item_alt])
            if not last.valid:
                break
        else:
            return _OK
    return last


def _check_param(param: str, value: Any, spec: Mapping[str, Any], alternatives: Sequence[Any]) -> CheckResult:
    declared = spec.get("type")
    want = _PY_TYPES.get(declared) if isinstance(declared, str) else None
    if want is None:
        return _fail("checker_error:type", f"parameter {param!r} has type {declared!r}, not a BFCL Python type")
    item_want = None
    if declared in _ITEM_CHECKED:
        items = spec.get("items")
        item_type = items.get("type") if isinstance(items, Mapping) else None
        item_want = _PY_TYPES.get(item_type) if isinstance(item_type, str) else None
        if item_want is None:
            return _fail("checker_error:type", f"parameter {param!r}: {declared} without a BFCL item type")
    if declared == "float" and type(value) is int:
        try:
            value = float(value)   # Python's int → float promotion; never the reverse
        except OverflowError:
            return _fail("checker_error:float", f"parameter {param!r}: {value} does not fit a float")
    result, variable = _type_check(param, value, alternatives, declared, want, item_want)
    if not result.valid:
        return result
    if not variable:
        if want is dict:
            return _dict_check(value, alternatives)
        if want is list and item_want is dict:
            return _list_of_dicts_check(value, alternatives)
        if want is str:
            return _string_check(param, value, alternatives)
        if want is list:
            return _list_check(param, value, alternatives)
    if value in alternatives:
        return _OK
    return _fail("value_error:others", f"Invalid value for parameter {param!r}: {value!r}. "
                 f"Expected one of {list(alternatives)}.")


def _names_for(doc_name: str) -> tuple[str, ...]:
    return (doc_name, doc_name.replace(".", "_")) if "." in doc_name else (doc_name,)


def _check_call(doc: Mapping[str, Any] | None, name: str, args: Mapping[str, Any],
                answer: Mapping[str, Sequence[Any]]) -> CheckResult:
    """One decoded call against one function doc and one expected call's parameters."""
    if not isinstance(doc, Mapping):
        return _fail("checker_error:function", "the expected function has no doc")
    doc_name = str(doc.get("name", ""))
    if name not in _names_for(doc_name):
        return _fail("simple_function_checker:wrong_func_name",
                     f"Function name {doc_name!r} not found in model output.")
    params = doc.get("parameters") or {}
    props = params.get("properties") or {}
    for req in params.get("required") or ():
        if req not in args:
            return _fail("simple_function_checker:missing_required", f"Missing required parameter: {req!r}.")
    for param, value in args.items():
        if param not in props or param not in answer:
            return _fail("simple_function_checker:unexpected_param", f"Unexpected parameter: {param!r}.")
        result = _check_param(param, value, props[param], answer[param])
        if not result.valid:
            return result
    for param, alternatives in answer.items():
        if param not in args and "" not in alternatives:
            return _fail("simple_function_checker:missing_optional",
                         f"Optional parameter {param!r} not provided and not marked as optional.")
    return _OK


def _decode(calls: Sequence[ToolCall]) -> tuple[list[tuple[str, dict[str, Any]]] | None, CheckResult]:
    """The calls as (name, arguments) pairs, or None when BFCL could not decode the answer."""
    out = []
    for c in calls:
        args = c.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError) as e:
                return None, _fail("ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {e}")
        if not isinstance(args, dict):
            return None, _fail("ast_decoder:decoder_wrong_output_format",
                               f"arguments of {c.name!r} are not a JSON object")
        out.append((c.name, args))
    return out, _OK


def _one_entry(expected_call: Mapping[str, Any]) -> tuple[str, Mapping[str, Sequence[Any]]]:
    name, params = next(iter(expected_call.items()))
    return name, params


def _find_doc(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    for doc in functions:
        if doc.get("name") == name:
            return doc
    return None


def check_result(functions: Sequence[Mapping[str, Any]], calls: Sequence[ToolCall],
                 expected: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]], category: str) -> CheckResult:
    """BFCL's verdict with its error type (see the module docstring). Never raises on model output;
    a malformed case (answers BFCL itself would crash on) gives an invalid `checker_error:*`."""
    category = category or ""
    if "java" in category:   # java and javascript
        raise BfclCategoryError(
            f"BFCL category {category!r}: Java/JavaScript type conversion is not implemented "
            "(import and score the Python categories)")
    try:
        return _verdict(functions, calls, expected, category)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError, StopIteration, RecursionError) as e:
        return _fail("checker_error:case", f"the case cannot be checked: {type(e).__name__}: {e}")


def _verdict(functions: Sequence[Mapping[str, Any]], calls: Sequence[ToolCall],
             expected: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]], category: str) -> CheckResult:
    decoded, problem = _decode(calls)
    if "irrelevance" in category:
        if decoded:
            names = ", ".join(n for n, _ in decoded)
            return _fail("irrelevance_error:decoder_success",
                         f"Valid syntax. Successfully decode AST when it should not. Calls: {names}")
        return _OK
    if "relevance" in category:
        if decoded:
            return _OK
        return _fail("relevance_error:decoder_failed", "Invalid syntax. Failed to decode AST when it should have. "
                     + ("; ".join(problem.errors) if decoded is None else "No call."))
    if decoded is None:
        return problem
    if "parallel" in category:
        if len(decoded) != len(expected):
            return _count_fail("parallel_function_checker_no_order", decoded, expected)
        used: set[int] = set()
        for k, exp in enumerate(expected):
            exp_name, answer = _one_entry(exp)
            doc = _find_doc(functions, exp_name)
            tried = []
            for i, (name, args) in enumerate(decoded):
                if i in used:
                    continue
                r = _check_call(doc, name, args, answer)
                if r.valid:
                    used.add(i)
                    break
                tried.append((i, name, r))
            else:
                return _no_match(k, exp_name, tried)
        return _OK
    if "multiple" in category:
        if len(decoded) != len(expected):
            return _count_fail("multiple_function_checker", decoded, expected)
        exp_name, answer = _one_entry(expected[0])
        name, args = decoded[0]
        return _check_call(_find_doc(functions, exp_name), name, args, answer)
    if len(decoded) != 1:
        return _count_fail("simple_function_checker", decoded, [None])
    if not functions or not expected:
        return _fail("checker_error:case", "the case has no function doc or no expected call")
    _, answer = _one_entry(expected[0])
    name, args = decoded[0]
    return _check_call(functions[0], name, args, answer)


def _count_fail(checker: str, decoded: Sequence[Any], expected: Sequence[Any]) -> CheckResult:
    r = _fail(f"{checker}:wrong_count",
              f"Wrong number of functions: expected {len(expected)} call(s), got {len(decoded)}.")
    if not decoded:
        r.code = V.NO_TOOL_CALL
    return r


def _no_match(k: int, exp_name: str, tried: list[tuple[int, str, CheckResult]]) -> CheckResult:
    """No unused call matched expected call k: the code comes from the nearest candidate (one with the
    expected name when there is one), BFCL's sub-error types go in the detail."""
    same = [t for t in tried if t[1] in _names_for(exp_name)]
    sub = "; ".join(f"call {i} ({name}): {r.error_type}" for i, name, r in tried)
    r = _fail("parallel_function_checker_no_order:cannot_find_match",
              f"Could not find a matching function among the unmatched calls for expected call {k} "
              f"({exp_name}). {sub}")
    r.code = same[0][2].code if same else V.WRONG_TOOL
    return r


def check(functions: Sequence[Mapping[str, Any]], calls: Sequence[ToolCall],
          expected: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]], category: str) -> list[Violation]:
    """BFCL's AST-checker verdict as violations: `[]` when BFCL says valid, else one violation whose
    detail starts with BFCL's own error type (e.g. "value_error:string: ...")."""
    return check_result(functions, calls, expected, category).violations()


def expected_from_calls(calls: Iterable[Any]) -> list[dict[str, Any]]:
    """BFCL's `ground_truth` shape from expected calls (objects with .name/.arguments or dicts)."""
    out = []
    for c in calls:
        if isinstance(c, Mapping):
            out.append({c["name"]: dict(c.get("arguments") or {})})
        else:
            out.append({c.name: dict(c.arguments or {})})
    return out
