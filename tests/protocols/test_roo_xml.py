"""roo-xml: Roo's calls plus the adherence violations of DESIGN.md, and render → parse round trips."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocols
from protocols import ToolCall

P = protocols.get("roo-xml")

READ = "<read_file>\n<args>\n  <file>\n    <path>src/app.py</path>\n  </file>\n</args>\n</read_file>"


def codes(text: str, mode: str | None = None) -> list[str]:
    return sorted(P.parse(text, mode=mode).codes)


@pytest.mark.parametrize("text,expected", [
    (READ, []),
    ("I will read the file first.\n\n" + READ, []),
    ("```xml\n" + READ + "\n```", []),                          # fenced: executed by Roo
    ("<thinking>the app file</thinking>\n" + READ, []),           # <thinking> is ordinary text
    ("<read_file>\n<path>src/app.py</path>\n</read_file>", []),   # legacy single-path form
    ("", ["no_tool_call"]),
    ("The answer is 42.", ["no_tool_call"]),
    ("<read_files><path>a</path></read_files>", ["no_tool_call"]),
    ("<READ_FILE><args><file><path>a</path></file></args></READ_FILE>", ["no_tool_call"]),
    ('<tool_call>{"name": "read_file"}</tool_call>', ["no_tool_call"]),
    ("<think>" + READ + "</think>", ["no_tool_call"]),
    ("<think>ok</think>" + READ, []),
    (READ + "\n" + READ, ["multiple_tool_calls"]),
    (READ + "\nI hope this helps.", ["text_after_tool_call"]),
    ("<execute_command>\n<command>ls</command>", ["unclosed_tool"]),
    ("<execute_command>\n<command>ls\n</execute_command>", ["unclosed_tool"]),
    ("<execute_command>\n<command>ls</commands>\n</execute_command>", ["unclosed_tool"]),
    ("Great, let me look.\n" + READ, ["conversational_opener"]),
    ("Okay.\n" + READ, ["conversational_opener"]),
    ("Surely this file matters.\n" + READ, []),
    ("<write_to_file>\n<path>a.txt</path>\n<content>\nhi\n</content>\n</write_to_file>",
     ["missing_required_param"]),                                 # line_count is required by the prompt
    ("<execute_command>\n<command></command>\n</execute_command>", ["missing_required_param"]),
    ("<read_file>\n<args><file><path>a</path></file></args>\n<regex>x</regex>\n</read_file>",
     ["unexpected_param"]),
    ("<ask_followup_question>\n<question>Which file?</question>\n<suggestions>a</suggestions>\n"
     "</ask_followup_question>", ["missing_required_param", "unexpected_param"]),
    ("<apply_diff>\n<path>a.py</path>\n<diff>\nnot a diff\n</diff>\n</apply_diff>", ["malformed_diff"]),
    ("<attempt_completion>\n<result>Done. Let me know if you need anything else!</result>\n</attempt_completion>",
     ["question_in_completion"]),
])
def test_violation_codes_code_mode(text, expected):
    assert codes(text, "code") == expected


@pytest.mark.parametrize("mode,text,expected", [
    ("architect", "<write_to_file>\n<path>app.js</path>\n<content>\nx\n</content>\n<line_count>1</line_count>\n"
                  "</write_to_file>", ["file_restricted"]),
    ("architect", "<write_to_file>\n<path>docs/plan.md</path>\n<content>\n# Plan\n</content>\n"
                  "<line_count>1</line_count>\n</write_to_file>", []),
    ("ask", "<execute_command>\n<command>ls</command>\n</execute_command>", ["tool_not_allowed_in_mode"]),
    ("ask", READ, []),
    ("orchestrator", READ, ["tool_not_allowed_in_mode"]),
    ("orchestrator", "<new_task>\n<mode>code</mode>\n<message>Fix the bug.</message>\n</new_task>", []),
])
def test_mode_rules(mode, text, expected):
    assert codes(text, mode) == expected


def test_calls_are_raw_string_params_in_order():
    t = P.parse("<search_files>\n<path> src </path>\n<regex><div>.*</div></regex>\n</search_files>")
    assert [c.to_dict() for c in t.calls] == [{"name": "search_files",
                                              "arguments": {"path": "src", "regex": "<div>.*</div>"}}]


def test_unclosed_call_still_counts_as_the_executed_call():
    t = P.parse("<execute_command><command>rm -rf build</command>")
    assert t.calls[0].name == "execute_command" and not t.calls[0].closed


def test_parse_accepts_openai_message_dicts_and_ignores_reasoning_content():
    msg = {"role": "assistant", "content": [{"type": "text", "text": READ}],
           "reasoning_content": "<execute_command><command>x</command></execute_command>"}
    t = P.parse(msg)
    assert [c.name for c in t.calls] == ["read_file"] and t.ok


def test_message_over_one_mib_is_flagged():
    t = P.parse(READ + " " * (1024 * 1024))
    assert "message_too_large" in t.codes


# -- render → parse ------------------------------------------------------------------------------------

safe_value = st.text(alphabet=st.characters(blacklist_characters="<>\r", blacklist_categories=("Cs",)),
                     min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=200, deadline=None)
@given(path=safe_value, command=safe_value, content=st.text(max_size=200).filter(lambda s: "</content>" not in s))
def test_format_call_round_trips(path, command, content):
    for call in [ToolCall("execute_command", {"command": command}),
                 ToolCall("list_files", {"path": path, "recursive": "true"}),
                 ToolCall("write_to_file", {"path": path, "content": content, "line_count": "3"})]:
        msg = P.format_call([call])
        t = P.parse(msg)
        assert [c.to_dict() for c in t.calls] == [call.to_dict()]


def test_every_catalog_example_parses_to_its_tool_without_structural_violations():
    structural = {"no_tool_call", "multiple_tool_calls", "unclosed_tool", "unexpected_param",
                  "text_after_tool_call"}
    for spec in P.catalog.tools.values():
        for ex in spec.examples:
            t = P.parse(ex)
            assert [c.name for c in t.calls] == [spec.name], ex
            assert not structural & set(t.codes), (ex, t.codes)


# -- the CLI ---------------------------------------------------------------------------------------------

def test_harness_parse_cli_jsonl(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "text": READ},
        {"id": "b", "mode": "ask", "text": "<execute_command><command>ls</command></execute_command>"},
    ]) + "\n")
    out = subprocess.run([sys.executable, "-m", "harness.cli", "parse", "--protocol", "roo-xml", "--jsonl", str(src)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines[0] == {"id": "a", "calls": [{"name": "read_file", "arguments": {
        "args": "<file>\n    <path>src/app.py</path>\n  </file>"}}], "violations": []}
    assert [v["code"] for v in lines[1]["violations"]] == ["tool_not_allowed_in_mode"]


def test_harness_parse_cli_bad_input_is_one_line_error(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "text": "x"}\n{not json\n')
    out = subprocess.run([sys.executable, "-m", "harness.cli", "parse", "--protocol", "roo-xml", "--jsonl", str(src)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"{src}:2: invalid JSON" in out.stderr and "Traceback" not in out.stderr
    bad_mode = subprocess.run([sys.executable, "-m", "harness.cli", "parse", "--protocol", "roo-xml", "--mode",
                               "wizard", "--jsonl", str(src)], capture_output=True, text=True, timeout=60)
    assert "unknown mode 'wizard'" in bad_mode.stderr and "Traceback" not in bad_mode.stderr


def test_parse_does_not_import_heavy_stacks():
    code = ("import sys, harness.cli; harness.cli.main(['parse','--protocol','roo-xml','--jsonl','/dev/null']);"
            "print(sorted(m for m in ('torch','transformers','gradio','peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr


def test_parse_throughput_many_small_messages():
    msgs = [READ, "Let me check.\n" + READ, "no call here", READ + READ] * 500
    t0 = time.perf_counter()
    for m in msgs:
        P.parse(m, mode="code")
    rate = len(msgs) / (time.perf_counter() - t0)
    assert rate > 2000, rate   # generous floor; bench/ measures the real figure
