"""The runner against its limits: `harness eval` (whole process) vs a lean aiohttp loop, and vs the ideal.

    python bench/runner_limit.py [--n 2000] [--concurrency 64] [--latency 0.2] [--mode all|limit|bfcl]

limit mode (one run, printed side by side):
  1. a scripted OpenAI-compatible server (harness/testing/scripted.py) in its own process at 0 s latency;
     N single-turn requests of a generated roo-xml suite (one shared ~2,400-character system prompt,
     a distinct user task per case), max_tokens 64, concurrency C, sent by
       * `harness eval --no-cache` as a subprocess: whole-process wall time (Python start-up, suite
         load, plan, dispatch, parsing + scoring every answer, results.jsonl, summary, leaderboard,
         report) and the dispatch-phase rate from summary.json (`requests_per_s`);
       * a lean aiohttp loop in this process that only sends the same bodies (one ClientSession,
         C workers, post(data=bytes), json.loads(read())): no parsing, scoring or writing;
     and their ratio;
  2. the same at --latency seconds (default 0.2): wall times against the ideal N / C × latency.
bfcl mode: a BFCL-sized run — BFCL's six single-turn categories with answers (2,311 cases: simple_python,
  multiple, parallel, parallel_multiple, live_simple, live_multiple) imported with `harness import bfcl`
  when the bfcl_eval package is installed, else a generated native-protocol suite of 2,311 cases — at
  --latency, concurrency C, default max_tokens: whole-process wall time / ideal, requests seen by the
  server (must equal the cases), then a rerun with the response cache: requests seen by the server
  (must be 0).

The machine's load average is printed with each figure: on a shared 2-core machine other processes
take CPU from both the harness and the server, and every figure here is only as good as that number.

The suite loader's own cache is warmed first (one load in this process), as it is on any machine after
the first use of a suite; every other cost is in the timed process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import _drive_lean as drive_lean  # noqa: E402
from _common import server_reset as reset, server_stats as stats  # noqa: E402
from harness.testing import spawn_server  # noqa: E402

LEAN_CPU: list[float] = []
BFCL_CATEGORIES = "simple_python,multiple,parallel,parallel_multiple,live_simple,live_multiple"

SYSTEM = ("You are Roo, a highly skilled software engineer with extensive knowledge in many programming "
          "languages, frameworks, design patterns, and best practices. You use exactly one tool per "
          "message, formatted with XML-style tags, and you wait for the result of each tool use before "
          "going on. ")
SYSTEM = (SYSTEM * (2400 // len(SYSTEM) + 1))[:2400]


# -- suites -----------------------------------------------------------------------------------------

def write_limit_suite(path: Path, n: int) -> None:
    """N single-turn roo-xml read_file cases sharing one ~2,400-character system prompt."""
    lines = [json.dumps({"suite": {"name": "bench-limit", "protocol": "roo-xml", "mode": "code"}})]
    for i in range(n):
        p = f"src/pkg{i % 97}/module_{i}.py"
        lines.append(json.dumps({
            "id": f"read-{i:05d}", "split": "test", "tags": ["read_file"],
            "messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": f"<task>\nShow me {p}.\n</task>"}],
            "expect": {"calls": [{"name": "read_file"}]},
            "reference": {"role": "assistant",
                          "content": f"<read_file>\n<args>\n<file>\n<path>{p}</path>\n</file>\n</args>\n</read_file>"},
        }))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_native_suite(path: Path, n: int) -> None:
    """A BFCL-sized native-protocol suite: a few functions per case, one expected call."""
    lines = [json.dumps({"suite": {"name": "bench-native", "protocol": "native"}})]
    for i in range(n):
        fname = f"get_weather_{i % 50}"
        tools = [{"type": "function", "function": {
            "name": fname, "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "the city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
            {"type": "function", "function": {
                "name": "get_time", "description": "Current time in a time zone.",
                "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}]
        city = f"City{i}"
        lines.append(json.dumps({
            "id": f"native-{i:05d}", "split": "test", "tags": ["native"],
            "messages": [{"role": "user", "content": f"What is the weather in {city}?"}],
            "tools": tools,
            "expect": {"calls": [{"name": fname, "arguments": {"city": {"const": city}}}]},
            "reference": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": fname, "arguments": json.dumps({"city": city})}}]},
        }))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bfcl_suite(tmp: Path, env: dict[str, str]) -> tuple[Path, str]:
    import importlib.util
    if importlib.util.find_spec("bfcl_eval") is not None:
        out = tmp / "bfcl.jsonl"
        r = subprocess.run([sys.executable, "-m", "harness.cli", "import", "bfcl", "--categories", BFCL_CATEGORIES,
                            "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            return out, "BFCL v4 (harness import bfcl, 6 categories)"
        print(f"note: harness import bfcl failed ({r.stderr.strip()[-300:]}); using a generated suite")
    out = tmp / "native.jsonl"
    write_native_suite(out, 2311)
    return out, "generated native suite (bfcl_eval not installed)"


# -- drivers ----------------------------------------------------------------------------------------

def harness_eval(suite: Path, url: str, out: Path, conc: int, env: dict[str, str], *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--suite", str(suite), "--endpoint", url, "--model", "bench",
           "--concurrency", str(conc), "--out", str(out), "--quiet", *extra]
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):
        raise SystemExit(f"harness eval failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    summary["_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, summary


def bodies_for(suite: Path, n: int) -> list[bytes]:
    """The bodies `harness eval` sends for the suite (same planner), for the lean loop."""
    from harness.eval import EvalConfig
    from harness.eval.dispatch import Runner
    r = Runner(EvalConfig(suite=str(suite), endpoints=["http://x/v1"], model="bench", max_tokens=64))
    r.load()
    return [q.body for q in r.plan(set())][:n]


async def lean_loop(url: str, bodies: list[bytes], conc: int) -> tuple[float, int]:
    """The lean aiohttp loop (bench/_common's driver) in this process: (wall s, answered requests)."""
    t = time.perf_counter()
    c = time.process_time()
    ok = await drive_lean(bodies, url, conc)
    LEAN_CPU.append(time.process_time() - c)
    return time.perf_counter() - t, ok


# -- modes ------------------------------------------------------------------------------------------

def limit_mode(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
    suite = tmp / "limit.jsonl"
    write_limit_suite(suite, args.n)
    from harness.suite import load_suite
    load_suite(str(suite))   # warm the loader's cache, as after any first use
    bodies = bodies_for(suite, args.n)
    n, c = len(bodies), args.concurrency
    print(f"suite: {n} roo-xml cases, shared system prompt {len(SYSTEM)} chars, body ~{sum(map(len, bodies)) // n} "
          f"bytes, max_tokens 64, concurrency {c}")
    for lat in (0.0, args.latency):
        with spawn_server("--latency", str(lat), "--suite", str(suite), "--answer", "mix:0.8") as url:
            asyncio.run(lean_loop(url, bodies[: min(200, n)], c))   # warm the server
            reset(url)
            best_h = best_l = None
            cpu_h: list[float] = []
            LEAN_CPU.clear()
            for i in range(args.repeat):
                out = tmp / f"run-{lat}-{i}"
                wall_h, summ = harness_eval(suite, url, out, c, env, "--no-cache", "--max-tokens", "64")
                seen = stats(url)["chat_requests"]
                cpu_h.append(summ["_cpu_s"])
                reset(url)
                wall_l, ok = asyncio.run(lean_loop(url, bodies, c))
                reset(url)
                if best_h is None or wall_h < best_h[0]:
                    best_h = (wall_h, summ, seen)
                if best_l is None or wall_l < best_l[0]:
                    best_l = (wall_l, ok)
            assert best_h is not None and best_l is not None
            wall_h, summ, seen = best_h
            wall_l, ok = best_l
            disp = summ["runner"]["dispatch_s"]
            print(f"\nlatency {lat:g} s ({n} requests, concurrency {c}; best of {args.repeat}; load average "
                  f"{os.getloadavg()[0]:.2f})")
            print(f"  harness eval (whole process)  wall {wall_h:6.2f} s   {n / wall_h:7.0f} requests/s   "
                  f"(server saw {seen}; pass rate {summ['pass_rate']:.3f})")
            print(f"  harness eval (dispatch phase) wall {disp:6.2f} s   {summ['requests_per_s']:7.0f} requests/s   "
                  f"(load {summ['runner']['phases']['load_s']:.2f} s, plan {summ['runner']['phases']['plan_s']:.2f} s)")
            print(f"  lean aiohttp loop (send only) wall {wall_l:6.2f} s   {n / wall_l:7.0f} requests/s   ({ok} ok)")
            print(f"  ratio harness/lean: whole process {wall_h / wall_l:.2f}x, dispatch phase {disp / wall_l:.2f}x")
            print(f"  CPU per request (least of {args.repeat}): harness whole process {1000 * min(cpu_h) / n:.3f} ms "
                  f"(start-up and suite load included), lean loop {1000 * min(LEAN_CPU) / n:.3f} ms")
            if lat > 0:
                ideal = n / c * lat
                print(f"  ideal N/C x latency = {ideal:.2f} s: harness {wall_h / ideal:.3f}x (dispatch {disp / ideal:.3f}x), "
                      f"lean {wall_l / ideal:.3f}x")


def bfcl_mode(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
    suite, what = bfcl_suite(tmp, env)
    from harness.suite import load_suite
    n = len(load_suite(str(suite)).cases)   # also warms the loader's cache
    c, lat = args.concurrency, args.latency
    ideal = n / c * lat
    print(f"\nBFCL-sized run: {what}: {n} cases, latency {lat:g} s, concurrency {c}; ideal N/C x latency = "
          f"{ideal:.2f} s; load average {os.getloadavg()[0]:.2f}")
    with spawn_server("--latency", str(lat), "--suite", str(suite), "--answer", "reference") as url:
        reset(url)
        out = tmp / "bfcl-run"
        wall, summ = harness_eval(suite, url, out, c, env)
        seen = stats(url)["chat_requests"]
        lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x.strip()]
        keys = {(r["id"], r["sample"]) for r in lines}
        print(f"  harness eval (whole process) wall {wall:.2f} s = {wall / ideal:.3f}x ideal "
              f"(dispatch {summ['runner']['dispatch_s']:.2f} s = {summ['runner']['dispatch_s'] / ideal:.3f}x; "
              f"load {summ['runner']['phases']['load_s']:.2f} s, plan {summ['runner']['phases']['plan_s']:.2f} s)")
        print(f"  requests seen by the server {seen} for {n} cases; result lines {len(lines)}, distinct (case, sample) "
              f"{len(keys)}; pass rate {summ['pass_rate']:.3f}, errors {summ['errors']}")
        reset(url)
        out2 = tmp / "bfcl-rerun"
        wall2, summ2 = harness_eval(suite, url, out2, c, env)
        seen2 = stats(url)["chat_requests"]
        print(f"  rerun (response cache): wall {wall2:.2f} s, requests seen by the server {seen2}, cache hits "
              f"{summ2['runner']['cache_hits']}, same verdicts: "
              f"{_verdicts(out) == _verdicts(out2)}")


def _verdicts(run: Path) -> dict:
    out = {}
    for x in (run / "results.jsonl").read_text().splitlines():
        if x.strip():
            r = json.loads(x)
            out[(r["id"], r["sample"])] = r.get("passed")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--repeat", type=int, default=2, help="runs per variant in limit mode (best is printed)")
    ap.add_argument("--mode", choices=("all", "limit", "bfcl"), default="all")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runner-limit-"))
    env = dict(os.environ, HARNESS_HOME=str(tmp / "home"), HARNESS_CACHE_DIR=str(tmp / "cache"),
               PYTHONPATH=str(ROOT))
    # the loader's cache is per cache dir: this process and the timed ones share it
    os.environ["HARNESS_CACHE_DIR"] = env["HARNESS_CACHE_DIR"]
    os.environ["HARNESS_HOME"] = env["HARNESS_HOME"]
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        if args.mode in ("all", "limit"):
            limit_mode(args, tmp, env)
        if args.mode in ("all", "bfcl"):
            bfcl_mode(args, tmp, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
