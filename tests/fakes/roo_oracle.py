"""A deliberately naive model of Roo Code v3.29.3's streaming parser, for differential tests.

It follows the behaviour description of reference/roo-code-protocol.md §3.2-3.4 one character at a
time, re-testing every tag with `endswith` after each character, exactly the way the extension's
scanner behaves (and therefore quadratic-ish: only for small inputs). The fast scanner in
protocols/wire/roo_scanner.py must agree with it on every input.
"""
from __future__ import annotations

from protocols.text import js_trim
from protocols.wire.roo_scanner import MAX_PARAM, Block, strip_one_newline


class NaiveRooParser:
    def __init__(self, tool_names, param_names, max_param: int = MAX_PARAM):
        self.tool_names = list(tool_names)
        self.param_names = list(param_names)
        self.max_param = max_param
        self.acc = ""
        self.blocks: list[Block] = []
        self.text: Block | None = None
        self.text_start = 0
        self.tool: Block | None = None
        self.tool_start = 0
        self.param: str | None = None
        self.value_start = 0

    def feed(self, chunk: str) -> None:
        for ch in chunk:
            self.acc += ch
            pos = len(self.acc) - 1
            if self.tool is not None and self.param is not None:
                value = self.acc[self.value_start:]
                if len(value) > self.max_param:
                    self.tool.abandoned_params.append(self.param)
                    self.param = None
                    continue
                close = f"</{self.param}>"
                if value.endswith(close):
                    raw = value[: -len(close)]
                    self.tool.params[self.param] = strip_one_newline(raw) if self.param == "content" else js_trim(raw)
                    self.param = None
                else:
                    self.tool.params[self.param] = value
                continue
            if self.tool is not None:
                if self.acc[self.tool_start:].endswith(f"</{self.tool.name}>"):
                    self.tool.closed = True
                    self.tool = None
                    continue
                for p in self.param_names:
                    if self.acc.endswith(f"<{p}>"):
                        self.param = p
                        self.value_start = len(self.acc)
                        break
                if self.tool.name == "write_to_file" and self.acc.endswith("</content>"):
                    seg = self.acc[self.tool_start:]
                    cs = seg.find("<content>") + len("<content>")
                    ce = seg.rfind("</content>")
                    if ce != -1 and ce > cs:
                        self.tool.params["content"] = strip_one_newline(seg[cs:ce])
                continue
            started = False
            for t in self.tool_names:
                tag = f"<{t}>"
                if self.acc.endswith(tag):
                    self.tool = Block("tool", name=t, closed=False)
                    self.tool_start = len(self.acc)
                    if self.text is not None:
                        self.text.content = js_trim(js_trim(self.acc[self.text_start:-1])[: -(len(tag) - 1)])
                        self.text = None
                    self.blocks.append(self.tool)
                    started = True
                    break
            if not started:
                if self.text is None:
                    self.text_start = pos
                    self.text = Block("text")
                    self.blocks.append(self.text)
                self.text.content = js_trim(self.acc[self.text_start:])

    def finish(self) -> list[Block]:
        if self.tool is not None and self.param is not None:
            self.tool.open_param = self.param
        for b in self.blocks:
            if b.kind == "text":
                b.content = js_trim(b.content)
        return self.blocks


def naive_blocks(text: str, tool_names, param_names, chunks: list[int] | None = None,
                 max_param: int = MAX_PARAM) -> list[tuple]:
    p = NaiveRooParser(tool_names, param_names, max_param)
    if chunks:
        i = 0
        for size in chunks:
            p.feed(text[i:i + size])
            i += size
        p.feed(text[i:])
    else:
        p.feed(text)
    return summarize(p.finish())


def summarize(blocks: list[Block]) -> list[tuple]:
    """The observable part Roo's parser yields (text, tool name, params, closed, open param)."""
    out = []
    for b in blocks:
        if b.kind == "text":
            out.append(("text", b.content))
        else:
            out.append(("tool", b.name, dict(b.params), b.closed, b.open_param, tuple(b.abandoned_params)))
    return out
