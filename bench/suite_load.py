"""Cold first load of a suite (fresh parse cache): the structural schema meta-check vs jsonschema's alone.

    python bench/suite_load.py --suite /tmp/bfcl.jsonl [--repeat 3]
    python bench/suite_load.py --bfcl-data DIR        # imports BFCL's 6 AST categories (2,311 cases) first

Each measurement is a fresh process with an empty HARNESS_CACHE_DIR timing `load_suite` (imports of
harness.suite before the clock starts): "ours" as shipped; "peer" the same code with
protocols.schema.meta's structural check turned off, so every tool schema goes through jsonschema's
check_schema (the behaviour before it). Both in one run, alternating; it prints the medians and
the ratio, and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BFCL_AST = "simple_python,multiple,parallel,parallel_multiple,live_simple,live_multiple"

PROBE = r"""
import json, sys, time
import harness.suite.schemas as schemas
from harness.suite import load_suite
if sys.argv[2] == "peer":
    schemas.surely_valid = lambda schema: False
t = time.perf_counter()
if sys.argv[3] == "runner":      # what harness eval does: Runner.load (suite, protocols, case contexts)
    from harness.eval import EvalConfig
    from harness.eval.dispatch import Runner
    r = Runner(EvalConfig(suite=sys.argv[1], endpoints=["http://127.0.0.1:9/v1"], model="m"))
    r.load()
    n = len(r.cases)
else:
    n = len(load_suite(sys.argv[1], check_references=sys.argv[3] == "1").cases)
print(json.dumps({"s": time.perf_counter() - t, "cases": n}))
"""


def once(suite: str, arm: str, refs: bool | str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, HARNESS_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        mode = refs if isinstance(refs, str) else ("1" if refs else "0")
        out = subprocess.run([sys.executable, "-c", PROBE, suite, arm, mode], env=env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", help="a suite file (e.g. from `harness import bfcl`)")
    ap.add_argument("--bfcl-data", help="BFCL's data folder: import its AST categories into a temporary suite")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-references", action="store_true", help="load without replaying the references")
    ap.add_argument("--runner", action="store_true", help="time harness eval's Runner.load instead")
    args = ap.parse_args()
    suite = args.suite
    if suite is None:
        if not args.bfcl_data:
            ap.error("give --suite FILE or --bfcl-data DIR")
        suite = str(Path(tempfile.mkdtemp()) / "bfcl.jsonl")
        subprocess.run([sys.executable, "-m", "harness.cli", "import", "bfcl", "--data", args.bfcl_data,
                        "--categories", BFCL_AST, "--out", suite], check=True, cwd=ROOT, capture_output=True)
    refs: bool | str = "runner" if args.runner else not args.no_references
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    cases = 0
    for _ in range(args.repeat):
        for arm in ("ours", "peer"):
            r = once(suite, arm, refs)
            times[arm].append(r["s"])
            cases = r["cases"]
    ours, peer = statistics.median(times["ours"]), statistics.median(times["peer"])
    what = "Runner.load" if refs == "runner" else f"references {'replayed' if refs else 'not replayed'}"
    print(f"suite {suite}: {cases} cases, {what}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"cold load, structural meta-check (ours):  median {ours:.3f} s  {[round(x, 3) for x in times['ours']]}")
    print(f"cold load, jsonschema check_schema (peer): median {peer:.3f} s  {[round(x, 3) for x in times['peer']]}")
    print(f"ratio peer/ours: {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
