"""Values: template filling and the parameter values of a task's `call`, before any wire format.

Templates hold {SLOT}, {SLOT.field} and {SLOT|filter} (filters: block, choices, steps, edits, json,
quote); {{ and }} are literal braces.

VALUE (how a parameter's reference value and its expectation are built)
    "TEMPLATE"                     a string; expected exactly ({const})
    {text: TEMPLATE}               multi-line text; expected line by line, tolerating trailing blanks
    {free: TEMPLATE}               any non-empty string is fine (the reference uses the template)
    {files: [{path: T, ranges: [T, ...]}, ...]}   read_file's files (XML `args` / native `files`)
    {follow_up: SLOT}              SLOT = {question, options: [text | {text, mode}]}
    {todos: SLOT}                  SLOT = checklist lines "[x] done", "[-] doing", "[ ] to do"
    {diff: SLOT}                   SLOT = {path, blocks: [{line, search, replace, stale?}]}
    {json: SLOT}                   a JSON object written as text (use_mcp_tool arguments)
    {line_count: SLOT}             the number of lines of a text value
    {flag: true|false}             a boolean ("true"/"false" in XML; false may be left out)
    {point: [X, Y], screen: "WxH"} browser coordinate (XML "x,y"; native "x,y@WxH")
    {size: [W, H]}                 browser viewport size
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.suite.generate.spec import SpecError


@dataclass(frozen=True)
class Value:
    """A parameter value before it is written in a wire format."""

    kind: str   # str text free files follow_up todos diff json count flag point size null
    data: Any


_SLOT_RE = re.compile(r"\{([A-Za-z_]\w*(?:\.\w+)*)(?:\|(\w+))?\}")


def lookup(values: Mapping[str, Any], dotted: str, where: str) -> Any:
    head, *rest = dotted.split(".")
    if head not in values:
        raise SpecError(f"{where}: unknown slot '{head}' (slots: {', '.join(values) or 'none'})")
    v = values[head]
    for r in rest:
        if isinstance(v, Mapping) and r in v:
            v = v[r]
        elif isinstance(v, list) and r.isdigit() and int(r) < len(v):
            v = v[int(r)]
        else:
            raise SpecError(f"{where}: slot '{head}' has no field '{r}'")
    return v


def _mode_label(slug: str | None, catalog: Any) -> str:
    if slug and catalog is not None and slug in getattr(catalog, "modes", {}):
        name = catalog.modes[slug].name
        plain = re.sub(r"^[^\w]+\s*", "", name).strip()
        return f"{plain or slug} mode"
    return f"{slug} mode"


def _filter(v: Any, name: str | None, where: str, catalog: Any) -> str:
    if name is None:
        if isinstance(v, (dict, list)):
            raise SpecError(f"{where}: a structured value needs a field or a filter, e.g. {{slot.path}} or {{slot|json}}")
        return str(v)
    if name == "block":   # a fence longer than any backtick run inside the value
        runs = [len(r) for r in re.findall(r"`+", str(v))]
        fence = "`" * max(3, max(runs, default=0) + 1)
        return f"{fence}\n{v}\n{fence}"
    if name == "quote":   # quotes the value does not contain
        t = str(v)
        if '"' not in t:
            return f'"{t}"'
        if "'" not in t:
            return f"'{t}'"
        return f"`{t}`"
    if name == "json":
        return json.dumps(v, ensure_ascii=False)
    if name == "choices":
        opts = _options(v, where)
        parts = []
        for text, mode in opts:
            parts.append(f'"{text}"' + (f" (this one switches to {_mode_label(mode, catalog)})" if mode else ""))
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    if name == "steps":
        words = {" ": "to do", "x": "done", "X": "done", "-": "in progress", "~": "in progress"}
        lines = []
        for mark, text in _todo_items(v, where):
            lines.append(f"- {text} ({words[mark]})")
        return "\n".join(lines)
    if name == "edits":
        blocks = diff_blocks(v, where)
        out = []
        for n, b in enumerate(blocks, 1):
            head = f"{n}. " if len(blocks) > 1 else ""
            out.append(f"{head}At line {b['line']}, replace\n```\n{b['search']}\n```\nwith\n```\n{b['replace']}\n```")
        return "\n".join(out)
    raise SpecError(f"{where}: unknown filter '{name}' (filters: block, choices, edits, json, quote, steps)")


def fill(template: str, values: Mapping[str, Any], where: str = "template", catalog: Any = None) -> str:
    """Substitute {slot}, {slot.field} and {slot|filter} in a template; {{ and }} are literal braces."""
    if not isinstance(template, str):
        raise SpecError(f"{where}: a template must be a string, not {type(template).__name__}")
    t = template.replace("{{", "\x00").replace("}}", "\x01")

    def sub(m: re.Match[str]) -> str:
        return _filter(lookup(values, m.group(1), where), m.group(2), where, catalog)

    out = _SLOT_RE.sub(sub, t)
    if "{" in out.replace("\x00", "") or "}" in out.replace("\x01", ""):
        # a brace that is not a slot: only values may carry braces, so check the template itself
        rest = _SLOT_RE.sub("", t)
        if "{" in rest or "}" in rest:
            raise SpecError(f"{where}: unbalanced or malformed {{slot}} in {template[:60]!r} (write {{{{ for a brace)")
    return out.replace("\x00", "{").replace("\x01", "}")


def _options(v: Any, where: str) -> list[tuple[str, str | None]]:
    opts = v.get("options") if isinstance(v, Mapping) else v
    if not isinstance(opts, list) or not 1 <= len(opts) <= 4:
        raise SpecError(f"{where}: a follow-up needs 'options', a list of 1 to 4 answers")
    out = []
    for o in opts:
        if isinstance(o, Mapping):
            out.append((str(o["text"]), str(o["mode"]) if o.get("mode") else None))
        else:
            out.append((str(o), None))
    return out


_TODO_LINE = re.compile(r"^\s*-?\s*\[([ xX\-~])\]\s+(.+?)\s*$")


def _todo_items(v: Any, where: str) -> list[tuple[str, str]]:
    items = v.get("items") if isinstance(v, Mapping) else v
    if isinstance(items, str):
        items = items.splitlines()
    if not isinstance(items, list) or not items:
        raise SpecError(f"{where}: a todo list must be a non-empty list of lines like '[x] done item'")
    out = []
    for line in items:
        m = _TODO_LINE.match(str(line))
        if not m:
            raise SpecError(f"{where}: todo line {line!r} is not '[ ] text', '[x] text' or '[-] text'")
        out.append((m.group(1), m.group(2)))
    return out


def diff_blocks(v: Any, where: str) -> list[dict[str, Any]]:
    blocks = v.get("blocks") if isinstance(v, Mapping) else None
    if not isinstance(blocks, list) or not blocks:
        raise SpecError(f"{where}: a diff value needs 'blocks': [{{line, search, replace}}, ...]")
    for b in blocks:
        if not isinstance(b, Mapping) or not {"line", "search", "replace"} <= set(b):
            raise SpecError(f"{where}: each diff block needs line, search and replace")
    return [dict(b) for b in blocks]


def _count_lines(text: str) -> int:
    return len(text.split("\n"))


def build_value(spec: Any, values: Mapping[str, Any], where: str, catalog: Any = None) -> Value:
    """A VALUE of a task's `call` (VALUE in the module doc) with the slots filled in."""
    if spec is None:
        return Value("null", None)
    if isinstance(spec, str):
        return Value("str", fill(spec, values, where, catalog))
    if isinstance(spec, bool):
        return Value("flag", spec)
    if not isinstance(spec, Mapping) or len({k for k in spec if k not in ("screen",)}) != 1:
        raise SpecError(f"{where}: a parameter value is a template string or a one-key mapping "
                        f"(text, free, files, follow_up, todos, diff, json, line_count, int, flag, point, size)")
    (key, arg), = ((k, v) for k, v in spec.items() if k != "screen")
    if key == "text":
        return Value("text", fill(arg, values, where, catalog))
    if key == "free":
        return Value("free", fill(arg, values, where, catalog))
    if key == "files":
        if not isinstance(arg, list) or not arg:
            raise SpecError(f"{where}: files must be a list of {{path, ranges}}")
        files = []
        for f in arg:
            path = fill(f["path"], values, where, catalog)
            ranges = []
            for r in f.get("ranges") or []:
                txt = fill(r, values, where, catalog)
                m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", txt)
                if not m:
                    raise SpecError(f"{where}: a line range must look like 10-20, not {txt!r}")
                ranges.append((int(m.group(1)), int(m.group(2))))
            files.append((path, tuple(ranges)))
        return Value("files", tuple(files))
    if key in ("follow_up", "todos", "diff", "json", "line_count"):
        v = lookup(values, str(arg), where)
        if key == "follow_up":
            return Value("follow_up", tuple(_options(v, where)))
        if key == "todos":
            return Value("todos", tuple(_todo_items(v, where)))
        if key == "diff":
            return Value("diff", tuple((int(b["line"]), str(b["search"]), str(b["replace"])) for b in diff_blocks(v, where)))
        if key == "json":
            if not isinstance(v, Mapping):
                raise SpecError(f"{where}: json needs a slot holding a mapping")
            return Value("json", json.loads(json.dumps(v)))
        return Value("count", _count_lines(v if isinstance(v, str) else str(v)))
    if key == "int":   # an integer argument (native protocols), e.g. {int: "{r.0}"}
        txt = fill(str(arg), values, where, catalog).strip()
        if not re.fullmatch(r"-?\d+", txt):
            raise SpecError(f"{where}: int needs an integer, not {txt!r}")
        return Value("count", int(txt))
    if key == "flag":
        if isinstance(arg, str):
            arg = fill(arg, values, where, catalog).strip().lower() == "true"
        return Value("flag", bool(arg))
    if key == "point":
        x, y = (int(fill(str(a), values, where, catalog)) for a in arg)
        w, h = (int(n) for n in str(spec.get("screen", "900x600")).split("x"))
        return Value("point", (x, y, w, h))
    if key == "size":
        w, h = (int(fill(str(a), values, where, catalog)) for a in arg)
        return Value("size", (w, h))
    raise SpecError(f"{where}: unknown value kind '{key}'")


__all__ = ["Value", "build_value", "diff_blocks", "fill", "lookup"]
