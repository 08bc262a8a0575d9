"""Tool names on the wire: sanitised function names, collision-free wire spellings, Roo's MCP names,
and the name a call is reported under."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocols.wire.native import FunctionSet

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_name(name: str) -> str:
    """The function name sent on the wire: '.' → '_' and anything outside [A-Za-z0-9_-] → '_'.

    This is what BFCL does for its dotted names (`math.factorial` → `math_factorial`) and what
    OpenAI-compatible APIs require of a function name.
    """
    if not isinstance(name, str):
        return ""
    return _NAME_BAD.sub("_", name)


def wire_names(names: Iterable[str]) -> dict[str, str]:
    """original name → wire name, deterministic. A name that is already valid keeps itself; a name that
    would collide with another gets a `_2`, `_3`… suffix."""
    names = [n for n in dict.fromkeys(names) if isinstance(n, str)]
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:            # clean names first: they are sent as they are
        if sanitize_name(n) == n:
            out[n] = n
            used.add(n)
    for n in names:
        if n in out:
            continue
        w = sanitize_name(n)
        if w in used:
            i = 2
            while f"{w}_{i}" in used:
                i += 1
            w = f"{w}_{i}"
        used.add(w)
        out[n] = w
    return {n: out[n] for n in names}


def mcp_parts(name: str) -> tuple[str, str] | None:
    """(server, tool) when `name` is a Roo dynamic MCP function name, else None.

    Roo names MCP tools `mcp--<server>--<tool>` and also accepts models that turn the hyphens into
    underscores (`mcp__<server>__<tool>`; a triple underscore is an encoded hyphen, not a separator).
    """
    if not isinstance(name, str):
        return None
    if name.startswith("mcp__"):
        name = name.replace("___", "\x00").replace("__", "--").replace("\x00", "___")
    if not name.startswith("mcp--"):
        return None
    rest = name[5:]
    i = rest.find("--")
    if i <= 0 or i + 2 >= len(rest):
        return None
    return rest[:i], rest[i + 2:]


def resolve_name(fs: FunctionSet, raw_name: Any) -> str:
    """The name `check_call` reports for a call named `raw_name`: the original name of an offered
    function (also for its sanitised alias), else the name as written ("" when it is not a string)."""
    name = raw_name if isinstance(raw_name, str) else ""
    original = fs.resolve(name)
    return name if original is None else original
