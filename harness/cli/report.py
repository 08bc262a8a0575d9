"""`harness report DIR`: print a run directory's summary (recomputed when the run did not finish)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "print a run's summary: pass rate ± CI, by tool, by violation, tokens, latency"


def register(sub: Any) -> None:
    p = sub.add_parser("report", help=HELP, description=HELP)
    p.add_argument("run_dir", metavar="DIR", help="a run directory (made by `harness eval` or `harness score`)")
    p.add_argument("--json", action="store_true", help="print summary.json instead of tables")
    p.add_argument("--failures", type=int, default=10, metavar="N", help="list the first N failures (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.score import metrics
    from harness.log import report
    from harness.log.rundir import RunDir, suite_cases

    rd = RunDir(args.run_dir).require()
    manifest = rd.manifest()
    results = rd.results()
    for w in rd.warnings:
        print(f"harness: warning: {w}", file=sys.stderr)
    if rd.has_summary():
        summary = rd.summary()
    else:
        summary = metrics.summarize(results, suite_cases(manifest), None, None)
        rd.write_summary(summary)
        print(f"harness: note: {rd.path} had no summary.json (unfinished run); recomputed it from "
              f"{len(results)} result lines", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    console = Console()
    report.print_summary(summary, manifest, console)
    report.print_failures(results, console, limit=args.failures)
    return 0
