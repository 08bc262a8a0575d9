"""Scoring throughput: responses/s per core through the code path of `harness score`, per protocol.

    python bench/scoring.py [--n 20000] [--repeat 3] [--no-cli] [--generated-bfcl]

Makes N synthetic responses for each of three workloads, 4 samples per case:

  roo-xml   Roo XML answers: correct reads and writes (a 40-function write_to_file body), wrong
            arguments, a wrong tool with an opener, prose without a call, a tool outside the mode;
  native    OpenAI tool_calls under the case's own functions (schema checker): right and wrong
            values, order-free parallel calls, irrelevance;
  bfcl      BFCL's own single-turn Python cases (imported with `harness.suite.importers.bfcl` from the installed
            `bfcl_eval` data; generated BFCL-like cases through the same importer when it is not
            installed, or with --generated-bfcl), `native` parse + BFCL's checker (`checker: bfcl`):
            the reference answer, the same with upper-cased strings (BFCL normalises them), a wrong
            value, and no call (irrelevance: a text answer, the same with other words, a decodable
            call, an undecodable one);

then times, on one process (= one core), for each workload:

  parse+score   harness.score.recorded.score_responses: harness.score.verdicts.judge (protocol.parse + scoring.score;
                only the calls are parsed under BFCL's checker) + the result line
  score only    harness.score.verdicts.score on already parsed turns (the expectation check alone)

and for all three together:

  pipeline      read_responses (JSON decode + checks) + parse+score + results.jsonl write + summarize

and, unless --no-cli, `harness score` end to end (the suite as JSONL on disk, loaded and validated
cold, run dir, leaderboard). Times are CPU seconds of this one process (time.process_time), i.e. per
core, best of --repeat. Goal of issue 9: >= 20,000 parse+score responses/s per core for each protocol.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.score import metrics  # noqa: E402
from harness.suite.model import Case, Expect, ExpectedCall  # noqa: E402
from harness.score.protocols import ProtocolCache  # noqa: E402
from harness.score.recorded import read_responses, score_responses  # noqa: E402
from harness.log.rundir import RunDir  # noqa: E402
from harness.score.verdicts import score  # noqa: E402

GOAL = 20_000.0          # parse+score responses/s per core, per protocol (issue 9)
PIPELINE_GOAL = 5_000.0  # the whole pipeline (suites issue)
SAMPLES = 4

WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "current weather",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search_flights", "description": "flights",
        "parameters": {"type": "object", "properties": {
            "origin": {"type": "string"}, "destination": {"type": "string"}, "date": {"type": "string"},
            "passengers": {"type": "integer", "minimum": 1}},
            "required": ["origin", "destination", "date"]}}}]

BODY = "\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(40))


def roo_case(i: int) -> tuple[Case, str]:
    kind = i % 6   # 2 of 6 kinds pass
    path = f"src/module_{i}.py"
    if kind == 0:
        c = Case(f"roo-{i}", "roo-xml", [], mode="code", tags=["read_file"],
                 expect=Expect(calls=(ExpectedCall("read_file", {"args": {"type": "string", "pattern": path}}),)))
        msg = f"<read_file>\n<args>\n  <file>\n    <path>{path}</path>\n  </file>\n</args>\n</read_file>"
    elif kind == 1:
        c = Case(f"roo-{i}", "roo-xml", [], mode="code", tags=["write_to_file"],
                 expect=Expect(calls=(ExpectedCall("write_to_file", {"path": {"const": path},
                                                                     "content": {"type": "string", "minLength": 10}}),)))
        msg = (f"<thinking>Writing the module.</thinking>\n<write_to_file>\n<path>{path}</path>\n"
               f"<content>\n{BODY}</content>\n<line_count>{len(BODY.strip(chr(10)).split(chr(10)))}</line_count>\n</write_to_file>")
    elif kind == 2:
        c = Case(f"roo-{i}", "roo-xml", [], mode="code", tags=["execute_command"],
                 expect=Expect(calls=(ExpectedCall("execute_command", {"command": ["pytest -q", "python -m pytest -q"]}),)))
        msg = "<execute_command>\n<command>pytest -x</command>\n</execute_command>"     # wrong arguments
    elif kind == 3:
        c = Case(f"roo-{i}", "roo-xml", [], mode="code", tags=["search_files"],
                 expect=Expect(calls=(ExpectedCall("search_files", {"path": {"const": "src"},
                                                                    "regex": {"type": "string"}}),)))
        msg = "Sure! Let me look.\n<list_files>\n<path>src</path>\n</list_files>"      # wrong tool + opener
    elif kind == 4:
        c = Case(f"roo-{i}", "roo-xml", [], mode="code", tags=["attempt_completion"],
                 expect=Expect(calls=(ExpectedCall("attempt_completion", {}),)))
        msg = "I have finished the task and everything works now."                   # no call
    else:
        c = Case(f"roo-{i}", "roo-xml", [], mode="ask", tags=["modes"],
                 expect=Expect(calls=(ExpectedCall("apply_diff", {"path": {"const": path}}),)))
        msg = (f"<apply_diff>\n<path>{path}</path>\n<diff>\n<<<<<<< SEARCH\n:start_line:1\n-------\n"
               f"def f0(x):\n=======\ndef f0(y):\n>>>>>>> REPLACE\n</diff>\n</apply_diff>")   # not in ask mode
    return c, msg


def native_case(i: int) -> tuple[Case, dict]:
    kind = i % 4   # 3 of 4 kinds pass
    if kind in (0, 1):
        city = ["Paris", "Lyon"][kind]
        c = Case(f"nat-{i}", "native", [], tools=WEATHER, tags=["get_weather"],
                 expect=Expect(calls=(ExpectedCall("get_weather", {"city": ["Paris"], "unit": ["celsius", ""]}),)))
        args = json.dumps({"city": city, "unit": "celsius"})
        msg = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": args}}]}
    elif kind == 2:
        c = Case(f"nat-{i}", "native", [], tools=WEATHER, tags=["parallel"],
                 expect=Expect(any_order=True, calls=(
                     ExpectedCall("get_weather", {"city": {"const": "Oslo"}}),
                     ExpectedCall("search_flights", {"origin": {"const": "OSL"}, "destination": {"const": "CDG"},
                                                     "passengers": {"type": "integer", "maximum": 4}}))))
        msg = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "search_flights", "arguments": json.dumps(
                {"origin": "OSL", "destination": "CDG", "date": "2025-05-01", "passengers": 2})}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    else:
        c = Case(f"nat-{i}", "native", [], tools=WEATHER, tags=["irrelevance"], expect=Expect(calls=()))
        msg = {"role": "assistant", "content": "I can only check weather and flights."}
    return c, msg


# -- BFCL ------------------------------------------------------------------------------------------

_WORDS = ["Paris", "Berlin", "apple pie", "Taylor Swift", "quantum", "USD", "north-east", "Dr. Smith", "2024-05-01"]
_TYPES = ["string", "integer", "float", "boolean", "array", "dict", "string", "integer"]


def _gen_value(t: str, rng: random.Random) -> Any:
    if t == "string":
        return rng.choice(_WORDS)
    if t == "integer":
        return rng.randrange(1, 500)
    if t == "float":
        return round(rng.uniform(0.5, 99.5), 2)
    if t == "boolean":
        return rng.random() < 0.5
    if t == "array":
        return [rng.choice(_WORDS) for _ in range(rng.randrange(1, 4))]
    return {"unit": rng.choice(["km", "mi"]), "limit": rng.randrange(1, 9)}


def _gen_function(i: int, rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for j in range(rng.randrange(2, 6)):
        t = rng.choice(_TYPES)
        spec: dict[str, Any] = {"type": t, "description": f"parameter {j} of function {i}"}
        if t == "array":
            spec["items"] = {"type": "string"}
        if t == "dict":
            spec["properties"] = {"unit": {"type": "string", "enum": ["km", "mi"]}, "limit": {"type": "integer"}}
        props[f"p{j}_{t}"] = spec
    names = list(props)
    name = f"module{i % 7}.fn_{i}" if i % 3 == 0 else f"fn_{i}"
    return {"name": name, "description": f"Generated BFCL-like function {i}.",
            "parameters": {"type": "dict", "properties": props, "required": names[: max(1, len(names) - 1)]}}


def _gen_answer(fn: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    params = {}
    props = fn["parameters"]["properties"]
    for j, (p, spec) in enumerate(props.items()):
        if p not in fn["parameters"]["required"]:
            params[p] = ["", _gen_value(spec["type"], rng)] if rng.random() < 0.5 else [""]
            continue
        if spec["type"] == "dict":
            v = _gen_value("dict", rng)
            params[p] = [{k: [x] for k, x in v.items()}]
        elif spec["type"] == "string" and j % 2:
            w = rng.choice(_WORDS)
            params[p] = [w, w.lower()]
        else:
            params[p] = [_gen_value(spec["type"], rng)]
    return {fn["name"]: params}


def generated_bfcl(n_cases: int, seed: int = 0) -> list[dict[str, Any]]:
    """BFCL-like cases (BFCL's own record shapes and types) made into suite cases by the importer."""
    from harness.suite.importers.bfcl import Entry, build_case
    rng = random.Random(seed)
    cats = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "simple_python"]
    out = []
    for i in range(n_cases):
        cat = cats[i % len(cats)]
        fns = [_gen_function(i * 10 + k, rng) for k in range(1 if cat in ("simple_python", "parallel") else 3)]
        if cat == "irrelevance":
            gt = None
        elif cat == "parallel":
            gt = [_gen_answer(fns[0], rng), _gen_answer(fns[0], rng)]
        elif cat == "parallel_multiple":
            gt = [_gen_answer(fns[0], rng), _gen_answer(fns[2], rng)]
        elif cat == "multiple":
            gt = [_gen_answer(fns[1], rng)]
        else:
            gt = [_gen_answer(fns[0], rng)]
        rec = {"id": f"{cat}_{i}", "question": [[{"role": "user", "content": f"question {i}"}]], "function": fns}
        out.append(build_case(Entry(rec, f"generated:{i}", gt), cat))
    return out


def bfcl_case_dicts(n_cases: int, generated: bool) -> tuple[list[dict[str, Any]], str]:
    """n_cases suite cases (dicts) of BFCL's ten single-turn Python categories, cycled with fresh ids
    (and fresh objects, as a loaded suite has) when more are asked for than BFCL has."""
    from harness.errors import UserError
    base: list[dict[str, Any]] = []
    source = "generated BFCL-like cases"
    if not generated:
        try:
            from harness.suite.importers.bfcl import import_bfcl
            base = [c for cases in import_bfcl().values() for c in cases]
            source = f"BFCL's own data ({len(base)} cases)"
        except UserError:
            base = []
    if not base:
        base = generated_bfcl(min(n_cases, 4000))
    rng = random.Random(1)
    order = list(range(len(base)))
    rng.shuffle(order)
    out = []
    for i in range(n_cases):
        d = json.loads(json.dumps(base[order[i % len(order)]]))
        d["id"] = f"bfcl-{i}-{d['id']}"
        out.append(d)
    return out, source


def bfcl_case(d: dict[str, Any]) -> Case:
    """The Case the suite loader makes of an imported BFCL case dict."""
    e = d["expect"]
    calls = tuple(ExpectedCall(c["name"], dict(c["arguments"])) for c in e["calls"])
    return Case(d["id"], d["protocol"], d["messages"] if isinstance(d["messages"], list) else [d["messages"]],
                expect=Expect(calls=calls, any_order=e["any_order"], checker="bfcl",
                              functions=tuple(e["functions"]), category=e["category"]),
                tags=list(d["tags"]), tools=d["tools"], reference=d.get("reference"))


def _wrong(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 7
    if isinstance(v, str):
        return v + " and more"
    if isinstance(v, list):
        return v + v[:1] + ["extra"]
    if isinstance(v, dict):
        return {**v, "unexpected_key": 1}
    return "wrong"


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


def bfcl_messages(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Four answers to one BFCL case (see the module docstring)."""
    from harness.suite.importers.bfcl import reference_message
    e = d["expect"]
    gt = [{c["name"]: c["arguments"]} for c in e["calls"]]
    ref = reference_message(e["functions"], gt)
    calls = ref.get("tool_calls") or []
    if not calls:   # irrelevance
        fn = e["functions"][0]["name"].replace(".", "_") if e["functions"] else "lookup"
        tc = [{"id": "c0", "type": "function", "function": {"name": fn, "arguments": "{}"}}]
        bad = [{"id": "c0", "type": "function", "function": {"name": fn, "arguments": "{\"x\": "}}]
        return [ref, {"role": "assistant", "content": "No function here fits the request."},
                {"role": "assistant", "content": None, "tool_calls": tc},
                {"role": "assistant", "content": None, "tool_calls": bad}]
    upper = copy.deepcopy(ref)
    wrong = copy.deepcopy(ref)
    for tc in upper["tool_calls"]:
        args = json.loads(tc["function"]["arguments"])
        tc["function"]["arguments"] = json.dumps({k: _upper(v) for k, v in args.items()}, separators=(",", ":"))
    args = json.loads(wrong["tool_calls"][0]["function"]["arguments"])
    if args:
        k = next(iter(args))
        args[k] = _wrong(args[k])
    else:
        args = {"unexpected": 1}
    wrong["tool_calls"][0]["function"]["arguments"] = json.dumps(args)
    return [ref, upper, wrong, {"role": "assistant", "content": "I would need more details to do that."}]


# -- the workloads ---------------------------------------------------------------------------------

def build(n: int, generated_bfcl_cases: bool = False) -> tuple[dict[str, Case], dict[str, list[dict[str, Any]]], str,
                                                               list[dict[str, Any]]]:
    """(cases by id, response records by workload, the BFCL source, the BFCL case dicts)."""
    rng = random.Random(0)
    n_cases = max(1, n // SAMPLES)
    cases: dict[str, Case] = {}
    records: dict[str, list[dict[str, Any]]] = {"roo-xml": [], "native": [], "bfcl": []}

    def add(kind: str, c: Case, msgs: list[Any]) -> None:
        cases[c.id] = c
        for s, m in enumerate(msgs):
            records[kind].append({"id": c.id, "sample": s, "message": m,
                                  "usage": {"prompt_tokens": 900 + rng.randrange(100), "completion_tokens": 60}})

    for i in range(n_cases):
        c, m = roo_case(i)
        add("roo-xml", c, [m] * SAMPLES)
        c, m = native_case(i)
        add("native", c, [m] * SAMPLES)
    dicts, source = bfcl_case_dicts(n_cases, generated_bfcl_cases)
    for d in dicts:
        add("bfcl", bfcl_case(d), bfcl_messages(d))
    for k in records:
        records[k] = records[k][:n]
    return cases, records, source, dicts


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def case_dict(c: Case) -> dict[str, Any]:
    """A roo-xml or native case as a suite line (for the end-to-end `harness score` run)."""
    d: dict[str, Any] = {"id": c.id, "protocol": c.protocol, "split": "test", "tags": c.tags,
                         "messages": [{"role": "user", "content": f"task {c.id}"}]}
    if c.expect.calls is not None:
        d["expect"] = {"calls": [{"name": e.name, "arguments": e.arguments} for e in c.expect.calls]}
        if c.expect.any_order:
            d["expect"]["any_order"] = True
    if c.mode:
        d["mode"] = c.mode
    if c.tools:
        d["tools"] = c.tools
    return d


def best(fn: Callable[[], Any], repeat: int) -> float:
    """The best of `repeat` runs in CPU seconds of this process (time.process_time): a per-core figure
    that other jobs on a shared machine do not inflate (wall-clock would count their time slices too)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return max(min(times), 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="responses per protocol (default 20000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end `harness score` run")
    ap.add_argument("--generated-bfcl", action="store_true",
                    help="BFCL-like generated cases even when bfcl_eval's data is installed")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases, records, source, bfcl_dicts = build(args.n, args.generated_bfcl)
        every = [r for k in records for r in records[k]]
        resp_path = write_jsonl(folder / "responses.jsonl", every)
        responses = read_responses(resp_path, cases)
        cache = ProtocolCache()
        by_kind = {k: [r for r in responses if _kind(cases[r.id]) == k] for k in records}
        print(f"responses: {args.n} per protocol, {SAMPLES} samples per case; BFCL: {source}")
        print(f"{'protocol':9s} {'parse+score/s':>14s} {'µs each':>8s} {'score only/s':>13s} {'pass rate':>9s}  "
              f"vs goal {GOAL:,.0f}/s")
        for kind, sub in by_kind.items():
            score_responses(cases, sub[:400], cache)       # warm up: protocol and validator caches
            t = best(lambda: score_responses(cases, sub, cache), args.repeat)
            parsed = []
            for r in sub:
                c = cases[r.id]
                proto = cache.get(c)
                parsed.append((c, proto.parse(r.message, mode=c.mode, tools=c.tools), proto))
            tv = best(lambda: [score(c, turn, p) for c, turn, p in parsed], args.repeat)
            results = score_responses(cases, sub, cache)
            rate = sum(r["passed"] for r in results) / max(1, len(results))
            print(f"{kind:9s} {len(sub) / t:14,.0f} {t * 1e6 / len(sub):8.1f} {len(sub) / tv:13,.0f} {rate:9.2f}  "
                  f"{len(sub) / t / GOAL:.2f}x")

        n = len(responses)

        def pipeline() -> None:
            rs = read_responses(resp_path, cases)
            results = score_responses(cases, rs, cache)
            out = folder / f"run-{time.perf_counter_ns()}"
            with RunDir(out) as rd:
                rd.extend(results)
            metrics.summarize(results, cases, 1.0, None)

        t_pipe = best(pipeline, args.repeat)
        print(f"pipeline, all {n} responses: {n / t_pipe:,.0f} responses/s per core "
              f"(read + parse + score + write + summarize; goal {PIPELINE_GOAL:,.0f}/s: {n / t_pipe / PIPELINE_GOAL:.1f}x)")

        if not args.no_cli:
            from harness.score.recorded import score_recorded
            suite = folder / "bench-suite.jsonl"
            lines = [case_dict(c) for c in cases.values() if _kind(c) != "bfcl"]
            lines += [{k: v for k, v in d.items() if k != "reference"} for d in bfcl_dicts]
            write_jsonl(suite, lines)
            os.environ.setdefault("HARNESS_HOME", str(folder / "home"))
            os.environ["HARNESS_CACHE_DIR"] = str(folder / "cache")    # a cold suite load
            t0, c0 = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):   # what `harness score --quiet` runs, in process
                scored = score_recorded(str(suite), resp_path, folder / "cli-run")
            e2e, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"harness score end to end, {n} responses: {n / cpu:,.0f} responses/s per core "
                  f"({n / e2e:,.0f}/s wall; pass rate {scored.summary.get('pass_rate')}; cold suite load and "
                  f"validation of {len(lines)} cases, run dir, leaderboard included)")
    return 0


def _kind(c: Case) -> str:
    if c.expect.checker == "bfcl":
        return "bfcl"
    return "roo-xml" if c.protocol == "roo-xml" else "native"


if __name__ == "__main__":
    sys.exit(main())
