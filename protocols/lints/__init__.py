"""Per-call value lints: the SEARCH/REPLACE grammar, placeholders and omissions, and prompt rules R4-R9.

Each function takes raw values (XML params are strings; native args may be anything) and returns short
human messages; `call_lints` turns them into `Violation`s for one parsed call. Every function runs in
time linear in its input: values are scanned line by line or with `str.find`, and no regular
expression here can backtrack over more than one short line or a bounded tail of the text.

The diff checks follow Roo Code v3.29.3's single-file SEARCH/REPLACE strategy (reference
roo-code-protocol.md §2.3): first the marker state machine Roo runs before applying a diff, then, for
a diff that passes it, how Roo's block pattern would cut each block (marker lines must stand at the
start of their line, `:start_line:` is read only directly after the SEARCH marker, leading blank
lines of each part are dropped, an empty SEARCH part is refused) and the prompt's demand for a
`:start_line:` in every block.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from protocols import violations as V
from protocols.types import Violation

__all__ = [
    "ROO_TOOLS", "call_lints", "completion_problem", "diff_problems", "followup_problems",
    "opener_problem", "placeholder_problems", "todo_problems",
]

# Tools these lints know (Roo v3.29.3's 21 tools plus the later native-era names). Placeholder lints
# apply only to them, so a BFCL or user function never meets Roo's prompt rules.
ROO_TOOLS = frozenset({
    "execute_command", "read_file", "write_to_file", "apply_diff", "insert_content", "search_and_replace",
    "search_files", "list_files", "list_code_definition_names", "browser_action", "use_mcp_tool",
    "access_mcp_resource", "ask_followup_question", "attempt_completion", "switch_mode", "new_task",
    "fetch_instructions", "codebase_search", "update_todo_list", "run_slash_command", "generate_image",
    # native era (v3.41+)
    "apply_patch", "search_replace", "edit_file", "edit", "read_command_output", "skill",
})

MAX_READ_FILES = 5          # maxConcurrentFileReads default
_MAX_LISTED = 8             # problems listed before "and N more"

# JavaScript's whitespace (String.prototype.trim and regex \s), which differs from Python's str.isspace.
_JS_WS = ("\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
          "\u2028\u2029\u202f\u205f\u3000\ufeff")
_WS = "[\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def _js_trim(s: str) -> str:
    return s.strip(_JS_WS)


def _short(s: str, n: int = 40) -> str:
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def _cap(items: list[str], limit: int = _MAX_LISTED) -> list[str]:
    if len(items) <= limit:
        return items
    return items[:limit] + [f"… and {len(items) - limit} more"]


def _to_int(digits: str) -> int:
    # Python refuses int() on > 4300 digits; any value that long is simply "huge".
    return int(digits) if len(digits) <= 18 else 10 ** 18


# ---------------------------------------------------------------------------------------------------
# apply_diff: SEARCH/REPLACE blocks
# ---------------------------------------------------------------------------------------------------

_SEARCH_MARKERS = ("<<<<<<< SEARCH", "<<<<<<< SEARCH>")
_SEP = "======="
_REPLACE = ">>>>>>> REPLACE"
_SEARCH_PREFIX = "<<<<<<<"
_REPLACE_PREFIX = ">>>>>>>"
_MARK_FIRST = "<=>:"       # first characters of the marker lines the state machine reacts to

# how Roo's block pattern wants each marker line (column 0; SEARCH/separator may carry trailing blanks)
_STRICT_SEARCH = re.compile(r"<<<<<<< SEARCH>?" + _WS + "*")
_STRICT_SEP = re.compile(r"=======" + _WS + "*")
_DIGITS_LINE = re.compile(_WS + r"*([0-9]+)" + _WS + "*")
_DASH_LINE = re.compile(r"-------" + _WS + "*")
_ESCAPED_PREFIXES = ("\\<<<<<<<", "\\=======", "\\>>>>>>>", "\\-------", "\\:end_line:", "\\:start_line:")


class _Block:
    __slots__ = ("index", "search_line", "sep_line", "replace_line", "start", "end", "search", "replace",
                 "recognised", "problems", "prompt_problems", "missing_start")

    def __init__(self, index: int, s: int, e: int, r: int) -> None:
        self.index = index
        self.search_line, self.sep_line, self.replace_line = s, e, r
        self.start: int | None = None
        self.end: int | None = None
        self.search: list[str] = []
        self.replace: list[str] = []
        self.recognised = True
        self.problems: list[str] = []          # what Roo refuses or misreads
        self.prompt_problems: list[str] = []   # what only the prompt demands
        self.missing_start = False


def _marker_sequence(lines: list[str]) -> tuple[list[tuple[int, int, int]], str | None]:
    """Roo's validateMarkerSequencing: (blocks as (search, separator, replace) line indexes, first error)."""
    def looks_broken() -> bool:
        # Roo words a stray separator as a malformed block when the marker counts are off, else as a
        # literal to escape; the counts are only needed for that wording.
        marks = [_js_trim(line) for line in lines]
        n_search = sum(1 for m in marks if m in _SEARCH_MARKERS)
        n_sep = sum(1 for m in marks if m == _SEP)
        n_replace = sum(1 for m in marks if m == _REPLACE)
        return n_search != n_replace or n_sep < n_search

    blocks: list[tuple[int, int, int]] = []
    state = 0  # 0: outside a block, 1: in SEARCH, 2: in REPLACE
    s = e = 0
    for i, line in enumerate(lines):
        first = line[:1]
        if first not in _MARK_FIRST and (not first or first not in _JS_WS):
            continue            # no marker can be on this line
        m = _js_trim(line)
        if not m or m[0] not in _MARK_FIRST:
            continue
        ln = i + 1
        k = len(blocks) + 1
        if state == 0:
            if m == _SEP:
                hint = "" if looks_broken() else " (escape a literal one as '\\=======')"
                return blocks, f"line {ln}: '=======' before any '<<<<<<< SEARCH'{hint}"
            if m == _REPLACE:
                return blocks, f"line {ln}: '>>>>>>> REPLACE' before any '<<<<<<< SEARCH'"
            if m.startswith(_REPLACE_PREFIX):
                return blocks, (f"line {ln}: unescaped marker '{_short(m)}' outside a block "
                                "(escape it as '\\>>>>>>>')")
            if m in _SEARCH_MARKERS:
                state, s = 1, i
            elif m.startswith(_SEARCH_PREFIX):
                return blocks, (f"line {ln}: '{_short(m)}' is not a SEARCH marker (write '<<<<<<< SEARCH'; "
                                "escape a literal conflict marker as '\\<<<<<<<')")
        elif state == 1:
            if m in _SEARCH_MARKERS:
                return blocks, f"block {k}, line {ln}: second '<<<<<<< SEARCH' before '======='"
            if m.startswith(_SEARCH_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{_short(m)}' in the SEARCH part "
                                "(escape it as '\\<<<<<<<')")
            if m == _REPLACE:
                return blocks, f"block {k}, line {ln}: '>>>>>>> REPLACE' before '=======' (missing separator)"
            if m.startswith(_REPLACE_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{_short(m)}' in the SEARCH part "
                                "(escape it as '\\>>>>>>>')")
            if m == _SEP:
                state, e = 2, i
        else:
            for lm in (":start_line:", ":end_line:"):
                if m.startswith(lm):
                    return blocks, (f"block {k}, line {ln}: '{lm}' in the REPLACE part "
                                    "(line markers belong to the SEARCH part)")
            if m in _SEARCH_MARKERS:
                return blocks, (f"block {k}, line {ln}: '<<<<<<< SEARCH' before '>>>>>>> REPLACE' "
                                "(block not closed)")
            if m.startswith(_SEARCH_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{_short(m)}' in the REPLACE part "
                                "(escape it as '\\<<<<<<<')")
            if m == _SEP:
                hint = "" if looks_broken() else "; escape a literal one as '\\======='"
                return blocks, f"block {k}, line {ln}: second '=======' in one block (only one allowed{hint})"
            if m == _REPLACE:
                blocks.append((s, e, i))
                state = 0
            elif m.startswith(_REPLACE_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{_short(m)}' in the REPLACE part "
                                "(escape it as '\\>>>>>>>')")
    if state == 1:
        return blocks, f"block {len(blocks) + 1}: incomplete, '=======' not found"
    if state == 2:
        return blocks, f"block {len(blocks) + 1}: incomplete, '>>>>>>> REPLACE' not found"
    return blocks, None


def _skip_blank(lines: list[str], i: int, stop: int) -> int:
    while i < stop and not _js_trim(lines[i]):
        i += 1
    return i


def _line_marker(lines: list[str], i: int, stop: int, key: str) -> tuple[int, int] | None:
    """Read `key` + digits at line i the way Roo's pattern does (digits may sit on a following line).

    Returns (value, index of the first non-blank line after it) or None.
    """
    line = lines[i]
    if not line.startswith(key):
        return None
    rest = line[len(key):]
    m = _DIGITS_LINE.fullmatch(rest)
    if m:
        return _to_int(m.group(1)), _skip_blank(lines, i + 1, stop)
    if _js_trim(rest):
        return None
    j = _skip_blank(lines, i + 1, stop)
    if j < stop:
        m = _DIGITS_LINE.fullmatch(lines[j])
        if m:
            return _to_int(m.group(1)), _skip_blank(lines, j + 1, stop)
    return None


def _unescape(line: str) -> str:
    return line[1:] if line.startswith(_ESCAPED_PREFIXES) else line


def _analyse_block(lines: list[str], b: _Block) -> None:
    s, e, r = b.search_line, b.sep_line, b.replace_line
    k = b.index
    bad = []
    for idx, ok in ((s, _STRICT_SEARCH.fullmatch(lines[s])), (e, _STRICT_SEP.fullmatch(lines[e])),
                    (r, lines[r] == _REPLACE)):
        if not ok:
            line = lines[idx]
            how = "is indented" if line[:1] in _JS_WS else "has trailing characters"
            shown = repr(line) if len(line) <= 40 else repr(line[:39] + "…")
            bad.append(f"line {idx + 1}: marker {shown} {how}")
    if bad:
        b.recognised = False
        b.problems.append(f"block {k}, {'; '.join(bad)} (Roo's block pattern needs each marker alone at the "
                          "start of its line, so it would skip this block or run it into the next)")
        return

    i = _skip_blank(lines, s + 1, e)
    got = _line_marker(lines, i, e, ":start_line:") if i < e else None
    if got:
        b.start, i = got
    got = _line_marker(lines, i, e, ":end_line:") if i < e else None
    if got:
        b.end, i = got
    dashed = False
    if i < e and _DASH_LINE.fullmatch(lines[i]):
        dashed = True
        i = _skip_blank(lines, i + 1, e)
    b.search = lines[i:e]
    r0 = _skip_blank(lines, e + 1, r)
    b.replace = lines[r0:r]

    if b.start is None:
        b.missing_start = True
    elif b.start == 0:
        b.prompt_problems.append(f"block {k}: ':start_line:0' is not a line number (lines start at 1)")
    if b.end is not None and b.start is not None and b.end < b.start:
        b.prompt_problems.append(f"block {k}: ':end_line:{b.end}' is before ':start_line:{b.start}'")
    if not b.search:
        b.problems.append(f"block {k} (line {s + 1}): the SEARCH part is empty (empty search content is not allowed)")
        return
    if not dashed and lines[i].startswith("-------") and lines[i].strip(_JS_WS + "-"):
        b.problems.append(f"block {k}, line {i + 1}: text follows '-------' on the same line "
                          "(the search text starts on the next line)")
    for j in range(i, e):
        t = _js_trim(lines[j])
        if t.startswith(":start_line:") or t.startswith(":end_line:"):
            what = ":start_line:" if t.startswith(":start_line:") else ":end_line:"
            if what == ":start_line:":
                b.missing_start = False      # reported here instead
            b.problems.append(f"block {k}, line {j + 1}: '{what}' counts only as '{what}N' on the lines right "
                              "after '<<<<<<< SEARCH'; here Roo would search the file for it as text")
            break
    if [_unescape(x) for x in b.search] == [_unescape(x) for x in b.replace]:
        b.problems.append(f"block {k}: SEARCH and REPLACE are identical (no change)")


def _diff_blocks(diff: str) -> tuple[list[_Block], str | None]:
    """Roo's reading of a diff: its blocks, analysed, or the state machine's first error."""
    lines = diff.split("\n")
    triples, error = _marker_sequence(lines)
    blocks = [] if error else [_Block(n + 1, *t) for n, t in enumerate(triples)]
    for b in blocks:
        _analyse_block(lines, b)
    return blocks, error


def diff_problems(diff: str, *, strict: bool = True) -> list[str]:
    """Problems with apply_diff's SEARCH/REPLACE text (single-file strategy); [] for a valid diff.

    `strict` (the default) adds the prompt's demands that Roo's code does not enforce: a
    `:start_line:N` in every block, N at least 1, `:end_line:` not before `:start_line:`. With
    strict=False only what Roo v3.29.3 refuses or would misread is reported.
    """
    if not isinstance(diff, str):
        return ["diff is not text"]
    return _diff_report(*_diff_blocks(diff), strict=strict)


def _diff_report(blocks: list[_Block], error: str | None, strict: bool = True) -> list[str]:
    if error:
        return [error]
    if not blocks:
        return ["no '<<<<<<< SEARCH' / '=======' / '>>>>>>> REPLACE' block "
                "(invalid diff format - missing required sections)"]
    out: list[str] = []
    for b in blocks:
        out.extend(b.problems)
        if strict:
            out.extend(b.prompt_problems)
    if not any(b.recognised for b in blocks):
        out.append("no block Roo can read (invalid diff format - missing required sections)")
    missing = [b.index for b in blocks if b.recognised and b.missing_start]
    if missing and strict:
        listed = ", ".join(str(x) for x in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10
                                                            else "")
        noun = "block" if len(missing) == 1 else "blocks"
        out.append(f"{noun} {listed}: no ':start_line:N' line after '<<<<<<< SEARCH' (the prompt requires one)")
    return out


# ---------------------------------------------------------------------------------------------------
# placeholders (R4) and omitted code (R9)
# ---------------------------------------------------------------------------------------------------

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
            return f"contains the placeholder segment '{_short(seg)}'"
        if len(seg) <= 80 and ((seg[0] == "{" and _BRACED_PH_WORD.fullmatch(seg))
                               or (seg[0] == "[" and (_BRACKETED_PH_WORD.fullmatch(seg) or _BRACKET_PH.fullmatch(seg)))):
            return f"contains the placeholder segment '{_short(seg)}'"
    return None


# -- omitted-code comments ----------------------------------------------------------------------------
# Roo's detect-omission flags a comment line holding words such as "rest", "previous", "existing",
# "unchanged" or "..." when the new file is much shorter than the predicted line count. The harness has
# no original file and no truncation signal, so it looks for the *phrases* models write in place of
# code ("... existing code ...", "rest of the file unchanged", "your code here"), in whole-line
# comments only, and leaves organising comments ("// Existing routes", "// keep other fields
# unchanged") alone.

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


def _extension(path: Any) -> str:
    if not isinstance(path, str):
        return ""
    name = path.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name.rpartition(".")[2].lower() if "." in name else ""


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


def _omission_lines(lines: list[str] | str, ext: str, first_line: int = 1) -> list[str]:
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
            found.append(f"line {n}: omission comment '{_short(s, 60)}' instead of the real code")
    return found


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


def _declared_line_count(value: Any) -> int | None | str:
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
        return _to_int(v) if v.isascii() and v.isdigit() else "bad"
    return None


def _read_file_paths(args: str) -> list[str]:
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


def placeholder_problems(tool: str, arguments: Mapping[str, Any]) -> list[str]:
    """R4/R9: placeholder values, omitted-code comments and a wrong write_to_file `line_count`."""
    return _placeholders(tool, arguments)


def _placeholders(tool: str, arguments: Mapping[str, Any],
                  parsed_diff: tuple[list[_Block], str | None] | None = None) -> list[str]:
    if not isinstance(arguments, Mapping) or tool not in ROO_TOOLS:
        return []
    out: list[str] = []
    for name, value in arguments.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if name in _PATH_PARAMS:
            why = _path_placeholder(value)
            if why:
                out.append(f"{name} '{_short(value)}' {why}")
        elif name == "command":
            if _generic_placeholder(value) or _CMD_PH.search(value[:4000]):
                out.append(f"command '{_short(value)}' contains a placeholder")
        elif name not in _NOT_GENERIC and _generic_placeholder(value):
            out.append(f"{name} '{_short(value)}' is a placeholder")

    # paths nested in read_file's XML args or native files list
    if tool == "read_file":
        args = arguments.get("args")
        paths = _read_file_paths(args) if isinstance(args, str) else []
        files = arguments.get("files")
        if isinstance(files, list):
            paths += [f.get("path") for f in files[:1000] if isinstance(f, Mapping) and isinstance(f.get("path"), str)]
        for p in paths:
            why = _path_placeholder(p)
            if why:
                out.append(f"path '{_short(p)}' {why}")

    ext = _extension(arguments.get("path"))
    if tool in ("write_to_file", "insert_content"):
        content = arguments.get("content")
        if isinstance(content, str):
            out.extend(_cap(_omission_lines(content, ext)))
            if tool == "write_to_file":
                declared = _declared_line_count(arguments.get("line_count"))
                if isinstance(declared, int):
                    counts = _line_counts(content)
                    if declared not in counts:
                        real = min(counts, key=lambda c: abs(c - declared))
                        out.append(f"line_count {declared} does not match the content's {real} lines")
    elif tool == "apply_diff":
        diff = arguments.get("diff")
        if isinstance(diff, str):
            blocks, error = parsed_diff or _diff_blocks(diff)
            found: list[str] = []
            for b in blocks if not error else []:
                if not b.recognised:
                    continue
                before = {x.strip() for x in b.search}
                first = b.replace_line - len(b.replace) + 1
                added = [x if x.strip() not in before else "" for x in b.replace]
                found.extend(f"block {b.index}, {m}" for m in _omission_lines(added, ext, first))
            out.extend(_cap(found))
    return out


# ---------------------------------------------------------------------------------------------------
# attempt_completion (R6) and openers (R7)
# ---------------------------------------------------------------------------------------------------

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
            return f"the result ends with a question: '{_short(core, 60)}'"
        for p in _OFFERS:
            if p.search(probe):
                return f"the result ends with an offer of further conversation: '{_short(core, 60)}'"
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


# ---------------------------------------------------------------------------------------------------
# todos, follow_up, read_file args
# ---------------------------------------------------------------------------------------------------

def _todo_line_ok(line: str) -> bool:
    # Roo: optional "-" and blanks, "[" blanks? one of " xX-~" blanks? "]", at least one blank, text.
    i = 0
    if line.startswith("-"):
        i = 1
        while i < len(line) and line[i] in _JS_WS:
            i += 1
    if not line.startswith("[", i):
        return False
    close = line.find("]", i + 1)
    if close < 0:
        return False
    inner = line[i + 1:close]
    core = _js_trim(inner)
    if core:
        if core not in ("x", "X", "-", "~"):
            return False
    elif " " not in inner:        # the status char itself must be a plain space
        return False
    rest = line[close + 1:]
    if not rest or rest[0] not in _JS_WS:
        return False
    text = _js_trim(rest)
    return bool(text) and not any(c in text for c in "\r\u2028\u2029")


_LINE_BREAK = re.compile(r"\r?\n")


def todo_problems(todos: str) -> list[str]:
    """Lines of a todo list that Roo's checklist parser would drop; [] when every item reads."""
    if not isinstance(todos, str):
        return []
    bad: list[str] = []
    items = 0
    for n, raw in enumerate(_LINE_BREAK.split(todos), 1):
        line = _js_trim(raw)
        if not line:
            continue
        if _todo_line_ok(line):
            items += 1
        else:
            bad.append(f"line {n} '{_short(line)}' is not a checklist item ('[ ] task', '[x] task' or '[-] task')")
    out = _cap(bad)
    if not items and todos.strip():
        out.append("no checklist item at all")
    return out


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
                out.append(f"suggestion {count} has attribute '{_short(name)}' (only 'mode' is allowed)")
            elif value is None:
                out.append(f"suggestion {count}: the mode attribute needs a quoted value")
            elif not value.strip():
                out.append(f"suggestion {count}: empty mode attribute")
            elif mode_slugs and value.strip() not in mode_slugs:
                out.append(f"suggestion {count} names unknown mode '{_short(value)}'")
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
    return _cap(out)


_RANGE = re.compile(r"([0-9]+)-([0-9]+)")


def _read_file_args_problems(args: str) -> list[str]:
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
        paths = _read_file_paths(body)
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
                out.append(f"file {count}: line_range '{_short(value)}' is not 'start-end'")
            else:
                lo, hi = _to_int(m.group(1)), _to_int(m.group(2))
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
    return _cap(out)


# ---------------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------------

def _join(problems: list[str]) -> str:
    return "; ".join(_cap(problems))


def call_lints(name: str, arguments: Mapping[str, Any], mode_slugs: Collection[str] = ()) -> list[Violation]:
    """Value-level violations of one parsed call (missing params and schemas are checked elsewhere)."""
    if not isinstance(arguments, Mapping) or name not in ROO_TOOLS:
        return []
    out: list[Violation] = []
    invalid: list[str] = []

    parsed_diff = None
    if name == "apply_diff":
        diff = arguments.get("diff")
        if isinstance(diff, str) and diff.strip():
            parsed_diff = _diff_blocks(diff)
            problems = _diff_report(*parsed_diff)
            if problems:
                out.append(Violation(V.MALFORMED_DIFF, _join(problems)))

    placeholders = _placeholders(name, arguments, parsed_diff)
    if placeholders:
        out.append(Violation(V.PLACEHOLDER_CONTENT, _join(placeholders)))

    if name == "attempt_completion":
        result = arguments.get("result")
        if isinstance(result, str) and result.strip():
            q = completion_problem(result)
            if q:
                out.append(Violation(V.QUESTION_IN_COMPLETION, q))
            o = opener_problem(result)
            if o:
                out.append(Violation(V.CONVERSATIONAL_OPENER, o))
    elif name in ("update_todo_list", "new_task"):
        todos = arguments.get("todos")
        if isinstance(todos, str) and todos.strip():
            invalid += [f"todos: {p}" for p in todo_problems(todos)]
    elif name == "ask_followup_question":
        follow_up = arguments.get("follow_up")
        if isinstance(follow_up, str) and follow_up.strip():
            invalid += [f"follow_up: {p}" for p in followup_problems(follow_up, mode_slugs)]
    elif name == "read_file":
        args = arguments.get("args")
        if isinstance(args, str) and args.strip():
            invalid += [f"args: {p}" for p in _read_file_args_problems(args)]
    elif name == "write_to_file":
        if _declared_line_count(arguments.get("line_count")) == "bad":
            invalid.append(f"line_count '{_short(str(arguments.get('line_count')))}' is not a whole number")

    if invalid:
        out.append(Violation(V.INVALID_PARAM_VALUE, _join(invalid)))
    return out
