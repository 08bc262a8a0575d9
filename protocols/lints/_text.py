"""String helpers the lint families share: JavaScript whitespace, clipping, capped lists, big integers."""
from __future__ import annotations

from protocols.text import JS_WHITESPACE, js_trim

__all__ = ["JS_WHITESPACE", "MAX_LISTED", "WS", "cap", "js_trim", "short", "to_int"]

MAX_LISTED = 8             # problems listed before "and N more"

# JavaScript's whitespace as a regex class (the characters of JS_WHITESPACE, which differ from Python's \s).
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
