"""Suite loading and validation: every problem is reported as FILE:LINE: message, never a traceback."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.suite import check, list_shipped, load_suite, validate_file

SHIPPED = ["roo-core", "roo-core-native", "roo-modes", "roo-recovery", "roo-starter"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


GOOD = """
name: mini
description: a tiny valid suite
protocol: roo-xml
mode: code
cases:
  - id: read-one
    split: train
    tags: [read_file]
    messages:
      - role: user
        content: "<task>\\nShow me src/app.py\\n</task>"
    expect:
      calls:
        - name: read_file
          arguments:
            args: {type: string, pattern: "<path>\\\\s*src/app\\\\.py\\\\s*</path>"}
    reference:
      content: "<read_file>\\n<args>\\n<file>\\n<path>src/app.py</path>\\n</file>\\n</args>\\n</read_file>"
  - id: run-one
    split: test
    messages:
      - {role: user, content: "<task>\\nRun npm test\\n</task>"}
    expect:
      calls:
        - name: execute_command
          arguments:
            command: {const: npm test}
"""

# Each problem below sits on a known line; EXPECTED names that line by a snippet of its text.
BROKEN = """
name: broken
protocol: roo-xml
mode: code
cases:
  - id: a
    split: train
    messages:
      - role: user
        content: hi
    expect:
      calls:
        - name: read_fil
          arguments:
            args: {type: string}
  - id: a
    split: tset
    mode: archtect
    messages:
      - {role: user, content: hi}
    expct: {}
  - id: c
    messages:
      - role: user
        content: hello
    expect:
      calls:
        - name: read_file
          arguments:
            args: {type: strang}
            path: {type: string, pattern: "([a"}
            nope: {const: "1"}
          any_order: true
  - id: d
    messages:
      - role: user
        content: hello
    expect:
      calls:
        - name: read_file
          arguments:
            args: {type: string, pattern: "a\\\\.py"}
    reference:
      content: "<read_file>\\n<args><file><path>b.py</path></file></args>\\n</read_file>"
  - id: e
    messages: []
    tools: [{type: function, function: {name: f, parameters: {type: object, properties: {x: {type: nonsense}}}}}]
  - id: f
    protocol: no-such-protocol
    messages:
      - {role: robot, content: hi}
    expect: {any_order: "yes"}
"""

EXPECTED = [   # (text on the offending line, phrase of the message)
    ("name: read_fil", "unknown tool 'read_fil'"),
    ("- id: a\n    split: tset", "duplicate id"),
    ("split: tset", "split must be 'train' or 'test'"),
    ("mode: archtect", "unknown mode 'archtect'"),
    ("expct: {}", "unknown key 'expct'"),
    ("args: {type: strang}", "'strang' is not a JSON Schema type"),
    ('pattern: "([a"', "not a valid regular expression"),
    ('nope: {const: "1"}', "'read_file' has no parameter 'nope'"),
    ("any_order: true", "unknown key 'any_order'"),
    ("reference:", "the reference is not a correct answer"),
    ("messages: []", "'messages' must be a non-empty list"),
    ("tools: [{type: function", "invalid JSON Schema"),
    ("protocol: no-such-protocol", "protocol: unknown protocol 'no-such-protocol'"),
    ("role: robot", "role must be one of"),
    ('expect: {any_order: "yes"}', "any_order must be true or false"),
]


def _line_of(text: str, snippet: str) -> int:
    """1-based line where `snippet` starts (a snippet spanning lines names its first line)."""
    body = textwrap.dedent(text).lstrip("\n")
    return body[:body.index(snippet)].count("\n") + 1


def _expected_lines() -> list[tuple[int, str]]:
    return [(_line_of(BROKEN, snip), phrase) for snip, phrase in EXPECTED]


def test_good_suite_loads_with_defaults(tmp_path: Path) -> None:
    p = _write(tmp_path, "mini.yaml", GOOD)
    suite = load_suite(p)
    assert suite.name == "mini"
    assert [c.id for c in suite.cases] == ["read-one", "run-one"]
    assert all(c.protocol == "roo-xml" and c.mode == "code" for c in suite.cases)
    assert suite.cases[0].expect.calls[0].name == "read_file"
    assert suite.cases[0].source == f"{p}:6"
    assert suite.cases[1].source == f"{p}:19"
    assert suite.content_hash == hashlib.sha256(p.read_bytes()).hexdigest()
    assert suite.meta["description"] == "a tiny valid suite"
    assert [c.id for c in suite.split("test")] == ["run-one"]
    assert validate_file(p) == []


def test_bare_list_and_jsonl_forms(tmp_path: Path) -> None:
    bare = _write(tmp_path, "bare.yaml", """
        - id: x
          protocol: roo-xml
          messages: [{role: user, content: hi}]
          expect: {calls: [{name: list_files, arguments: {path: {const: src}}}]}
        """)
    assert [c.id for c in load_suite(bare).cases] == ["x"]
    rows = [{"suite": {"name": "lines", "protocol": "roo-xml"}},
            {"id": "a", "split": "train", "messages": [{"role": "user", "content": "hi"}],
             "expect": {"calls": [{"name": "list_files", "arguments": {"path": {"const": "src"}}}]},
             "reference": {"role": "assistant", "content": "<list_files>\n<path>src</path>\n</list_files>"}},
            {"id": "b", "messages": [{"role": "user", "content": "hi"}]}]
    jl = tmp_path / "s.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    s = load_suite(jl)
    assert s.name == "lines" and [c.id for c in s.cases] == ["a", "b"]
    assert s.cases[1].source.endswith(":3")


def test_broken_suite_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "broken.yaml", BROKEN)
    problems = validate_file(p)
    assert len(problems) == len(EXPECTED), "\n".join(problems)
    for line, phrase in _expected_lines():
        hits = [m for m in problems if m.startswith(f"{p}:{line}: ") and phrase in m]
        assert hits, f"no problem '{phrase}' on line {line}; got:\n" + "\n".join(problems)
    assert all(m.startswith(f"{p}:") for m in problems)
    # load_suite raises one SuiteError that carries all of them
    with pytest.raises(SuiteError) as ei:
        load_suite(p)
    assert str(ei.value).splitlines() == problems


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    p = _write(tmp_path, "dup.yaml", """
        protocol: roo-xml
        cases:
          - id: a
            messages: [{role: user, content: hi}]
            split: train
            split: test
        """)
    problems = validate_file(p)
    assert any(m.startswith(f"{p}:6: ") and "duplicate key 'split'" in m for m in problems), problems


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "syntax.yaml", """
        protocol: roo-xml
        cases:
          - id: x
            messages: [
          - bad
        """)
    problems = validate_file(p)
    assert len(problems) == 1 and problems[0].startswith(f"{p}:5: invalid YAML"), problems


def test_non_utf8_file_has_a_line(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: x\ncases:\n  - id: café\n".encode("latin-1"))
    problems = validate_file(p)
    assert problems == [f"{p}:3: the file is not UTF-8 text (byte 0xe9 at column 12); save it as UTF-8"]


def test_jsonl_bad_line_has_its_number(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"suite": {"protocol": "roo-xml"}}\n{"id": "a", "messages": []}\n{"id": "b", oops}\n',
                 encoding="utf-8")
    problems = validate_file(p)
    assert any(m.startswith(f"{p}:3: invalid JSON") for m in problems), problems
    p.write_text('{"suite": {"protocol": "roo-xml"}}\n{"id": "a", "messages": [], "spilt": "x"}\n', encoding="utf-8")
    problems = validate_file(p)
    assert any(m.startswith(f"{p}:2: ") and "'messages' must be a non-empty list" in m for m in problems)
    assert any(m.startswith(f"{p}:2: ") and "unknown key 'spilt' (did you mean 'split'?)" in m for m in problems)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("\n", encoding="utf-8")
    assert validate_file(empty)[0].startswith(f"{empty}:1: the suite file is empty")
    assert validate_file(tmp_path / "nope.yaml")[0].startswith(f"{tmp_path / 'nope.yaml'}:1: no such suite file")
    with pytest.raises(SuiteError):
        load_suite("no-such-shipped-suite")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "suites", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ})


def test_cli_validate_reports_problems_without_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path, "broken.yaml", BROKEN)
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("cases:\n  - id: [\n", encoding="utf-8")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: \xff\n")
    for f in (bad, syntax, latin):
        r = _cli("validate", str(f))
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
        lines = [ln for ln in r.stdout.splitlines() if ln]
        assert lines and all(ln.startswith(f"{f}:") for ln in lines), r.stdout
    r = _cli("validate", str(bad))
    for line, phrase in _expected_lines():
        assert any(ln.startswith(f"{bad}:{line}: ") and phrase in ln for ln in r.stdout.splitlines()), phrase


def test_cli_validate_ok_and_list(tmp_path: Path) -> None:
    good = _write(tmp_path, "mini.yaml", GOOD)
    r = _cli("validate", str(good), "roo-modes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: 2 cases" in r.stdout and "ok: 264 cases" in r.stdout
    r = _cli("list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(SHIPPED) <= set(rows)
    for name in SHIPPED:
        assert rows[name]["train"] > 0 and rows[name]["test"] > 0
        assert rows[name]["train"] + rows[name]["test"] == rows[name]["cases"]
    r = _cli("list")
    assert r.returncode == 0 and "roo-starter" in r.stdout


def test_shipped_suites_resolve_by_name() -> None:
    assert set(SHIPPED) <= set(list_shipped())
    s = load_suite("roo-starter")
    assert Path(s.path).name == "roo-starter.jsonl"
    assert s.content_hash == hashlib.sha256(Path(s.path).read_bytes()).hexdigest()
    suite, problems = check("roo-core.jsonl")
    assert problems == [] and suite is not None and suite.name == "roo-core"


def test_loading_a_2000_case_suite_is_fast(tmp_path: Path) -> None:
    src = load_suite("roo-starter")
    lines = Path(src.path).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [json.loads(x) for x in lines[1:]]
    out = [header]
    for i in range(2000):
        r = dict(rows[i % len(rows)])
        r["id"] = f"{r['id']}-{i}"
        out.append(json.dumps(r, ensure_ascii=False))
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(out) + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    s = load_suite(big)            # cold: every reference parsed and scored
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = load_suite(big)            # warm: the references of these exact bytes were already checked
    warm = time.perf_counter() - t0
    assert len(s.cases) == 2000
    assert warm < 1.0, f"warm load of 2000 cases took {warm:.2f}s"
    assert cold < 10.0, f"cold load of 2000 cases took {cold:.2f}s"


def test_yaml_parse_cache_keeps_results_and_problems(tmp_path: Path) -> None:
    p = _write(tmp_path, "mini.yaml", GOOD)
    first = load_suite(p)
    second = load_suite(p)   # from the parse cache
    assert [c.source for c in first.cases] == [c.source for c in second.cases]
    assert [c.expect for c in first.cases] == [c.expect for c in second.cases]
    assert any(Path(os.environ["HARNESS_CACHE_DIR"], "suites").glob("*.json"))
    bad = _write(tmp_path, "broken.yaml", BROKEN)
    assert validate_file(bad) == validate_file(bad)   # a bad file is never cached as good


def test_protocol_block_with_a_catalog_next_to_the_suite(tmp_path: Path) -> None:
    cat = {"name": "weather", "tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                               "required": ["city"]}}}]}
    (tmp_path / "weather.json").write_text(json.dumps(cat), encoding="utf-8")
    p = _write(tmp_path, "w.yaml", """
        protocol: {wire: native, catalog: weather.json}
        cases:
          - id: ok
            messages: [{role: user, content: "Weather in Paris?"}]
            expect: {calls: [{name: get_weather, arguments: {city: {const: Paris}}}]}
            reference:
              role: assistant
              content: null
              tool_calls: [{id: c1, type: function, function: {name: get_weather, arguments: '{"city": "Paris"}'}}]
          - id: typo
            messages: [{role: user, content: "Weather in Rome?"}]
            expect: {calls: [{name: get_wether, arguments: {town: {const: Rome}}}]}
        """)
    problems = validate_file(p)
    assert any(m.startswith(f"{p}:12: ") and "unknown tool 'get_wether'" in m for m in problems), problems
    p.write_text(p.read_text(encoding="utf-8").replace("get_wether", "get_weather"), encoding="utf-8")
    problems = validate_file(p)
    assert len(problems) == 1 and "'get_weather' has no parameter 'town'" in problems[0], problems
    p.write_text(p.read_text(encoding="utf-8").replace("town:", "city:"), encoding="utf-8")
    s = load_suite(p)
    assert s.cases[0].protocol["catalog"] == str(tmp_path / "weather.json")


_MSG = "messages: [{role: user, content: hi}]"
MALFORMED = [
    ("scalar.yaml", "just a string\n"),
    ("number.yaml", "42\n"),
    ("items.yaml", "- 1\n- 2\n"),
    ("cases-int.yaml", "cases: 5\n"),
    ("cases-empty.yaml", "protocol: roo-xml\ncases: []\n"),
    ("pytag.yaml", "!!python/object/apply:os.system ['echo hi']\n"),
    ("id-map.yaml", "protocol: roo-xml\ncases: [{id: {a: 1}, messages: hi}]\n"),
    ("content-int.yaml", "cases:\n - id: a\n   protocol: roo-xml\n   messages: [{role: user, content: 5}]\n"
                         "   expect: {calls: ['x']}\n"),
    ("args-list.yaml", f"cases:\n - id: a\n   protocol: roo-xml\n   {_MSG}\n"
                       "   expect: {calls: [{name: read_file, arguments: [1]}]}\n"),
    ("no-catalog.yaml", f"cases:\n - id: a\n   protocol: {{wire: xml, catalog: /nonexistent.json}}\n   {_MSG}\n"),
    ("proto-list.yaml", f"cases:\n - id: a\n   protocol: [1]\n   {_MSG}\n"),
    ("ref-int.yaml", f"cases:\n - id: a\n   protocol: roo-xml\n   {_MSG}\n   reference: {{content: 5}}\n"),
    ("type-5.yaml", f"cases:\n - id: a\n   protocol: roo-xml\n   {_MSG}\n"
                    "   expect: {calls: [{name: read_file, arguments: {args: {type: [string, 5]}}}]}\n"),
    ("tags-str.yaml", f"cases:\n - id: a\n   protocol: roo-xml\n   {_MSG}\n   tags: a\n"),
    ("minlen.yaml", f"cases:\n - id: a\n   protocol: native\n   {_MSG}\n"
                    "   tools: [{type: function, function: {name: f, parameters: {type: object, properties: {}}}}]\n"
                    "   expect: {calls: [{name: f, arguments: {a: {minLength: -1}}}]}\n"),
    ("lookbehind.yaml", f"cases:\n - id: a\n   protocol: roo-xml\n   {_MSG}\n"
                        "   expect: {calls: [{name: read_file, arguments: {args: {pattern: '(?<=a+)b'}}}]}\n"),
    ("last-assistant.yaml", "cases:\n - id: a\n   protocol: roo-xml\n"
                            "   messages: [{role: user, content: hi}, {role: assistant, content: ok}]\n"),
    ("tool-no-id.yaml", "cases:\n - id: a\n   protocol: roo-xml\n   messages: [{role: tool, content: ok}]\n"),
    ("list.jsonl", "[1, 2]\n"),
    ("header.jsonl", '{"suite": 5}\n{"id": "a"}\n'),
    ("binary.yaml", "\x00\x01\x02 garbage: [\n"),
]


@pytest.mark.parametrize("name, text", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_gives_located_problems_not_exceptions(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    suite, problems = check(p)
    assert suite is None and problems
    for m in problems:
        assert re.match(re.escape(str(p)) + r":\d+: \S", m), m
    with pytest.raises(SuiteError):
        load_suite(p)
