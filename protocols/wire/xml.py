"""XML tool tags in the assistant text (Roo Code v3.29.3 and user catalogs in the same style).

Calls are exactly what Roo's scanner yields (protocols.wire.roo_scanner); adherence violations are added
on top. Only the first call is checked for parameters and rules: it is the one Roo executes, and the
others are already a `multiple_tool_calls` violation.
"""
from __future__ import annotations

import re
from typing import Any

from protocols import lints
from protocols import prompts as render
from protocols import violations as V
from protocols.base import GenerationLimits, Message, Protocol, safe_text
from protocols.catalog import Catalog
from protocols.rules import mode_violations
from protocols.text import shorten
from protocols.types import ToolCall, Turn
from protocols.wire.roo_scanner import MAX_MESSAGE, Block, scan, split_leading_think, utf16_len

# A trailing markdown fence closing a fenced call changes nothing in Roo (the stream is cut at the
# tool), so it is not reported as text after the call.
_FENCE_ONLY = re.compile(r"^(?:`{3,}|~{3,})\s*$")
_TAGLIKE = re.compile(r"<([A-Za-z_][\w.-]{0,63})>")


class XmlProtocol(Protocol):
    wire = "xml"

    def __init__(self, catalog: Catalog, name: str, dialect: str = "roo") -> None:
        self.catalog = catalog
        self.name = name
        self.dialect = dialect   # "roo": Roo v3.29.3's scanner; "cline": Cline's (protocols.wire.cline_xml)
        self._tool_names = tuple(catalog.tools)
        self._param_names = catalog.param_names or tuple(
            dict.fromkeys(p for t in catalog.tools.values() for p in t.param_names))
        self._limits: dict[str | None, GenerationLimits] = {}

    # -- parsing ------------------------------------------------------------------------------
    def blocks(self, text: str) -> tuple[str, list[Block]]:
        """(reasoning, blocks): the leading <think> block is routed away before scanning, as Roo does."""
        if self.dialect == "cline":
            from protocols.wire.cline_xml import scan_cline
            return "", scan_cline(text, self._tool_names, self._param_names)
        reasoning, body = split_leading_think(text)
        return reasoning, scan(body, self._tool_names, self._param_names)

    def parse(self, message: Message, *, mode: str | None = None,
              tools: list[dict[str, Any]] | None = None) -> Turn:
        text = safe_text(message)
        reasoning, blocks = self.blocks(text)
        tool_blocks: list[Block] = []
        texts: list[str] = []
        first_tool = lead = None    # indexes of the first tool block and of the first non-empty text block
        for i, b in enumerate(blocks):
            if b.kind == "tool":
                if first_tool is None:
                    first_tool = i
                tool_blocks.append(b)
            elif b.content:
                if lead is None:
                    lead = i
                texts.append(b.content)
        turn = Turn(calls=[ToolCall(b.name, dict(b.params), closed=b.closed) for b in tool_blocks],
                    text="\n\n".join(texts), reasoning=reasoning)

        if self.dialect == "roo" and utf16_len(text) > MAX_MESSAGE:
            turn.add(V.MESSAGE_TOO_LARGE, f"{utf16_len(text)} UTF-16 units; Roo rejects messages over 1 MiB")
        if not tool_blocks:
            turn.add(V.NO_TOOL_CALL, self._why_no_call(text, reasoning))
        if len(tool_blocks) > 1:
            turn.add(V.MULTIPLE_TOOL_CALLS,
                     f"{len(tool_blocks)} calls ({', '.join(b.name for b in tool_blocks[:5])}); only the first runs")
        if first_tool is not None:
            after = next((b.content for b in blocks[first_tool + 1:]
                          if b.kind == "text" and b.content and not _FENCE_ONLY.match(b.content)), None)
            if after is not None:
                turn.add(V.TEXT_AFTER_TOOL_CALL, shorten(after, 120))
        if lead is not None and (first_tool is None or lead < first_tool):
            problem = lints.opener_problem(blocks[lead].content)
            if problem:
                turn.add(V.CONVERSATIONAL_OPENER, problem)
        if tool_blocks:
            self._check_call(turn, tool_blocks[0], mode)
        return turn

    def _check_call(self, turn: Turn, block: Block, mode: str | None) -> None:
        spec = self.catalog.tools.get(block.name)
        params = block.params
        if not block.closed:
            if block.open_param:
                turn.add(V.UNCLOSED_TOOL, f"<{block.open_param}> of {block.name} is never closed; "
                                          f"it swallowed the rest of the message")
            else:
                turn.add(V.UNCLOSED_TOOL, f"</{block.name}> is missing")
        for p in dict.fromkeys(block.abandoned_params):
            turn.add(V.INVALID_PARAM_VALUE, f"{block.name}.{p} exceeds Roo's 100 KiB parameter limit and was cut")
        if spec is None:  # cannot happen for the scanner's own names; kept for custom catalogs
            turn.add(V.UNKNOWN_TOOL, block.name)
            return
        documented = set(spec.param_names)
        for req in spec.required:
            if req in params and params[req].strip():
                continue
            if block.name == "read_file" and req == "args" and params.get("path", "").strip():
                continue  # legacy single-path form, still accepted by Roo v3.29.3
            turn.add(V.MISSING_REQUIRED_PARAM, f"{block.name}: missing value for required parameter '{req}'")
        legacy_read = {"path", "start_line", "end_line"} if block.name == "read_file" else set()
        for p in params:
            if p not in documented and p not in legacy_read:
                turn.add(V.UNEXPECTED_PARAM, f"{block.name}: <{p}> is not a parameter of this tool")
        # one violation however often the model repeats it (adversarial output can hold thousands)
        stray = list(dict.fromkeys(m.group(1) for junk in block.discarded for m in [_TAGLIKE.search(junk)] if m)) \
            if block.discarded else ()
        if stray:
            shown = ", ".join(f"<{t}>" for t in stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
            turn.add(V.UNEXPECTED_PARAM, f"{block.name}: unknown parameter tag {shown}; Roo discards it")
        props = spec.parameters.get("properties", {})
        for p, value in params.items():
            problem = _string_value_problem(props.get(p), value)
            if problem:
                turn.add(V.INVALID_PARAM_VALUE, f"{block.name}.{p}: {problem}")
        turn.violations.extend(mode_violations(self.catalog, block.name, params, mode))
        turn.violations.extend(lints.call_lints(block.name, params, tuple(self.catalog.modes)))

    def _why_no_call(self, text: str, reasoning: str) -> str:
        if not text.strip():
            return "empty response"
        if reasoning and any(f"<{t}>" in reasoning for t in self._tool_names):
            return "the tool call is inside the leading <think> block, which Roo never executes"
        m = _TAGLIKE.search(text)
        if m and m.group(1) not in self._param_names and m.group(1) not in ("think", "thinking"):
            return f"<{m.group(1)}> is not a tool of this protocol (tags are exact and case-sensitive)"
        return "no tool tag in the answer"

    # -- rendering ----------------------------------------------------------------------------
    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        return render.render_xml_system(self.catalog, mode, style)

    def generation_limits(self, *, mode: str | None = None,
                          tools: list[dict[str, Any]] | None = None) -> GenerationLimits:
        """The closing tags of the tools offered in `mode` (catalog order): the answer ends after its
        first call. A tool whose name is also a parameter name is left out (its closing tag can occur
        inside another call)."""
        hit = self._limits.get(mode)
        if hit is None:
            params = set(self._param_names)
            stop = tuple(f"</{t}>" for t in self.catalog.tool_names_for_mode(mode) if t not in params)
            hit = self._limits[mode] = GenerationLimits(stop, None, stop_closes=True)
        return hit

    def format_call(self, calls: list[ToolCall], *, text: str = "") -> dict[str, Any]:
        parts = [text.strip()] if text.strip() else []
        for c in calls:
            args = c.arguments if isinstance(c.arguments, dict) else {}
            parts.append(render.format_xml_call(c.name, {k: str(v) for k, v in args.items()}))
        return {"role": "assistant", "content": "\n\n".join(parts)}


def _string_value_problem(schema: Any, value: str) -> str | None:
    """XML values are strings: only `enum` and `pattern` of the catalog schema can be checked."""
    if not isinstance(schema, dict) or not value.strip():
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{shorten(value, 40)!r} is not one of {', '.join(map(str, enum))}"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        rx = _PATTERNS.get(pattern)
        if rx is None:
            try:
                rx = _PATTERNS[pattern] = re.compile(pattern)
            except re.error:
                return None
        if rx.search(value) is None:
            return f"{shorten(value, 40)!r} does not match {pattern}"
    return None


_PATTERNS: dict[str, re.Pattern[str]] = {}
