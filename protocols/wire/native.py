"""OpenAI native function calling: `tool_calls` in the assistant message, JSON arguments, JSON Schemas.

Three protocols use this wire format:

* `roo-native` — Roo Code v3.41's strict native tools (reference §9): every key of a strict schema is
  required (`null` for an unused optional), extra keys are rejected, one call per response, mode rules
  and the value lints apply, `mcp--server--tool` names are dynamic MCP calls;
* `native` — the case's own functions (BFCL and user suites); dotted names are sent sanitised and
  mapped back to the original name;
* `native:PATH` — a user catalog.

The function sets and the per-call check here are shared with the hermes wire format (names in
`names`, argument decoding in `arguments`, schema checks in `protocols.schema`).
Parsing never raises on model output and is linear in the message size.
"""
from __future__ import annotations

import json
import operator
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols import violations as V
from protocols.base import Message, Protocol, safe_text
from protocols.catalog import Catalog, ToolSpec
from protocols.schema import normalise_schema, schema_violations
from protocols.text import shorten
from protocols.types import ToolCall, Turn, Violation
from protocols.wire.arguments import decode_arguments
from protocols.wire.names import mcp_parts, resolve_name, sanitize_name, wire_names

# -- the functions offered to a turn ----------------------------------------------------------

def spec_from_tool(raw: Any) -> ToolSpec | None:
    """A ToolSpec from an OpenAI tool dict (`{"type": "function", "function": {...}}`) or a bare
    `{name, parameters}` function (BFCL); None for an entry that is not a tool at all."""
    if not isinstance(raw, Mapping):
        return None
    fn = raw.get("function") if isinstance(raw.get("function"), Mapping) else raw
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return None
    params = fn.get("parameters", fn.get("input_schema"))
    if params is None:
        params = {"type": "object", "properties": {}}
    strict = fn.get("strict", raw.get("strict", False))
    desc = fn.get("description", "")
    return ToolSpec(name=name, description=desc if isinstance(desc, str) else str(desc),
                    parameters=params,  # a non-object schema is reported when a call is checked
                    strict=strict is True)


@dataclass
class FunctionSet:
    """What the model may call in one turn.

    `specs` holds the offered tools by their original name; `aliases` maps each wire (sanitised)
    name back to it. `open` means "no functions declared": any name is accepted.
    """

    specs: dict[str, ToolSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    wire: dict[str, str] = field(default_factory=dict)     # original -> wire name
    catalog: Catalog | None = None
    mode: str | None = None
    open: bool = False
    mcp: bool = False      # Roo dynamic MCP names are calls (catalog with an `mcp` group)
    mcp_allowed: bool = True

    def resolve(self, name: Any) -> str | None:
        """The original name of an offered function called `name` (original or wire spelling)."""
        if not isinstance(name, str):
            return None
        if name in self.specs:
            return name
        return self.aliases.get(name)

    def tool_dicts(self, *, sanitized: bool) -> list[dict[str, Any]]:
        out = []
        for n, spec in self.specs.items():
            fn: dict[str, Any] = {"name": self.wire.get(n, n) if sanitized else n,
                                  "description": spec.description, "parameters": spec.parameters}
            if spec.strict:
                fn["strict"] = True
            out.append({"type": "function", "function": fn})
        return out


def _catalog_has_mcp(catalog: Catalog) -> bool:
    return "mcp" in catalog.groups or any("mcp" in m.groups for m in catalog.modes.values())


def function_set(catalog: Catalog | None, mode: str | None = None,
                 tools: Iterable[Any] | None = None) -> FunctionSet:
    """The functions offered: the catalog's tools for `mode` (plus any extra functions the case
    declares), else the case's `tools`, else an open set."""
    specs: dict[str, ToolSpec] = {}
    fs = FunctionSet(catalog=catalog, mode=mode)
    if catalog is not None:
        for spec in catalog.tools_for_mode(mode):
            specs[spec.name] = spec
        if _catalog_has_mcp(catalog):
            fs.mcp = True
            m = catalog.mode(mode)
            fs.mcp_allowed = m is None or "mcp" in m.groups
    if isinstance(tools, (list, tuple)):
        for raw in tools:
            spec = spec_from_tool(raw)
            if spec is None or spec.name in specs:
                continue
            if catalog is not None and spec.name in catalog.tools:
                continue  # the catalog's definition and mode rules win
            specs[spec.name] = spec
    if catalog is None and not specs:
        fs.open = True  # no functions declared (BFCL-style): any name, arguments only need be an object
    fs.specs = specs
    fs.wire = wire_names(specs)
    fs.aliases = {w: o for o, w in fs.wire.items() if w not in specs}
    if catalog is not None:   # the agent's own aliases (Roo/Zoo TOOL_ALIASES): run as the canonical tool
        for alias, target in catalog.aliases.items():
            if target in specs and alias not in specs:
                fs.aliases.setdefault(alias, target)
    return fs


# -- checking one call ------------------------------------------------------------------------

def check_call(fs: FunctionSet, raw_name: Any, arguments: dict[str, Any] | str,
               *, lint: bool = True, note: str = "") -> tuple[str, list[Violation]]:
    """Resolve a called name against the function set and check its arguments.

    Returns (the name to report — the original for a sanitised alias — and the violations).
    `arguments` must already be decoded; a raw string means the JSON was not an object and was
    reported by the caller, so only the name is checked.
    """
    name = raw_name if isinstance(raw_name, str) else ""
    out: list[Violation] = []
    original = fs.resolve(name)
    if original is None:
        if fs.open and name:
            return name, []
        if fs.mcp and mcp_parts(name) is not None:
            if not fs.mcp_allowed and fs.catalog is not None:
                m = fs.catalog.mode(fs.mode)
                out.append(Violation(V.TOOL_NOT_ALLOWED_IN_MODE,
                                     f'MCP tool "{shorten(name)}" is not allowed in {m.slug if m else fs.mode} mode.'
                                     + note))
            return name, out
        cat = fs.catalog
        if cat is not None and name in cat.tools:
            # Roo's mode check: a catalog tool the mode does not offer
            from protocols.rules import mode_violations
            vs = mode_violations(cat, name, arguments, fs.mode)
            if not vs:
                vs = [Violation(V.TOOL_NOT_ALLOWED_IN_MODE, f'Tool "{name}" is not offered in this turn.')]
            return name, [Violation(v.code, v.detail + note) for v in vs]
        if not name:
            return name, [Violation(V.UNKNOWN_TOOL, "a tool call without a function name" + note)]
        offered = ", ".join(list(fs.specs)[:12]) + ("…" if len(fs.specs) > 12 else "")
        return name, [Violation(V.UNKNOWN_TOOL,
                                f'Unknown tool "{shorten(name)}": not offered ({offered or "no tools"}).' + note)]
    if not isinstance(arguments, Mapping):
        return original, out
    spec = fs.specs[original]
    exact = fs.catalog is not None and fs.catalog.exact_schemas
    out.extend(_guarded(lambda: schema_violations(original, spec, arguments, exact=exact), original))
    cat = fs.catalog
    if cat is not None and original in cat.tools:
        from protocols.rules import mode_violations
        out.extend(_guarded(lambda: mode_violations(cat, original, arguments, fs.mode), original))
        if lint:
            out.extend(_guarded(lambda: _lints(original, arguments, tuple(cat.modes)), original))
    if note:
        out = [Violation(v.code, v.detail + note) for v in out]
    return original, out


def _lints(name: str, arguments: Mapping[str, Any], slugs: Collection[str]) -> list[Violation]:
    from protocols.lints import call_lints
    return list(call_lints(name, arguments, slugs))


def _guarded(fn: Any, tool: str) -> list[Violation]:
    """Run a third-party or rule check; a crash in it is reported, never raised out of parse."""
    try:
        return list(fn())
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001
        return [Violation(V.INVALID_PARAM_VALUE,
                          f"{tool}: arguments could not be checked: {type(e).__name__}: {shorten(str(e), 160)}")]


def count_violations(turn: Turn, catalog: Catalog | None, n_calls: int, what: str = "tool calls") -> None:
    if n_calls > 1 and catalog is not None and catalog.one_call_per_turn:
        turn.add(V.MULTIPLE_TOOL_CALLS,
                 f"{n_calls} {what} in one response; exactly one is allowed and only the first would run.")
    elif n_calls > 1 and catalog is not None and catalog.last_tools:
        for i, c in enumerate(turn.calls[:-1]):
            if c.name in catalog.last_tools:
                later = ", ".join(x.name for x in turn.calls[i + 1:])
                turn.add(V.MULTIPLE_TOOL_CALLS,
                         f"{c.name} must be the last tool call of a message; the {n_calls - i - 1} after it "
                         f"({shorten(later)}) would not run.")
                break


# -- XML written as text ----------------------------------------------------------------------

_TAG = re.compile(r"<([A-Za-z_][A-Za-z0-9_\-]{0,63})(?=[\s>/=])")


def text_markup(text: str, catalog: Catalog | None) -> str | None:
    """The first tool-looking markup in prose (`<read_file>` of a catalog tool, `<tool_call>`,
    `<function=…>`), or None. Linear: one pass over '<' positions."""
    if not text or "<" not in text:
        return None
    names = set(catalog.tools) if catalog is not None else set()
    names.update(("tool_call", "function", "use_mcp_tool"))
    for m in _TAG.finditer(text):
        if m.group(1) in names:
            end = text.find(">", m.start(), m.start() + 80)
            return text[m.start(): end + 1] if end != -1 else text[m.start(): m.end()]
    return None


# -- the protocol -----------------------------------------------------------------------------

def raw_tool_calls(message: Mapping[str, Any]) -> tuple[list[Any], str]:
    """The message's tool-call entries (tool_calls, else legacy function_call) and a note."""
    tc = message.get("tool_calls")
    if isinstance(tc, Mapping):
        return [tc], ""
    if isinstance(tc, (list, tuple)) and tc:
        return list(tc), ""
    if tc not in (None, [], ()) and not isinstance(tc, (list, tuple)):
        note = f"tool_calls is a {type(tc).__name__}, not a list"
    else:
        note = ""
    fc = message.get("function_call")
    if isinstance(fc, Mapping):
        return [{"type": "function", "function": fc}], note
    return [], note


def _tool_inputs(tools: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Every object `function_set` reads from a case's tools (each tool, its function, name,
    parameters, strict flags, description, and whether the optional keys are there), flattened."""
    out: list[Any] = []
    for raw in tools:
        out.append(raw)
        if isinstance(raw, Mapping):
            fn = raw.get("function")
            src = fn if isinstance(fn, Mapping) else raw
            out += (fn, src.get("name"), "parameters" in src, src.get("parameters"), src.get("input_schema"),
                    "strict" in src, src.get("strict"), raw.get("strict"), src.get("description"))
    return out


_TOOLS_CACHE_MAX = 4096


class FunctionSets:
    """The functions a protocol offers: its catalog's, per mode (cached), or a case's own tools
    (cached per tools list: a suite's case is parsed once per sample, with the same list)."""

    catalog: Catalog | None

    def __init__(self, catalog: Catalog | None, name: str) -> None:
        self.catalog = catalog
        self.name = name
        self._fs_cache: dict[str | None, FunctionSet] = {}
        # (id(tools), mode) -> (tools, the objects function_set read, the function set). The entry keeps
        # those objects alive, so `is` on each of them proves the list still holds what it held.
        self._tools_cache: dict[tuple[int, str | None], tuple[Any, list[Any], FunctionSet]] = {}

    def functions(self, mode: str | None = None, tools: list[dict[str, Any]] | None = None) -> FunctionSet:
        if self.catalog is not None and not tools:
            fs = self._fs_cache.get(mode)
            if fs is None:
                fs = function_set(self.catalog, mode, None)
                if len(self._fs_cache) < 256:
                    self._fs_cache[mode] = fs
            return fs
        if not isinstance(tools, (list, tuple)) or not tools:
            return function_set(self.catalog, mode, tools)
        inputs = _tool_inputs(tools)
        key = (id(tools), mode)
        hit = self._tools_cache.get(key)
        if hit is not None and hit[0] is tools and len(hit[1]) == len(inputs) \
                and all(map(operator.is_, hit[1], inputs)):
            return hit[2]
        fs = function_set(self.catalog, mode, tools)
        if len(self._tools_cache) >= _TOOLS_CACHE_MAX:
            self._tools_cache.clear()
        self._tools_cache[key] = (tools, inputs, fs)
        return fs

    # parse / parse_calls over the wire format's own `_parse(message, mode, tools, check)`
    def parse(self, message: Message, *, mode: str | None = None,
              tools: list[dict[str, Any]] | None = None) -> Turn:
        return self._parse(message, mode, tools, True)

    def parse_calls(self, message: Message, *, mode: str | None = None,
                    tools: list[dict[str, Any]] | None = None) -> list[ToolCall]:
        """The calls of `parse`, without checking names and arguments against the functions."""
        return self._parse(message, mode, tools, False).calls

    def _parse(self, message: Message, mode: str | None, tools: list[dict[str, Any]] | None,
               check: bool) -> Turn:
        raise NotImplementedError


class NativeProtocol(FunctionSets, Protocol):
    """OpenAI `tool_calls` wire format, with or without a tool catalog."""

    wire = "native"

    def __init__(self, catalog: Catalog | None, name: str = "native") -> None:
        super().__init__(catalog, name)

    # -- parsing --------------------------------------------------------------------------------
    def _parse(self, message: Message, mode: str | None, tools: list[dict[str, Any]] | None,
               check: bool) -> Turn:
        turn = Turn()
        if isinstance(message, str):
            turn.text = message
            raw_calls: list[Any] = []
            note = ""
        elif isinstance(message, Mapping):
            turn.text = safe_text(message)
            rc = message.get("reasoning_content", message.get("reasoning"))
            if isinstance(rc, str):
                turn.reasoning = rc
            raw_calls, note = raw_tool_calls(message)
        else:
            raw_calls, note = [], f"the message is a {type(message).__name__}, not an assistant message"

        fs = self.functions(mode, tools)
        roo = self.catalog is not None and self.catalog.one_call_per_turn
        skipped = 0
        for i, entry in enumerate(raw_calls):
            if not isinstance(entry, Mapping):
                skipped += 1
                continue
            fn = entry.get("function")
            if not isinstance(fn, Mapping):
                fn = entry  # tolerate a flat {name, arguments} entry
            raw_name = fn.get("name")
            call_id = entry.get("id") if isinstance(entry.get("id"), str) and entry.get("id") else None
            arguments, problem = decode_arguments(fn.get("arguments"), empty_is_object=self.catalog is not None)
            id_note = f" (tool_calls[{i}] has no id, so Roo cannot bind a native tool result to it)" \
                if roo and call_id is None else ""
            if check:
                name, vs = check_call(fs, raw_name, arguments, note=id_note)
            else:
                name, vs = resolve_name(fs, raw_name), []
            if problem is not None:
                turn.add(V.INVALID_JSON_ARGUMENTS, f"{name or f'tool_calls[{i}]'}: {problem}{id_note}")
            turn.calls.append(ToolCall(name=name, arguments=arguments, id=call_id))
            turn.violations.extend(vs)
        if skipped:
            note = (note + "; " if note else "") + f"{skipped} tool_calls entr{'y is' if skipped == 1 else 'ies are'} not objects"

        if not turn.calls:
            detail = "the response has no tool call"
            if note:
                detail += f" ({note})"
            markup = text_markup(turn.text, self.catalog)
            if markup is not None:
                detail += f"; tool markup was written as text instead of a native tool call: {shorten(markup)}"
            turn.violations.insert(0, Violation(V.NO_TOOL_CALL, detail))
        count_violations(turn, self.catalog, len(turn.calls))
        return turn

    # -- rendering ------------------------------------------------------------------------------
    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        from protocols.prompts import render_native_system
        if self.catalog is None and tools:
            return ("You may call the functions provided with this request. Use the platform's native "
                    "tool calling; do not write tool calls as text.")
        return render_native_system(self.catalog, mode, style)

    def request_tools(self, *, mode: str | None = None,
                      tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]] | None:
        """The request's `tools`: the catalog's for `mode` (plus the case's extra functions), else the
        case's own functions with wire names and JSON Schema type names. `tools` is never modified;
        the result is new lists and mappings down to what differs from it, and shares the rest (a
        schema that needs no rewriting is the case's own object): treat it as read-only."""
        if self.catalog is not None:
            from protocols.prompts import openai_tools
            out = list(openai_tools(self.catalog.tools_for_mode(mode)))
            if tools:
                fs = self.functions(mode, tools)
                extra = [t for t in fs.tool_dicts(sanitized=True)
                         if t["function"]["name"] not in {o["function"]["name"] for o in out}
                         and fs.resolve(t["function"]["name"]) not in self.catalog.tools]
                out.extend(extra)
            return out
        if not tools:
            return None
        out = []
        fs = function_set(None, mode, tools)
        for raw in tools:
            spec = spec_from_tool(raw)
            if spec is None:
                continue
            # new mappings for what changes (the tool, its function, the schema paths that
            # normalisation rewrites); the rest is shared with the case's tools, which stay unmodified
            if isinstance(raw.get("function"), Mapping):
                t = dict(raw)
                fn = dict(raw["function"])
            else:  # a bare BFCL function: wrap it
                fn = {k: v for k, v in raw.items() if k != "type"}
                t = {"type": "function"}
            fn["name"] = fs.wire.get(spec.name, spec.name)
            if isinstance(fn.get("parameters"), dict):  # BFCL type names (dict, float…) → JSON Schema
                fn["parameters"] = normalise_schema(fn["parameters"], False)
            t["function"] = fn
            out.append(t)
        return out

    def format_call(self, calls: list[ToolCall], *, text: str = "",
                    tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        fs = function_set(self.catalog, None, tools) if tools else None
        out = []
        for i, c in enumerate(calls):
            wire = fs.wire[c.name] if fs is not None and c.name in fs.wire else sanitize_name(c.name)
            args = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments, ensure_ascii=False)
            out.append({"id": f"call_{i}", "type": "function", "function": {"name": wire, "arguments": args}})
        msg: dict[str, Any] = {"role": "assistant", "content": text or None}
        if out:
            msg["tool_calls"] = out
        return msg

    def stop_sequences(self) -> list[str]:
        return []
