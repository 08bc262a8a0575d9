"""Omitted-code comments (R9): the phrases models write in place of code, in whole-line comments.

Roo's detect-omission flags a comment line holding words such as "rest", "previous", "existing",
"unchanged" or "..." when the new file is much shorter than the predicted line count. The harness has
no original file and no truncation signal, so it looks for the *phrases* models write in place of
code ("... existing code ...", "rest of the file unchanged", "your code here"), in whole-line
comments only, and leaves organising comments ("// Existing routes", "// keep other fields
unchanged") alone. Only lines that open with a comment marker are ever matched (linear time).
"""
from __future__ import annotations

import re

from protocols.lints._text import short

_GEN = r"(?:code|codes|content|contents|implementation|implementations|logic|stuff|lines?|body)"
_REF = (r"(?:code|codes|content|contents|implementation|implementations|logic|stuff|lines?|body|details?"
        r"|methods?|functions?|imports?|props|properties|fields?|styles?|rules?|tests?|cases?|routes?"
        r"|handlers?|components?|sections?|config|configuration|definitions?|declarations?|elements?|markup"
        r"|html|css|text|items?|entries|class(?:es)?|helpers?|utilities|variables?|exports?|setup|settings"
        r"|state|hooks?|endpoints?|options|dependencies|blocks?|parts?|file|files|data)")
_ANCHOR = r"(?:rest|remainder|remaining|existing|previous|original|everything else|all else)"
# words that say "this stands for code that is not shown"
_STATE = (r"(?:unchanged|unmodified|untouched|not shown|omitted|for brevity|as before|same as before"
          r"|(?:remain|remains|stay|stays|kept|left|goes|go)(?: \w+)?(?: the)? same"
          r"|(?:remain|remains|stay|stays|kept|left) (?:as is|as before|here)"
          r"|same as (?:above|the original|original|previous|existing))")
_TAIL = (r"(?: (?:remains?|stays?|goes|go|is|are|kept|left))?"
         r"(?: (?:here|unchanged|the same|as is|as before|omitted|omitted for brevity|not shown))?"
         r"(?: etc| and so on)?")
_OMISSION = [re.compile(p) for p in (
    # "rest of the code", "the remainder of file unchanged"
    r"(?:and |but |plus |keep |keeping )?(?:the )?(?:rest|remainder) of(?: \w+){1,3}",
    r"(?:and |but |plus )?(?:the )?(?:rest|remainder) of\b.*\b(?:" + _STATE + r"|(?:is|are) (?:\w+ )?(?:the )?same)"
    r"\b.*",
    # "existing code", "previous implementation remains unchanged", "keep existing code"
    r"(?:keep |keeping |your |the |all )*(?:existing|previous|original|remaining|old|unchanged)(?: \w+)? "
    + _GEN + _TAIL,
    r"(?:your |the |all )*(?:existing|previous|original|remaining|old|other|more|additional|same|similar)"
    r"(?: \w+)? " + _REF + r" (?:remains? |stays? |goes |go )?(?:here|omitted|omitted for brevity|unchanged"
    r"|the same|as before|same as before|not shown)",
    # "[previous content from line 1-305 remains exactly the same]", "<!-- existing content unchanged -->"
    r"(?:.* )?" + _ANCHOR + r"\b.*\b" + _STATE + r"\b.*",
    # "lines 1-50 remain unchanged", "everything else stays the same"
    r"(?:(?:all )?lines? \d+(?: \d+)?|the rest|rest|others|all others)(?: \w+){0,3} " + _STATE,
    # "your code here", "implementation goes here", "add your logic here"
    r"(?:add |put |insert |place |write |implement )?your(?: \w+)? " + _REF + r"(?: goes| go)? here",
    r"(?:the |more |other )?(?:\w+ )?" + _GEN + r" goes here",
    r"(?:more |other |\w+ )?(?:code|implementation|logic|stuff|content) here",
    # "code omitted", "details omitted for brevity", "snip", "unchanged"
    r".*\bfor brevity\b.*",
    r"(?:\w+ )?(?:" + _GEN + r"|rest|remainder|section|parts?|details) (?:omitted|elided|snipped|truncated"
    r"|skipped|not shown)(?: \w+){0,2}",
    r"(?:code |content |file |everything )?(?:unchanged|omitted|snip|snipped|elided|truncated|no changes)",
)]
# comments that describe behaviour rather than stand in for code
_DESCRIBES = re.compile(r"(?:keep|keeps|leave|leaves|preserve|preserves|retain|ensure|make|don't|dont|do|does"
                        r"|must|should|we|this|it|if|when|only|so|note|check|compare|skip|return|returns"
                        r"|because|since|otherwise|else|unless|whether|assert|verify|test|tests)\b")
_ELLIPSIS_NOTE = re.compile(r"(?:the |all |any |your )?(?:other|more|additional|same|similar|rest|remaining"
                            r"|existing|previous|original)(?: \w+)? " + _REF + r"(?: \w+)?")
_KEEP_LEAD = re.compile(r"(?:keep|keeping) (?:the |all )?(?:existing|previous|original|remaining|rest)\b")
_COMMENT_OPENERS = ("{/*", "/*", "<!--", "//", "--", "#", ";", "%", "*")
_SPACED_OPENERS = ("--", "#", ";", "%", "*")   # need a blank after them: "#include", "--flag", "*p" are code
_CLOSERS = ("*/}", "*/", "-->")
_ELLIPSIS_OK = frozenset({"py", "pyi", "pyw", "pyx", "ipynb", "yaml", "yml", "md", "markdown", "mdx", "txt",
                          "text", "rst", "adoc", "asciidoc", "tex", "csv", "tsv", "log", "org"})
_PROSE = frozenset({"md", "markdown", "mdx", "rst", "txt", "text", "adoc", "asciidoc", "org"})
_WORD = re.compile(r"[a-z0-9_']+")


def _comment_body(stripped: str, prose: bool) -> str | None:
    """The text of a whole-line comment (or of a bracketed note), else None."""
    if stripped.startswith("[") and stripped.endswith("]") and " " in stripped:
        inner = stripped[1:-1]
        return None if ('"' in inner or "'" in inner or "[" in inner) else inner
    for op in _COMMENT_OPENERS:
        if not stripped.startswith(op):
            continue
        if op in _SPACED_OPENERS:
            if prose:
                return None          # headings, bullets and rules in prose files
            body = stripped.lstrip(op[0])
            if op == "--" and len(stripped) - len(body) != 2:
                return None          # "---" rules and front matter
            if body and body[0] not in " \t":
                return None
        else:
            body = stripped[len(op):]
        body = body.strip()
        for c in _CLOSERS:
            if body.endswith(c):
                body = body[: -len(c)].rstrip()
                break
        return body
    return None


def _is_omission_comment(body: str) -> bool:
    low = body.lower().replace("…", "...").replace("’", "'")
    had_ellipsis = "..." in low
    words = _WORD.findall(low)
    if not words:
        return had_ellipsis
    if len(words) > 14:
        return False
    t = " ".join(w.strip("'") for w in words)
    if _DESCRIBES.match(t) and not _KEEP_LEAD.match(t):
        return False
    if any(p.fullmatch(t) for p in _OMISSION):
        return True
    if had_ellipsis:
        # "... other methods ...", "// ... more tests"
        return _ELLIPSIS_NOTE.fullmatch(t) is not None
    return False


# A line can be reported only when its first non-blank character opens a comment ("{/*", "/*",
# "<!--", "//", "--", "#", ";", "%", "*"), a bracketed note ("[") or an ellipsis ("...", "…"): the
# other lines (nearly all of a file) are skipped in C. `[^\S\n]` is what str.strip() removes, minus "\n";
# the pattern starts with a literal "\n" (sre then scans for it quickly), the first line is matched apart;
# the blank run is possessive (`*+`): the marker class holds no blank, so backtracking could never help.
_CANDIDATE_START = r"[^\S\n]*+[\[{/<\-#;%*.\u2026]"
_OMISSION_FIRST = re.compile(_CANDIDATE_START)
_OMISSION_NEXT = re.compile("\n" + _CANDIDATE_START)


def _candidate_line_starts(text: str) -> list[int]:
    starts = [m.start() + 1 for m in _OMISSION_NEXT.finditer(text)]
    if _OMISSION_FIRST.match(text):
        starts.insert(0, 0)
    return starts


def omission_lines(lines: list[str] | str, ext: str, first_line: int = 1) -> list[str]:
    """Omission comments and bare ellipses among `lines` (a list of lines without "\n", or the text
    they split from), numbered from `first_line`."""
    text = lines if isinstance(lines, str) else "\n".join(lines)
    prose = ext in _PROSE
    bare_ok = ext in _ELLIPSIS_OK
    found: list[str] = []
    n = first_line
    counted = 0
    for start in _candidate_line_starts(text):
        n += text.count("\n", counted, start)
        counted = start
        end = text.find("\n", start)
        s = (text[start:] if end < 0 else text[start:end]).strip()
        if len(s) > 200:
            continue
        if s in ("...", "…"):
            if not bare_ok:
                found.append(f"line {n} is only '{s}' (omitted code)")
            continue
        body = _comment_body(s, prose)
        if body is not None and _is_omission_comment(body):
            found.append(f"line {n}: omission comment '{short(s, 60)}' instead of the real code")
    return found
