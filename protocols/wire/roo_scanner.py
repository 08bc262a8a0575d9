"""Roo Code v3.29.3's assistant-message scanner, reproduced exactly and in linear time.

Roo's streaming parser (`AssistantMessageParser`) is not an XML parser: after every character it asks
whether the text so far ends with `<tool>`, `</tool>`, a whitelisted `<param>` or `</param>`. We
reproduce the observable result — the same blocks, the same raw params, the same partial state —
by jumping between the positions where such a tag ends (regex/find in C) instead of testing every
character, which makes a 1 MiB message cost milliseconds instead of seconds.

Behaviour mirrored (reference/roo-code-protocol.md §3):
* text state: a known `<tool>` opens a tool; the text before it (JS-trimmed) is a text block;
* tool state: `</tool>` closes; a whitelisted `<param>` opens a value; anything else is discarded;
* param state: only the exact `</param>` closes; `content` loses one leading and one trailing
  newline, other values are trimmed; an unclosed value keeps its raw text;
* write_to_file: each `</content>` seen at tool level re-reads content from the first `<content>`
  to the last `</content>`;
* a value longer than 100 KiB (UTF-16 units) is abandoned with its first 100 KiB and scanning
  resumes at tool level; a message over 1 MiB is rejected by Roo (reported by the caller);
* finalize: every block becomes non-partial, so an unterminated call still executes.

Lengths follow JavaScript (UTF-16 code units): text with astral characters is scanned in a
surrogate-pair view and converted back, so limits fall exactly where Roo's do.
"""
from __future__ import annotations

import bisect
import re
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Iterable

from protocols.text import js_trim

MAX_MESSAGE = 1024 * 1024      # Roo: "Assistant message exceeds maximum allowed size"
MAX_PARAM = 1024 * 100         # Roo abandons a param value beyond this many code units

def strip_one_newline(s: str) -> str:
    """Roo's `content` rule: drop exactly one leading and one trailing "\\n"."""
    if s.startswith("\n"):
        s = s[1:]
    if s.endswith("\n"):
        s = s[:-1]
    return s


def utf16_len(s: str) -> int:
    """Length as JavaScript counts it (UTF-16 code units)."""
    return len(s) if s.isascii() else len(s.encode("utf-16-le", "surrogatepass")) // 2


def _to_units(s: str) -> str:
    """Astral characters as two surrogate code points, so len() counts UTF-16 units like JS."""
    out = []
    for ch in s:
        o = ord(ch)
        if o > 0xFFFF:
            o -= 0x10000
            out.append(chr(0xD800 + (o >> 10)) + chr(0xDC00 + (o & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


def _from_units(s: str) -> str:
    """Recombine surrogate pairs; a pair split by Roo's 100 KiB cut stays a lone surrogate."""
    if s.isascii():
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@dataclass
class Block:
    """A text or tool_use block, as Roo's parser yields it after finalize."""

    kind: str                                   # "text" | "tool"
    content: str = ""                           # text blocks
    name: str = ""                              # tool blocks
    params: dict[str, str] = field(default_factory=dict)
    closed: bool = True                         # tool saw its exact closing tag
    open_param: str | None = None               # param still open when the message ended
    abandoned_params: list[str] = field(default_factory=list)   # values cut at the 100 KiB limit
    discarded: list[str] = field(default_factory=list)          # non-blank text dropped at tool level


_TEXT, _TOOL, _PARAM = 0, 1, 2


class _Patterns:
    """Compiled tag patterns for one (tools, params) whitelist, shared by every scan."""

    def __init__(self, tools: tuple[str, ...], params: tuple[str, ...]) -> None:
        self.tool_open = re.compile("<(" + "|".join(map(re.escape, tools)) + ")>") if tools else None
        self.param_alt = "|".join(map(re.escape, params))
        self.maxtag = max([len(t) + 3 for t in tools] + [len(p) + 3 for p in params] + [len("</content>")])
        self._tool_level: dict[str, re.Pattern[str]] = {}

    def tool_level(self, name: str) -> re.Pattern[str]:
        """At tool level: this tool's close tag, any whitelisted param tag, and </content>."""
        pat = self._tool_level.get(name)
        if pat is None:
            alts = [f"(?P<close></{re.escape(name)}>)"]
            if self.param_alt:
                alts.append(f"<(?P<param>{self.param_alt})>")
            if name == "write_to_file":
                alts.append("(?P<cend></content>)")
            pat = self._tool_level[name] = re.compile("|".join(alts))
        return pat


@lru_cache(maxsize=32)
def _patterns(tools: tuple[str, ...], params: tuple[str, ...]) -> _Patterns:
    return _Patterns(tuple(dict.fromkeys(tools)), tuple(dict.fromkeys(params)))


def _patterns_for(tool_names: Iterable[str], param_names: Iterable[str]) -> _Patterns:
    """The compiled patterns of a whitelist. Protocols pass the same tuples on every scan, so the
    cache is hit without re-deduplicating the names (a third of a short message's scan time)."""
    if type(tool_names) is not tuple:
        tool_names = tuple(tool_names)
    if type(param_names) is not tuple:
        param_names = tuple(param_names)
    return _patterns(tool_names, param_names)


class RooScanner:
    """Incremental scanner: `feed()` chunks in any sizes, then `finish()`; the blocks equal those of
    one `feed()` of the whole text (the streaming-equivalence property Roo's own tests check)."""

    def __init__(self, tool_names: Iterable[str], param_names: Iterable[str], max_param: int = MAX_PARAM) -> None:
        self.max_param = max_param
        self._patterns = _patterns_for(tool_names, param_names)
        self._tool_open = self._patterns.tool_open
        self._maxtag = self._patterns.maxtag
        self.acc = ""
        self.blocks: list[Block] = []
        self.state = _TEXT
        self.text_block: Block | None = None
        self.text_start = 0
        self.tool: Block | None = None
        self.tool_start = 0
        self.param: str | None = None
        self.value_start = 0
        self.resume = 0          # first index scanned at tool level: a tag counts if it ends after it
        self._discard_at: list[int] = []   # start index of each entry of tool.discarded
        # write_to_file's first/last </content> rule, kept as a span and read once at finish():
        # re-slicing the content at every </content> would be quadratic on adversarial input.
        self._first_content = -1           # absolute index after the first "<content>" of the tool
        self._content_seen = 0             # "<content>" searched for up to here
        self._content_span: tuple[Block, int, int] | None = None
        self.search_from = 0     # where the next search may start (streaming)

    def _tool_pattern(self, name: str) -> re.Pattern[str]:
        return self._patterns.tool_level(name)

    def feed(self, chunk: str) -> None:
        self.acc += chunk
        self._run()

    def _run(self) -> None:
        acc = self.acc
        n = len(acc)
        while True:
            if self.state == _TEXT:
                if self.text_block is None and self.text_start < n:
                    # Roo opens a text block on the first character seen in text state.
                    self.text_block = Block("text")
                    self.blocks.append(self.text_block)
                m = self._tool_open.search(acc, self.search_from) if self._tool_open else None
                if m is None:
                    self.search_from = max(self.search_from, n - self._maxtag + 1)
                    return
                s, e = m.span()
                self.text_block.content = js_trim(acc[self.text_start:s])  # type: ignore[union-attr]
                self.text_block = None
                self.tool = Block("tool", name=m.group(1), closed=False)
                self.blocks.append(self.tool)
                self._discard_at = []
                self._first_content = -1
                self._content_seen = 0
                self._flush_content()
                self.tool_start = e
                self._enter_tool(e)
            elif self.state == _TOOL:
                tool = self.tool
                assert tool is not None
                pat = self._tool_pattern(tool.name)
                pos = self.search_from
                while True:
                    m = pat.search(acc, pos)
                    if m is None or m.end() > self.resume:
                        break
                    pos = m.start() + 1   # a tag ending inside the abandoned value: not seen by Roo
                if m is None:
                    self.search_from = max(pos, n - self._maxtag + 1)
                    return
                s, e = m.span()
                self._discard(tool, self.resume, s)
                kind = m.lastgroup   # the one named group of the alternative that matched
                if kind == "close":
                    tool.closed = True
                    self.tool = None
                    self.state = _TEXT
                    self.text_start = e
                    self.search_from = e
                    self.resume = e
                elif kind == "param":
                    self.param = m.group("param")
                    self.value_start = e
                    self.state = _PARAM
                    self.search_from = e
                else:  # </content> at tool level inside write_to_file: first <content> .. last </content>
                    if self._first_content < 0:
                        k = acc.find("<content>", max(self.tool_start, self._content_seen - 8), e)
                        self._content_seen = e
                        # JS: indexOf(-1) + 9 when absent, i.e. 8 units after the tool tag
                        first = (k if k >= 0 else self.tool_start - 1) + len("<content>")
                        if k >= 0:
                            self._first_content = first
                    else:
                        first = self._first_content
                    if e - len("</content>") > first:
                        tool.params.setdefault("content", "")
                        self._content_span = (tool, first, e - len("</content>"))
                        # what lay between the </content> tags is file text, not discarded junk
                        cut = bisect.bisect_left(self._discard_at, first)
                        del tool.discarded[cut:], self._discard_at[cut:]
                    self._enter_tool(e)
            else:  # _PARAM
                tool, name, v = self.tool, self.param, self.value_start
                assert tool is not None and name is not None
                close = f"</{name}>"
                c = acc.find(close, self.search_from)
                end = c + len(close) if c >= 0 else -1
                if end != -1 and end - v <= self.max_param:
                    raw = acc[v:c]
                    tool.params[name] = strip_one_newline(raw) if name == "content" else js_trim(raw)
                    if name == "content":
                        self._content_span = None
                    self.param = None
                    self._enter_tool(end)
                elif n - v > self.max_param:
                    # The character that pushes the value past the limit is swallowed; the value keeps
                    # its first MAX_PARAM units and scanning resumes at tool level after it.
                    tool.params[name] = acc[v:v + self.max_param]
                    tool.abandoned_params.append(name)
                    if name == "content":
                        self._content_span = None
                    self.param = None
                    self._enter_tool(v + self.max_param + 1, resume_only=True)
                else:
                    if n > v:
                        tool.params.setdefault(name, "")  # raw value filled in by finish()
                        if name == "content":
                            self._content_span = None
                    self.search_from = max(self.search_from, n - len(close) + 1)
                    return

    def _enter_tool(self, pos: int, resume_only: bool = False) -> None:
        self.state = _TOOL
        self.resume = pos
        # After an abandoned value a tag may start inside the value and end after `pos`.
        self.search_from = max(self.tool_start, pos - self._maxtag) if resume_only else pos

    def _discard(self, tool: Block, start: int, end: int) -> None:
        if end <= start:
            return
        junk = js_trim(self.acc[start:end])
        if junk:
            tool.discarded.append(junk)
            self._discard_at.append(start)

    def finish(self) -> list[Block]:
        """Roo's finalize: every block complete, text trimmed; open values keep their raw text."""
        self._flush_content()
        if self.state == _TEXT and self.text_block is not None:
            self.text_block.content = js_trim(self.acc[self.text_start:])
        elif self.state == _TOOL and self.tool is not None:
            self._discard(self.tool, self.resume, len(self.acc))
        elif self.state == _PARAM and self.tool is not None and self.param is not None:
            self.tool.open_param = self.param
            if len(self.acc) > self.value_start:
                self.tool.params[self.param] = self.acc[self.value_start:]
        return self.blocks

    def _flush_content(self) -> None:
        if self._content_span is not None:
            tool, a, b = self._content_span
            tool.params["content"] = strip_one_newline(self.acc[a:b])
            self._content_span = None


def scan(text: str, tool_names: Iterable[str], param_names: Iterable[str], max_param: int = MAX_PARAM) -> list[Block]:
    """Blocks of a whole message (the result of feeding it in any chunking, then finalize)."""
    astral = not text.isascii() and max(text) > "\uffff"   # (max in C: a character beyond the BMP)
    sc = RooScanner(tool_names, param_names, max_param)
    sc.feed(_to_units(text) if astral else text)
    blocks = sc.finish()
    if astral:
        for b in blocks:
            b.content = _from_units(b.content)
            b.params = {k: _from_units(v) for k, v in b.params.items()}
            b.discarded = [_from_units(d) for d in b.discarded]
    return blocks


# -- leading <think> routing (Roo's XmlMatcher for "think" anchored at position 0) -------------------

@lru_cache(maxsize=8)
def _think_at_start(tag: str) -> re.Pattern[str]:
    """What the character loop of split_leading_think accepts as a first tag: "<", blanks, an optional
    "/" with blanks after it, the tag name, blanks, ">"."""
    return re.compile("< */? *" + re.escape(tag) + " *>")


def split_leading_think(text: str, tag: str = "think") -> tuple[str, str]:
    """(reasoning, text) as Roo's OpenAI-compatible providers split a streamed response.

    Only a tag starting at the very first character opens reasoning (spaces are tolerated right
    after `<` and before `>`); nested tags count depth; once the depth returns to zero the rest is
    plain text. An unclosed block makes everything reasoning.
    """
    if not _think_at_start(tag).match(text):
        # the first tag is not `tag` (nor its close): the loop below would hand the whole text back
        return "", text
    reasoning: list[str] = []
    plain: list[str] = []
    matched = False
    depth = 0
    i, n, L = 0, len(text), len(tag)
    # `pending` is Roo's `cached`: characters of a tag being recognised.
    while i < n:
        if not (i == 0 or matched):
            plain.append(text[i:])
            break
        # text[i] == "<" here (position 0 or the next "<" inside reasoning)
        j = i + 1
        idx = 0
        closing = False
        ok = False
        while j < n:
            ch = text[j]
            j += 1
            if ch == ">" and idx == L:
                ok = True
                break
            if not closing and idx == 0 and ch == "/":
                closing = True
                continue
            if ch == " " and (idx == 0 or idx == L):
                continue
            if idx < L and tag[idx] == ch:
                idx += 1
                continue
            break  # mismatch: the characters so far are ordinary text
        frag = text[i:j]
        if ok:
            if closing:
                depth -= 1
                matched = depth > 0
                if matched:
                    reasoning.append(frag)
            else:
                if matched:
                    reasoning.append(frag)
                depth += 1
                matched = True
        else:
            (reasoning if matched else plain).append(frag)
        i = j
        if matched:
            k = text.find("<", i)
            if k == -1:
                reasoning.append(text[i:])
                break
            reasoning.append(text[i:k])
            i = k
    return "".join(reasoning), "".join(plain)
