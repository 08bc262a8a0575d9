"""Parse throughput per protocol: messages/s on typical answers, MiB/s on large ones, and the time of
five 1 MiB adversarial outputs (against the 10 s bound of the protocol issue).

    python bench/parse.py [--seconds 2]

Prints CPU-time rates (time.process_time) of this one process, so another busy core does not skew them.
"""
from __future__ import annotations

import argparse
import json
import time

import protocols

MiB = 1 << 20

ROO_TYPICAL = [
    "<read_file>\n<args>\n  <file>\n    <path>src/app.py</path>\n  </file>\n</args>\n</read_file>",
    "I'll look at the tests first.\n\n<list_files>\n<path>tests</path>\n<recursive>true</recursive>\n</list_files>",
    "<execute_command>\n<command>pytest -q tests/harness/test_api.py</command>\n</execute_command>",
    "<apply_diff>\n<path>src/app.py</path>\n<diff>\n<<<<<<< SEARCH\n:start_line:3\n-------\nx = 1\n=======\nx = 2\n"
    ">>>>>>> REPLACE\n</diff>\n</apply_diff>",
    "<attempt_completion>\n<result>The parser now accepts empty input.</result>\n</attempt_completion>",
    "The bug is in line 3.",
]
NATIVE_TYPICAL = [
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "read_file", "arguments": json.dumps({"files": [{"path": "src/app.py", "line_ranges": None}]})}}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c2", "type": "function", "function": {
        "name": "execute_command", "arguments": json.dumps({"command": "pytest -q", "cwd": None})}}]},
    {"role": "assistant", "content": "No tool needed."},
]
HERMES_TYPICAL = ['<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
                  "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"]
HERMES_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

ADVERSARIAL = {
    "tag soup": ("<read_file><args><path>x</path></args></read_file><write_to_file><content>a</content>" * 20000)[:MiB],
    "100,000 nested <content> tags": ("<write_to_file><path>a</path>" + "<content>" * 100000 + "x"
                                      + "</content>" * 100000 + "</write_to_file>")[:MiB],
    "1 MiB of '<'": "<" * MiB,
    "20,000 diff blocks": "<apply_diff><path>a</path><diff>" + (
        "<<<<<<< SEARCH\n:start_line:1\n-------\na\n=======\nb\n>>>>>>> REPLACE\n" * 20000)[:MiB - 60] + "</diff></apply_diff>",
    "</content> flood": "<write_to_file>" + "</content>x" * 95000,
}


def rate(fn, items, seconds: float) -> float:
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        for it in items:
            fn(it)
        n += len(items)
    return n / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    roo, native, hermes = protocols.get("roo-xml"), protocols.get("roo-native"), protocols.get("hermes")
    print(f"roo-xml    typical answers: {rate(lambda m: roo.parse(m, mode='code'), ROO_TYPICAL, a.seconds):9.0f} msg/s")
    print(f"roo-native typical answers: {rate(lambda m: native.parse(m, mode='code'), NATIVE_TYPICAL, a.seconds):9.0f} msg/s")
    print(f"hermes     typical answers: "
          f"{rate(lambda m: hermes.parse(m, tools=HERMES_TOOLS), HERMES_TYPICAL, a.seconds):9.0f} msg/s")
    big = ("<write_to_file>\n<path>src/big.py</path>\n<content>\n" + "value = compute(a, b)  # step\n" * 34000
           + "</content>\n<line_count>34000</line_count>\n</write_to_file>")
    n = 5
    t0 = time.process_time()
    for _ in range(n):
        roo.parse(big)
    print(f"roo-xml    {len(big) / MiB:.2f} MiB write_to_file: {n * len(big) / MiB / (time.process_time() - t0):6.1f} MiB/s")
    total = 0.0
    for name, text in ADVERSARIAL.items():
        t0 = time.process_time()
        roo.parse(text, mode="code")
        dt = time.process_time() - t0
        total += dt
        print(f"  adversarial {name:32s} {len(text) / MiB:.2f} MiB {dt:6.3f} s")
    print(f"five 1 MiB adversarial outputs together: {total:.2f} s (bound: 10 s, ratio {total / 10:.3f})")


if __name__ == "__main__":
    main()
