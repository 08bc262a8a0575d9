"""A plain-Python "certainly valid" test for the JSON Schemas tool calls use, so that a correct call
does not pay for jsonschema's validator machinery (an `evolve` and a resource lookup per subschema:
~90% of the time of parsing a BFCL or user-tool answer).

    valid = compile_fast(schema)        # None when the schema uses anything not modelled here
    if valid is not None and valid(instance):
        ...                             # jsonschema's Draft 2020-12 validator finds no error

The test is one-sided: True means jsonschema (Draft202012Validator, no format checker) yields no
error for the instance; False means "not shown valid here", and the caller asks jsonschema, which
then words every error. Verdicts therefore never depend on this module, only their cost does.

Modelled with jsonschema's exact semantics: `type` (bool is neither integer nor number, 1.0 is an
integer), `enum`/`const` (jsonschema's own equality), `minimum`/`maximum`/`exclusive*`,
`minLength`/`maxLength` (code points), `pattern` (re.search), `minItems`/`maxItems`, `items` (a
schema), `properties`, `required`, `additionalProperties` (a boolean or a schema),
`minProperties`/`maxProperties`, `allOf`, `anyOf` (some branch shown valid; every branch must be
modelled), boolean schemas `true`,
and every keyword jsonschema does not validate (annotations: description, title, default, format
without a format checker, ...). Any other validation keyword (`$ref`, `oneOf`, `not`, `if`,
`patternProperties`, `prefixItems`, `unevaluated*`, `multipleOf`, `uniqueItems`, ...), a nested
`$schema` (jsonschema would switch dialect there) or a malformed keyword value makes the schema
unmodelled. Instance values must be exact JSON types (dict, list, str, int, float, bool, None);
anything else (a tuple, a str subclass) is left to jsonschema.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Test = Callable[[Any], bool]

_EXACT = frozenset({dict, list, str, int, float, bool, type(None)})
_MAX_DEPTH = 48

# keywords with a model below; the rest of Draft 2020-12's validation keywords are unmodelled
_MODELLED = frozenset({
    "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern", "minItems", "maxItems", "items", "properties", "required", "additionalProperties",
    "minProperties", "maxProperties", "allOf", "anyOf", "format",
})
_VALIDATION: frozenset[str] | None = None


def _validation_keywords() -> frozenset[str]:
    global _VALIDATION
    if _VALIDATION is None:
        from jsonschema import Draft202012Validator
        _VALIDATION = frozenset(Draft202012Validator.VALIDATORS)
    return _VALIDATION


def _is_integer(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and v.is_integer())


_TYPES: dict[str, Test] = {
    "string": lambda v: type(v) is str,
    "integer": _is_integer,
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}
# an exact-typed value is of a JSON type iff its Python type is one of these
_PY_OF = {"string": (str,), "boolean": (bool,), "null": (type(None),), "array": (list,), "object": (dict,),
          "number": (int, float)}


def _number(x: Any) -> bool:
    return type(x) is int or type(x) is float


def _always(v: Any) -> bool:
    return True


def compile_fast(schema: Any) -> Test | None:
    """The "certainly valid" test of `schema` (see the module docstring), or None when unmodelled."""
    try:
        return _node(schema, 0)
    except (TypeError, ValueError, RecursionError, re.error, ImportError):
        return None


def _node(schema: Any, depth: int) -> Test | None:
    if schema is True:
        return _always
    if type(schema) is not dict or depth > _MAX_DEPTH or "$schema" in schema:
        return None
    validation = _validation_keywords()
    for k in schema:
        if k in validation and k not in _MODELLED:
            return None
    tests: list[Test] = []
    add = tests.append

    if "type" in schema:
        t = schema["type"]
        names = [t] if isinstance(t, str) else t
        if type(names) is not list or not names or not all(type(x) is str and x in _TYPES for x in names):
            return None
        if len(names) == 1 and names[0] in _PY_OF:
            py = _PY_OF[names[0]]
            if len(py) == 1:
                only = py[0]
                add(lambda v: type(v) is only)
            else:
                add(lambda v: type(v) in py)
        else:
            preds = [_TYPES[x] for x in names]
            add(lambda v: any(p(v) for p in preds))
    if "enum" in schema or "const" in schema:
        from jsonschema._utils import equal   # jsonschema's own equality (bool is not 1, 1 == 1.0)
    if "enum" in schema:
        enum = schema["enum"]
        if type(enum) is not list:
            return None
        # a str instance equals a member iff ==, which list membership tests (after identity)
        add(lambda v: v in enum if type(v) is str else any(equal(e, v) for e in enum))
    if "const" in schema:
        const = schema["const"]
        add(lambda v: equal(v, const))
    for key, ok in (("minimum", lambda x, lim: not x < lim), ("maximum", lambda x, lim: not x > lim),
                    ("exclusiveMinimum", lambda x, lim: not x <= lim),
                    ("exclusiveMaximum", lambda x, lim: not x >= lim)):
        if key in schema:
            lim = schema[key]
            if not _number(lim):
                return None
            add(lambda v, lim=lim, ok=ok: not _number(v) or ok(v, lim))
    for key, ok in (("minLength", lambda n, lim: not n < lim), ("maxLength", lambda n, lim: not n > lim)):
        if key in schema:
            lim = schema[key]
            if not _number(lim):
                return None
            add(lambda v, lim=lim, ok=ok: type(v) is not str or ok(len(v), lim))
    if "pattern" in schema:
        if type(schema["pattern"]) is not str:
            return None
        search = re.compile(schema["pattern"]).search   # what re.search(pattern, s) uses
        add(lambda v: type(v) is not str or search(v) is not None)
    for key, ok, kind in (("minItems", lambda n, lim: not n < lim, list), ("maxItems", lambda n, lim: not n > lim, list),
                          ("minProperties", lambda n, lim: not n < lim, dict),
                          ("maxProperties", lambda n, lim: not n > lim, dict)):
        if key in schema:
            lim = schema[key]
            if not _number(lim):
                return None
            add(lambda v, lim=lim, ok=ok, kind=kind: type(v) is not kind or ok(len(v), lim))
    if "items" in schema:
        item = _node(schema["items"], depth + 1)
        if item is None:
            return None
        if item is not _always:
            add(lambda v: type(v) is not list or all(item(x) for x in v))
    props: dict[str, Any] = {}
    if "properties" in schema:
        props = schema["properties"]
        if type(props) is not dict:
            return None
        children = []
        for name, sub in props.items():
            child = _node(sub, depth + 1)
            if child is None:
                return None
            if child is not _always:
                children.append((name, child))
        if children:
            pairs = tuple(children)
            add(lambda v: type(v) is not dict or all(c(v[k]) for k, c in pairs if k in v))
    if "required" in schema:
        req = schema["required"]
        if type(req) is not list:
            return None
        names = tuple(req)
        add(lambda v: type(v) is not dict or all(k in v for k in names))
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        if extra is False:
            add(lambda v: type(v) is not dict or all(k in props for k in v))
        elif extra is not True:
            child = _node(extra, depth + 1)
            if child is None:
                return None
            if child is not _always:
                add(lambda v: type(v) is not dict or all(child(x) for k, x in v.items() if k not in props))
    for key in ("allOf", "anyOf"):
        if key in schema:
            subs = schema[key]
            if type(subs) is not list or not subs:
                return None
            # every branch modelled, also for anyOf: jsonschema tries the branches in order, and an
            # unmodelled one before the valid one could raise (an unresolvable $ref) instead of passing
            branches = [_node(s, depth + 1) for s in subs]
            if any(b is None for b in branches):
                return None
            if key == "allOf":
                add(lambda v, bs=tuple(branches): all(b(v) for b in bs))
            else:
                add(lambda v, bs=tuple(branches): any(b(v) for b in bs))

    if not tests:
        return lambda v: type(v) in _EXACT
    if len(tests) == 1:
        only_test = tests[0]
        return lambda v: type(v) in _EXACT and only_test(v)
    all_tests = tuple(tests)
    return lambda v: type(v) in _EXACT and all(t(v) for t in all_tests)


__all__ = ["compile_fast"]
