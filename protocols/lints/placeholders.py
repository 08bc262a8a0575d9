"""Placeholder values (R4), omitted code (R9) and write_to_file's `line_count`, per tool argument."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from protocols.lints._text import cap, short, to_int
from protocols.lints.diff import Block, diff_blocks
from protocols.lints.omissions import omission_lines
from protocols.lints.read_file import read_file_paths
from protocols.lints.roo_tools import ROO_TOOLS

_PATH_PARAMS = frozenset({"path", "cwd", "image", "file_path"})
# free-text or structured values where "TODO" or "..." may be meant literally, or that other checks own
_NOT_GENERIC = frozenset({"content", "diff", "search", "replace", "regex", "text", "todos", "follow_up", "args",
                          "arguments", "operations", "old_string", "new_string", "patch", "line_count",
                          "use_regex", "ignore_case", "recursive"})

_GENERIC_WORDS = frozenset({"...", "…", "todo", "tbd", "fixme", "placeholder", "<placeholder>", "xxx"})
_ANGLE_TOKEN = re.compile(r"<[^<>\n]{1,80}>")
_BRACKET_PH = re.compile(r"\[\s*(?:insert|your|enter|add|put|fill(?: in)?|replace(?: with)?|todo|placeholder)"
                         r"\b[^\[\]\n]{0,80}\]", re.I)
_BRACE_PH = re.compile(r"\{\{?\s*(?:your|insert|placeholder|todo)\b[^{}\n]{0,80}\}?\}", re.I)
_YOUR_HERE = re.compile(r"your[_-][\w-]{1,60}|[\w-]{1,60}[_-]here|your(?: [\w-]{1,30}){1,4} here")

_PATH_TO = re.compile(r"(?:^|[/\\])path[/\\]to(?:[/\\]|$)", re.I)
_PH_WORD = (r"(?:your[ _-]?\w*|file(?:[ _-]?(?:name|path))?|filename\w*|path[ _-]?to[ _-]?\w*|placeholder|todo"
            r"|insert[ _-]?\w*|(?:dir|directory|folder|project|module)[ _-]?name)")
_PATH_SEP = re.compile(r"[/\\]")
_BRACED_PH_WORD = re.compile(r"\{" + _PH_WORD + r"\}", re.I)
_BRACKETED_PH_WORD = re.compile(r"\[" + _PH_WORD + r"\]", re.I)
_SEGMENT_PH = re.compile(
    r"your[_-]\w*|your(?:file|project|dir|directory|folder|repo|repository|module|script|app|package|path"
    r"|filename|code|workspace|component)s?"
    r"|\w*[_-]here|file[ _-]?name",
    re.I)
_PATH_WHOLE = frozenset({"path", "filepath", "file_path", "filename", "file_name", "n/a", "none", "null",
                         "undefined", "file.ext", "filename.ext", "dir/file", "folder/file", "some/path"})
_CMD_PH = re.compile(
    r"(?:^|[\s\"'=:(~/])path/to/|<your[ _-][^<>\n]{0,60}>"
    r"|\byour[_-](?:file|path|project|dir|directory|folder|repo|branch|module|package|app|script|username|user"
    r"|token|key|api[_-]?key|url|message|command|name|email|password)\w*",
    re.I)


def _generic_placeholder(value: str) -> bool:
    v = value.strip()
    if not v:
        return False
    low = v.lower()
    if low in _GENERIC_WORDS:
        return True
    if len(v) > 120:
        return False
    # each pattern needs its first character, or "your"/"here" at an end: skip the others unrun
    first = v[0]
    return bool((first == "<" and _ANGLE_TOKEN.fullmatch(v)) or (first == "[" and _BRACKET_PH.fullmatch(v))
                or (first == "{" and _BRACE_PH.fullmatch(v))
                or ((low.startswith("your") or low.endswith("here")) and _YOUR_HERE.fullmatch(low)))


def _maybe_segment_ph(stem: str) -> bool:
    """False only where _SEGMENT_PH cannot match: an ASCII stem that neither starts with "your" or
    "file" nor ends with "here" in any case (non-ASCII text is left to the pattern: re.I folds
    characters such as "ı" onto ASCII letters)."""
    if not stem.isascii():
        return True
    low = stem.lower()
    return low.startswith(("your", "file")) or low.endswith("here")


def _path_placeholder(value: str) -> str | None:
    v = value.strip()
    if not v:
        return None
    low = v.lower()
    if _generic_placeholder(v) or low in _PATH_WHOLE:
        return "is a placeholder"
    # (an ASCII path can only match the case-insensitive pattern when it holds "path" in any case)
    if (not v.isascii() or "path" in low) and _PATH_TO.search(v):
        return "is a 'path/to/...' template"
    if "<" in v or ">" in v:
        return "contains a '<...>' placeholder"
    for seg in (_PATH_SEP.split(v) if "\\" in v else v.split("/")):
        if not seg:
            continue
        if seg in ("...", "…"):
            return "contains '...' as a path segment"
        stem, dot, ext = seg.rpartition(".")
        if not dot or not stem:
            stem, ext = seg, ""
        if ext.lower() in ("ext", "extension"):
            return f"uses the placeholder extension '.{ext}'"
        if len(stem) <= 80 and _maybe_segment_ph(stem) and _SEGMENT_PH.fullmatch(stem):
            return f"contains the placeholder segment '{short(seg)}'"
        if len(seg) <= 80 and ((seg[0] == "{" and _BRACED_PH_WORD.fullmatch(seg))
                               or (seg[0] == "[" and (_BRACKETED_PH_WORD.fullmatch(seg) or _BRACKET_PH.fullmatch(seg)))):
            return f"contains the placeholder segment '{short(seg)}'"
    return None


def _extension(path: Any) -> str:
    if not isinstance(path, str):
        return ""
    name = path.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name.rpartition(".")[2].lower() if "." in name else ""


def _line_counts(content: str) -> set[int]:
    """Line counts a careful writer could mean for `content` (with or without a final newline or fences)."""
    n_parts = content.count("\n") + 1
    counts = {n_parts}
    if content.endswith("\n"):
        counts.add(n_parts - 1)
    if content == "":
        counts.add(0)
    first_nl = content.find("\n")
    if first_nl >= 0 and content[:first_nl].strip().startswith("```"):   # (lines split only for fences)
        parts = content.split("\n")
        last = len(parts) - 1
        while last > 0 and not parts[last].strip():
            last -= 1
        if last > 0 and parts[last].strip() == "```":
            counts.add(last - 1)
    return counts


def declared_line_count(value: Any) -> int | None | str:
    """int when readable, None when absent or not checkable, "bad" when present but not a whole number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else "bad"
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else "bad"
    if isinstance(value, str):
        v = value.strip()
        if not v:
            return None
        return to_int(v) if v.isascii() and v.isdigit() else "bad"
    return None


def placeholder_problems(tool: str, arguments: Mapping[str, Any],
                         parsed_diff: tuple[list[Block], str | None] | None = None) -> list[str]:
    """R4/R9: placeholder values, omitted-code comments and a wrong write_to_file `line_count`.

    `parsed_diff`: apply_diff's `diff_blocks(diff)` when the caller already has it (read once per call)."""
    if not isinstance(arguments, Mapping) or tool not in ROO_TOOLS:
        return []
    out: list[str] = []
    for name, value in arguments.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if name in _PATH_PARAMS:
            why = _path_placeholder(value)
            if why:
                out.append(f"{name} '{short(value)}' {why}")
        elif name == "command":
            if _generic_placeholder(value) or _CMD_PH.search(value[:4000]):
                out.append(f"command '{short(value)}' contains a placeholder")
        elif name not in _NOT_GENERIC and _generic_placeholder(value):
            out.append(f"{name} '{short(value)}' is a placeholder")

    # paths nested in read_file's XML args or native files list
    if tool == "read_file":
        args = arguments.get("args")
        paths = read_file_paths(args) if isinstance(args, str) else []
        files = arguments.get("files")
        if isinstance(files, list):
            paths += [f.get("path") for f in files[:1000] if isinstance(f, Mapping) and isinstance(f.get("path"), str)]
        for p in paths:
            why = _path_placeholder(p)
            if why:
                out.append(f"path '{short(p)}' {why}")

    ext = _extension(arguments.get("path"))
    if tool in ("write_to_file", "insert_content"):
        content = arguments.get("content")
        if isinstance(content, str):
            out.extend(cap(omission_lines(content, ext)))
            if tool == "write_to_file":
                declared = declared_line_count(arguments.get("line_count"))
                if isinstance(declared, int):
                    counts = _line_counts(content)
                    if declared not in counts:
                        real = min(counts, key=lambda c: abs(c - declared))
                        out.append(f"line_count {declared} does not match the content's {real} lines")
    elif tool == "apply_diff":
        diff = arguments.get("diff")
        if isinstance(diff, str):
            blocks, error = parsed_diff or diff_blocks(diff)
            found: list[str] = []
            for b in blocks if not error else []:
                if not b.recognised:
                    continue
                before = {x.strip() for x in b.search}
                first = b.replace_line - len(b.replace) + 1
                added = [x if x.strip() not in before else "" for x in b.replace]
                found.extend(f"block {b.index}, {m}" for m in omission_lines(added, ext, first))
            out.extend(cap(found))
    return out
