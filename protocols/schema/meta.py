"""A structural meta-check of JSON Schema 2020-12 that answers "surely valid" without jsonschema.

jsonschema's `check_schema` walks the 2020-12 meta-schema ($dynamicRef, one validator per keyword per
level): about 1-8 ms per tool schema, which made the first load of a 2,311-case BFCL suite take
seconds. `surely_valid` checks each keyword the 2020-12 meta-schema defines against the shape that
meta-schema gives it, recursing into subschemas, in microseconds. It is conservative: True only when
every keyword it meets is one it checks completely and passes; anything else (a `$ref`/`$id`/`$schema`
whose URI formats it does not check, `integer`-valued floats such as 1.0, a shape it is unsure of)
answers False, and the caller asks jsonschema, which then decides and words the message. So a schema
it accepts is one `check_schema` accepts (tests/protocols/test_schema_meta.py holds it to that over
the meta-schema's own keyword list and generated schemas); bad schemas still get jsonschema's message.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
MAX_DEPTH = 64


def _schema(v: Any, d: int) -> bool:
    if isinstance(v, bool):
        return True
    return isinstance(v, dict) and d < MAX_DEPTH and _check(v, d + 1)


def _schema_map(v: Any, d: int) -> bool:
    return isinstance(v, dict) and all(_schema(s, d) for s in v.values())


def _schema_list(v: Any, d: int) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(_schema(s, d) for s in v)


def _nonneg_int(v: Any, d: int) -> bool:
    return type(v) is int and v >= 0


def _number(v: Any, d: int) -> bool:
    return type(v) in (int, float)


def _positive(v: Any, d: int) -> bool:
    return type(v) in (int, float) and v > 0


def _string(v: Any, d: int) -> bool:
    return isinstance(v, str)


def _boolean(v: Any, d: int) -> bool:
    return isinstance(v, bool)


def _array(v: Any, d: int) -> bool:
    return isinstance(v, list) and _plain(v)


def _plain(v: Any, d: int = 0) -> bool:
    """Plain JSON data (what a JSON or YAML suite holds once parsed), so canonical JSON can be made of it."""
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return True
    if d >= MAX_DEPTH:
        return False
    if t is list:
        return all(_plain(x, d + 1) for x in v)
    if t is dict:
        return all(type(k) is str and _plain(x, d + 1) for k, x in v.items())
    return False


def _anything(v: Any, d: int) -> bool:
    return _plain(v)


def _unique_strings(v: Any, d: int) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v) and len(set(v)) == len(v)


def _type(v: Any, d: int) -> bool:
    if isinstance(v, str):
        return v in TYPES
    return (isinstance(v, list) and len(v) > 0 and all(isinstance(t, str) and t in TYPES for t in v)
            and len(set(v)) == len(v))


def _regex(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        re.compile(v)      # jsonschema's "regex" format check is re.compile
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _pattern(v: Any, d: int) -> bool:
    return _regex(v)


def _pattern_properties(v: Any, d: int) -> bool:
    return isinstance(v, dict) and all(_regex(k) and _schema(s, d) for k, s in v.items())


def _dependent_required(v: Any, d: int) -> bool:
    return isinstance(v, dict) and all(_unique_strings(a, d) for a in v.values())


def _dependencies(v: Any, d: int) -> bool:
    return isinstance(v, dict) and all(_schema(s, d) or _unique_strings(s, d) for s in v.values())


# every keyword of the 2020-12 meta-schema and its vocabularies, with the shape it must have there
CHECKS: dict[str, Callable[[Any, int], bool]] = {
    # applicator
    "prefixItems": _schema_list, "items": _schema, "contains": _schema, "additionalProperties": _schema,
    "properties": _schema_map, "patternProperties": _pattern_properties, "dependentSchemas": _schema_map,
    "propertyNames": _schema, "if": _schema, "then": _schema, "else": _schema, "allOf": _schema_list,
    "anyOf": _schema_list, "oneOf": _schema_list, "not": _schema,
    # unevaluated
    "unevaluatedItems": _schema, "unevaluatedProperties": _schema,
    # validation
    "type": _type, "const": _anything, "enum": _array, "multipleOf": _positive, "maximum": _number,
    "exclusiveMaximum": _number, "minimum": _number, "exclusiveMinimum": _number, "maxLength": _nonneg_int,
    "minLength": _nonneg_int, "pattern": _pattern, "maxItems": _nonneg_int, "minItems": _nonneg_int,
    "uniqueItems": _boolean, "maxContains": _nonneg_int, "minContains": _nonneg_int,
    "maxProperties": _nonneg_int, "minProperties": _nonneg_int, "required": _unique_strings,
    "dependentRequired": _dependent_required,
    # meta-data, format-annotation, content
    "title": _string, "description": _string, "default": _anything, "deprecated": _boolean,
    "readOnly": _boolean, "writeOnly": _boolean, "examples": _array, "format": _string,
    "contentEncoding": _string, "contentMediaType": _string, "contentSchema": _schema,
    # core keywords checked here (the URI-valued ones are left to jsonschema)
    "$comment": _string, "$defs": _schema_map,
    # the meta-schema's deprecated keywords
    "definitions": _schema_map, "dependencies": _dependencies,
}
# defined by the meta-schema with URI formats or anchors: jsonschema decides
DEFERRED = frozenset({"$id", "$schema", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
                      "$recursiveAnchor", "$recursiveRef"})


def _check(schema: dict[str, Any], d: int) -> bool:
    for k, v in schema.items():
        # the most common keywords inline (the same rules as CHECKS): a tool schema is mostly these
        if k == "type" and type(v) is str:
            if v not in TYPES:
                return False
            continue
        if k == "description" or k == "title":
            if type(v) is not str:
                return False
            continue
        if k == "properties" and type(v) is dict:
            for sub in v.values():
                if type(sub) is dict:
                    if d >= MAX_DEPTH or not _check(sub, d + 1):
                        return False
                elif type(sub) is not bool:
                    return False
            continue
        f = CHECKS.get(k)
        if f is None:
            if not isinstance(k, str) or k in DEFERRED or not _plain(v):
                return False
            continue            # an unknown keyword: the meta-schema allows any (JSON) value
        if not f(v, d):
            return False
    return True


def surely_valid(schema: Any) -> bool:
    """True only when `schema` is plain JSON data and a JSON Schema 2020-12 that jsonschema's
    check_schema accepts."""
    return isinstance(schema, dict) and _check(schema, 0)


__all__ = ["CHECKS", "DEFERRED", "surely_valid"]
