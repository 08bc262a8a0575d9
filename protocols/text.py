"""Text helpers every part of `protocols` shares: JavaScript's trim (Roo runs on JS, whose whitespace
differs from Python's `str.strip`) and the clipping of quoted values in violation messages."""
from __future__ import annotations

from typing import Any

# ECMAScript String.prototype.trim: WhiteSpace + LineTerminator (differs from Python's str.strip).
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
                "\u2028\u2029\u202f\u205f\u3000\ufeff"


def js_trim(s: str) -> str:
    return s.strip(JS_WHITESPACE)


def shorten(s: Any, n: int = 80) -> str:
    """`s` (its repr when not a string) cut to `n` characters plus "…" when longer."""
    s = s if isinstance(s, str) else repr(s)
    return s if len(s) <= n else s[:n] + "…"
