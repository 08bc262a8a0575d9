"""Rendering: tool calls into wire text, catalogs into system prompts and OpenAI `tools` entries.

Pure, deterministic functions over the catalog data (standard library only), one module per job:
`calls` (wire text), `tools` (OpenAI request entries), `system` (a prompt per wire format and style,
users' prompt files) and `roo_full` (the sections of the full Roo-like prompt). The same catalog and
mode always give byte-identical prompts.
"""
from __future__ import annotations

from protocols.prompts.calls import format_hermes_call, format_xml_call
from protocols.prompts.system import (STYLES, load_system_prompt_file, render_hermes_system, render_native_system,
                                      render_xml_system)
from protocols.prompts.tools import openai_tools, tool_to_openai

__all__ = [
    "STYLES", "format_hermes_call", "format_xml_call", "load_system_prompt_file", "openai_tools",
    "render_hermes_system", "render_native_system", "render_xml_system", "tool_to_openai",
]
