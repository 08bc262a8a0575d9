"""Is this a valid JSON Schema? Answered fast for the simple shapes suites use most, cached for the rest.

Expected arguments and tool parameters are JSON Schemas; jsonschema's meta-check (`check_schema`) costs
about 2 ms a schema, so the common simple shapes (`const`, `type`, `enum`, `pattern`, ...) are checked
here without it, every other schema first by protocols.schema.meta's structural check of the 2020-12
meta-schema (conservative: what it accepts, check_schema accepts; the rest goes to jsonschema, which
words the message), and identical schemas (equal canonical JSON) are meta-checked once per process.
"""
from __future__ import annotations

import json
import re
from typing import Any

from protocols.schema.meta import surely_valid

_JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
SIMPLE_KEYS = frozenset({"const", "type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
                         "description", "title"})
_SCHEMA_CACHE: dict[str, str | None] = {}
# json.dumps(x, sort_keys=True), without building an encoder per call (the same text, the same errors)
canonical_json = json.JSONEncoder(sort_keys=True).encode


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema (jsonschema's check_schema), or None. Cached; the
    common simple shapes are checked without jsonschema."""
    return schema_check(schema)[0]


def schema_check(schema: Any) -> tuple[str | None, str | None]:
    """(schema_problem's answer, the schema's canonical JSON when jsonschema decided it, else None).
    Identical schemas (equal canonical JSON) are checked once per process."""
    if not isinstance(schema, dict):
        return f"a JSON Schema must be an object, not {type(schema).__name__}", None
    if schema.keys() <= SIMPLE_KEYS:
        t = schema.get("type")
        if t is not None and not (t in _JSON_TYPES or (isinstance(t, list) and t and all(x in _JSON_TYPES for x in t)
                                                 and len(set(t)) == len(t))):
            return f"type {t!r} is not a JSON Schema type ({', '.join(_JSON_TYPES)})", None
        if "enum" in schema and not isinstance(schema["enum"], list):
            return "enum must be a list of values", None
        for k in ("minLength", "maxLength"):
            if k in schema and (not isinstance(schema[k], int) or isinstance(schema[k], bool) or schema[k] < 0):
                return f"{k} must be a non-negative integer", None
        for k in ("minimum", "maximum"):
            if k in schema and (not isinstance(schema[k], (int, float)) or isinstance(schema[k], bool)):
                return f"{k} must be a number", None
        for k in ("description", "title"):
            if k in schema and not isinstance(schema[k], str):
                return f"{k} must be a string", None
        if "pattern" in schema:
            p = schema["pattern"]
            if not isinstance(p, str):
                return "pattern must be a string", None
            try:
                re.compile(p)
            except re.error as e:
                return f"pattern {p[:60]!r} is not a valid regular expression: {e}", None
        return None, None
    if surely_valid(schema):    # the structural 2020-12 check: no jsonschema (nor a memo) for what it accepts
        return None, None
    try:
        key = canonical_json(schema)
    except (TypeError, ValueError):
        return "the schema is not plain JSON data", None
    if key in _SCHEMA_CACHE:
        return _SCHEMA_CACHE[key], key
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
        why = None
    except SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        why = f"invalid JSON Schema{' at ' + where if where else ''}: {e.message}"
    except Exception as e:  # noqa: BLE001 - a schema that crashes the meta-check is still a user error
        why = f"invalid JSON Schema: {type(e).__name__}: {e}"
    if len(_SCHEMA_CACHE) > 20_000:
        _SCHEMA_CACHE.clear()
    _SCHEMA_CACHE[key] = why
    return why, key


__all__ = ["schema_problem"]
