"""Text for the page: secret scrubbing, number formats, and escaping for HTML and Markdown.

Everything the UI shows that came from a run, a log or a form passes through here, so a credential or a
stray backtick cannot reach the page unescaped.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from harness.log.report import pct as report_pct

# -- secrets ----------------------------------------------------------------------------------------

_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # option values: --api-key X, --token=X, --password X (but --api-key-env NAME is a name, kept)
    (re.compile(r"(--?(?:api[-_]?key|apikey|token|hf[-_]token|access[-_]token|password|passwd|secret|auth)"
                r"(?![-_]?env)(?:=|\s+))(\"[^\"]*\"|'[^']*'|\S+)", re.I), r"\1***"),
    # NAME=value environment assignments whose name says it holds a secret
    (re.compile(r"\b([A-Za-z0-9_]*(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)[A-Za-z0-9_]*=)(\S+)", re.I), r"\1***"),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***"),
    (re.compile(r"(\"?(?:api_key|apikey|authorization|x-api-key)\"?\s*[:=]\s*\"?)[^\"\s,}]+", re.I), r"\1***"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "://***@"),                      # user:password@ in URLs
    (re.compile(r"([?&](?:[A-Za-z_]*(?:key|token|secret|sig|signature|password))=)[^&\s]+", re.I), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),                     # OpenAI-style keys
    (re.compile(r"\b(?:hf|ghp|gho|ghs|github_pat|xox[abprs]|glpat)[_-][A-Za-z0-9_-]{10,}"), "***"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "***"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), "***"),
]


def scrub_text(text: str) -> str:
    """`text` with anything that looks like a credential replaced by ***."""
    if not text:
        return text
    for pat, rep in _SECRET_PATTERNS:
        text = pat.sub(rep, text)
    return text


def looks_like_secret(value: str) -> bool:
    """True when `value` looks like a key rather than the name of an environment variable."""
    v = value.strip()
    if not v:
        return False
    if scrub_text(v) != v:
        return True
    return not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) or (len(v) >= 32 and not v.isupper())


def command_line(argv: Sequence[str]) -> str:
    """A shell-quoted, scrubbed command line for display."""
    import shlex
    return scrub_text(" ".join(shlex.quote(str(a)) for a in argv))


# -- numbers ----------------------------------------------------------------------------------------

def is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x


def pct(x: Any, digits: int = 1) -> str:
    """A share as the page shows it: harness.log.report.pct, with an en dash for a missing value (NaN too)."""
    return report_pct(x if is_num(x) else None, digits, missing="–")


def pct_num(x: Any, digits: int = 1) -> float | None:
    return round(100 * x, digits) if is_num(x) else None


def rnd(x: Any, digits: int = 0) -> float | int | None:
    if not is_num(x):
        return None
    return int(round(x)) if digits == 0 else round(float(x), digits)


def short_date(iso: Any) -> str:
    """`2026-11-27T20:34:52Z` -> `2026-11-27 20:34`."""
    if not isinstance(iso, str) or not iso:
        return ""
    return iso.replace("T", " ").replace("Z", "")[:16]


# -- escaping ---------------------------------------------------------------------------------------

def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def md_escape(x: Any) -> str:
    """Text for a Markdown table cell or sentence: no markup, no pipes, no HTML."""
    s = html.escape(str(x), quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+!|~>])", r"\\\1", s).replace("\n", " ")


def fence(text: str, lang: str = "") -> str:
    """A fenced Markdown code block that `text` cannot break out of."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


__all__ = ["command_line", "esc", "fence", "is_num", "looks_like_secret", "md_escape", "pct", "pct_num", "rnd",
           "scrub_text", "short_date"]
