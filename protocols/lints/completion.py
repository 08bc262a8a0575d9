"""attempt_completion's result must not end with a question or an offer (R6); no text opens with
"Great", "Certainly", "Okay" or "Sure" (R7)."""
from __future__ import annotations

import re
import unicodedata

from protocols.lints._text import short

_LIST_MARK = re.compile(r"^(?:[-*+>#]+|\d+[.)])\s*")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_OFFERS = [re.compile(p, re.I) for p in (
    r"\blet me know\b",
    r"\bfeel free\b",
    r"\bdon'?t hesitate\b",
    r"\breach out\b",
    r"\bjust ask\b",
    r"\b(?:happy|glad) to (?:help|assist)\b",
    r"\b(?:i'?m|i am) here (?:to help|if you)\b",
    r"\b(?:would|do|should|shall|will) you (?:like|want|prefer|need)\b",
    r"\b(?:do you want|want) me to\b",
    r"\bshould i (?:also |go ahead|proceed|continue)",
    r"\bis there anything else\b",
    r"\banything else (?:i can|you(?:'d| would)? (?:like|want|need))\b",
    r"\bif (?:there(?:'s| is) )?anything else\b",
    r"\bif you (?:need|want|would like|'d like|have|require) (?:any(?:thing)? (?:else|further|more|other|additional)"
    r"|any (?:further |more |other |additional )?(?:help|assistance|questions|changes|modifications|adjustments"
    r"|tweaks)|(?:further|more|additional|other) (?:help|assistance|questions|changes|modifications|adjustments"
    r"|tweaks|features|improvements)|anything else)\b",
    r"\bif you(?:'d| would)? (?:like|want|prefer|wish)\b[^.!?]{0,200}\bi(?:'d|'ll| would| can| could| will)\b",
    r"\bi (?:can|could|would be happy to|'d be happy to|am happy to|'m happy to)\b[^.!?]{0,200}"
    r"\bif you(?:'d| would)? (?:like|want|prefer|wish)\b",
    r"^(?:would|do|shall|should|could|can|may) (?:you|i|we)\b",
    r"^(?:want|need) (?:me|anything|more|help)\b",
    r"^anything else\b",
)]
_SIGNOFF = re.compile(r"(?:happy coding|cheers|thanks|thank you|enjoy|good luck|best|regards|hope (?:this|that|it) "
                      r"helps)\W*", re.I)
_TRAILING_JUNK = "*_~) \t\r\n\u00a0"


def _strip_trailing_fences(text: str) -> str:
    for _ in range(100):
        t = text.rstrip()
        if not t.endswith("```"):
            return t
        close = t.rfind("\n", 0, len(t) - 3)
        line_start = close + 1
        if not t[line_start:].strip().startswith("```"):
            return t
        opening = t.rfind("```", 0, line_start)
        if opening < 0:
            return t
        text = t[: t.rfind("\n", 0, opening) + 1] if t.rfind("\n", 0, opening) >= 0 else ""
    return text.rstrip()


def _rstrip_decor(s: str) -> str:
    end = len(s)
    while end > 0:
        c = s[end - 1]
        if c in _TRAILING_JUNK or unicodedata.category(c) in ("So", "Sk", "Cf", "Mn", "Cs", "Co"):
            end -= 1
        else:
            break
    return s[:end]


def _last_sentences(text: str, count: int = 2) -> list[str]:
    text = _strip_trailing_fences(text)
    tail = text[-4000:]
    tail = _INLINE_CODE.sub("code", tail).replace("’", "'").replace("‘", "'")
    lines = [ln.strip() for ln in tail.split("\n") if ln.strip().strip("`")]
    sentences: list[str] = []
    for ln in reversed(lines[-count:]):
        ln = _LIST_MARK.sub("", ln)
        parts = [p for p in _SENTENCE_SPLIT.split(ln) if _rstrip_decor(p).strip()]
        sentences = parts + sentences
    return sentences[-count:]


def completion_problem(result: str) -> str | None:
    """R6: the result ends with a question or an offer of further conversation."""
    if not isinstance(result, str) or not result.strip():
        return None
    sentences = _last_sentences(result)
    if not sentences:
        return None
    checks = [sentences[-1]]
    if len(sentences) > 1 and _SIGNOFF.fullmatch(_rstrip_decor(sentences[-1]).strip()):
        checks.insert(0, sentences[-2])
    for s in checks:
        core = _rstrip_decor(s).strip()
        probe = core if len(core) <= 400 else core[-400:].partition(" ")[2]
        if core.endswith("?") or core.endswith("？"):
            return f"the result ends with a question: '{short(core, 60)}'"
        for p in _OFFERS:
            if p.search(probe):
                return f"the result ends with an offer of further conversation: '{short(core, 60)}'"
    return None


_OPENER = re.compile(r"(great|certainly|okay|ok|sure)(?![\w'’-])", re.I)
_LEADING_DECOR = " \t\r\n\u00a0*_#>\"'“‘`~"


def opener_problem(text: str) -> str | None:
    """R7: the text's first word is Great, Certainly, Okay/OK or Sure (after a leading <thinking> block)."""
    if not isinstance(text, str):
        return None
    pos = 0
    n = len(text)
    for _ in range(1000):
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        for tag in ("thinking", "think"):
            if text.startswith(f"<{tag}>", pos):
                close = text.find(f"</{tag}>", pos)
                if close < 0:
                    return None
                pos = close + len(tag) + 3
                break
        else:
            break
    while pos < n and text[pos] in _LEADING_DECOR:
        pos += 1
    m = _OPENER.match(text, pos)
    if not m:
        return None
    return f"opens with '{m.group(1)}' (do not start with Great, Certainly, Okay or Sure)"
