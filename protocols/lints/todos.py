"""update_todo_list / new_task `todos`: every line must be an item Roo's checklist parser reads."""
from __future__ import annotations

import re

from protocols.lints._text import cap, short
from protocols.text import JS_WHITESPACE, js_trim


def _todo_line_ok(line: str) -> bool:
    # Roo: optional "-" and blanks, "[" blanks? one of " xX-~" blanks? "]", at least one blank, text.
    i = 0
    if line.startswith("-"):
        i = 1
        while i < len(line) and line[i] in JS_WHITESPACE:
            i += 1
    if not line.startswith("[", i):
        return False
    close = line.find("]", i + 1)
    if close < 0:
        return False
    inner = line[i + 1:close]
    core = js_trim(inner)
    if core:
        if core not in ("x", "X", "-", "~"):
            return False
    elif " " not in inner:        # the status char itself must be a plain space
        return False
    rest = line[close + 1:]
    if not rest or rest[0] not in JS_WHITESPACE:
        return False
    text = js_trim(rest)
    return bool(text) and not any(c in text for c in "\r\u2028\u2029")


_LINE_BREAK = re.compile(r"\r?\n")


def todo_problems(todos: str) -> list[str]:
    """Lines of a todo list that Roo's checklist parser would drop; [] when every item reads."""
    if not isinstance(todos, str):
        return []
    bad: list[str] = []
    items = 0
    for n, raw in enumerate(_LINE_BREAK.split(todos), 1):
        line = js_trim(raw)
        if not line:
            continue
        if _todo_line_ok(line):
            items += 1
        else:
            bad.append(f"line {n} '{short(line)}' is not a checklist item ('[ ] task', '[x] task' or '[-] task')")
    out = cap(bad)
    if not items and todos.strip():
        out.append("no checklist item at all")
    return out
