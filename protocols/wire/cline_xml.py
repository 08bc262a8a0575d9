"""Cline 3.x's assistant-message scanner (`parseAssistantMessageV2`, Cline v3.89.2), in linear time.

Cline's parser, like Roo's, asks at every character whether the text so far ends with a known tag; we
jump between the places where a tag ends instead (a tag holds '<' only at its start, so the leftmost
match is also the one that ends first). It differs from Roo Code v3.29.3's (protocols.wire.roo_scanner)
in these ways, each pinned by a test in tests/protocols/test_cline_xml.py:

1. every parameter value is JS-trimmed, `content` included (Roo drops only one leading and one
   trailing newline of `content`);
2. write_to_file's `content` is re-read from the first `<content>` to the last `</content>` only when
   `</write_to_file>` closes the tool (Roo re-reads at every `</content>`, so also in an unclosed call);
3. a parameter still open at the end of the message is trimmed (Roo keeps its raw text);
4. no size limits (Roo abandons a value over 100 KiB and rejects a message over 1 MiB);
5. a leading `<think>` block is not set aside: the parser scans it like any text (Roo routes it to
   reasoning), so a call inside it is a call;
6. the tag whitelists are Cline's own tool and parameter names (the catalog's).
"""
from __future__ import annotations

import re
from functools import lru_cache

from protocols.text import js_trim
from protocols.wire.roo_scanner import Block


@lru_cache(maxsize=32)
def _patterns(tools: tuple[str, ...], params: tuple[str, ...]) -> tuple[re.Pattern[str] | None, str]:
    tool_open = re.compile("<(" + "|".join(map(re.escape, tools)) + ")>") if tools else None
    return tool_open, "|".join(map(re.escape, params))


@lru_cache(maxsize=256)
def _tool_level(name: str, param_alt: str) -> re.Pattern[str]:
    # Cline tests the parameter open tags before the tool's close tag; they cannot end at one place
    alts = [f"<(?P<param>{param_alt})>"] if param_alt else []
    alts.append(f"(?P<close></{re.escape(name)}>)")
    return re.compile("|".join(alts))


def scan_cline(text: str, tool_names: tuple[str, ...], param_names: tuple[str, ...]) -> list[Block]:
    """The text and tool blocks Cline's parser yields for `text` (after its end-of-stream finalize)."""
    tool_open, param_alt = _patterns(tuple(dict.fromkeys(tool_names)), tuple(dict.fromkeys(param_names)))
    blocks: list[Block] = []
    pos = 0
    n = len(text)
    while pos <= n:
        m = tool_open.search(text, pos) if tool_open is not None else None
        if m is None:
            rest = js_trim(text[pos:])
            if rest:
                blocks.append(Block("text", content=rest))
            break
        before = js_trim(text[pos:m.start()])
        if before:
            blocks.append(Block("text", content=before))
        name = m.group(1)
        block = Block("tool", name=name, closed=False)
        body_start = i = m.end()
        level = _tool_level(name, param_alt)
        while True:
            t = level.search(text, i)
            if t is None:
                break
            if t.group("close") is not None:
                body = text[body_start:t.start()]
                if name == "write_to_file" and "<content>" in body:
                    cs = body.find("<content>")
                    ce = body.rfind("</content>")
                    if cs != -1 and ce != -1 and ce > cs:
                        block.params["content"] = js_trim(body[cs + len("<content>"):ce])
                block.closed = True
                i = t.end()
                break
            param = t.group("param")
            close = f"</{param}>"
            j = text.find(close, t.end())
            if j == -1:   # open at the end of the message: the rest, trimmed
                block.params[param] = js_trim(text[t.end():])
                block.open_param = param
                i = n
                break
            block.params[param] = js_trim(text[t.end():j])   # a repeated parameter: the last one wins
            i = j + len(close)
        blocks.append(block)
        if not block.closed:
            break
        pos = i
    return blocks
