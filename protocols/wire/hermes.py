"""Hermes / Qwen style tool calls written in the assistant text, for servers without a tool-call parser:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Several blocks may follow each other (parallel calls); prose around them is allowed. `arguments` may be
an object or a JSON string holding one. A leading `<think>…</think>` block is reasoning and is never
scanned. An unclosed final block is still decoded (and flagged). Names, schemas, mode rules and lints
are checked exactly as for the native wire format (shared helpers in `protocols.wire.native`).

Linear time: the scanner only uses `str.find` from a moving position.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from protocols import violations as V
from protocols.base import Message, Protocol, safe_text
from protocols.catalog import Catalog
from protocols.text import shorten
from protocols.types import ToolCall, Turn, Violation
from protocols.wire.arguments import decode_arguments
from protocols.wire.names import resolve_name
from protocols.wire.native import (FunctionSets, check_call, count_violations, raw_tool_calls, spec_from_tool,
                                   text_markup)

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# Recover the name from a block whose JSON does not decode: `"name": "…"` (alternatives are disjoint,
# so the match cannot backtrack badly).
_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\\n]|\\.){0,200})"')


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, rest). A `<think>` block opening the message (after whitespace) is reasoning; an
    unclosed one swallows the message. A message that starts inside the reasoning (the chat template
    opened `<think>`, so the text holds only `…</think>`) is handled too."""
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        end = stripped.find(THINK_CLOSE, len(THINK_OPEN))
        if end == -1:
            return stripped[len(THINK_OPEN):], ""
        return stripped[len(THINK_OPEN):end], stripped[end + len(THINK_CLOSE):]
    end = text.find(THINK_CLOSE)
    if end != -1 and text.find(THINK_OPEN, 0, end) == -1 and text.find(OPEN, 0, end) == -1:
        return text[:end], text[end + len(THINK_CLOSE):]
    return "", text


def scan_blocks(text: str) -> tuple[list[tuple[str, bool]], str]:
    """([(block body, closed)], prose outside the blocks)."""
    blocks: list[tuple[str, bool]] = []
    prose: list[str] = []
    pos = 0
    n = len(text)
    while pos <= n:
        i = text.find(OPEN, pos)
        if i == -1:
            prose.append(text[pos:])
            break
        prose.append(text[pos:i])
        start = i + len(OPEN)
        j = text.find(CLOSE, start)
        if j == -1:
            blocks.append((text[start:], False))
            break
        blocks.append((text[start:j], True))
        pos = j + len(CLOSE)
    return blocks, "".join(prose)


def decode_block(body: str) -> tuple[Any, dict[str, Any] | str, str | None]:
    """(name, arguments, problem) for one block body. On a problem the arguments are the raw text
    and the name is whatever could be recovered ("" when nothing could)."""
    raw = body.strip()
    if raw == "":
        return "", raw, "the <tool_call> block is empty"
    obj, problem = decode_arguments(raw)
    if problem is not None or not isinstance(obj, dict):
        m = _NAME.search(raw)
        name = ""
        if m:
            try:
                name = json.loads(f'"{m.group(1)}"')
            except ValueError:
                name = m.group(1)
        return name, raw, (problem or "the block is not a JSON object").replace("arguments are", "the block is")
    name = obj.get("name")
    if "arguments" in obj:
        args_raw = obj["arguments"]
    elif "parameters" in obj:
        args_raw = obj["parameters"]
    else:
        args_raw = {}
    args, problem = decode_arguments(args_raw)
    return name, args, problem


class HermesProtocol(FunctionSets, Protocol):
    """`<tool_call>{json}</tool_call>` blocks in the assistant text."""

    wire = "hermes"

    def __init__(self, catalog: Catalog | None, name: str = "hermes") -> None:
        super().__init__(catalog, name)

    def _parse(self, message: Message, mode: str | None, tools: list[dict[str, Any]] | None,
               check: bool) -> Turn:
        turn = Turn()
        structured: list[Any] = []
        if isinstance(message, str):
            text = message
        elif isinstance(message, Mapping):
            text = safe_text(message)
            rc = message.get("reasoning_content", message.get("reasoning"))
            if isinstance(rc, str):
                turn.reasoning = rc
            structured, _ = raw_tool_calls(message)
        else:
            text = ""
        reasoning, body = split_reasoning(text)
        if reasoning:
            turn.reasoning = (turn.reasoning + "\n" + reasoning) if turn.reasoning else reasoning
        blocks, prose = scan_blocks(body)
        turn.text = prose.strip()
        fs = self.functions(mode, tools)

        for body_text, closed in blocks:
            raw_name, arguments, problem = decode_block(body_text)
            shown = raw_name if isinstance(raw_name, str) else ""
            if problem is not None and not shown:
                name, vs = "", []   # nothing to resolve: the JSON problem says it all
            else:
                name, vs = check_call(fs, raw_name, arguments) if check else (resolve_name(fs, raw_name), [])
            if problem is not None:
                turn.add(V.INVALID_JSON_ARGUMENTS, f"{name or '<tool_call>'}: {problem}")
            if not closed:
                turn.add(V.UNCLOSED_TOOL, f"{name or '<tool_call>'}: the last {OPEN} has no {CLOSE}")
            turn.calls.append(ToolCall(name=name, arguments=arguments, closed=closed))
            turn.violations.extend(vs)

        if not blocks and structured:
            # The server already extracted the blocks into tool_calls (a hermes tool parser is on).
            for entry in structured:
                if not isinstance(entry, Mapping):
                    continue
                fn = entry.get("function") if isinstance(entry.get("function"), Mapping) else entry
                arguments, problem = decode_arguments(fn.get("arguments"))
                name, vs = check_call(fs, fn.get("name"), arguments) if check else (resolve_name(fs, fn.get("name")), [])
                if problem is not None:
                    turn.add(V.INVALID_JSON_ARGUMENTS, f"{name or 'tool_calls'}: {problem}")
                cid = entry.get("id")
                turn.calls.append(ToolCall(name=name, arguments=arguments,
                                           id=cid if isinstance(cid, str) else None))
                turn.violations.extend(vs)

        if not turn.calls:
            detail = f"the response has no {OPEN} block"
            if OPEN in reasoning:
                detail += f"; a {OPEN} inside the leading <think> block is reasoning and never runs"
            else:
                markup = text_markup(body, self.catalog)
                if markup is not None:
                    detail += f"; other tool markup was written instead: {shorten(markup)}"
            turn.violations.insert(0, Violation(V.NO_TOOL_CALL, detail))
        count_violations(turn, self.catalog, len(turn.calls))
        return turn

    # -- rendering ------------------------------------------------------------------------------
    def tool_dicts(self, mode: str | None = None, tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The offered functions as OpenAI tool dicts under their original names (text has no
        naming limits, so nothing is sanitised)."""
        if self.catalog is not None:
            from protocols.prompts import openai_tools
            out = list(openai_tools(self.catalog.tools_for_mode(mode)))
            if tools:
                have = {t["function"]["name"] for t in out if isinstance(t.get("function"), Mapping)}
                out.extend(t for t in self.functions(mode, tools).tool_dicts(sanitized=False)
                           if t["function"]["name"] not in have
                           and t["function"]["name"] not in self.catalog.tools)
            return out
        out = []
        for raw in tools or []:
            spec = spec_from_tool(raw)
            if spec is None:
                continue
            if isinstance(raw.get("function"), Mapping):
                out.append(dict(raw))
            else:
                out.append({"type": "function", "function": {k: v for k, v in raw.items() if k != "type"}})
        return out

    def render_system(self, *, mode: str | None = None, style: str = "full",
                      tools: list[dict[str, Any]] | None = None) -> str:
        from protocols.prompts import render_hermes_system
        return render_hermes_system(self.tool_dicts(mode, tools), style)

    def format_call(self, calls: list[ToolCall], *, text: str = "") -> dict[str, Any]:
        from protocols.prompts import format_hermes_call
        parts = [text] if text else []
        for c in calls:
            args: Any = c.arguments
            if isinstance(args, str):
                decoded, problem = decode_arguments(args)
                args = decoded if problem is None else {}
            parts.append(format_hermes_call(c.name, dict(args)))
        return {"role": "assistant", "content": "\n".join(parts)}

    def stop_sequences(self) -> list[str]:
        return []
