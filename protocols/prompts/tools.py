"""Catalog tools as OpenAI request `tools` entries (deprecated parameters never advertised)."""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from protocols.catalog import ToolSpec


def _offered_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a parameters schema without properties marked ``"deprecated": true``.

    Deprecated properties (e.g. read_file's older single-file form) are still accepted by the parser
    but are never advertised to the model.
    """
    schema = copy.deepcopy(dict(parameters))
    props = schema.get("properties")
    if isinstance(props, dict):
        hidden = [k for k, v in props.items() if isinstance(v, Mapping) and v.get("deprecated") is True]
        for k in hidden:
            del props[k]
        if hidden and isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r not in hidden]
    return schema


def tool_to_openai(spec: ToolSpec) -> dict[str, Any]:
    """An OpenAI `tools` entry: ``{"type": "function", "function": {name, description, parameters[, strict]}}``.

    `strict` is present (and true) only for tools whose catalog entry says ``"strict": true``.
    """
    function: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "parameters": _offered_schema(spec.parameters),
    }
    if spec.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def openai_tools(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """`tool_to_openai` over several tools, in order."""
    return [tool_to_openai(s) for s in specs]
