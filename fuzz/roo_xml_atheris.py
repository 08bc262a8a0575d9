"""Coverage-guided fuzzing of the roo-xml parse + lints entry point with atheris (libFuzzer).

    pip install atheris
    python fuzz/roo_xml_atheris.py --seeds /tmp/roo-corpus          # write seed inputs, then exit
    nice -n 19 python fuzz/roo_xml_atheris.py /tmp/roo-corpus -dict=fuzz/roo_xml.dict \\
        -max_total_time=600 -max_len=16384 -timeout=10

Each input: its first byte picks the Roo mode, the rest is the assistant message, decoded from
UTF-8 with `surrogateescape` (every byte string decodes; invalid bytes become lone surrogates, which
JSON-escaped model output can also carry). One run:

* `roo-xml` parse of the text (Roo's scanner, the leading-<think> split, every adherence check and
  value lint of the first call), as a string and as an OpenAI message;
* the value lints called directly on the text (diff grammar, placeholders, completion, opener,
  todo and follow-up checks) and `call_lints` with the text as every parameter of several tools;
* invariants, each a crash when broken: every violation code is in the vocabulary, a turn has calls
  iff it has no `no_tool_call`, and the streaming scanner fed in chunks (sizes from the input) yields
  the same blocks as one scan of the whole text.

Any exception is a crash: libFuzzer stops and writes the input as `crash-<sha1>` in the working folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import atheris  # noqa: E402

with atheris.instrument_imports():   # coverage feedback from every module the roo-xml parse runs
    import protocols  # noqa: E402
    from protocols import lints, rules  # noqa: E402,F401
    from protocols import prompts as render  # noqa: E402,F401
    from protocols.wire import xml as xml_wire  # noqa: E402,F401
    from protocols import violations as V  # noqa: E402
    from protocols.wire.roo_scanner import RooScanner, scan  # noqa: E402

MODES = (None, "code", "ask", "architect", "debug", "orchestrator", "no-such-mode")
LINT_TOOLS = ("apply_diff", "write_to_file", "attempt_completion", "ask_followup_question", "read_file",
              "update_todo_list", "execute_command", "insert_content")
PARAMS = ("diff", "content", "path", "result", "follow_up", "args", "todos", "command", "line_count", "question")
ROO = protocols.get("roo-xml")


def _summary(blocks: list) -> list:
    return [(b.kind, b.content, b.name, dict(b.params), b.closed, b.open_param, tuple(b.abandoned_params))
            for b in blocks]


def check(data: bytes) -> None:
    """One fuzz input (see the module docstring); raises on any crash or broken invariant."""
    mode = MODES[data[0] % len(MODES)] if data else None
    text = data[1:].decode("utf-8", "surrogateescape")
    for message in (text, {"role": "assistant", "content": text}):
        turn = ROO.parse(message, mode=mode)
        codes = turn.codes
        assert all(c in V.CODES for c in codes), codes
        assert bool(turn.calls) != (V.NO_TOOL_CALL in codes), (codes, turn.calls)
    lints.diff_problems(text)
    lints.diff_problems(text, strict=False)
    lints.completion_problem(text)
    lints.opener_problem(text)
    lints.todo_problems(text)
    lints.followup_problems(text, ("code", "ask"))
    for tool in LINT_TOOLS:
        for v in lints.call_lints(tool, {p: text for p in PARAMS}, ("code", "ask")):
            assert v.code in V.CODES and v.detail
        lints.placeholder_problems(tool, {"path": text, "content": text})
    # streaming equivalence: chunk sizes from the first bytes of the input
    tools, params = ROO._tool_names, ROO._param_names
    sizes = [1 + b % 17 for b in data[:8]] or [1]
    sc = RooScanner(tools, params)
    i = k = 0
    while i < len(text):
        sc.feed(text[i:i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    if not text or max(text) <= "\uffff":   # (with astral characters scan() works on UTF-16 units)
        assert _summary(sc.finish()) == _summary(scan(text, tools, params))


SEEDS = [
    "<read_file>\n<args>\n  <file>\n    <path>src/app.py</path>\n  </file>\n</args>\n</read_file>",
    "I'll look first.\n<list_files>\n<path>src</path>\n<recursive>true</recursive>\n</list_files>",
    "<write_to_file>\n<path>a.py</path>\n<content>\nx = 1\n# rest of the code unchanged\n</content>\n"
    "<line_count>2</line_count>\n</write_to_file>",
    "<apply_diff>\n<path>a.py</path>\n<diff>\n<<<<<<< SEARCH\n:start_line:1\n-------\nx = 1\n=======\nx = 2\n"
    ">>>>>>> REPLACE\n</diff>\n</apply_diff>",
    "<think>plan</think><attempt_completion>\n<result>Done. Would you like more?</result>\n</attempt_completion>",
    "<ask_followup_question>\n<question>Which?</question>\n<follow_up>\n<suggest mode=\"code\">a</suggest>\n"
    "</follow_up>\n</ask_followup_question>",
    "<update_todo_list>\n<todos>\n[ ] one\n[x] two\n</todos>\n</update_todo_list>",
    "Sure! <execute_command>\n<command>npm test",
]


def write_seeds(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(SEEDS):
        (folder / f"seed-{i}").write_bytes(bytes([i % len(MODES)]) + s.encode("utf-8"))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(Path(sys.argv[2]))
        return
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
