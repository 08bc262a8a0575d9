"""BFCL's request: the OpenAI `tools` BFCL sends a chat-completions function-calling model.

`to_json_schema(params)` / `functions_to_tools(functions)`: BFCL types mapped to JSON Schema
(`dict`→object, `float`→number plus `format: float` and a note in the description, `tuple`→array,
`any`→string, unknown or missing types→string), nested properties and items converted the way BFCL
does it, and the Python-syntax note appended to each function description. Names are kept as in
BFCL: the `native` protocol sanitises dots itself. Mirrors `bfcl_eval/model_handler/utils.py:
convert_to_tool` (bfcl-eval 2026.3.23).
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

# BFCL type name → JSON Schema type for the request (bfcl_eval.constants.type_mappings.GORILLA_TO_OPENAPI)
OPENAPI_TYPES: dict[str, str] = {
    "integer": "integer", "number": "number", "float": "number", "string": "string",
    "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array", "dict": "object",
    "object": "object", "tuple": "array", "any": "string", "byte": "integer", "short": "integer",
    "long": "integer", "double": "number", "char": "string", "ArrayList": "array", "Array": "array",
    "HashMap": "object", "Hashtable": "object", "Queue": "array", "Stack": "array", "Any": "string",
    "String": "string", "Bigint": "integer",
}
FLOAT_NOTE = " This is a float type value."
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."


def _openapi_type(bfcl_type: Any) -> str:
    return OPENAPI_TYPES.get(bfcl_type, "string") if isinstance(bfcl_type, str) else "string"


def _convert_properties(props: dict[str, Any]) -> dict[str, Any]:
    """In place, BFCL's property conversion (recursive where BFCL recurses)."""
    for spec in props.values():
        if not isinstance(spec, dict):
            continue
        if "type" not in spec:
            spec["type"] = "string"
        else:
            bfcl_type = spec["type"]
            if bfcl_type == "float":
                spec["format"] = "float"
                spec["description"] = str(spec.get("description", "")) + FLOAT_NOTE
            spec["type"] = _openapi_type(bfcl_type)
        if spec["type"] not in ("array", "object"):
            continue
        if isinstance(spec.get("properties"), dict):
            _convert_properties(spec["properties"])
        elif isinstance(spec.get("items"), dict):
            items = spec["items"]
            if "type" in items:
                items["type"] = _openapi_type(items["type"])
            inner = items.get("items")
            if items.get("type") == "array" and isinstance(inner, dict):
                if "type" in inner:
                    inner["type"] = _openapi_type(inner["type"])
            elif items.get("type") == "object" and isinstance(items.get("properties"), dict):
                _convert_properties(items["properties"])
    return props


def to_json_schema(bfcl_params: Mapping[str, Any]) -> dict[str, Any]:
    """A function's BFCL `parameters` as the JSON Schema BFCL sends (a converted deep copy)."""
    schema = copy.deepcopy(dict(bfcl_params))
    schema["type"] = "object"
    props = schema.get("properties")
    schema["properties"] = _convert_properties(props) if isinstance(props, dict) else {}
    return schema


def functions_to_tools(functions: Iterable[Mapping[str, Any]], *, hint: str = PYTHON_HINT) -> list[dict[str, Any]]:
    """OpenAI chat-completions `tools` for BFCL function docs, as BFCL sends them (names unchanged).

    `hint` is appended to each description as BFCL does when it loads a Python category; pass "" to
    leave descriptions as they are."""
    tools = []
    for fn in functions:
        item = copy.deepcopy(dict(fn))
        if hint:
            item["description"] = str(item.get("description", "")) + hint
        item["parameters"] = to_json_schema(item.get("parameters") or {})
        tools.append({"type": "function", "function": item})
    return tools
