"""Held-out agreement of `harness parse --protocol zoo-native / cline-xml` with the agents' own semantics.

The answers are made here, not taken from the parser's tests: seeded mutations of valid calls built from
each catalog's facts, plus hand-written edge cases. Each answer carries the verdict the agent's code
gives, reasoned from its source (Zoo/Roo: native-tools schemas, TOOL_ALIASES, the new_task isolation in
Task.ts; Cline v3.89.2: parseAssistantMessageV2 and the one-tool-per-message rule):
`codes` — the set of violation codes (empty = accepted), and for some answers `calls` — what the agent
executes. The script writes the answers as `harness parse` JSONL, runs `harness parse` as a user
would, and prints the agreement rate and every disagreement.

    python bench/agent_agreement.py [--seed 7] [--n 200] [--keep DIR]
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import protocols  # noqa: E402

STRINGS = {"path": "src/app.py", "file_path": "src/app.py", "command": "npm test", "content": "print('hi')\n",
           "regex": "TODO", "query": "where is the config loaded", "mode": "code", "message": "Fix the login bug",
           "mode_slug": "debug", "reason": "Need to run the tests", "result": "The tests pass now.",
           "question": "Which database should I use?", "todos": "[ ] write tests\n[x] fix bug",
           "skill": "create-mode", "server_name": "docs", "uri": "docs://readme", "artifact_id": "cmd-1.txt",
           "old_string": "a = 1", "new_string": "a = 2", "prompt": "a red square", "url": "https://example.com",
           "patch": "*** Begin Patch\n*** Add File: b.txt\n+hello\n*** End Patch", "text": "Yes",
           "arguments": '{"q": 1}', "diff": "<<<<<<< SEARCH\n:start_line:1\n-------\na = 1\n=======\na = 2\n>>>>>>> REPLACE"}


def value_for(name: str, schema: dict, rng: random.Random, null_ok: bool = True):
    t = schema.get("type")
    types = t if isinstance(t, list) else [t]
    if "null" in types and null_ok and rng.random() < 0.5:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    main = next((x for x in types if x != "null"), "string")
    if main == "string":
        return STRINGS.get(name, "value")
    if main == "integer":
        return 3
    if main == "number":
        return 30
    if main == "boolean":
        return rng.random() < 0.5
    if main == "array":
        if name == "follow_up":
            return [{"text": "PostgreSQL", "mode": None}, {"text": "SQLite", "mode": "code"}]
        return [value_for("item", schema.get("items", {}), rng)]
    if main == "object":
        props = schema.get("properties", {})
        return {k: value_for(k, v, rng) for k, v in props.items() if k in schema.get("required", [])} or \
            ({"anchor_line": 3} if name == "indentation" else {})
    return "value"


def valid_args(tool, rng):
    props = tool.parameters.get("properties", {})
    req = tool.parameters.get("required", [])
    args = {k: value_for(k, props[k], rng) for k in req}
    for k in props:   # sometimes optional keys too (non-strict tools, read_file)
        if k not in args and rng.random() < 0.3 and k != "indentation":
            args[k] = value_for(k, props[k], rng, null_ok=False)
    if "mode" in args and tool.name == "read_file":
        args["mode"] = "slice"
    return args


def tc(name, args, i=0):
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def zoo_answers(rng: random.Random, n: int) -> list[dict]:
    cat = protocols.get("zoo-native").catalog
    tools = [t for t in cat.tools.values()]
    out = []
    for i in range(n):
        t = rng.choice(tools)
        args = valid_args(t, rng)
        kind = rng.choice(["valid", "drop", "extra", "type", "alias", "mcp", "parallel", "new_task", "unknown"])
        name, codes, msgs = t.name, set(), None
        props = t.parameters.get("properties", {})
        req = t.parameters.get("required", [])
        if kind == "drop" and req:
            k = rng.choice(req)
            del args[k]
            codes = {"missing_required_param"}
        elif kind == "extra":
            args["verbose"] = True         # every Zoo schema has additionalProperties false
            codes = {"unexpected_param"}
        elif kind == "type":
            k = rng.choice(list(props))
            args[k] = {"unexpected": "object"} if props[k].get("type") != "object" else "not an object"
            codes = {"invalid_param_value"}
        elif kind == "alias" and t.name in ("write_to_file", "edit"):
            name = {"write_to_file": "write_file", "edit": "search_and_replace"}[t.name]
        elif kind == "mcp":
            name, args = f"mcp--srv{i % 3}--tool_{i % 5}", {"q": "x"}
        elif kind == "parallel":
            others = [o for o in tools if o.name != "new_task"]
            msgs = [tc(name, args, 0)] + [tc(o.name, valid_args(o, rng), j + 1)
                                         for j, o in enumerate(rng.sample(others, 2))]
            if name == "new_task":
                codes = {"multiple_tool_calls"}
        elif kind == "new_task":
            nt = tc("new_task", {"mode": "code", "message": "Do the rest", "todos": None}, 1)
            first = tc(name, args, 0)
            last = rng.random() < 0.5
            msgs = [first, nt] if last else [nt, first]
            # new_task must be the last call (Task.ts truncates what follows it)
            codes = {"multiple_tool_calls"} if (not last or name == "new_task") else set()
        elif kind == "unknown":
            name = t.name.replace("_", "-") + "s"
            codes = {"unknown_tool"}
        msg = {"role": "assistant", "content": None, "tool_calls": msgs or [tc(name, args)]}
        out.append({"id": f"zoo-gen-{i}-{kind}", "mode": "code", "message": msg, "expect": sorted(codes)})
    # hand-written edge cases (the agent's own verdict in the comment)
    hand = [
        # a strict tool's nullable key left out: the schema requires it
        ("cwd-missing", [tc("execute_command", {"command": "ls", "timeout": None})], ["missing_required_param"]),
        # null sent for every optional: accepted
        ("all-null", [tc("generate_image", {"prompt": "x", "path": "a.png", "image": None})], []),
        # read_file: strict but only path required
        ("read-path-only", [tc("read_file", {"path": "a.py"})], []),
        ("read-offset", [tc("read_file", {"path": "a.py", "offset": 10, "limit": 20})], []),
        # arguments not JSON
        ("bad-json", [{"id": "c", "type": "function", "function": {"name": "list_files", "arguments": "{path:"}}],
         ["invalid_json_arguments"]),
        # no call at all
        ("prose", None, ["no_tool_call"]),
        # edit: not strict, replace_all optional
        ("edit-min", [tc("edit", {"file_path": "a", "old_string": "x", "new_string": "y"})], []),
        # the alias keeps the target's schema
        ("alias-missing", [tc("write_file", {"path": "a"})], ["missing_required_param"]),
        # an MCP name with underscores (models rewrite hyphens)
        ("mcp-underscores", [tc("mcp__github__create_issue", {"title": "x"})], []),
        # orchestrator mode may not call read tools
        ("orch-read", [tc("read_file", {"path": "a"})], ["tool_not_allowed_in_mode"], "orchestrator"),
        # architect writes a .py file: restricted to markdown
        ("arch-py", [tc("write_to_file", {"path": "a.py", "content": "x = 1\n"})], ["file_restricted"], "architect"),
        ("arch-md", [tc("write_to_file", {"path": "plan.md", "content": "# Plan\n"})], [], "architect"),
        # three reads in parallel, all fine
        ("three-reads", [tc("read_file", {"path": f"{c}.py"}, j) for j, c in enumerate("abc")], []),
        # new_task in the middle: the calls after it never run
        ("nt-middle", [tc("read_file", {"path": "a"}, 0),
                       tc("new_task", {"mode": "code", "message": "m", "todos": None}, 1),
                       tc("read_file", {"path": "b"}, 2)], ["multiple_tool_calls"]),
        # fetch_web_content in ask mode: the web group is only in code and debug
        ("web-ask", [tc("fetch_web_content", {"url": "https://a.b", "prompt": None})], ["tool_not_allowed_in_mode"],
         "ask"),
        # follow_up items are strict too: mode must be present
        ("followup-mode-missing", [tc("ask_followup_question", {"question": "Which?", "follow_up": [{"text": "A"}]})],
         ["missing_required_param"]),
    ]
    for h in hand:
        hid, calls_, codes = h[0], h[1], h[2]
        mode = h[3] if len(h) > 3 else "code"
        msg = {"role": "assistant", "content": "Sure, I can help with that." if calls_ is None else None}
        if calls_ is not None:
            msg["tool_calls"] = calls_
        out.append({"id": f"zoo-hand-{hid}", "mode": mode, "message": msg, "expect": sorted(codes)})
    return out


def xml(name, params, close=True):
    body = "".join(f"<{k}>{v}</{k}>\n" for k, v in params.items())
    return f"<{name}>\n{body}" + (f"</{name}>" if close else "")


def cline_answers(rng: random.Random, n: int) -> list[dict]:
    cat = protocols.get("cline-xml").catalog
    tools = list(cat.tools.values())
    out = []
    for i in range(n):
        t = rng.choice(tools)
        props = t.parameters.get("properties", {})
        req = t.parameters.get("required", [])
        params = {k: STRINGS.get(k, "value") for k in req}
        if "requires_approval" in params:
            params["requires_approval"] = "false"
        kind = rng.choice(["valid", "prose", "drop", "two", "unclosed", "pad", "unknown-tag", "extra"])
        codes: set[str] = set()
        expect_args = {k: v.strip() for k, v in params.items()}
        text = xml(t.name, params)
        if kind == "prose":
            text = "Reading the relevant part first.\n\n" + text
        elif kind == "drop" and req:
            k = rng.choice(req)
            del params[k]
            del expect_args[k]
            text = xml(t.name, params)
            codes = {"missing_required_param"}
        elif kind == "two":
            text = text + "\n" + xml(t.name, params)
            codes = {"multiple_tool_calls"}
        elif kind == "unclosed":
            text = xml(t.name, params, close=False)
            codes = {"unclosed_tool"}
            if not params:
                codes.add("unclosed_tool")
        elif kind == "pad":   # Cline trims every value, content included
            params = {k: f"\n  {v}  \n" for k, v in params.items()}
            text = xml(t.name, params)
        elif kind == "unknown-tag":   # a tag Cline does not know is not a tool: plain text
            text = xml(t.name + "_v2", params)
            codes = {"no_tool_call"}
            expect_args = None
        elif kind == "extra":
            extra = next((p for p in ("regex", "url", "uri", "title") if p not in props), None)
            if extra:
                params[extra] = "x"
                expect_args[extra] = "x"     # Cline keeps every whitelisted parameter it sees
                text = xml(t.name, params)
                codes = {"unexpected_param"}
        rec = {"id": f"cline-gen-{i}-{kind}", "text": text, "expect": sorted(codes)}
        if expect_args is not None:
            rec["expect_calls"] = [[t.name, expect_args]] * (2 if kind == "two" else 1)
        out.append(rec)
    hand = [
        ("content-trim", "<write_to_file>\n<path>a.py</path>\n<content>\n\nx = 1\n\n</content>\n</write_to_file>",
         [], [["write_to_file", {"path": "a.py", "content": "x = 1"}]]),
        ("nested-content", "<write_to_file><path>t.md</path><content>use <content>x</content> tags</content>"
                           "</write_to_file>", [], [["write_to_file", {"path": "t.md",
                                                                      "content": "use <content>x</content> tags"}]]),
        ("unclosed-nested", "<write_to_file><path>a</path><content>x</content>y</content>", ["unclosed_tool"],
         [["write_to_file", {"path": "a", "content": "x"}]]),
        ("think-scanned", "<think>plan</think>\n<list_files><path>.</path></list_files>", [],
         [["list_files", {"path": "."}]]),
        ("call-in-think", "<think><read_file><path>a</path></read_file></think>", [],
         [["read_file", {"path": "a"}]]),
        ("open-param", "<execute_command><command> ls -la ", ["missing_required_param", "unclosed_tool"],
         [["execute_command", {"command": "ls -la"}]]),
        ("dup-param", "<read_file><path>a</path><path>b</path></read_file>", [], [["read_file", {"path": "b"}]]),
        ("case-close", "<read_file><path>a</PATH></read_file>", ["unclosed_tool"],
         [["read_file", {"path": "a</PATH></read_file>"}]]),
        ("fenced", "```xml\n<read_file><path>a</path></read_file>\n```", [], [["read_file", {"path": "a"}]]),
        ("plan-respond", "<plan_mode_respond><response>Step 1: read</response></plan_mode_respond>", [],
         [["plan_mode_respond", {"response": "Step 1: read"}]]),
        ("roo-tool", "<apply_diff><path>a</path><diff>d</diff></apply_diff>", ["no_tool_call"], []),
        ("empty", "", ["no_tool_call"], []),
    ]
    for hid, text, codes, calls_ in hand:
        out.append({"id": f"cline-hand-{hid}", "text": text, "expect": sorted(codes), "expect_calls": calls_})
    return out


def run_parse(protocol: str, records: list[dict], where: Path) -> dict[str, dict]:
    path = where / f"{protocol}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({k: v for k, v in r.items() if not k.startswith("expect")}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "parse", "--protocol", protocol, "--jsonl", str(path)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    return {d["id"]: d for d in map(json.loads, proc.stdout.splitlines())}


def agree(rec: dict, got: dict) -> bool:
    codes = sorted({v["code"] for v in got["violations"]})
    if codes != sorted(set(rec["expect"])):
        return False
    if "expect_calls" in rec:
        return [[c["name"], c["arguments"]] for c in got["calls"]] == rec["expect_calls"]
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n", type=int, default=200, help="generated answers per protocol")
    ap.add_argument("--keep", help="write the answers and expectations to this folder")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sets = {"zoo-native": zoo_answers(rng, a.n), "cline-xml": cline_answers(rng, a.n)}
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(a.keep) if a.keep else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        total = ok_all = 0
        for proto, recs in sets.items():
            got = run_parse(proto, copy.deepcopy(recs), where)
            bad = [r for r in recs if not agree(r, got[r["id"]])]
            ok = len(recs) - len(bad)
            total += len(recs)
            ok_all += ok
            print(f"{proto}: {ok}/{len(recs)} agree ({100 * ok / len(recs):.1f}%)")
            for r in bad:
                g = got[r["id"]]
                print(f"  DISAGREE {r['id']}: expected {r['expect']} {r.get('expect_calls', '')}; got "
                      f"{sorted({v['code'] for v in g['violations']})} "
                      f"{[[c['name'], c['arguments']] for c in g['calls']]}")
            if a.keep:
                (where / f"{proto}.expect.jsonl").write_text(
                    "".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        print(f"total: {ok_all}/{total} agree ({100 * ok_all / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
