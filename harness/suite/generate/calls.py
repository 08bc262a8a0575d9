"""Wire rendering: a task's values as one reference call in the protocol's own format, and its expectation.

XML (Roo's tags) and native (JSON `tool_calls`) write the same value differently: a read_file file
list is nested <file> elements in XML and a `files` array natively, a boolean is "true" or left out in
XML, a strict native schema carries every key (an unused optional as null). Each value also yields the
JSON Schema an answer's argument must satisfy. The message itself comes from the protocol's
`format_call`, so the reference is exactly what the protocol would send.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.suite.generate.patterns import (diff_pattern, files_pattern, follow_up_pattern, json_pattern,
                                             lines_pattern, todos_pattern)
from harness.suite.generate.spec import SpecError
from harness.suite.generate.values import Value


def diff_text(blocks: tuple[tuple[int, str, str], ...]) -> str:
    out = []
    for line, search, replace in blocks:
        out.append(f"<<<<<<< SEARCH\n:start_line:{line}\n-------\n{search}\n=======\n{replace}\n>>>>>>> REPLACE")
    return "\n\n".join(out)


def _wrap(s: str) -> str:
    """Multi-line XML values go on their own lines, like Roo's examples (the parser trims them)."""
    return f"\n{s}\n" if "\n" in s else s


def xml_param(v: Value) -> tuple[str | None, Any]:
    """(raw XML string or None = left out, expectation or None = not checked)."""
    k, d = v.kind, v.data
    if k == "null":
        return None, None
    if k == "str":
        return _wrap(d), ({"const": d} if "\n" not in d else {"type": "string", "pattern": lines_pattern(d)})
    if k == "text":
        return d, {"type": "string", "pattern": lines_pattern(d)}
    if k == "free":
        return _wrap(d), {"type": "string", "minLength": 1}
    if k == "files":
        body = "\n".join(
            "<file>\n" + f"<path>{p}</path>\n" + "".join(f"<line_range>{a}-{b}</line_range>\n" for a, b in r) + "</file>"
            for p, r in d)
        return f"\n{body}\n", {"type": "string", "pattern": files_pattern(d)}
    if k == "follow_up":
        body = "\n".join(f'<suggest mode="{m}">{t}</suggest>' if m else f"<suggest>{t}</suggest>" for t, m in d)
        return f"\n{body}\n", {"type": "string", "pattern": follow_up_pattern(d)}
    if k == "todos":
        body = "\n".join(f"[{m}] {t}" for m, t in d)
        return f"\n{body}\n", {"type": "string", "pattern": todos_pattern(d)}
    if k == "diff":
        return f"\n{diff_text(d)}\n", {"type": "string", "pattern": diff_pattern(d)}
    if k == "json":
        return json.dumps(d, ensure_ascii=False), {"type": "string", "pattern": json_pattern(d)}
    if k == "count":
        return str(d), {"const": str(d)}
    if k == "flag":
        # false is Roo's default: the reference leaves it out, an explicit "false" is accepted too
        return ("true" if d else None), ({"const": "true"} if d else {"enum": ["false", None]})
    if k == "point":
        x, y, _w, _h = d
        return f"{x},{y}", {"const": f"{x},{y}"}
    if k == "size":
        w, h = d
        return f"{w},{h}", {"const": f"{w},{h}"}
    raise SpecError(f"value kind {k!r} has no XML form")


def _nullable(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    t = schema.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t)


def native_param(v: Value) -> tuple[Any, Any]:
    """(JSON value, expectation or None); a `null` value is sent as JSON null."""
    k, d = v.kind, v.data
    if k == "null":
        return None, None
    if k == "str":
        return d, ({"const": d} if "\n" not in d else {"type": "string", "pattern": lines_pattern(d)})
    if k == "text":
        return d, {"type": "string", "pattern": lines_pattern(d)}
    if k == "free":
        return d, {"type": "string", "minLength": 1}
    if k == "files":
        items = []
        value = []
        for p, r in d:
            value.append({"path": p, "line_ranges": [[a, b] for a, b in r] if r else None})
            items.append({"type": "object", "required": ["path"],
                          "properties": {"path": {"const": p},
                                         "line_ranges": {"const": [[a, b] for a, b in r]} if r else {"type": "null"}}})
        return value, {"type": "array", "minItems": len(d), "maxItems": len(d), "prefixItems": items}
    if k == "follow_up":
        value = [{"text": t, "mode": m} for t, m in d]
        contains = [{"contains": {"type": "object", "required": ["text"],
                                  "properties": {"text": {"const": t},
                                                 "mode": {"const": m} if m else {"type": "null"}}}}
                    for t, m in d]
        return value, {"type": "array", "minItems": len(d), "maxItems": len(d), "allOf": contains}
    if k == "todos":
        return "\n".join(f"[{m}] {t}" for m, t in d), {"type": "string", "pattern": todos_pattern(d)}
    if k == "diff":
        return diff_text(d), {"type": "string", "pattern": diff_pattern(d)}
    if k == "json":
        return d, {"const": d}
    if k == "count":
        return d, {"const": d}
    if k == "flag":
        return d, {"const": d}
    if k == "point":
        x, y, w, h = d
        return f"{x},{y}@{w}x{h}", {"type": "string", "pattern": f"^\\s*{x}\\s*,\\s*{y}\\s*@\\s*{w}x{h}\\s*$"}
    if k == "size":
        w, h = d
        return f"{w}x{h}", {"type": "string", "pattern": f"^\\s*{w}\\s*[x,]\\s*{h}\\s*$"}
    raise SpecError(f"value kind {k!r} has no native form")


def _param_order(catalog: Any, tool: str, names: list[str]) -> list[str]:
    spec = catalog.tools.get(tool) if catalog is not None else None
    order = list(spec.parameters.get("properties", {})) if spec is not None else []
    return [n for n in order if n in names] + [n for n in names if n not in order]


def render_call(protocol: Any, tool: str, params: Mapping[str, Value], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the reference assistant message, the expected arguments) of one call in `protocol`'s wire."""
    from protocols.types import ToolCall
    catalog = getattr(protocol, "catalog", None)
    names = _param_order(catalog, tool, list(params))
    wire_args: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    if protocol.wire == "xml":
        for n in names:
            raw, schema = xml_param(params[n])
            if raw is not None:
                wire_args[n] = raw
            if schema is not None:
                expect[n] = schema
    else:
        tspec = catalog.tools.get(tool) if catalog is not None else None
        props = tspec.parameters.get("properties", {}) if tspec is not None else {}
        for n0 in names:
            n = n0
            if params[n0].kind == "files" and n0 not in props and "files" in props:
                n = "files"   # read_file: XML <args> of <file> elements = native `files` array
            if props and n not in props:
                continue   # a parameter the native tool does not have (e.g. write_to_file line_count)
            val, schema = native_param(params[n0])
            if val is not None or (tspec is not None and tspec.strict):
                wire_args[n] = val   # strict schemas carry every key, an unused optional as null
            if schema is not None:
                expect[n] = schema
        if tspec is not None and tspec.strict:
            exact = bool(getattr(catalog, "exact_schemas", False))
            for n, s in props.items():
                if exact and n not in tspec.required:
                    continue   # a schema checked as written (Zoo's read_file): its optional keys may be left out
                if n not in wire_args:
                    if not _nullable(s):
                        raise SpecError(f"{where}: {tool} needs '{n}' in the native protocol (strict, not nullable)")
                    wire_args[n] = None
            wire_args = {n: wire_args[n] for n in props if n in wire_args}
    msg = protocol.format_call([ToolCall(tool, wire_args)])
    msg = {"role": "assistant", **{k: v for k, v in msg.items() if k != "role"}}
    return msg, expect


__all__ = ["diff_text", "native_param", "render_call", "xml_param"]
