"""System prompts per wire format (XML, native, Hermes) and style, and users' exact prompt files.

Styles (`style=`):
  * ``full``    -- the sections of Roo Code v3.29.3's system prompt (`roo_full`); for native
                   protocols the XML tool catalog is left out.
  * ``compact`` -- a few hundred characters for small-context models: one line on the format, one
                   line per tool, one line on the one-call rule.
A user's exact prompt text is read with `load_system_prompt_file` (``--system-prompt-file``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from protocols.catalog import Catalog, ModeSpec
from protocols.errors import UserError
from protocols.prompts.roo_full import PromptContext, compact_signature, full_prompt

STYLES = ("full", "compact")


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise UserError(f"system prompt style {style!r}: use one of {', '.join(STYLES)} "
                        f"(or --system-prompt-file PATH for an exact prompt)")


def _resolve_mode(catalog: Catalog, mode: str | None) -> ModeSpec | None:
    """The mode to render (the catalog's default when `mode` is None); a clear error for an unknown slug."""
    if not catalog.modes:
        return None
    m = catalog.mode(mode)
    if m is None:
        wanted = mode if mode is not None else catalog.default_mode
        raise UserError(f"catalog {catalog.name!r}: unknown mode {wanted!r}; "
                        f"use one of {', '.join(catalog.modes)}")
    return m


def render_xml_system(catalog: Catalog, mode: str | None = None, style: str = "full") -> str:
    """The system prompt for an XML-wire catalog in `mode` (the catalog's default mode when None).

    Only the tools the mode offers (`catalog.tools_for_mode`) are described. Raises UserError for an
    unknown style or mode.
    """
    _check_style(style)
    m = _resolve_mode(catalog, mode)
    ctx = PromptContext(catalog, m, native=False)
    if style == "compact":
        head = "Reply with one XML tool call: <tool><param>value</param></tool>."
        if not catalog.one_call_per_turn:
            head = "Reply with XML tool calls: <tool><param>value</param></tool>."
        lines = [head] + [compact_signature(t) for t in ctx.tools]
        if catalog.one_call_per_turn:
            lines.append("One tool call per message.")
        return "\n".join(lines) + "\n"
    return full_prompt(ctx)


def render_native_system(catalog: Catalog | None, mode: str | None = None, style: str = "full") -> str:
    """The system prompt for a native (OpenAI `tool_calls`) protocol.

    With a catalog, `full` has the sections of the XML prompt but tells the model to use the platform's
    native tool calling and leaves out the XML tool catalog (the tools travel in the request);
    `compact` is one or two lines. Without a catalog (BFCL and user suites with their own functions) a
    short generic instruction is returned for either style.
    """
    _check_style(style)
    if catalog is None:
        return ("Use the functions provided with this request when one of them fits the user's request, calling "
                "them through native tool calls with arguments that follow their schemas; never write a call as "
                "text. If none fits, answer without calling a function.\n")
    m = _resolve_mode(catalog, mode)
    ctx = PromptContext(catalog, m, native=True)
    if style == "compact":
        if catalog.one_call_per_turn:
            return ("Call exactly one of the provided tools in every response, through native tool calls; never "
                    "write a call as text.\n")
        return "Call the provided tools through native tool calls; never write a call as text.\n"
    return full_prompt(ctx)


def _function_of(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    if entry.get("type") == "function" and isinstance(entry.get("function"), Mapping):
        return entry["function"]
    return entry


def render_hermes_system(tools: list[dict[str, Any]], style: str = "full") -> str:
    """A Hermes/Qwen-style prompt: the function schemas as JSON inside <tools></tools>, and the
    instruction to answer with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

    `tools` are OpenAI `tools` entries (or bare function objects). `compact` lists only names and
    parameter schemas, one JSON object per line without spaces.
    """
    _check_style(style)
    if style == "compact":
        listed = [json.dumps({"name": f.get("name"), "parameters": f.get("parameters", {})},
                             ensure_ascii=False, separators=(",", ":"))
                  for f in (_function_of(t) for t in tools)]
        return ("Call functions with <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call>.\n"
                "<tools>\n" + "\n".join(listed) + "\n</tools>\n")
    listed = [json.dumps(t if t.get("type") == "function" else {"type": "function", "function": t},
                         ensure_ascii=False) for t in tools]
    return ("You can call functions to help with the user's request. Their signatures, as JSON Schema, are listed "
            "inside <tools></tools>:\n"
            "<tools>\n" + "\n".join(listed) + "\n</tools>\n\n"
            "To call a function, write a JSON object with its name and its arguments inside "
            "<tool_call></tool_call> tags:\n"
            "<tool_call>\n{\"name\": \"function_name\", \"arguments\": {\"parameter\": \"value\"}}\n</tool_call>\n"
            "Write one <tool_call> block per call, with arguments that follow the function's schema. If no "
            "function fits the request, answer in plain text without a <tool_call> block.\n")


def load_system_prompt_file(path: str) -> str:
    """The exact text of a user's system-prompt file (``--system-prompt-file``), unchanged.

    Raises UserError naming the path when the file is missing, unreadable, not UTF-8 or empty.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: system prompt file not found; pass the path of a text file with the exact "
                        f"prompt") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a system prompt file") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: system prompt file is not valid UTF-8 (byte {e.start})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read system prompt file: {e.strerror or e}") from None
    if not text.strip():
        raise UserError(f"{path}: system prompt file is empty")
    return text
