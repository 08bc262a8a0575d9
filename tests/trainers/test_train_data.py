"""`trainers.data` / `harness.loop.data` / `harness data export`: failures → OpenAI-messages SFT examples.

The run directory comes from a real `harness eval` against a recording server started here, so the
test can compare every exported prompt with the exact request the runner sent.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trainers import data

from harness.loop.data import examples_from_run, export_run

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

SUITE = textwrap.dedent("""\
    name: sft-mini
    protocol: roo-xml
    mode: code
    cases:
    """)


def _xml_case(cid: str, split: str, path: str, history: bool = False) -> str:
    msgs = [f'{{role: user, content: "Show me {path}"}}']
    if history:
        msgs = ['{role: user, content: "Hello there, first turn of a long conversation about many things"}',
                '{role: assistant, content: "I will look."}',
                '{role: user, content: "[ERROR] You did not use a tool. Answer again with a tool call."}',
                '{role: assistant, content: "Sorry, again no tool."}',
                f'{{role: user, content: "Show me {path}"}}']
    ref = f"<read_file>\\n<args>\\n<file>\\n<path>{path}</path>\\n</file>\\n</args>\\n</read_file>"
    return textwrap.indent(textwrap.dedent(f"""\
        - id: {cid}
          split: {split}
          tags: [read_file]
          messages: [{", ".join(msgs)}]
          expect:
            calls:
              - name: read_file
                arguments:
                  args: {{type: string, pattern: "<path>{path.replace('.', '[.]')}</path>"}}
          reference: {{role: assistant, content: "{ref}"}}
        """), "  ")


NATIVE = textwrap.indent(textwrap.dedent("""\
    - id: weather-1
      protocol: native
      split: train
      messages: [{role: user, content: "Weather in Paris?"}]
      tools:
        - type: function
          function:
            name: get_weather
            description: Current weather of a city.
            parameters:
              type: object
              properties: {city: {type: string}, unit: {type: [string, "null"], enum: [c, f, null]}}
              required: [city]
      expect:
        calls:
          - name: get_weather
            arguments: {city: {const: Paris}}
      reference:
        role: assistant
        content: null
        tool_calls: [{id: call_0, type: function, function: {name: get_weather, arguments: '{"city": "Paris"}'}}]
    - id: own-system-1
      split: train
      messages: [{role: system, content: "You are a custom agent."}, {role: user, content: "Show me own.txt"}]
      expect:
        calls: [{name: read_file}]
      reference: {role: assistant, content: "<read_file>\\n<args>\\n<file>\\n<path>own.txt</path>\\n</file>\\n</args>\\n</read_file>"}
    """), "  ")

TRAIN_PATHS = [f"src/mod{i}.py" for i in range(10)]
TEST_PATHS = ["lib/a.rs", "lib/b.rs"]
PASSING = {"t-0", "t-1", "t-2", "t-3", "t-4"}        # the server answers these correctly


def write_suite(d: Path) -> Path:
    body = SUITE
    for i, p in enumerate(TRAIN_PATHS):
        body += _xml_case(f"t-{i}", "train", p, history=(i == 9))
    for i, p in enumerate(TEST_PATHS):
        body += _xml_case(f"x-{i}", "test", p)
    body += NATIVE
    f = d / "suite.yaml"
    f.write_text(body)
    return f


class Recorder(BaseHTTPRequestHandler):
    answers: dict[str, str] = {}
    bodies: list[dict] = []

    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        last = body["messages"][-1]["content"]
        text = type(self).answers.get(last, "I am not sure what to do.")
        n = body.get("n", 1)
        reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": i, "message": {"role": "assistant", "content": text},
                              "finish_reason": "stop"} for i in range(n)],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        raw = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def run_eval(tmp: Path, suite: Path, out: Path, extra: list[str]) -> list[dict]:
    from harness.suite import load_suite
    s = load_suite(str(suite))
    Recorder.answers = {c.messages[-1]["content"]: c.reference["content"] for c in s.cases if c.id in PASSING}
    Recorder.bodies = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        env = {**SUBPROCESS_ENV, "HARNESS_HOME": str(tmp / "home"), "HARNESS_CACHE_DIR": str(tmp / "cache")}
        cmd = [sys.executable, "-m", "harness.cli", "eval", "--suite", str(suite), "--endpoint",
               f"http://127.0.0.1:{srv.server_address[1]}/v1", "--model", "m", "--out", str(out), "--quiet",
               "--no-register", "--no-cache", "--samples", "2", "--split", "all", *extra]   # train + test cases
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert p.returncode in (0, 1), p.stderr
    finally:
        srv.shutdown()
    return list(Recorder.bodies)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sft")
    suite = write_suite(tmp)
    compact_bodies = run_eval(tmp, suite, tmp / "run-compact", ["--system-prompt", "compact"])
    sp = tmp / "prompt.txt"
    sp.write_text("You are Roo. Answer with one XML tool call.\n")
    file_bodies = run_eval(tmp, suite, tmp / "run-file", ["--system-prompt-file", str(sp)])
    return {"tmp": tmp, "suite": suite, "compact": (tmp / "run-compact", compact_bodies),
            "file": (tmp / "run-file", file_bodies)}


def _by_last_user(bodies):
    return {json.dumps(b["messages"], sort_keys=True): b for b in bodies}


def test_failures_only_deduplicated_test_split_never_used(runs):
    run, _ = runs["compact"]
    examples, st = export_run(run)
    ids = [e["meta"]["id"] for e in examples]
    want = {f"t-{i}" for i in range(10)} - PASSING | {"weather-1", "own-system-1"}
    assert sorted(ids) == sorted(want)                     # one example per failed train case
    assert len(ids) == len(set(ids))                       # two failed samples per case -> one example
    assert st.failed_results == 2 * len(want) + 2 * len(TEST_PATHS)
    assert st.skipped_test == len(TEST_PATHS)              # failed test cases are never used
    assert not any(i.startswith("x-") for i in ids)
    for e in examples:
        assert e["messages"][-1]["role"] == "assistant"


def test_export_does_not_depend_on_the_order_results_arrived_in(runs, tmp_path):
    import shutil
    run, _ = runs["compact"]
    shuffled = tmp_path / "shuffled"
    shutil.copytree(run, shuffled)
    lines = (shuffled / "results.jsonl").read_text().splitlines()
    (shuffled / "results.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    a = export_run(run, replay=0.3, seed=1)[0]
    b = export_run(shuffled, replay=0.3, seed=1)[0]
    assert [e["meta"]["id"] for e in a] == [e["meta"]["id"] for e in b]
    assert data.data_sha256(a) == data.data_sha256(b)


def test_prompt_identical_to_the_runs_requests(runs):
    for key in ("compact", "file"):
        run, bodies = runs[key]
        sent = _by_last_user(bodies)
        examples = examples_from_run(run)
        assert examples
        for e in examples:
            prompt = [{k: v for k, v in m.items() if k != "training"} for m in e["messages"][:-1]]
            body = sent.get(json.dumps(prompt, sort_keys=True))
            assert body is not None, f"{key}: {e['meta']['id']}: no request had exactly this prompt"
            assert e.get("tools") == body.get("tools")
        if key == "file":
            assert any(e["messages"][0]["content"] == "You are Roo. Answer with one XML tool call.\n" for e in examples)
    own = [e for e in examples_from_run(runs["compact"][0]) if e["meta"]["id"] == "own-system-1"][0]
    assert own["messages"][0] == {"role": "system", "content": "You are a custom agent."}


def test_reference_is_the_target_and_history_is_not_trained(runs):
    examples = {e["meta"]["id"]: e for e in examples_from_run(runs["compact"][0])}
    multi = examples["t-9"]["messages"]
    assert [m["role"] for m in multi] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert multi[2]["training"] is False and multi[4]["training"] is False
    assert "training" not in multi[-1] and "<path>src/mod9.py</path>" in multi[-1]["content"]
    native = examples["weather-1"]["messages"][-1]
    assert native["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert examples["weather-1"]["tools"][0]["function"]["name"] == "get_weather"


def test_replay_share_is_seeded_and_drawn_from_passes(runs):
    run, _ = runs["compact"]
    a, st = export_run(run, replay=0.3, seed=3)
    b, _ = export_run(run, replay=0.3, seed=3)
    assert [e["meta"]["id"] for e in a] == [e["meta"]["id"] for e in b]
    replays = [e["meta"]["id"] for e in a if e["meta"]["kind"] == "replay"]
    fails = [e for e in a if e["meta"]["kind"] == "failure"]
    assert len(replays) == st.replay == round(len(fails) * 0.3 / 0.7) == 3    # 30% of the output
    big, st2 = export_run(run, replay=0.9, seed=3)       # more than the passes: all of them, with a warning
    assert st2.replay == len(PASSING) and st2.warnings
    assert set(replays) <= PASSING
    draws = {tuple(sorted(e["meta"]["id"] for e in export_run(run, replay=0.3, seed=s)[0]
                          if e["meta"]["kind"] == "replay")) for s in range(6)}
    assert len(draws) > 1                                   # the seed changes which passes are replayed
    with pytest.raises(data.UserError):
        export_run(run, replay=1.0)


def _tokenizer(tmp: Path):
    from trainers.scratch import train_tokenizer
    texts = ["Show me src/mod1.py", "<read_file><args><file><path>a</path></file></args></read_file>",
             "Hello there, first turn of a long conversation about many things", "system user assistant"] * 20
    return train_tokenizer(texts, 300)


def test_left_truncation_keeps_target_and_system(runs):
    tok = _tokenizer(runs["tmp"])
    ex = {e["meta"]["id"]: e for e in examples_from_run(runs["compact"][0])}["t-9"]
    full = data.count_tokens(tok, ex["messages"])
    sys_msg, target = ex["messages"][0], ex["messages"][-1]
    last_turn = [sys_msg] + ex["messages"][-2:]
    need_last = data.count_tokens(tok, last_turn)
    fitted, what = data.fit_example(ex, tok, need_last + 1)
    assert what == "truncated"
    msgs = fitted["messages"]
    assert msgs[0] == sys_msg and msgs[-1] == target and msgs[1]["role"] == "user"
    assert len(msgs) < len(ex["messages"]) and data.count_tokens(tok, msgs) <= need_last + 1
    # the oldest turn goes first: with room for more, the newest history survives
    mid = data.count_tokens(tok, [sys_msg] + ex["messages"][3:])
    fitted2, _ = data.fit_example(ex, tok, mid)
    assert fitted2["messages"][1:] == ex["messages"][3:]
    # no room for the system prompt: it is dropped, the target stays
    bare = data.count_tokens(tok, ex["messages"][-2:])
    fitted3, what3 = data.fit_example(ex, tok, bare)
    assert what3 == "truncated_no_system" and fitted3["messages"] == ex["messages"][-2:]
    # not even the last turn fits: skipped and counted
    kept, st = data.fit_to_length([ex], tok, bare - 1)
    assert kept == [] and st.dropped_too_long == 1
    kept, st = data.fit_to_length([ex], tok, full)
    assert kept[0]["messages"] == ex["messages"] and st.truncated == 0


def test_export_cli_and_trl_reads_the_file(runs, tmp_path):
    run, _ = runs["compact"]
    out = tmp_path / "sft.jsonl"
    p = subprocess.run([sys.executable, "-m", "harness.cli", "data", "export", "--from-run", str(run), "--out", str(out),
                        "--replay", "0.25", "--seed", "1"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=SUBPROCESS_ENV)
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(set(x) <= {"messages", "tools"} for x in lines)
    native = [x for x in lines if "tools" in x]
    assert len(native) == 1 and isinstance(native[0]["tools"], str)          # Arrow-safe JSON string
    assert data.read_jsonl(out)[0]["messages"] == lines[0]["messages"]

    import datasets
    from trl.data_utils import is_conversational
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(ds) == len(lines) and set(ds.column_names) == {"messages", "tools"}
    assert all(is_conversational(ds[i]) for i in range(len(ds)))
    row = [r for r in ds if r["tools"]][0]
    assert json.loads(row["tools"]) == json.loads(native[0]["tools"])       # exactly what was written

    # Axolotl's form: a list of tools whose parameters are JSON strings (uniform for Arrow)
    ax = tmp_path / "ax.jsonl"
    data.write_jsonl(examples_from_run(run), ax, tools_format="axolotl")
    ds2 = datasets.load_dataset("json", data_files=str(ax), split="train")
    t = [r for r in ds2 if r["tools"]][0]["tools"][0]
    assert isinstance(t["function"]["parameters"], str) and json.loads(t["function"]["parameters"])["required"] == ["city"]


def test_export_cli_errors(runs, tmp_path):
    run, _ = runs["compact"]
    p = subprocess.run([sys.executable, "-m", "harness.cli", "data", "export", "--from-run", str(run), "--out",
                        str(tmp_path / "x.jsonl"), "--max-length", "100"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "--tokenizer" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "harness.cli", "data", "export", "--from-run", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "x.jsonl")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "no such run directory" in p.stderr and "Traceback" not in p.stderr


def test_examples_from_cases_skips_test_split(runs):
    from harness.suite import load_suite
    s = load_suite(str(runs["suite"]))
    ex = data.examples_from_cases(s.cases, None, "compact")
    ids = {e["meta"]["id"] for e in ex}
    assert ids == {c.id for c in s.cases if c.split == "train"}
    import protocols
    roo = protocols.get("roo-xml")
    first = [e for e in ex if e["meta"]["id"] == "t-0"][0]
    assert first["messages"][0]["content"] == roo.render_system(mode="code", style="compact")
