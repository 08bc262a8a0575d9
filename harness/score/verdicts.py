"""Scoring: a parsed turn against a case's expectation -> a verdict. Pure functions, no I/O.

    verdict = score(case, protocol.parse(message, mode=case.mode, tools=case.tools), protocol)

Rules (DESIGN.md "Suites"):
- the protocol's own violations always count;
- `expect.calls == []` (irrelevance): any call is `unexpected_tool_call`; the protocol's
  `no_tool_call` is dropped, so a turn without a call and without other violations passes;
- `expect.checker == "bfcl"`: BFCL's AST-checker verdict alone (`protocols.bfcl.check`), also for
  BFCL's irrelevance/relevance categories (only a call BFCL can decode counts); the native protocol's
  schema violations do not count, since BFCL accepts what they would reject;
- otherwise the schema checker: `expect.calls is None` accepts any call; else the calls are compared
  with the expected ones (ordered unless `any_order`; for protocols whose catalog says
  `one_call_per_turn` only the first call counts, the extras are already `multiple_tool_calls`).
  Each expected argument is a JSON Schema (a dict) the value must satisfy - an absent parameter is
  checked as `null`, so a nullable schema allows omission - or a list of allowed values in BFCL's style
  (`""` in the list = may be omitted).

This is the hot path of `harness score`/`eval`: JSON-Schema validators are compiled once per schema.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols import violations as V
from protocols.base import Protocol
from protocols.types import ToolCall, Turn, Violation

from harness.suite.model import Case, ExpectedCall

NONE_KEY = "(none)"   # by-tool key of irrelevance cases (no call expected)
ANY_KEY = "(any)"     # by-tool key of cases that accept any call, when the turn made none
DETAIL_VALUE_CHARS = 80


@dataclass
class Verdict:
    passed: bool
    violations: list[Violation] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.violations]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed,
                "violations": [v.to_dict() for v in self.violations],
                "calls": [c.to_dict() for c in self.calls]}


# -- JSON Schema checks, compiled once --------------------------------------------------------------

_BY_ID: dict[int, tuple[Any, Any]] = {}     # id(schema) -> (schema kept alive, validator)
_BY_KEY: dict[str, Any] = {}                # json.dumps(schema, sort_keys=True) -> validator
_CHECKS: dict[int, tuple[Any, "_Check"]] = {}
_MAX_CACHE = 50_000


def _schema_key(schema: Any) -> str:
    try:
        return json.dumps(schema, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(schema)


def validator_for(schema: Mapping[str, Any]) -> Any:
    """A compiled jsonschema validator for `schema`, cached by identity and by canonical JSON."""
    hit = _BY_ID.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    key = _schema_key(schema)
    v = _BY_KEY.get(key)
    if v is None:
        from jsonschema import Draft202012Validator
        from jsonschema.validators import validator_for as _cls_for
        cls = _cls_for(schema, default=Draft202012Validator)
        v = cls(schema)
        if len(_BY_KEY) >= _MAX_CACHE:
            _BY_KEY.clear()
        _BY_KEY[key] = v
    if len(_BY_ID) >= _MAX_CACHE:
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, v)
    return v


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema's `const`/`enum` use it: bools are not numbers, 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple, dict)) or isinstance(b, (list, tuple, dict)):
        return False
    return a == b


def _is_type(value: Any, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return not isinstance(value, bool) and (isinstance(value, int)
                                                or (isinstance(value, float) and value.is_integer()))
    if t == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if t == "array":
        return isinstance(value, (list, tuple))
    if t == "object":
        return isinstance(value, dict)
    raise KeyError(t)


# _is_type(v, name) as one function per name (the fast predicates call them directly)
_TYPE_TESTS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int)
                                                      or (isinstance(v, float) and v.is_integer())),
    "number": lambda v: not isinstance(v, bool) and isinstance(v, (int, float)),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
}

_FAST_KEYS = frozenset({"const", "enum", "type", "pattern", "minLength", "maxLength", "minimum", "maximum",
                        "description", "title", "$comment", "examples"})
_TYPES = frozenset({"string", "null", "boolean", "integer", "number", "array", "object"})


def _fast_predicate(schema: Mapping[str, Any]) -> Any:
    """A plain-Python test with jsonschema's exact semantics for the common simple shapes
    (const, enum, type, pattern, min/maxLength, minimum/maximum); None for anything else."""
    import re
    if not isinstance(schema, dict) or not schema.keys() <= _FAST_KEYS:
        return None
    tests = []
    if "const" in schema:
        c = schema["const"]
        tests.append(lambda v: _json_equal(v, c))
    if "enum" in schema:
        e = schema["enum"]
        if not isinstance(e, list):
            return None
        tests.append(lambda v: any(_json_equal(v, x) for x in e))
    if "type" in schema:
        t = schema["type"]
        ts = [t] if isinstance(t, str) else t
        if not isinstance(ts, list) or not ts or not all(isinstance(x, str) and x in _TYPES for x in ts):
            return None
        if len(ts) == 1:
            tests.append(_TYPE_TESTS[ts[0]])
        else:
            type_tests = tuple(_TYPE_TESTS[x] for x in ts)
            tests.append(lambda v: any(t(v) for t in type_tests))
    if "pattern" in schema:
        if not isinstance(schema["pattern"], str):
            return None
        try:
            rx = re.compile(schema["pattern"])
        except re.error:
            return None
        tests.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
    for k, cmp in (("minLength", lambda n, lim: n >= lim), ("maxLength", lambda n, lim: n <= lim)):
        if k in schema:
            lim = schema[k]
            if isinstance(lim, bool) or not isinstance(lim, int):
                return None
            tests.append(lambda v, lim=lim, cmp=cmp: not isinstance(v, str) or cmp(len(v), lim))
    for k, cmp in (("minimum", lambda x, lim: x >= lim), ("maximum", lambda x, lim: x <= lim)):
        if k in schema:
            lim = schema[k]
            if isinstance(lim, bool) or not isinstance(lim, (int, float)):
                return None
            tests.append(lambda v, lim=lim, cmp=cmp: isinstance(v, bool) or not isinstance(v, (int, float))
                         or cmp(v, lim))
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda v: first(v) and second(v)
    every = tuple(tests)
    return lambda v: all(t(v) for t in every)


class _Check:
    """`ok(value)` (a fast path where the schema is simple) and `why(value)` (jsonschema's message)."""

    __slots__ = ("schema", "fast", "_validator")

    def __init__(self, schema: Mapping[str, Any]):
        self.schema = schema
        self.fast = _fast_predicate(schema)
        self._validator = None

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = validator_for(self.schema)
        return self._validator

    def ok(self, value: Any) -> bool:
        if self.fast is not None:
            return bool(self.fast(value))
        return bool(self.validator.is_valid(value))

    def why(self, value: Any) -> str:
        from jsonschema.exceptions import best_match
        err = best_match(self.validator.iter_errors(value))
        return err.message if err is not None else "does not match the expected schema"


def check_for(schema: Mapping[str, Any]) -> _Check:
    """The compiled check of `schema` (cached by identity, keeping the schema alive)."""
    hit = _CHECKS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    chk = _Check(schema)
    if len(_CHECKS) >= _MAX_CACHE:
        _CHECKS.clear()
    _CHECKS[id(schema)] = (schema, chk)
    return chk


# -- helpers ---------------------------------------------------------------------------------------

# json.dumps(x, ensure_ascii=False[, sort_keys=True, default=str]) without an encoder built per call
_DUMP_STR = json.JSONEncoder(ensure_ascii=False).encode
_DUMP_ANY = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode
_encode_basestring = json.encoder.encode_basestring   # what the encoder uses for str when ensure_ascii=False


def short(value: Any, limit: int = DETAIL_VALUE_CHARS) -> str:
    """A value for a violation detail: JSON-ish, truncated with an ellipsis."""
    if isinstance(value, str):
        s = _DUMP_STR(value)
    elif type(value) is list and all(type(x) is str for x in value):
        # a list of alternatives: the same text as the encoder, without setting one up per call
        s = "[" + ", ".join(map(_encode_basestring, value)) + "]"
    else:
        try:
            s = _DUMP_ANY(value)
        except (TypeError, ValueError):
            s = repr(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def _scalar_text(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    return None


def _same(value: Any, alt: Any) -> bool:
    """Equality that keeps bools apart from numbers; an XML raw string matches a scalar alternative."""
    if isinstance(value, bool) or isinstance(alt, bool):
        if isinstance(value, str) and isinstance(alt, bool):
            return value.strip().lower() == ("true" if alt else "false")
        return type(value) is type(alt) and value == alt
    if isinstance(value, str) and not isinstance(alt, str):
        txt = _scalar_text(alt)
        if txt is None:
            return False
        s = value.strip()
        if s == txt:
            return True
        try:
            return math.isclose(float(s), float(alt), rel_tol=0, abs_tol=0)
        except ValueError:
            return False
    return value == alt


_MISSING = object()


def argument_problem(param: str, spec: Any, arguments: Mapping[str, Any]) -> str | None:
    """Why `arguments[param]` does not meet `spec` (a JSON Schema dict or a list of alternatives),
    or None when it does."""
    value = arguments.get(param, _MISSING)
    if type(spec) is dict or isinstance(spec, Mapping):
        checked = None if value is _MISSING else value
        chk = check_for(spec)
        if chk.ok(checked):
            return None
        if value is _MISSING:
            return f"{param}: missing"
        why = chk.why(checked)
        if len(why) > 2 * DETAIL_VALUE_CHARS:
            why = why[: 2 * DETAIL_VALUE_CHARS - 1] + "…"
        return f"{param}={short(value)}: {why}"
    alts = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if value is _MISSING or value is None:
        if "" in alts or (value is None and None in alts):
            return None
        return f"{param}: missing (expected one of {short(alts)})"
    for alt in alts:
        if _same(value, alt):
            return None
    return f"{param}={short(value)}: expected one of {short(alts)}"


def arguments_problems(expected: ExpectedCall, call: ToolCall) -> list[str]:
    """Every way `call.arguments` misses `expected.arguments` (empty when they match)."""
    if not expected.arguments:
        return []
    args = call.arguments
    if not isinstance(args, Mapping):
        return [f"arguments are not an object: {short(args)}"]
    out = []
    for param, spec in expected.arguments.items():
        p = argument_problem(param, spec, args)
        if p is not None:
            out.append(p)
    return out


def _matches(expected: ExpectedCall, call: ToolCall) -> bool:
    return expected.name == call.name and not arguments_problems(expected, call)


def _max_matching(expected: Sequence[ExpectedCall], calls: Sequence[ToolCall]) -> dict[int, int]:
    """Maximum bipartite matching expected[i] -> calls[j] (Kuhn's algorithm; sizes are tiny)."""
    adj = [[j for j, c in enumerate(calls) if _matches(e, c)] for e in expected]
    match_of_call: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in adj[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in match_of_call or augment(match_of_call[j], seen):
                match_of_call[j] = i
                return True
        return False

    for i in range(len(expected)):
        augment(i, set())
    return {i: j for j, i in match_of_call.items()}


def _plural(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def compare_calls(expected: Sequence[ExpectedCall], calls: Sequence[ToolCall], *,
                  any_order: bool = False) -> list[Violation]:
    """The schema checker: `wrong_tool` / `wrong_arguments` violations of `calls` against `expected`."""
    out: list[Violation] = []
    if len(calls) != len(expected):
        got = ", ".join(c.name for c in calls) or "none"
        want = ", ".join(e.name for e in expected)
        out.append(Violation(V.WRONG_TOOL,
                             f"expected {_plural(len(expected))} ({want}), got {_plural(len(calls))} ({got})"))
    if not any_order:
        for e, c in zip(expected, calls):
            if e.name != c.name:
                out.append(Violation(V.WRONG_TOOL, f"expected {e.name}, got {c.name}"))
                continue
            for p in arguments_problems(e, c):
                out.append(Violation(V.WRONG_ARGUMENTS, f"{e.name}: {p}"))
        return out
    matched = _max_matching(expected, calls)
    used = set(matched.values())
    free = [j for j in range(len(calls)) if j not in used]
    for i, e in enumerate(expected):
        if i in matched:
            continue
        same = next((j for j in free if calls[j].name == e.name), None)
        if same is not None:
            free.remove(same)
            for p in arguments_problems(e, calls[same]):
                out.append(Violation(V.WRONG_ARGUMENTS, f"{e.name}: {p}"))
        elif free and len(calls) == len(expected):
            j = free.pop(0)
            out.append(Violation(V.WRONG_TOOL, f"expected {e.name}, got {calls[j].name}"))
        elif len(calls) == len(expected):  # pragma: no cover - equal counts always leave a free call
            out.append(Violation(V.WRONG_TOOL, f"expected {e.name}, got none"))
    return out


def _one_call_per_turn(protocol: Protocol) -> bool:
    cat = getattr(protocol, "catalog", None)
    return bool(cat is not None and getattr(cat, "one_call_per_turn", False))


# -- the verdict -----------------------------------------------------------------------------------

def _bfcl(expect: Any, calls: list[ToolCall]) -> list[Violation]:
    """BFCL's AST-checker verdict, alone: BFCL accepts answers that a JSON-Schema check of the request
    tools would not (case-insensitive strings, undecodable calls in irrelevance, ...)."""
    from protocols import bfcl
    expected = [{c.name: c.arguments} for c in expect.calls or ()]
    return bfcl.check(list(expect.functions), calls, expected, expect.category or "")


def score(case: Case, turn: Turn, protocol: Protocol) -> Verdict:
    """Judge `turn` (the protocol's parse of the model's answer) against `case.expect`."""
    expect = case.expect
    calls = list(turn.calls)
    if expect.checker == "bfcl":
        violations = _bfcl(expect, calls)
        return Verdict(passed=not violations, violations=violations, calls=calls)
    violations = list(turn.violations)
    if expect.calls is not None and len(expect.calls) == 0:
        violations = [v for v in violations if v.code != V.NO_TOOL_CALL]
        if calls:
            names = ", ".join(c.name for c in calls)
            violations.append(Violation(V.UNEXPECTED_TOOL_CALL, f"expected no call, got {names}"))
    elif expect.calls is not None:
        considered = calls[:1] if _one_call_per_turn(protocol) else calls
        if not considered:
            if V.NO_TOOL_CALL not in {v.code for v in violations}:
                want = ", ".join(e.name for e in expect.calls)
                violations.append(Violation(V.NO_TOOL_CALL, f"expected {want}, got no call"))
        else:
            violations.extend(compare_calls(expect.calls, considered, any_order=expect.any_order))
    return Verdict(passed=not violations, violations=violations, calls=calls)


def judge(case: Case, message: Any, protocol: Protocol) -> Verdict:
    """Parse and score one answer: `score(case, protocol.parse(message, ...), protocol)`.

    Under BFCL's checker the verdict reads only the calls, so only the calls are parsed
    (`Protocol.parse_calls`: the native protocol then skips its JSON-Schema checks, which BFCL's
    verdict would drop anyway) - the same verdict for a third of the work."""
    expect = case.expect
    if expect.checker == "bfcl":
        calls = list(protocol.parse_calls(message, mode=case.mode, tools=case.tools))
        violations = _bfcl(expect, calls)
        return Verdict(passed=not violations, violations=violations, calls=calls)
    return score(case, protocol.parse(message, mode=case.mode, tools=case.tools), protocol)


def by_tool_key(case: Case, turn: Turn | Sequence[Any] | None = None) -> str:
    """The by-tool metric key: the first expected call's name, "(none)" for irrelevance; for cases that
    accept any call, the first call the model made (from a Turn or result `calls` dicts) or "(any)"."""
    calls = case.expect.calls
    if calls is not None:
        return calls[0].name if calls else NONE_KEY
    made = turn.calls if isinstance(turn, Turn) else (turn or [])
    if made:
        first = made[0]
        name = first.get("name") if isinstance(first, Mapping) else getattr(first, "name", None)
        if isinstance(name, str) and name:
            return name
    return ANY_KEY


__all__ = ["ANY_KEY", "NONE_KEY", "Verdict", "argument_problem", "arguments_problems", "by_tool_key",
           "check_for", "compare_calls", "judge", "score", "short", "validator_for"]
