"""read_file's XML `args`: <file> elements with one <path> each and well-formed line ranges."""
from __future__ import annotations

import re

from protocols.lints._text import cap, short, to_int

MAX_READ_FILES = 5          # maxConcurrentFileReads default


def read_file_paths(args: str) -> list[str]:
    out = []
    pos = 0
    while len(out) < 1000:
        i = args.find("<path>", pos)
        if i < 0:
            break
        j = args.find("</path>", i + 6)
        if j < 0:
            break
        out.append(args[i + 6:j])
        pos = j + 7
    return out


_RANGE = re.compile(r"([0-9]+)-([0-9]+)")


def read_file_args_problems(args: str) -> list[str]:
    out: list[str] = []
    count = 0
    pos = 0
    while True:
        i = args.find("<file>", pos)
        if i < 0:
            break
        count += 1
        close = args.find("</file>", i + 6)
        if close < 0:
            out.append(f"file {count} has no closing </file>")
            body = args[i + 6:]
            pos = len(args)
        else:
            body = args[i + 6:close]
            pos = close + 7
        paths = read_file_paths(body)
        if not paths or not any(p.strip() for p in paths):
            out.append(f"file {count} has no non-empty <path>")
        elif len(paths) > 1:
            out.append(f"file {count} has {len(paths)} <path> elements (one per <file>)")
        rpos = 0
        while True:
            a = body.find("<line_range>", rpos)
            if a < 0:
                break
            b = body.find("</line_range>", a + 12)
            if b < 0:
                out.append(f"file {count}: <line_range> is not closed")
                break
            value = body[a + 12:b].strip()
            rpos = b + 13
            m = _RANGE.fullmatch(value)
            if not m:
                out.append(f"file {count}: line_range '{short(value)}' is not 'start-end'")
            else:
                lo, hi = to_int(m.group(1)), to_int(m.group(2))
                if lo > hi:
                    out.append(f"file {count}: line_range '{value}' ends before it starts")
                elif lo == 0:
                    out.append(f"file {count}: line_range '{value}' starts at 0 (lines start at 1)")
        if close < 0:
            break
    if count == 0:
        out.insert(0, "args holds no <file> element")
    elif count > MAX_READ_FILES:
        out.insert(0, f"args lists {count} files (at most {MAX_READ_FILES} per call)")
    return cap(out)
