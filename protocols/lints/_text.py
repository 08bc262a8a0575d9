"""String helpers the lint families share: JavaScript whitespace as a regex class, clipping, capped lists,
big integers (JavaScript's trim itself is `protocols.text.js_trim`)."""
from __future__ import annotations

__all__ = ["MAX_LISTED", "WS", "cap", "short", "to_int"]

MAX_LISTED = 8             # problems listed before "and N more"

# JavaScript's whitespace as a regex class (protocols.text.JS_WHITESPACE, which differs from Python's \s).
WS = "[\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def short(s: str, n: int = 40) -> str:
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def cap(items: list[str], limit: int = MAX_LISTED) -> list[str]:
    if len(items) <= limit:
        return items
    return items[:limit] + [f"… and {len(items) - limit} more"]


def to_int(digits: str) -> int:
    # Python refuses int() on > 4300 digits; any value that long is simply "huge".
    return int(digits) if len(digits) <= 18 else 10 ** 18
