"""JSON Schemas fit for jsonschema: BFCL/Python type names mapped to JSON Schema's, strict mode applied."""
from __future__ import annotations

from typing import Any

_BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array", "list": "array",
               "int": "integer", "str": "string", "bool": "boolean", "double": "number",
               "long": "integer", "char": "string", "byte": "integer", "short": "integer"}
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                  "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems")
_SUBSCHEMA_KIND = {**dict.fromkeys(_SUBSCHEMA_MAPS, 0), **dict.fromkeys(_SUBSCHEMA_LISTS, 1),
                   **dict.fromkeys(_SUBSCHEMA_ONE, 2)}


def normalise_schema(schema: Any, strict: bool, depth: int = 0) -> Any:
    """`schema` fit for jsonschema: BFCL/Python type names mapped to JSON Schema ones
    (`dict`→object, `float`→number, `tuple`→array, `any`→no constraint) and, for strict tools, every
    object's properties required and no additional properties (OpenAI strict mode).

    Copy-on-write: `schema` itself when nothing changes (a plain JSON Schema, not strict), else new
    mappings along the changed paths only (what is unchanged is shared with `schema`, never modified).
    The input is never mutated."""
    if depth > 64 or not isinstance(schema, dict):
        return schema
    changes: dict[str, Any] = {}
    drop_type = False
    t = schema.get("type")
    if isinstance(t, str):
        if t == "any":
            drop_type = True
        elif t in _BFCL_TYPES:
            changes["type"] = _BFCL_TYPES[t]
    elif isinstance(t, list):
        if "any" in t:
            drop_type = True
        else:
            nt = list(dict.fromkeys(_BFCL_TYPES.get(x, x) if isinstance(x, str) else x for x in t))
            if nt != t:   # (equal means: same length, nothing mapped, nothing deduplicated)
                changes["type"] = nt
    for k, v in schema.items():   # (only the keys present: most subschemas have two or three)
        kind = _SUBSCHEMA_KIND.get(k) if isinstance(k, str) else None
        if kind is None:
            continue
        if kind == 0:
            if isinstance(v, dict):
                nm: dict[Any, Any] | None = None
                for pk, pv in v.items():
                    npv = normalise_schema(pv, strict, depth + 1)
                    if npv is not pv:
                        if nm is None:
                            nm = dict(v)
                        nm[pk] = npv
                if nm is not None:
                    changes[k] = nm
        elif isinstance(v, list):
            if kind == 1 or k == "items":   # a subschema list, or draft-7 tuple items
                nl = _normalise_list(v, strict, depth + 1)
                if nl is not v:
                    changes[k] = nl
        elif kind == 2 and isinstance(v, dict):
            nv = normalise_schema(v, strict, depth + 1)
            if nv is not v:
                changes[k] = nv
    props = changes.get("properties", schema.get("properties"))
    if strict and isinstance(props, dict):
        old_req = schema.get("required")
        req = old_req if isinstance(old_req, list) else []
        every = [k for k, v in props.items()
                 if not (isinstance(v, dict) and v.get("deprecated") is True)]  # never advertised
        new_req = list(dict.fromkeys([*req, *every]))
        if not isinstance(old_req, list) or new_req != old_req:
            changes["required"] = new_req
        if "additionalProperties" not in schema:
            changes["additionalProperties"] = False
    if not changes and not drop_type:
        return schema
    s = dict(schema)
    if drop_type:
        del s["type"]
    s.update(changes)   # changed keys keep their place; new ones (required, additionalProperties) go last
    return s


def _normalise_list(items: list[Any], strict: bool, depth: int) -> list[Any]:
    """`items` with each subschema normalised: the same list when none changes."""
    out = [normalise_schema(x, strict, depth) for x in items]
    return items if all(a is b for a, b in zip(out, items)) else out
