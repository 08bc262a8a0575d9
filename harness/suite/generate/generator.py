"""The seeded suite generator: a spec (YAML, under suites/specs/) -> cases with train/test splits.

A spec is data: value pools, and tasks that say how to build a request and its reference call from
values drawn from the pools. This module knows the wire formats (through the protocol's own
`format_call`) and how to turn each kind of value into a JSON-Schema expectation.

    cases = generate("roo-core", seed=7)          # a shipped spec by name, or a path, or a mapping

Spec (top level)
    name, description, protocol (roo-xml | roo-native | ...), mode (default mode slug), seed (the
    default seed), test_fraction, environment (full | short: the <environment_details> block),
    extends (another spec to start from; its pools merge, its tasks are kept unless replaced),
    skip_unavailable (drop tasks whose tool the protocol does not offer in the task's mode),
    feedback (recovery messages), pools, tasks.

Pools
    NAME: [values...]                    a value is a string or a mapping (structured values)
    NAME: {product: [[a, b], [c, d]]}    every concatenation a+c, a+d, b+c, b+d
    NAME: {range: [LO, HI]}              integers LO..HI

Tasks
    name        unique; case ids are NAME-001, NAME-002, ...
    tool        the tool the reference calls
    count       how many cases
    mode        overrides the spec's mode
    tags        extra tags (the tool name and the mode are always tags)
    slots       {SLOT: POOL name | [inline values]}; slots that share a pool get distinct values
    templates   request texts with {SLOT}, {SLOT.field} and {SLOT|filter} (filters: block, choices,
                steps, edits, json, quote); {{ and }} are literal braces
    call        {PARAM: VALUE} in the tool's parameter order (see VALUE below)
    kind        call (default) | recovery
    recovery:   failure (no_tool | missing_param | not_allowed | file_restricted | diff_mismatch |
                diff_malformed), prose (texts of a reply without a tool, for no_tool), missing
                (the parameter left out, for missing_param), attempt ({tool, call}: the refused call)

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

Near-duplicates and the split (no leakage)
    Two cases are near-duplicates when any of these holds:
      (a) they come from the same task family (tool, mode, recovery failure) and were built from the
          same normalised slot values (case-folded, whitespace collapsed; the template is ignored),
          i.e. the same request content in other words;
      (b) their conversation text is the same after removing <environment_details>, case-folding,
          masking every digit and collapsing whitespace (the same request with other numbers);
      (c) they come from the same task family and template and expect the same normalised
          arguments (so a test case's (template, argument values) never occurs in train).
    Near-duplicate relations are closed transitively (union-find) and each group goes whole to one
    split, chosen per task with a seeded shuffle so that about `test_fraction` of each task is test.
    So no test case has a near-duplicate in train. `leakage(cases)` recomputes the keys and lists
    any test case that shares one with a train case; tests/harness/test_generator.py asserts it is empty.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from harness.suite.model import Case, Expect, ExpectedCall
from harness.errors import UserError

GENERATOR_VERSION = 1
SPEC_EXTS = (".yaml", ".yml")
FAILURES = ("no_tool", "missing_param", "not_allowed", "file_restricted", "diff_mismatch", "diff_malformed")


class SpecError(UserError):
    """A generator spec is unreadable or inconsistent; the message names the spec and the task."""


# -- specs ------------------------------------------------------------------------------------------

def list_specs() -> list[str]:
    base = resources.files("suites").joinpath("specs")
    try:
        entries = list(base.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e.name.rsplit(".", 1)[0] for e in entries if e.name.endswith(SPEC_EXTS) and e.is_file())


def _read_spec(name_or_path: str | os.PathLike[str], *, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    import yaml
    s = os.fspath(name_or_path)
    p = Path(s)
    if p.is_file():
        where, text = s, p.read_text(encoding="utf-8")
        base_dir: Path | None = p.parent
        ref = s
    else:
        stem = s[:-5] if s.endswith(".yaml") else s[:-4] if s.endswith(".yml") else s
        t = None
        if "/" not in stem and "\\" not in stem and stem:
            for ext in SPEC_EXTS:
                cand = resources.files("suites").joinpath("specs", stem + ext)
                if cand.is_file():
                    t = cand
                    break
        if t is None:
            raise SpecError(f"{s}: no such spec file, and no shipped spec has that name "
                            f"(shipped: {', '.join(list_specs()) or 'none'})")
        where, text = str(t), t.read_text(encoding="utf-8")
        base_dir = None
        ref = stem
    if where in _seen:
        raise SpecError(f"{where}: 'extends' loops back to itself")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        line = (e.problem_mark.line + 1) if e.problem_mark else 1
        raise SpecError(f"{where}:{line}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{where}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a spec must be a mapping (name, protocol, pools, tasks)")
    if data.get("extends"):
        parent_ref = str(data["extends"])
        if base_dir is not None and (base_dir / parent_ref).is_file():
            parent_ref = str(base_dir / parent_ref)
        parent = _read_spec(parent_ref, _seen=_seen + (where,))
        merged = {k: v for k, v in parent.items() if k not in ("extends", "_path", "_ref")}
        pools = dict(parent.get("pools") or {})
        pools.update(data.get("pools") or {})
        merged.update({k: v for k, v in data.items() if k != "extends"})
        merged["pools"] = pools
        merged["_extends"] = parent.get("name")
        data = merged
    data["_path"] = where
    data["_ref"] = ref
    return data


def load_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A spec mapping from a shipped spec name, a path, or a mapping (copied)."""
    if isinstance(spec, Mapping):
        d = copy.deepcopy(dict(spec))
        d.setdefault("_path", str(d.get("name", "<spec>")))
        d.setdefault("_ref", str(d.get("name", "<spec>")))
        return d
    return _read_spec(spec)


# -- values -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Value:
    """A parameter value before it is written in a wire format."""

    kind: str   # str text free files follow_up todos diff json count flag point size null
    data: Any


_SLOT_RE = re.compile(r"\{([A-Za-z_]\w*(?:\.\w+)*)(?:\|(\w+))?\}")


def _lookup(values: Mapping[str, Any], dotted: str, where: str) -> Any:
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
        blocks = _diff_blocks(v, where)
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
        return _filter(_lookup(values, m.group(1), where), m.group(2), where, catalog)

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


def _diff_blocks(v: Any, where: str) -> list[dict[str, Any]]:
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
    """A VALUE of a task's `call` (see the module doc) with the slots filled in."""
    if spec is None:
        return Value("null", None)
    if isinstance(spec, str):
        return Value("str", fill(spec, values, where, catalog))
    if isinstance(spec, bool):
        return Value("flag", spec)
    if not isinstance(spec, Mapping) or len({k for k in spec if k not in ("screen",)}) != 1:
        raise SpecError(f"{where}: a parameter value is a template string or a one-key mapping "
                        f"(text, free, files, follow_up, todos, diff, json, line_count, flag, point, size)")
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
        v = _lookup(values, str(arg), where)
        if key == "follow_up":
            return Value("follow_up", tuple(_options(v, where)))
        if key == "todos":
            return Value("todos", tuple(_todo_items(v, where)))
        if key == "diff":
            return Value("diff", tuple((int(b["line"]), str(b["search"]), str(b["replace"])) for b in _diff_blocks(v, where)))
        if key == "json":
            if not isinstance(v, Mapping):
                raise SpecError(f"{where}: json needs a slot holding a mapping")
            return Value("json", json.loads(json.dumps(v)))
        return Value("count", _count_lines(v if isinstance(v, str) else str(v)))
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


# -- regular expressions for expectations (ECMA-262 compatible subset) -------------------------------

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


def diff_text(blocks: tuple[tuple[int, str, str], ...]) -> str:
    out = []
    for line, search, replace in blocks:
        out.append(f"<<<<<<< SEARCH\n:start_line:{line}\n-------\n{search}\n=======\n{replace}\n>>>>>>> REPLACE")
    return "\n\n".join(out)


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


# -- wire rendering ---------------------------------------------------------------------------------

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
            for n, s in props.items():
                if n not in wire_args:
                    if not _nullable(s):
                        raise SpecError(f"{where}: {tool} needs '{n}' in the native protocol (strict, not nullable)")
                    wire_args[n] = None
            wire_args = {n: wire_args[n] for n in props if n in wire_args}
    msg = protocol.format_call([ToolCall(tool, wire_args)])
    msg = {"role": "assistant", **{k: v for k, v in msg.items() if k != "role"}}
    return msg, expect


# -- environment details ----------------------------------------------------------------------------

_TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo", "Australia/Sydney")


@dataclass
class _EnvState:
    visible: list[str]
    start: Any        # datetime of the first user turn
    tz: str


def _env_state(rng: random.Random, files: list[str]) -> _EnvState:
    import datetime as _dt
    visible = rng.sample(files, k=min(len(files), rng.randint(1, 3))) if files else []
    start = _dt.datetime(2025, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                         rng.randint(0, 59))
    return _EnvState(visible, start, rng.choice(_TIMEZONES))


def environment(style: str, mode: str | None, catalog: Any, state: _EnvState, later_s: int = 0) -> str:
    """The <environment_details> block Roo appends to every user turn (a short imitation of it)."""
    import datetime as _dt
    m = catalog.modes.get(mode) if catalog is not None and mode else None
    name = m.name if m is not None else (mode or "")
    mode_part = f"# Current Mode\n<slug>{mode}</slug>\n<name>{name}</name>"
    if style == "short":
        return f"<environment_details>\n{mode_part}\n</environment_details>"
    stamp = (state.start + _dt.timedelta(seconds=later_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = []
    if state.visible:
        parts.append("# VSCode Visible Files\n" + state.visible[0])
        parts.append("# VSCode Open Tabs\n" + ", ".join(state.visible))
    parts.append(f"# Current Time\n{stamp} (user time zone: {state.tz})")
    parts.append(mode_part)
    return "<environment_details>\n" + "\n\n".join(parts) + "\n</environment_details>"


def user_turn(request: str, env: str) -> dict[str, Any]:
    return {"role": "user", "content": f"<task>\n{request}\n</task>\n\n{env}"}


# -- recovery turns ---------------------------------------------------------------------------------

def _feedback(spec: Mapping[str, Any], key: str, where: str) -> str:
    fb = spec.get("feedback") or {}
    if key not in fb or not isinstance(fb[key], str):
        raise SpecError(f"{where}: the spec needs feedback.{key} (the text Roo sends back)")
    return fb[key]


def _first_arg(params: Mapping[str, Value]) -> str:
    for n in ("path", "command", "query", "server_name", "mode_slug"):
        v = params.get(n)
        if v is not None and v.kind == "str":
            return v.data
    return ""


def _similarity(a: str, b: str) -> int:
    return int(difflib.SequenceMatcher(None, a, b).ratio() * 100)


# -- keys for near-duplicates -----------------------------------------------------------------------

_ENV_RE = re.compile(r"<environment_details>[\s\S]*?</environment_details>")


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return " ".join(v.casefold().split())
    if isinstance(v, Mapping):
        return {str(k): _norm(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return [_norm(w) for w in v]
    return v


def value_key(family: str, values: Mapping[str, Any]) -> str:
    """Near-duplicate key (a): the task family and the normalised slot values (names and order ignored)."""
    vals = sorted(json.dumps(_norm(v), sort_keys=True, ensure_ascii=False) for v in values.values())
    return family + "\x1f" + "\x1e".join(vals)


def call_key(family: str, template: int, params: Mapping[str, Value]) -> str:
    """Near-duplicate key (c): the same template and the same normalised expected arguments."""
    args = {p: [v.kind, _norm(v.data)] for p, v in params.items()}
    return f"{family}\x1f{template}\x1f" + json.dumps(args, sort_keys=True, ensure_ascii=False)


def text_key(messages: list[dict[str, Any]]) -> str:
    """Near-duplicate key (b): the conversation text without environment details, case-folded, every
    digit masked, whitespace collapsed."""
    parts = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            c = "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in c)
        if not isinstance(c, str):
            c = json.dumps(m.get("tool_calls"), sort_keys=True) if m.get("tool_calls") else ""
        c = _ENV_RE.sub(" ", c)
        c = re.sub(r"\d", "#", c.casefold())
        parts.append(f"{m.get('role')}: {' '.join(c.split())}")
    return "\n".join(parts)


def _digest(s: str) -> str:
    import hashlib
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def case_keys(case: Case) -> list[str]:
    """The near-duplicate keys of a generated case: digests of keys (a) and (c), kept in
    `meta.groups`, and key (b), recomputed from the messages."""
    groups = case.meta.get("groups") or []
    return [f"g:{g}" for g in groups if isinstance(g, str)] + ["t:" + text_key(case.messages)]


def leakage(cases: list[Case]) -> list[str]:
    """Ids of test cases that have a near-duplicate in train (see the module doc); [] when clean."""
    train: set[str] = set()
    for c in cases:
        if c.split == "train":
            train.update(case_keys(c))
    return [c.id for c in cases if c.split == "test" and any(k in train for k in case_keys(c))]


# -- generation -------------------------------------------------------------------------------------

class _Pools:
    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.where = where
        self.raw = raw
        self._cache: dict[str, list[Any]] = {}

    def get(self, ref: Any, where: str) -> list[Any]:
        if isinstance(ref, list):
            if not ref:
                raise SpecError(f"{where}: an inline pool is empty")
            return ref
        if not isinstance(ref, str):
            raise SpecError(f"{where}: a slot names a pool or gives an inline list")
        if ref in self._cache:
            return self._cache[ref]
        if ref not in self.raw:
            raise SpecError(f"{where}: unknown pool '{ref}' (pools: {', '.join(sorted(self.raw))})")
        p = self.raw[ref]
        if isinstance(p, list):
            vals = p
        elif isinstance(p, Mapping) and "product" in p:
            vals = [""]
            for part in p["product"]:
                vals = [a + str(b) for a in vals for b in part]
        elif isinstance(p, Mapping) and "range" in p:
            lo, hi = p["range"]
            vals = list(range(int(lo), int(hi) + 1))
        else:
            raise SpecError(f"{self.where}: pool '{ref}' must be a list, {{product: [...]}} or {{range: [lo, hi]}}")
        if not vals:
            raise SpecError(f"{self.where}: pool '{ref}' is empty")
        self._cache[ref] = vals
        return vals


class _Decks:
    """Per-task value decks: each pool is dealt in a shuffled order and reshuffled when it runs out,
    so a task with at least as many cases as a pool has values uses every value once before any
    value repeats (coverage without bias), and slots sharing a pool get distinct values."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.decks: dict[str, list[int]] = {}

    def take(self, key: str, n: int, k: int) -> list[int]:
        deck = self.decks.setdefault(key, [])
        out: list[int] = []
        deferred: list[int] = []
        while len(out) < k:
            if not deck:
                fresh = list(range(n))
                self.rng.shuffle(fresh)
                deck.extend(fresh)
            i = deck.pop()
            (deferred if i in out else out).append(i)
        deck.extend(reversed(deferred))   # dealt next
        return out


def _draw(rng: random.Random, pools: _Pools, slots: Mapping[str, Any], where: str,
          decks: _Decks | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    by_pool: dict[str, list[str]] = {}
    for slot, ref in slots.items():
        by_pool.setdefault(json.dumps(ref, sort_keys=True, default=str), []).append(slot)
    decks = decks or _Decks(rng)
    for key, names in by_pool.items():
        vals = pools.get(slots[names[0]], f"{where}: slot '{names[0]}'")
        if len(names) > len(vals):
            raise SpecError(f"{where}: {len(names)} slots share a pool with only {len(vals)} values")
        picks = decks.take(key, len(vals), len(names))
        for n, i in zip(names, picks):
            values[n] = vals[i]
    return {n: values[n] for n in slots}


def _protocol(spec: Mapping[str, Any]) -> Any:
    import protocols
    try:
        return protocols.from_spec(spec.get("protocol", "roo-xml"), source=str(spec.get("_path")))
    except UserError as e:
        raise SpecError(f"{spec.get('_path')}: protocol: {e}") from None


def _available(protocol: Any, tool: str, mode: str | None) -> bool:
    cat = getattr(protocol, "catalog", None)
    if cat is None:
        return True
    return tool in cat.tool_names_for_mode(mode)


def _task_cases(spec: Mapping[str, Any], task: Mapping[str, Any], seed: int, protocol: Any, pools: _Pools,
                env_files: list[str]) -> list[Case]:
    name = task["name"]
    where = f"{spec['_path']}: task '{name}'"
    tool = task.get("tool")
    if not isinstance(tool, str):
        raise SpecError(f"{where}: needs 'tool'")
    catalog = getattr(protocol, "catalog", None)
    mode = task.get("mode", spec.get("mode"))
    count = int(task.get("count", 0))
    templates = task.get("templates")
    if not isinstance(templates, list) or not templates:
        raise SpecError(f"{where}: needs 'templates', a non-empty list of request texts")
    slots = task.get("slots") or {}
    call = task.get("call") or {}
    if not isinstance(call, Mapping):
        raise SpecError(f"{where}: 'call' must map parameters to values")
    kind = task.get("kind", "call")
    rec = task.get("recovery") or {}
    failure = rec.get("failure") if kind == "recovery" else None
    if kind == "recovery" and failure not in FAILURES:
        raise SpecError(f"{where}: recovery.failure must be one of {', '.join(FAILURES)}")
    family = "|".join(str(x) for x in (tool, mode, failure or ""))
    style = str(spec.get("environment", "full"))
    tags = [tool] + [t for t in (task.get("tags") or []) if t != tool] + ([f"mode:{mode}"] if mode else [])
    if failure:
        tags += ["recovery", f"failure:{failure}"]
    rng = random.Random(f"{seed}:{name}")
    decks = _Decks(rng)
    out: list[Case] = []
    seen_text: set[str] = set()
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 60 + 200:
            raise SpecError(f"{where}: could only make {len(out)} distinct cases of {count}; add pool values "
                            f"or templates, or lower the count")
        values = _draw(rng, pools, slots, where, decks)
        ti = rng.randrange(len(templates))
        request = fill(templates[ti], values, f"{where}: templates[{ti}]", catalog)
        params = {p: build_value(v, values, f"{where}: call.{p}", catalog) for p, v in call.items()}
        reference, arguments = render_call(protocol, tool, params, where)
        state = _env_state(rng, env_files)
        messages = [user_turn(request, environment(style, mode, catalog, state))]
        if failure:
            later = environment(style, mode, catalog, state, later_s=rng.randint(4, 90))
            messages += _failure_turns(spec, task, failure, rec, values, params, protocol, mode, later, rng, where)
        tkey = "\n".join(_ENV_RE.sub("", m.get("content") or "") for m in messages)   # exact repeats only
        if tkey in seen_text:
            continue
        seen_text.add(tkey)
        cid = f"{name}-{len(out) + 1:03d}"
        case = Case(id=cid, protocol=spec.get("protocol", "roo-xml"), messages=messages,
                    expect=Expect(calls=(ExpectedCall(tool, arguments),)), mode=mode, split="train",
                    tags=list(tags), reference=reference,
                    meta={"task": name, "template": ti,
                          "groups": [_digest(value_key(family, values)),
                                     _digest(call_key(family, ti, params))]})
        _check_reference(case, protocol, where)
        out.append(case)
    return out


def _failure_turns(spec: Mapping[str, Any], task: Mapping[str, Any], failure: str, rec: Mapping[str, Any],
                   values: Mapping[str, Any], params: Mapping[str, Value], protocol: Any, mode: str | None,
                   env: str, rng: random.Random, where: str) -> list[dict[str, Any]]:
    catalog = getattr(protocol, "catalog", None)
    tool = task["tool"]
    if failure == "no_tool":
        prose = rec.get("prose")
        if not isinstance(prose, list) or not prose:
            raise SpecError(f"{where}: recovery.prose must list replies without a tool call")
        said = fill(rng.choice(prose), values, f"{where}: recovery.prose", catalog)
        fb = fill(_feedback(spec, "no_tool", where), {}, where)
        return [{"role": "assistant", "content": said}, {"role": "user", "content": f"{fb}\n\n{env}"}]
    if failure == "missing_param":
        missing = rec.get("missing")
        if missing not in params:
            raise SpecError(f"{where}: recovery.missing must name a parameter of the call")
        broken = {k: v for k, v in params.items() if k != missing}
        failed, _ = render_call(protocol, tool, broken, where)
        fb = fill(_feedback(spec, "missing_param", where), {"tool": tool, "param": missing}, where)
        return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]
    if failure in ("not_allowed", "file_restricted"):
        att = rec.get("attempt")
        if not isinstance(att, Mapping) or "tool" not in att:
            raise SpecError(f"{where}: recovery.attempt needs the refused call's tool and call")
        aparams = {p: build_value(v, values, f"{where}: attempt.{p}", catalog) for p, v in (att.get("call") or {}).items()}
        failed, _ = render_call(protocol, att["tool"], aparams, where)
        m = catalog.modes.get(mode) if catalog is not None and mode else None
        info = {"tool": att["tool"], "mode": mode or "", "mode_name": m.name if m else (mode or ""),
                "arg": _first_arg(aparams)}
        if failure == "file_restricted":
            r = catalog.restriction(att["tool"], mode) if catalog is not None else None
            if r is None:
                raise SpecError(f"{where}: mode {mode!r} has no file restriction for {att['tool']}")
            info.update(pattern=r.file_regex, restriction=r.description)
        fb = fill(_feedback(spec, failure, where), info, where)
        return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]
    # diff failures
    edit_slot = rec.get("edit")
    edit = _lookup(values, str(edit_slot), where) if edit_slot else None
    if not isinstance(edit, Mapping):
        raise SpecError(f"{where}: recovery.edit must name the slot holding the diff (with 'stale' text)")
    blocks = _diff_blocks(edit, where)
    b0 = blocks[0]
    path = params["path"].data if "path" in params else str(edit.get("path", ""))
    if failure == "diff_mismatch":
        stale = str(b0.get("stale") or "")
        if not stale:
            raise SpecError(f"{where}: diff_mismatch needs blocks[0].stale (the outdated SEARCH text)")
        bad = (Value("diff", ((int(b0["line"]), stale, str(b0["replace"])),)))
        failed, _ = render_call(protocol, tool, {**params, "diff": bad}, where)
        start = int(b0["line"])
        numbered = "\n".join(f"{start + i} | {ln}" for i, ln in enumerate(str(b0["search"]).split("\n")))
        info = {"path": path, "line": start, "similar": _similarity(stale, str(b0["search"])),
                "searched": stale, "found": numbered}
        fb = fill(_feedback(spec, "diff_mismatch", where), info, where)
    else:
        start = int(b0["line"])
        truncated = f"\n<<<<<<< SEARCH\n:start_line:{start}\n-------\n{b0['search']}\n"
        failed, _ = render_call(protocol, tool, {**params, "diff": Value("text", truncated)}, where)
        fb = fill(_feedback(spec, "diff_malformed", where), {"path": path}, where)
    return [failed, {"role": "user", "content": f"{fb}\n\n{env}"}]


def _check_reference(case: Case, protocol: Any, where: str) -> None:
    from harness.score.verdicts import score
    turn = protocol.parse(case.reference, mode=case.mode, tools=case.tools)
    verdict = score(case, turn, protocol)
    if turn.violations or not verdict.passed:
        why = "; ".join(f"{v.code}: {v.detail}" for v in (turn.violations or verdict.violations))
        raise SpecError(f"{where}: case {case.id}: the reference is not a correct answer: {why}\n"
                        f"{case.reference}")


def _assign_splits(cases: list[Case], tasks: list[str], seed: int, test_fraction: float) -> None:
    """Union-find over both near-duplicate keys; whole groups go to one split, per task."""
    parent = list(range(len(cases)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, c in enumerate(cases):
        for k in case_keys(c):
            if k in first:
                a, b = find(i), find(first[k])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(cases)):
        groups.setdefault(find(i), []).append(i)
    by_task: dict[str, list[list[int]]] = {}
    for root, members in sorted(groups.items()):
        by_task.setdefault(cases[root].meta["task"], []).append(members)
    for task in tasks:
        comps = by_task.get(task, [])
        if not comps:
            continue
        rng = random.Random(f"{seed}:split:{task}")
        order = sorted(comps, key=lambda m: cases[m[0]].id)
        rng.shuffle(order)
        n = sum(len(m) for m in order)
        target = max(1, round(n * test_fraction)) if len(order) > 1 else 0
        chosen: list[list[int]] = []
        test = 0
        for m in order:
            if test + len(m) <= target:
                chosen.append(m)
                test += len(m)
        if not chosen and target:          # every group is larger than the target: take the smallest
            chosen = [min(order, key=len)]
        if len(chosen) == len(order):      # never all test
            chosen = chosen[:-1]
        ids = {id(m) for m in chosen}
        for m in order:
            for i in m:
                cases[i].split = "test" if id(m) in ids else "train"


def generate(spec: str | os.PathLike[str] | Mapping[str, Any], seed: int | None = None) -> list[Case]:
    """The cases of a spec for `seed` (default: the spec's own), deterministic for a seed."""
    return generate_suite(spec, seed)[1]


def generate_suite(spec: str | os.PathLike[str] | Mapping[str, Any],
                   seed: int | None = None) -> tuple[dict[str, Any], list[Case]]:
    """(the suite's top-level keys, the cases)."""
    sp = load_spec(spec)
    where = str(sp.get("_path"))
    if seed is None:
        seed = int(sp.get("seed", 0))
    protocol = _protocol(sp)
    tasks = sp.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise SpecError(f"{where}: needs 'tasks', a non-empty list")
    pools = _Pools(sp.get("pools") or {}, where)
    env_ref = sp.get("environment_files")
    env_files = [str(x) for x in pools.get(env_ref, f"{where}: environment_files")] if env_ref else []
    frac = float(sp.get("test_fraction", 0.2))
    if not 0 < frac < 1:
        raise SpecError(f"{where}: test_fraction must be between 0 and 1")
    names: list[str] = []
    cases: list[Case] = []
    skipped: list[str] = []
    for t in tasks:
        if not isinstance(t, Mapping) or not isinstance(t.get("name"), str):
            raise SpecError(f"{where}: every task needs a 'name'")
        if t["name"] in names:
            raise SpecError(f"{where}: duplicate task name '{t['name']}'")
        mode = t.get("mode", sp.get("mode"))
        tool = t.get("tool", "")
        if sp.get("skip_unavailable") and (
                not _available(protocol, tool, mode)
                or any(_kind_unsupported(protocol, v) for v in (t.get("call") or {}).values())):
            skipped.append(t["name"])
            continue
        if tool and protocol.catalog is not None and tool not in protocol.catalog.tools:
            raise SpecError(f"{where}: task '{t['name']}': tool '{tool}' is not in {protocol.name}'s catalog")
        names.append(t["name"])
        cases.extend(_task_cases(sp, t, seed, protocol, pools, env_files))
    _assign_splits(cases, names, seed, frac)
    top: dict[str, Any] = {"name": sp.get("name", Path(where).stem),
                           "description": str(sp.get("description", "")).strip(),
                           "protocol": sp.get("protocol", "roo-xml")}
    if sp.get("mode"):
        top["mode"] = sp["mode"]
    top["generator"] = {"spec": sp.get("_ref", where), "seed": seed, "version": GENERATOR_VERSION,
                        "near_duplicates": "same task family and normalised slot values, or same "
                                           "template and normalised expected arguments, or same "
                                           "digit-masked conversation text; never split across train/test"}
    if skipped:
        top["generator"]["skipped_tasks"] = skipped
    return top, cases


def _kind_unsupported(protocol: Any, v: Any) -> bool:
    return protocol.wire != "xml" and isinstance(v, Mapping) and "json" in v


def write_suite(spec: str | os.PathLike[str] | Mapping[str, Any], out: str | os.PathLike[str],
                seed: int | None = None) -> tuple[int, int]:
    """Generate and write a suite file (.jsonl or .yaml); returns (train, test) counts."""
    from harness.suite import dump_suite
    top, cases = generate_suite(spec, seed)
    dump_suite(cases, out, top=top)
    return sum(c.split == "train" for c in cases), sum(c.split == "test" for c in cases)


__all__ = ["FAILURES", "SpecError", "Value", "build_value", "case_keys", "fill", "generate", "generate_suite",
           "leakage", "list_specs", "load_spec", "text_key", "value_key", "write_suite"]
