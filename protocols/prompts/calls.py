"""Tool calls as wire text: Roo's XML tags and Hermes `<tool_call>` blocks (training targets, examples)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The one parameter whose value keeps its inner whitespace in Roo's parser (one leading and one
# trailing newline are stripped); every other value is trimmed.
CONTENT_PARAM = "content"


# -- wire text --------------------------------------------------------------------------------


def format_xml_call(name: str, params: Mapping[str, str]) -> str:
    """Canonical XML wire text for one tool call, as Roo Code v3.29.3 reads it.

        >>> print(format_xml_call("read_file", {"path": "a.py"}))
        <read_file>
        <path>a.py</path>
        </read_file>

    `content` is written on its own lines (``<content>\\nVALUE\\n</content>``): Roo strips exactly one
    leading and one trailing newline from it, so VALUE comes back unchanged, whitespace included.
    Every other value is written verbatim between its tags.

    Round-trip limits (what Roo's parser cannot give back, so neither can this text):
      * values other than `content` are trimmed by the parser (JavaScript ``String.trim``), so a value
        with leading or trailing whitespace comes back without it;
      * a value that contains its own closing tag (``</diff>`` inside a diff) is cut at the first
        occurrence -- only write_to_file's `content` is read up to the *last* ``</content>``;
      * parameter names outside the catalog's `param_names` whitelist are not recognised at all.
    There is no escaping in this format (no entities, no CDATA), so none is applied.
    """
    lines = [f"<{name}>"]
    for key, value in params.items():
        text = "" if value is None else str(value)
        if key == CONTENT_PARAM:
            lines.append(f"<{key}>\n{text}\n</{key}>")
        else:
            lines.append(f"<{key}>{text}</{key}>")
    lines.append(f"</{name}>")
    return "\n".join(lines)


def format_hermes_call(name: str, arguments: Mapping[str, Any]) -> str:
    """One Hermes/Qwen-style call: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``."""
    body = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"
