"""ask_followup_question's `follow_up`: 2-4 non-empty <suggest> elements, `mode` naming a known mode."""
from __future__ import annotations

from collections.abc import Collection

from protocols.lints._text import cap, short


def _parse_attrs(s: str) -> list[tuple[str, str | None]]:
    """name=value pairs of a start tag's attribute text; value None when unquoted or missing."""
    out: list[tuple[str, str | None]] = []
    i, n = 0, len(s)
    while i < n and len(out) < 50:
        while i < n and s[i] in " \t\r\n/":
            i += 1
        start = i
        while i < n and s[i] not in " \t\r\n=/":
            i += 1
        name = s[start:i]
        if not name:
            i += 1
            continue
        while i < n and s[i] in " \t\r\n":
            i += 1
        if i < n and s[i] == "=":
            i += 1
            while i < n and s[i] in " \t\r\n":
                i += 1
            if i < n and s[i] in "\"'":
                q = s[i]
                j = s.find(q, i + 1)
                if j < 0:
                    out.append((name, None))
                    break
                out.append((name, s[i + 1:j]))
                i = j + 1
            else:
                while i < n and s[i] not in " \t\r\n":
                    i += 1
                out.append((name, None))
        else:
            out.append((name, None))
    return out


def followup_problems(follow_up: str, mode_slugs: Collection[str] = ()) -> list[str]:
    """ask_followup_question's follow_up: 2-4 non-empty <suggest> elements, `mode` naming a known mode."""
    if not isinstance(follow_up, str):
        return []
    out: list[str] = []
    count = 0
    pos = 0
    n = len(follow_up)
    while True:
        i = follow_up.find("<suggest", pos)
        if i < 0:
            break
        j = i + len("<suggest")
        if j < n and follow_up[j] not in ">/ \t\r\n":
            pos = j
            continue
        count += 1
        k = follow_up.find(">", j)
        if k < 0:
            out.append(f"suggestion {count}: the '<suggest' tag never ends with '>'")
            break
        attrs = follow_up[j:k]
        selfclosing = attrs.rstrip().endswith("/")
        for name, value in _parse_attrs(attrs):
            if name != "mode":
                out.append(f"suggestion {count} has attribute '{short(name)}' (only 'mode' is allowed)")
            elif value is None:
                out.append(f"suggestion {count}: the mode attribute needs a quoted value")
            elif not value.strip():
                out.append(f"suggestion {count}: empty mode attribute")
            elif mode_slugs and value.strip() not in mode_slugs:
                out.append(f"suggestion {count} names unknown mode '{short(value)}'")
        if selfclosing:
            out.append(f"suggestion {count} is empty")
            pos = k + 1
            continue
        close = follow_up.find("</suggest>", k + 1)
        if close < 0:
            out.append(f"suggestion {count} has no closing </suggest>")
            break
        if not follow_up[k + 1:close].strip():
            out.append(f"suggestion {count} is empty")
        pos = close + len("</suggest>")
    if count == 0:
        out.insert(0, "follow_up holds no <suggest> element (2 to 4 are required)")
    elif not 2 <= count <= 4:
        out.insert(0, f"follow_up holds {count} <suggest> elements (2 to 4 are required)")
    return cap(out)
