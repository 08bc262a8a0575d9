"""The fast Roo scanner against the naive per-character model and Roo's own pinned edge cases."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.text import js_trim
from protocols.wire.roo_scanner import MAX_PARAM, RooScanner, _from_units, _to_units, scan, split_leading_think
from tests.fakes.roo_oracle import naive_blocks, summarize

TOOLS = ["execute_command", "read_file", "write_to_file", "apply_diff", "attempt_completion", "list_files"]
PARAMS = ["command", "path", "content", "line_count", "diff", "result", "recursive", "args", "cwd", "regex"]

ATOMS = ["<read_file>", "</read_file>", "<write_to_file>", "</write_to_file>", "<execute_command>",
         "</execute_command>", "<attempt_completion>", "</attempt_completion>", "<path>", "</path>",
         "<content>", "</content>", "<command>", "</command>", "<args>", "</args>", "<result>", "</result>",
         "<regex>", "</regex>", "<", ">", "/", "x", "\n", " ", "ab", "<foo>", "</foo>", "<read_", "file>",
         "</conte", "nt>", "<pa", "th>", "\u00a0", "\ufeff", "\x85", "😀", "```", "<READ_FILE>", "<read_file >"]

soup = st.lists(st.sampled_from(ATOMS), max_size=60).map("".join)


def oracle(text: str, max_param: int = MAX_PARAM, chunks=None) -> list[tuple]:
    """The naive model runs on UTF-16 units, as JavaScript strings do."""
    raw = naive_blocks(_to_units(text), TOOLS, PARAMS, chunks=chunks, max_param=max_param)
    conv = []
    for b in raw:
        conv.append(tuple(_from_units(x) if isinstance(x, str)
                          else {k: _from_units(v) for k, v in x.items()} if isinstance(x, dict) else x for x in b))
    return conv


def fast(text: str, max_param: int = MAX_PARAM) -> list[tuple]:
    return summarize(scan(text, TOOLS, PARAMS, max_param=max_param))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(soup, st.sampled_from([2, 5, 9, 17, MAX_PARAM]))
def test_fast_scanner_equals_naive_model(text, max_param):
    assert fast(text, max_param) == oracle(text, max_param)


@settings(max_examples=400, deadline=None)
@given(soup, st.lists(st.integers(1, 10), max_size=40), st.sampled_from([3, 8, MAX_PARAM]))
def test_streaming_in_random_chunks_equals_whole(text, sizes, max_param):
    text = _to_units(text)  # chunk boundaries in UTF-16 units, like a JS stream
    sc = RooScanner(TOOLS, PARAMS, max_param)
    i = 0
    for size in sizes:
        sc.feed(text[i:i + size])
        i += size
    sc.feed(text[i:])
    assert summarize(sc.finish()) == summarize(scan(text, TOOLS, PARAMS, max_param=max_param))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_on_arbitrary_text(text):
    scan(text, TOOLS, PARAMS)
    split_leading_think(text)


# -- Roo's pinned edge cases (reference §3.6, §3.7) ---------------------------------------------------

def test_empty_input_gives_no_blocks():
    assert fast("") == []


def test_prose_only_is_one_text_block():
    assert fast("  just words  ") == [("text", "just words")]


def test_prose_then_tool_then_prose():
    out = fast("I will look.\n<read_file>\n<path> src/a.py </path>\n</read_file>\nDone.")
    assert out == [("text", "I will look."), ("tool", "read_file", {"path": "src/a.py"}, True, None, ()),
                   ("text", "Done.")]


def test_unclosed_tool_still_yields_call_with_params():
    out = fast("<read_file><path>a.py</path>")
    assert out[1] == ("tool", "read_file", {"path": "a.py"}, False, None, ())


def test_message_ending_inside_param_keeps_raw_value():
    out = fast("<execute_command><command>  ls -la \n")
    assert out[1] == ("tool", "execute_command", {"command": "  ls -la \n"}, False, "command", ())


def test_open_tag_with_nothing_after_sets_no_param():
    assert fast("<read_file><path>")[1][2] == {}


def test_missing_param_close_swallows_tool_close():
    out = fast("<read_file><path>a.py</read_file> trailing")
    assert out[1] == ("tool", "read_file", {"path": "a.py</read_file> trailing"}, False, "path", ())


def test_write_to_file_first_last_content_rule():
    msg = "<write_to_file><path>a.xml</path><content>\n<x>\n</content>\n</x>\n</content></write_to_file>"
    assert fast(msg)[1][2] == {"path": "a.xml", "content": "<x>\n</content>\n</x>"}


def test_content_keeps_inner_whitespace_other_params_trimmed():
    msg = "<write_to_file>\n<path>  a.py  </path>\n<content>\n\n  x = 1\n\n</content>\n</write_to_file>"
    assert fast(msg)[1][2] == {"path": "a.py", "content": "\n  x = 1\n"}


def test_literal_close_tag_cuts_other_params():
    msg = "<apply_diff><path>a</path><diff>one</diff>two</diff></apply_diff>"
    assert fast(msg)[1][2] == {"path": "a", "diff": "one"}


def test_unknown_tags_are_text_and_case_attributes_whitespace_not_recognised():
    for t in ["<read_files><path>a</path></read_files>", "<READ_FILE><path>a</path></READ_FILE>",
              '<read_file path="a"></read_file>', "<read_file ><path>a</path></read_file >",
              "<tool_call>{}</tool_call>"]:
        assert all(b[0] == "text" for b in fast(t)), t


def test_tool_call_inside_value_is_kept_verbatim():
    msg = "<execute_command><command>echo '<read_file><path>x</path></read_file>'</command></execute_command>"
    assert fast(msg)[1][2] == {"command": "echo '<read_file><path>x</path></read_file>'"}


def test_html_in_regex_kept_verbatim():
    assert fast("<read_file><regex><div>.*</div></regex></read_file>")[1][2] == {"regex": "<div>.*</div>"}


def test_duplicate_param_last_wins():
    assert fast("<read_file><path>a</path><path>b</path></read_file>")[1][2] == {"path": "b"}


def test_two_tools_back_to_back():
    out = fast("<read_file><path>a</path></read_file><list_files><path>b</path></list_files>")
    assert [b[1] for b in out if b[0] == "tool"] == ["read_file", "list_files"]


def test_empty_tool():
    assert fast("<list_files></list_files>")[1] == ("tool", "list_files", {}, True, None, ())


def test_tags_split_across_chunks():
    sc = RooScanner(TOOLS, PARAMS)
    for piece in ["<read_f", "ile><pa", "th>a.p", "y</pa", "th></read_", "file>"]:
        sc.feed(piece)
    assert summarize(sc.finish())[1] == ("tool", "read_file", {"path": "a.py"}, True, None, ())


def test_huge_content_in_1000_char_chunks_keeps_tool_path_and_prose():
    body = "line of file text\n" * 7000   # > 100 KiB
    msg = f"<write_to_file><path>big.txt</path><content>\n{body}</content></write_to_file>\nAll done."
    sc = RooScanner(TOOLS, PARAMS)
    for i in range(0, len(msg), 1000):
        sc.feed(msg[i:i + 1000])
    out = summarize(sc.finish())
    assert out[1][1] == "write_to_file" and out[1][2]["path"] == "big.txt"
    # the value was abandoned at the limit; the first/last </content> rule recovers it whole
    assert out[1][2]["content"] == body.removesuffix("\n")
    assert out[-1] == ("text", "All done.")


def test_abandoned_param_value_keeps_first_100_kib():
    msg = "<execute_command><command>" + "a" * (MAX_PARAM + 50) + "</command></execute_command>"
    out = fast(msg)[1]
    assert out[2]["command"] == "a" * MAX_PARAM and out[5] == ("command",)


def test_js_trim_differs_from_python_strip():
    assert js_trim("\ufeffx\x85") == "x\x85"


# -- leading <think> routing ------------------------------------------------------------------------

def test_leading_think_is_reasoning():
    assert split_leading_think("<think>plan <read_file></think>\n<read_file>") == ("plan <read_file>", "\n<read_file>")


def test_think_not_at_position_zero_is_text():
    assert split_leading_think(" <think>x</think>") == ("", " <think>x</think>")


def test_unclosed_think_swallows_everything():
    assert split_leading_think("<think>a<read_file><path>x</path></read_file>") == (
        "a<read_file><path>x</path></read_file>", "")


def test_nested_think_and_spaces_in_tags():
    assert split_leading_think("< think >a<think>b</think>c</ think>rest") == ("a<think>b</think>c", "rest")


def test_thinking_tag_is_not_think():
    assert split_leading_think("<thinking>x</thinking>") == ("", "<thinking>x</thinking>")


# -- size and time ------------------------------------------------------------------------------------

ADVERSARIAL = [
    "<write_to_file><content>" * 50_000,                       # 100,000 nested-looking content tags
    "<read_file>" + "<path>" * 150_000,
    "".join(ATOMS) * 2500,                                      # tag soup
    "<" * 1_048_000,
    "<execute_command><command>" + "</comman" * 130_000,
    "<write_to_file>" + "</content>" * 100_000,                 # first/last rule without <content>
    "<write_to_file>" + "</content>x" * 90_000,                 # ... with junk between
    "<write_to_file><content>" + "x" * 500_000 + "</content>" * 50_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=["content-tags", "path-tags", "soup", "lt", "near-close",
                                                   "content-close", "content-close-junk", "long-content"])
def test_adversarial_megabyte_parses_fast(text):
    t0 = time.perf_counter()
    scan(text, TOOLS, PARAMS)
    assert time.perf_counter() - t0 < 2.0


def test_time_is_linear_in_size():
    unit = "".join(ATOMS)

    def cost(k: int) -> float:
        t = unit * k
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            scan(t, TOOLS, PARAMS)
            best = min(best, time.perf_counter() - t0)
        return best

    small, big = cost(200), cost(1600)
    assert big < small * 8 * 3  # 8x the input may not cost more than ~3x the linear share
