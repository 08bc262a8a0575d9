"""apply_diff's SEARCH/REPLACE grammar (the `malformed_diff` lint), as Roo Code v3.29.3 reads it.

The checks follow Roo's single-file SEARCH/REPLACE strategy (reference roo-code-protocol.md §2.3):
first the marker state machine Roo runs before applying a diff, then, for a diff that passes it, how
Roo's block pattern would cut each block (marker lines must stand at the start of their line,
`:start_line:` is read only directly after the SEARCH marker, leading blank lines of each part are
dropped, an empty SEARCH part is refused) and the prompt's demand for a `:start_line:` in every block.
Lines are scanned one by one; no pattern can backtrack over more than one line.
"""
from __future__ import annotations

import re

from protocols.lints._text import WS, short, to_int
from protocols.text import JS_WHITESPACE, js_trim

_SEARCH_MARKERS = ("<<<<<<< SEARCH", "<<<<<<< SEARCH>")
_SEP = "======="
_REPLACE = ">>>>>>> REPLACE"
_SEARCH_PREFIX = "<<<<<<<"
_REPLACE_PREFIX = ">>>>>>>"
_MARK_FIRST = "<=>:"       # first characters of the marker lines the state machine reacts to

# how Roo's block pattern wants each marker line (column 0; SEARCH/separator may carry trailing blanks)
_STRICT_SEARCH = re.compile(r"<<<<<<< SEARCH>?" + WS + "*")
_STRICT_SEP = re.compile(r"=======" + WS + "*")
_DIGITS_LINE = re.compile(WS + r"*([0-9]+)" + WS + "*")
_DASH_LINE = re.compile(r"-------" + WS + "*")
_ESCAPED_PREFIXES = ("\\<<<<<<<", "\\=======", "\\>>>>>>>", "\\-------", "\\:end_line:", "\\:start_line:")


class Block:
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


def marker_sequence(lines: list[str]) -> tuple[list[tuple[int, int, int]], str | None]:
    """Roo's validateMarkerSequencing: (blocks as (search, separator, replace) line indexes, first error)."""
    def looks_broken() -> bool:
        # Roo words a stray separator as a malformed block when the marker counts are off, else as a
        # literal to escape; the counts are only needed for that wording.
        marks = [js_trim(line) for line in lines]
        n_search = sum(1 for m in marks if m in _SEARCH_MARKERS)
        n_sep = sum(1 for m in marks if m == _SEP)
        n_replace = sum(1 for m in marks if m == _REPLACE)
        return n_search != n_replace or n_sep < n_search

    blocks: list[tuple[int, int, int]] = []
    state = 0  # 0: outside a block, 1: in SEARCH, 2: in REPLACE
    s = e = 0
    for i, line in enumerate(lines):
        first = line[:1]
        if first not in _MARK_FIRST and (not first or first not in JS_WHITESPACE):
            continue            # no marker can be on this line
        m = js_trim(line)
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
                return blocks, (f"line {ln}: unescaped marker '{short(m)}' outside a block "
                                "(escape it as '\\>>>>>>>')")
            if m in _SEARCH_MARKERS:
                state, s = 1, i
            elif m.startswith(_SEARCH_PREFIX):
                return blocks, (f"line {ln}: '{short(m)}' is not a SEARCH marker (write '<<<<<<< SEARCH'; "
                                "escape a literal conflict marker as '\\<<<<<<<')")
        elif state == 1:
            if m in _SEARCH_MARKERS:
                return blocks, f"block {k}, line {ln}: second '<<<<<<< SEARCH' before '======='"
            if m.startswith(_SEARCH_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{short(m)}' in the SEARCH part "
                                "(escape it as '\\<<<<<<<')")
            if m == _REPLACE:
                return blocks, f"block {k}, line {ln}: '>>>>>>> REPLACE' before '=======' (missing separator)"
            if m.startswith(_REPLACE_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{short(m)}' in the SEARCH part "
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
                return blocks, (f"block {k}, line {ln}: unescaped marker '{short(m)}' in the REPLACE part "
                                "(escape it as '\\<<<<<<<')")
            if m == _SEP:
                hint = "" if looks_broken() else "; escape a literal one as '\\======='"
                return blocks, f"block {k}, line {ln}: second '=======' in one block (only one allowed{hint})"
            if m == _REPLACE:
                blocks.append((s, e, i))
                state = 0
            elif m.startswith(_REPLACE_PREFIX):
                return blocks, (f"block {k}, line {ln}: unescaped marker '{short(m)}' in the REPLACE part "
                                "(escape it as '\\>>>>>>>')")
    if state == 1:
        return blocks, f"block {len(blocks) + 1}: incomplete, '=======' not found"
    if state == 2:
        return blocks, f"block {len(blocks) + 1}: incomplete, '>>>>>>> REPLACE' not found"
    return blocks, None


def _skip_blank(lines: list[str], i: int, stop: int) -> int:
    while i < stop and not js_trim(lines[i]):
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
        return to_int(m.group(1)), _skip_blank(lines, i + 1, stop)
    if js_trim(rest):
        return None
    j = _skip_blank(lines, i + 1, stop)
    if j < stop:
        m = _DIGITS_LINE.fullmatch(lines[j])
        if m:
            return to_int(m.group(1)), _skip_blank(lines, j + 1, stop)
    return None


def _unescape(line: str) -> str:
    return line[1:] if line.startswith(_ESCAPED_PREFIXES) else line


def _analyse_block(lines: list[str], b: Block) -> None:
    s, e, r = b.search_line, b.sep_line, b.replace_line
    k = b.index
    bad = []
    for idx, ok in ((s, _STRICT_SEARCH.fullmatch(lines[s])), (e, _STRICT_SEP.fullmatch(lines[e])),
                    (r, lines[r] == _REPLACE)):
        if not ok:
            line = lines[idx]
            how = "is indented" if line[:1] in JS_WHITESPACE else "has trailing characters"
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
    if not dashed and lines[i].startswith("-------") and lines[i].strip(JS_WHITESPACE + "-"):
        b.problems.append(f"block {k}, line {i + 1}: text follows '-------' on the same line "
                          "(the search text starts on the next line)")
    for j in range(i, e):
        t = js_trim(lines[j])
        if t.startswith(":start_line:") or t.startswith(":end_line:"):
            what = ":start_line:" if t.startswith(":start_line:") else ":end_line:"
            if what == ":start_line:":
                b.missing_start = False      # reported here instead
            b.problems.append(f"block {k}, line {j + 1}: '{what}' counts only as '{what}N' on the lines right "
                              "after '<<<<<<< SEARCH'; here Roo would search the file for it as text")
            break
    if [_unescape(x) for x in b.search] == [_unescape(x) for x in b.replace]:
        b.problems.append(f"block {k}: SEARCH and REPLACE are identical (no change)")


def diff_blocks(diff: str) -> tuple[list[Block], str | None]:
    """Roo's reading of a diff: its blocks, analysed, or the state machine's first error."""
    lines = diff.split("\n")
    triples, error = marker_sequence(lines)
    blocks = [] if error else [Block(n + 1, *t) for n, t in enumerate(triples)]
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
    return diff_report(*diff_blocks(diff), strict=strict)


def diff_report(blocks: list[Block], error: str | None, strict: bool = True) -> list[str]:
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
