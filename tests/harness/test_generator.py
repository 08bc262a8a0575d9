"""The seeded generator and the shipped suites it made."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import protocols
from harness.suite.model import Case
from harness.suite.generate import SpecError, generate, generate_suite, leakage, load_spec
from harness.score.verdicts import score
from harness.suite import case_to_dict, dump_suite, load_suite

SHIPPED = ["roo-core", "roo-core-native", "roo-modes", "roo-recovery", "roo-starter"]
ROO_TOOLS = {
    "execute_command", "read_file", "write_to_file", "apply_diff", "insert_content", "search_and_replace",
    "search_files", "list_files", "list_code_definition_names", "browser_action", "use_mcp_tool",
    "access_mcp_resource", "ask_followup_question", "attempt_completion", "switch_mode", "new_task",
    "fetch_instructions", "codebase_search", "update_todo_list", "run_slash_command", "generate_image",
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def suites() -> dict:
    return {n: load_suite(n) for n in SHIPPED}


def _dicts(cases: list[Case]) -> list[dict]:
    return [case_to_dict(c) for c in cases]


# -- determinism ---------------------------------------------------------------------------------

def test_generation_is_deterministic_per_seed() -> None:
    a = _dicts(generate("roo-modes", seed=11))
    b = _dicts(generate("roo-modes", seed=11))
    c = _dicts(generate("roo-modes", seed=12))
    assert a == b
    assert a != c
    assert [x["id"] for x in a] == [x["id"] for x in c]          # same tasks and counts ...
    assert sum(x["messages"] != y["messages"] for x, y in zip(a, c)) > len(a) // 2   # ... other draws


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_is_the_generator_output(name: str, tmp_path: Path, suites: dict) -> None:
    """The committed suite is exactly what its spec makes with the recorded seed."""
    suite = suites[name]
    gen = suite.meta["generator"]
    top, cases = generate_suite(gen["spec"], gen["seed"])
    out = tmp_path / f"{name}.jsonl"
    dump_suite(cases, out, top=top)
    assert out.read_bytes() == Path(suite.path).read_bytes(), (
        f"suites/{name}.jsonl is stale: run `harness suites generate --spec {gen['spec']} --out suites/{name}.jsonl`")


# -- shipped suites: shape, splits, references ---------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suite_loads_with_both_splits(name: str, suites: dict) -> None:
    s = suites[name]
    splits = Counter(c.split for c in s.cases)
    assert splits["train"] > 0 and splits["test"] > 0, splits
    assert set(splits) == {"train", "test"}
    assert len({c.id for c in s.cases}) == len(s.cases)
    assert s.meta.get("description")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_reference_parses_cleanly_and_meets_its_expectation(name: str, suites: dict) -> None:
    bad = []
    for c in suites[name].cases:
        proto = protocols.from_spec(c.protocol)
        assert c.reference is not None, c.id
        assert c.expect.calls, c.id
        turn = proto.parse(c.reference, mode=c.mode, tools=c.tools)
        verdict = score(c, turn, proto)
        if turn.violations or not verdict.passed or len(turn.calls) != 1:
            bad.append((c.id, [v.to_dict() for v in turn.violations + verdict.violations]))
        elif turn.calls[0].name != c.expect.calls[0].name:
            bad.append((c.id, f"reference calls {turn.calls[0].name}"))
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", SHIPPED)
def test_user_turns_imitate_roo(name: str, suites: dict) -> None:
    for c in suites[name].cases:
        assert c.messages[0]["role"] == "user"
        assert not any(m["role"] == "system" for m in c.messages), "the system prompt is rendered at request time"
        first = c.messages[0]["content"]
        assert first.startswith("<task>\n") and "\n</task>\n" in first, c.id
        for m in c.messages:
            if m["role"] == "user":
                assert re.search(r"<environment_details>[\s\S]*# Current Mode\n<slug>" + re.escape(c.mode)
                                 + r"</slug>[\s\S]*</environment_details>$", m["content"]), c.id
        assert c.messages[-1]["role"] == "user"


def test_roo_core_covers_all_21_tools_in_code_mode(suites: dict) -> None:
    s = suites["roo-core"]
    cat = protocols.get("roo-xml").catalog
    assert set(cat.tools) == ROO_TOOLS and len(ROO_TOOLS) == 21
    by_tool: dict[str, Counter] = defaultdict(Counter)
    for c in s.cases:
        assert c.mode == "code" and c.protocol == "roo-xml"
        by_tool[c.expect.calls[0].name][c.split] += 1
    assert set(by_tool) == ROO_TOOLS
    for tool, n in by_tool.items():
        assert n["train"] > 0 and n["test"] > 0, (tool, n)
    assert 300 <= len(s.cases) <= 1000


def test_roo_core_argument_fidelity_material(suites: dict) -> None:
    refs = "\n".join(c.reference["content"] for c in suites["roo-core"].cases)
    for pattern in (r"<path>[^<]* [^<]*</path>",              # a path with a space
                    r"<path>[^<]*[^\x00-\x7f][^<]*</path>",    # ... with non-ASCII letters
                    r"<path>[^<]*\.[^<]*\.[^<]*</path>",       # ... with several dots
                    r"<regex>[^<]*\\[^<]*</regex>",             # a regex with escapes
                    r"<command>[^<]*\| [^<]*</command>",        # a command with a pipe
                    r"<command>[^<]*[\"'][^<]*</command>",      # ... with quotes
                    r"<content>\n[^<]*\n[^<]*\n",              # multi-line content
                    r"\n\t",                                    # a tab-indented line kept as is
                    r":start_line:\d+\n-------\n",              # SEARCH/REPLACE blocks
                    r'<suggest mode="\w+">',                     # follow-up with a mode attribute
                    r"<todos>\n\[[ x-]\] ",                     # a checklist
                    r"</content>\n</entry>"):                    # a literal </content> inside a file
        assert re.search(pattern, refs), pattern


def test_roo_core_native_is_strict(suites: dict) -> None:
    s = suites["roo-core-native"]
    assert all(c.protocol == "roo-native" for c in s.cases)
    catalog = protocols.get("roo-native").catalog
    tools = {c.expect.calls[0].name for c in s.cases}
    assert tools <= set(catalog.tool_names_for_mode("code")) and len(tools) >= 15
    nulls = 0
    for c in s.cases:
        (tc,) = c.reference["tool_calls"]
        args = json.loads(tc["function"]["arguments"])
        spec = catalog.tools[tc["function"]["name"]]
        if spec.strict:
            assert set(args) == set(spec.parameters["properties"]), c.id
            nulls += sum(v is None for v in args.values())
    assert nulls > 50
    core = {c.id: c for c in load_suite("roo-core").cases}
    same = [c for c in s.cases if c.id in core]
    assert len(same) == len(s.cases)
    assert all(core[c.id].messages[0]["content"] == c.messages[0]["content"] for c in same)


def test_roo_starter_is_small_and_short(suites: dict) -> None:
    s = suites["roo-starter"]
    n = Counter(c.split for c in s.cases)
    assert n["train"] >= 600 and n["test"] >= 150, n
    tools = {c.expect.calls[0].name for c in s.cases}
    assert tools == {"read_file", "write_to_file", "list_files", "search_files", "execute_command",
                     "attempt_completion"}
    assert all(c.mode == "code" for c in s.cases)
    for c in s.cases:
        assert len(c.reference["content"]) < 160, c.id
        assert len(c.messages[0]["content"]) < 200, c.id
        if c.expect.calls[0].name == "write_to_file":
            assert "<line_count>1</line_count>" in c.reference["content"]


def test_roo_modes_cover_every_mode_allowed_and_not(suites: dict) -> None:
    s = suites["roo-modes"]
    cat = protocols.get("roo-xml").catalog
    seen: dict[str, set[str]] = defaultdict(set)
    for c in s.cases:
        kind = "allowed" if "allowed" in c.tags else "disallowed" if "disallowed" in c.tags else "switch"
        seen[c.mode].add(kind)
        tool = c.expect.calls[0].name
        if kind == "allowed":
            assert tool in cat.tool_names_for_mode(c.mode), c.id
        if kind == "disallowed":
            assert tool in ("switch_mode", "new_task", "ask_followup_question"), c.id
    assert set(seen) == set(cat.modes)
    for m in ("architect", "ask", "orchestrator"):
        assert {"allowed", "disallowed"} <= seen[m], m
    # architect may write Markdown: some allowed architect cases edit a .md file
    assert any(c.mode == "architect" and "allowed" in c.tags and "markdown" in c.tags for c in s.cases)


_FAILURE_CODES = {"no_tool": "no_tool_call", "missing_param": "missing_required_param",
                  "not_allowed": "tool_not_allowed_in_mode", "file_restricted": "file_restricted",
                  "diff_malformed": "malformed_diff"}


def test_roo_recovery_failed_turns_really_fail(suites: dict) -> None:
    s = suites["roo-recovery"]
    proto = protocols.get("roo-xml")
    kinds = Counter()
    for c in s.cases:
        assert [m["role"] for m in c.messages] == ["user", "assistant", "user"], c.id
        failure = next(t.split(":", 1)[1] for t in c.tags if t.startswith("failure:"))
        kinds[failure] += 1
        turn = proto.parse(c.messages[1], mode=c.mode)
        if failure in _FAILURE_CODES:
            assert _FAILURE_CODES[failure] in turn.codes, (c.id, turn.codes)
        else:   # diff_mismatch: a well-formed call whose SEARCH text is not the file's
            assert failure == "diff_mismatch"
            assert not turn.violations and turn.calls[0].name == "apply_diff"
            assert not score(c, turn, proto).passed
        feedback = c.messages[2]["content"]
        assert {"no_tool": "[ERROR] You did not use a tool in your previous response!",
                "missing_param": "Missing value for required parameter '",
                "not_allowed": "is not allowed in",
                "file_restricted": "can only edit files matching pattern: \\.md$",
                "diff_mismatch": "No sufficiently similar match found at line:",
                "diff_malformed": "Expected '=======' was not found."}[failure] in feedback
    assert set(kinds) == set(_FAILURE_CODES) | {"diff_mismatch"}


# -- no leakage ----------------------------------------------------------------------------------

def _masked_text(c: Case) -> str:
    """Independent of the generator: drop environment details, case-fold, mask digits, squash blanks."""
    out = []
    for m in c.messages:
        t = m.get("content") or ""
        t = re.sub(r"<environment_details>.*?</environment_details>", " ", t, flags=re.S)
        out.append(" ".join(re.sub(r"[0-9]", "0", t.lower()).split()))
    return "|".join(out)


def _norm_args(c: Case) -> str:
    turn = protocols.from_spec(c.protocol).parse(c.reference, mode=c.mode)
    call = turn.calls[0]
    args = {k: " ".join(v.lower().split()) if isinstance(v, str) else v for k, v in call.arguments.items()}
    return json.dumps([c.mode, call.name, c.meta.get("task"), c.meta.get("template"), args], sort_keys=True,
                      ensure_ascii=False)


@pytest.mark.parametrize("name", SHIPPED)
def test_no_test_case_or_near_duplicate_in_train(name: str, suites: dict) -> None:
    cases = suites[name].cases
    train = [c for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    train_text = {_masked_text(c) for c in train}
    train_args = {_norm_args(c) for c in train}
    train_groups = {g for c in train for g in c.meta["groups"]}
    for c in test:
        assert _masked_text(c) not in train_text, f"{c.id}: same request (digits masked) in train"
        assert _norm_args(c) not in train_args, f"{c.id}: same template and arguments in train"
        assert not set(c.meta["groups"]) & train_groups, f"{c.id}: same slot values in train"
    assert leakage(cases) == []


def test_leakage_check_can_fail() -> None:
    cases = generate("roo-core")
    assert leakage(cases) == []
    test_case = next(c for c in cases if c.split == "test" and re.search(r"\d", c.messages[0]["content"].split("</task>")[0]))
    twin = Case(**{**test_case.__dict__, "id": "twin", "split": "train"})
    assert leakage(cases + [twin]) == [test_case.id]
    # a near-duplicate that differs only in its digits (and carries no generator keys) is still caught
    other = re.sub(r"\d", lambda m: str((int(m.group(0)) + 3) % 10), test_case.messages[0]["content"])
    digits = Case(**{**test_case.__dict__, "id": "digits", "split": "train", "meta": {"task": "x"},
                     "messages": [{"role": "user", "content": other}]})
    assert other != test_case.messages[0]["content"]
    assert leakage(cases + [digits]) == [test_case.id]


# -- specs ---------------------------------------------------------------------------------------

MINI = {
    "name": "mini", "protocol": "roo-xml", "mode": "code", "seed": 5, "test_fraction": 0.25,
    "environment": "short",
    "pools": {"p": ["a.py", "b.py", "c.py", "d.py", "e.py", "f.py", "g.py", "h.py"]},
    "tasks": [{"name": "r", "tool": "read_file", "count": 8, "slots": {"x": "p"},
               "templates": ["Read {x}.", "Open {x}."], "call": {"args": {"files": [{"path": "{x}"}]}}}],
}


def test_spec_mapping_and_split_per_task() -> None:
    cases = generate(MINI)
    assert [c.id for c in cases] == [f"r-{i:03d}" for i in range(1, 9)]
    assert Counter(c.split for c in cases) == Counter({"train": 6, "test": 2})
    assert cases[0].messages[0]["content"].endswith("<slug>code</slug>\n<name>💻 Code</name>\n</environment_details>")


@pytest.mark.parametrize("change, phrase", [
    ({"templates": ["Read {y}."]}, "unknown slot 'y'"),
    ({"count": 40}, "could only make 16 distinct cases of 40"),
    ({"tool": "read_files"}, "tool 'read_files' is not in roo-xml's catalog"),
    ({"call": {"args": {"files": [{"path": "{x}"}]}, "path": "{x}"}, "mode": "ask", "tool": "write_to_file"},
     "the reference is not a correct answer"),
    ({"slots": {"x": "nope"}}, "unknown pool 'nope'"),
])
def test_spec_errors_name_the_task(change: dict, phrase: str) -> None:
    spec = json.loads(json.dumps(MINI))
    spec["tasks"][0].update(change)
    with pytest.raises(SpecError) as ei:
        generate(spec)
    assert "task 'r'" in str(ei.value) and phrase in str(ei.value), str(ei.value)


def test_extends_merges_pools_and_keeps_tasks() -> None:
    sp = load_spec("roo-core-native")
    assert sp["protocol"] == "roo-native" and sp["tasks"] == load_spec("roo-core")["tasks"]
    assert sp["_extends"] == "roo-core"


def test_cli_generate_writes_a_valid_deterministic_suite(tmp_path: Path) -> None:
    spec = tmp_path / "mini.yaml"
    import yaml
    spec.write_text(yaml.safe_dump(MINI, allow_unicode=True), encoding="utf-8")
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}.jsonl"
        r = subprocess.run([sys.executable, "-m", "harness.cli", "suites", "generate", "--spec", str(spec),
                            "--seed", "9", "--out", str(out)], capture_output=True, text=True, timeout=120,
                           env={**os.environ})
        assert r.returncode == 0, r.stderr
        assert "8 cases (6 train, 2 test)" in r.stdout
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    s = load_suite(tmp_path / "out0.jsonl")
    assert s.meta["generator"]["seed"] == 9 and len(s.cases) == 8
    yml = tmp_path / "out.yaml"
    r = subprocess.run([sys.executable, "-m", "harness.cli", "suites", "generate", "--spec", "roo-modes",
                        "--out", str(yml)], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert _dicts(load_suite(yml).cases) == _dicts(load_suite("roo-modes").cases)
    r = subprocess.run([sys.executable, "-m", "harness.cli", "suites", "generate", "--spec", "no-such-spec",
                        "--out", str(yml)], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert r.returncode != 0 and "Traceback" not in r.stderr and "no-such-spec" in r.stderr
