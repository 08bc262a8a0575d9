"""Regular expressions for expectations: a value's JSON-Schema `pattern`, tolerant where Roo is.

JSON Schema patterns are ECMA-262, so only the syntax both it and Python's `re` accept is used.
Multi-line values are matched line by line up to trailing blanks; file lists, follow-up suggestions,
todo lists, SEARCH/REPLACE diffs and JSON text each get a pattern that accepts the layouts the
protocol's parser accepts and nothing else.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


_RX_SPECIAL = set("\\^$.|?*+()[]{}")


def rx(s: str) -> str:
    """`s` as a regex literal (JSON Schema patterns are ECMA-262; only the syntax both accept)."""
    out = []
    for ch in s:
        if ch in _RX_SPECIAL:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


_EOL = "[ \\t]*\\r?\\n"


def lines_pattern(text: str) -> str:
    """Lines in order, each exact up to trailing blanks; blank lines around the whole are tolerated."""
    body = _EOL.join(rx(line.rstrip(" \t")) for line in text.split("\n"))
    return f"^(?:[ \\t]*\\r?\\n)*{body}[ \\t\\r\\n]*$"


def files_pattern(files: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]) -> str:
    ws = "\\s*"
    parts = []
    for path, ranges in files:
        inner = f"<path>{ws}{rx(path)}{ws}</path>"
        for a, b in ranges:
            inner += f"{ws}<line_range>{ws}{a}{ws}-{ws}{b}{ws}</line_range>"
        parts.append(f"<file>{ws}{inner}{ws}</file>")
    return "^" + ws + ws.join(parts) + ws + "$"


def follow_up_pattern(options: tuple[tuple[str, str | None], ...]) -> str:
    looks = []
    for text, mode in options:
        if mode:
            tag = f"<suggest\\s+mode\\s*=\\s*\"{rx(mode)}\"\\s*>"
        else:
            tag = "<suggest>"
        looks.append(f"(?=[\\s\\S]*{tag}\\s*{rx(text)}\\s*</suggest>)")
    n = len(options)
    too_many = f"(?!(?:[\\s\\S]*?<suggest[\\s>]){{{n + 1}}})"
    return "^" + "".join(looks) + too_many + "[\\s\\S]*$"


_MARK_RX = {" ": "\\[ \\]", "x": "\\[[xX]\\]", "X": "\\[[xX]\\]", "-": "\\[[-~]\\]", "~": "\\[[-~]\\]"}


def todos_pattern(items: tuple[tuple[str, str], ...]) -> str:
    lines = [f"[ \\t]*(?:-[ \\t]*)?{_MARK_RX[m]}[ \\t]+{rx(t)}[ \\t]*" for m, t in items]
    return "^[ \\t\\r\\n]*" + "\\r?\\n[ \\t\\r\\n]*".join(lines) + "[ \\t\\r\\n]*$"


def diff_pattern(blocks: tuple[tuple[int, str, str], ...]) -> str:
    def lines(text: str) -> list[str]:
        return [rx(x.rstrip(" \t")) for x in text.split("\n")]

    parts = []
    for line, search, replace in blocks:
        seq = ["<<<<<<< SEARCH", f":start_line:[ \\t]*{line}", "-------"] + lines(search) + ["======="] \
            + lines(replace) + [">>>>>>> REPLACE"]
        parts.append(_EOL.join(seq))
    between = f"{_EOL}(?:[ \\t]*\\r?\\n)*"
    return "^[ \\t\\r\\n]*" + between.join(parts) + "[ \\t\\r\\n]*$"


def _json_tokens(v: Any) -> list[str]:
    if isinstance(v, Mapping):
        toks = ["{"]
        for i, (k, w) in enumerate(v.items()):
            if i:
                toks.append(",")
            toks += [json.dumps(k, ensure_ascii=False), ":"] + _json_tokens(w)
        return toks + ["}"]
    if isinstance(v, list):
        toks = ["["]
        for i, w in enumerate(v):
            if i:
                toks.append(",")
            toks += _json_tokens(w)
        return toks + ["]"]
    return [json.dumps(v, ensure_ascii=False)]


def json_pattern(v: Any) -> str:
    return "^\\s*" + "\\s*".join(rx(t) for t in _json_tokens(v)) + "\\s*$"


__all__ = ["diff_pattern", "files_pattern", "follow_up_pattern", "json_pattern", "lines_pattern", "rx", "todos_pattern"]
