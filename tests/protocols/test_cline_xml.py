"""cline-xml: Cline v3.89.2's parseAssistantMessageV2 semantics. Each documented difference from Roo
Code v3.29.3's scanner (protocols/wire/cline_xml.py, docs/protocols.md) is pinned against roo-xml, plus
a property test against a direct character-by-character transcription of Cline's loop."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import protocols
from protocols.text import js_trim
from protocols.wire.cline_xml import scan_cline

CLINE = protocols.get("cline-xml")
ROO = protocols.get("roo-xml")


def calls(p, text):
    return [(c.name, c.arguments) for c in p.parse(text).calls]


def test_plain_call():
    t = "I'll read it.\n<read_file>\n<path>src/a.py</path>\n</read_file>"
    assert calls(CLINE, t) == [("read_file", {"path": "src/a.py"})]
    assert CLINE.parse(t).codes == []


def test_difference_1_content_is_fully_trimmed():
    t = "<write_to_file>\n<path>a.py</path>\n<content>\n\n  x = 1\n\n</content>\n</write_to_file>"
    assert calls(CLINE, t)[0][1]["content"] == "x = 1"
    assert calls(ROO, t)[0][1]["content"] == "\n  x = 1\n"      # Roo: one newline off each end


def test_difference_2_write_to_file_reread_only_at_tool_close():
    closed = "<write_to_file><path>a</path><content>x</content>y</content></write_to_file>"
    assert calls(CLINE, closed)[0][1]["content"] == "x</content>y"
    assert calls(ROO, closed)[0][1]["content"] == "x</content>y"
    unclosed = "<write_to_file><path>a</path><content>x</content>y</content>"
    assert calls(CLINE, unclosed)[0][1]["content"] == "x"          # never re-read: the tool never closed
    assert calls(ROO, unclosed)[0][1]["content"] == "x</content>y"


def test_difference_3_unclosed_param_is_trimmed():
    t = "<execute_command>\n<command>  npm test  \n"
    assert calls(CLINE, t) == [("execute_command", {"command": "npm test"})]
    assert CLINE.parse(t).codes[:1] == ["unclosed_tool"]
    assert calls(ROO, t)[0][1]["command"] != "npm test"             # Roo keeps the raw rest


def test_difference_4_no_size_limits():
    big = "x" * (1024 * 100 + 10)
    t = f"<write_to_file><path>a</path><content>{big}</content></write_to_file>"
    assert calls(CLINE, t)[0][1]["content"] == big
    assert "invalid_param_value" not in CLINE.parse(t).codes
    assert "invalid_param_value" in ROO.parse(t).codes             # Roo cuts a value over 100 KiB


def test_difference_5_leading_think_is_scanned():
    t = "<think>\n<read_file><path>a</path></read_file>\n</think>"
    assert calls(CLINE, t) == [("read_file", {"path": "a"})]
    assert calls(ROO, t) == []                                       # Roo: reasoning, never executed


def test_difference_6_clines_own_tool_names():
    t = "<replace_in_file><path>a</path><diff>d</diff></replace_in_file>"
    assert calls(CLINE, t)[0][0] == "replace_in_file"
    assert calls(ROO, t) == []
    assert "no_tool_call" in ROO.parse(t).codes
    t2 = "<plan_mode_respond><response>Plan: …</response></plan_mode_respond>"
    assert calls(CLINE, t2) == [("plan_mode_respond", {"response": "Plan: …"})]


def test_shared_rules_one_call_duplicate_param_and_exact_close_tags():
    two = "<read_file><path>a</path></read_file><read_file><path>b</path></read_file>"
    assert "multiple_tool_calls" in CLINE.parse(two).codes
    dup = "<read_file><path>a</path><path>b</path></read_file>"
    assert calls(CLINE, dup) == [("read_file", {"path": "b"})]       # last one wins, as in Roo
    inner = "<execute_command><command>echo </Command> ok</command><requires_approval>false</requires_approval>" \
            "</execute_command>"
    assert calls(CLINE, inner)[0][1]["command"] == "echo </Command> ok"
    assert CLINE.parse(inner).codes == []


def test_missing_required_and_unexpected_params():
    assert "missing_required_param" in CLINE.parse("<execute_command><command>ls</command></execute_command>").codes
    assert "unexpected_param" in CLINE.parse(
        "<read_file><path>a</path><regex>x</regex></read_file>").codes


# -- a direct transcription of Cline's per-character loop, as the oracle --------------------------

def cline_reference(msg: str, tools: list[str], params: list[str]) -> list[tuple]:
    blocks: list[tuple] = []
    text_start = 0
    tool = None
    tool_start = 0
    pname = None
    pstart = 0
    for i in range(len(msg)):
        if tool is not None and pname is not None:
            close = f"</{pname}>"
            if i >= len(close) - 1 and msg.startswith(close, i - len(close) + 1):
                tool[1][pname] = js_trim(msg[pstart:i - len(close) + 1])
                pname = None
            else:
                continue
        if tool is not None and pname is None:
            started = False
            for p in params:
                tag = f"<{p}>"
                if i >= len(tag) - 1 and msg.startswith(tag, i - len(tag) + 1):
                    pname, pstart, started = p, i + 1, True
                    break
            if started:
                continue
            tclose = f"</{tool[0]}>"
            if i >= len(tclose) - 1 and msg.startswith(tclose, i - len(tclose) + 1):
                body = msg[tool_start:i - len(tclose) + 1]
                if tool[0] == "write_to_file" and "<content>" in body:
                    cs, ce = body.find("<content>"), body.rfind("</content>")
                    if cs != -1 and ce != -1 and ce > cs:
                        tool[1]["content"] = js_trim(body[cs + 9:ce])
                blocks.append(("tool", tool[0], dict(tool[1]), True))
                tool = None
                text_start = i + 1
            continue
        for t in tools:
            tag = f"<{t}>"
            if i >= len(tag) - 1 and msg.startswith(tag, i - len(tag) + 1):
                before = js_trim(msg[text_start:i - len(tag) + 1])
                if before:
                    blocks.append(("text", before))
                tool, tool_start = (t, {}), i + 1
                break
    if tool is not None:
        if pname is not None:
            tool[1][pname] = js_trim(msg[pstart:])
        blocks.append(("tool", tool[0], dict(tool[1]), False))
    else:
        rest = js_trim(msg[text_start:])
        if rest:
            blocks.append(("text", rest))
    return blocks


TOOLS = ["read_file", "write_to_file", "execute_command"]
PARAMS = ["path", "content", "command", "requires_approval"]
PIECES = ["<read_file>", "</read_file>", "<write_to_file>", "</write_to_file>", "<execute_command>",
          "</execute_command>", "<path>", "</path>", "<content>", "</content>", "<command>", "</command>",
          "a", " ", "\n", "x y", "<", ">", "/", "<pat", "h>"]


def ours(msg: str) -> list[tuple]:
    out = []
    for b in scan_cline(msg, tuple(TOOLS), tuple(PARAMS)):
        out.append(("text", b.content) if b.kind == "text" else ("tool", b.name, dict(b.params), b.closed))
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_scanner_matches_clines_loop(msg):
    assert ours(msg) == cline_reference(msg, TOOLS, PARAMS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES + ["<replace_in_file>", "<diff>", "</diff>", "<think>", "\u00e9", "\U0001f600"]),
                max_size=40).map("".join))
def test_parse_never_raises_and_calls_follow_the_scanner(msg):
    turn = CLINE.parse(msg)
    assert isinstance(turn.codes, list)
    assert [c.name for c in turn.calls] == [b.name for b in CLINE.blocks(msg)[1] if b.kind == "tool"]


def test_large_unclosed_message_is_scanned_in_linear_time():
    import time
    body = "<path>" + "x" * 200_000   # an open param swallowing the rest, then many stray tags
    small = "<read_file>" + body + "<path>" * 2_000
    big = "<read_file>" + body * 8 + "<path>" * 16_000
    t0 = time.perf_counter(); CLINE.parse(small); t1 = time.perf_counter(); CLINE.parse(big); t2 = time.perf_counter()
    assert (t2 - t1) < 40 * max(t1 - t0, 1e-3)
