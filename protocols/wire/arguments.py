"""Decoding a tool call's JSON `arguments` (native and hermes): an object, or the raw text and why not."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from protocols.text import shorten


def _reject_constant(tok: str) -> Any:
    raise ValueError(f"{tok} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant).decode


def _decode_json(raw: str) -> Any:
    """json.loads(raw, parse_constant=_reject_constant) without a decoder built per call (json.loads
    itself only adds its BOM refusal, whose message it keeps)."""
    if raw.startswith("\ufeff"):
        return json.loads(raw, parse_constant=_reject_constant)
    return _DECODER(raw)


def decode_arguments(raw: Any, *, empty_is_object: bool = True) -> tuple[dict[str, Any] | str, str | None]:
    """(arguments, problem). `arguments` is the decoded JSON object, or the raw text when it is not
    one (then `problem` says why). An empty string is `{}` as in Roo (`empty_is_object`; BFCL and
    plain OpenAI clients cannot decode it); an already-decoded mapping is taken as is."""
    if raw is None:
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        try:
            text = json.dumps(raw, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = shorten(raw, 200)
        return text, f"arguments are a {type(raw).__name__}, not a JSON object"
    if raw == "" and empty_is_object:
        return {}, None
    try:
        value = _decode_json(raw)
    except RecursionError:
        return raw, "arguments are nested too deeply to decode"
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, int digit limit
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        where = f" at char {e.pos}" if isinstance(e, json.JSONDecodeError) else ""
        return raw, f"arguments are not valid JSON ({shorten(msg, 120)}{where})"
    if isinstance(value, dict):
        return value, None
    if isinstance(value, str):
        inner = value.strip()
        if inner.startswith("{") and inner.endswith("}"):
            return raw, "arguments are a JSON string holding an object (double-encoded)"
    kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
    return raw, f"arguments are a JSON {kind}, not an object"
