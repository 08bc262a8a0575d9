"""`harness score`: make a run directory from recorded responses, without any endpoint (harness.score.recorded).

    harness score --suite roo-core --responses answers.jsonl --out runs/recorded [--fail-under 0.8]
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.cli.argtypes import pass_rate_threshold

HELP = "score recorded responses against a suite (no endpoint) and write a run directory"


def register(sub: Any) -> None:
    p = sub.add_parser("score", help=HELP, description=HELP)
    p.add_argument("--suite", required=True, metavar="S", help="a shipped suite name or a suite file")
    p.add_argument("--responses", required=True, metavar="R.jsonl",
                   help='recorded answers: JSONL lines {"id", "sample", "message"}')
    p.add_argument("--out", required=True, metavar="DIR", help="the run directory to write")
    p.add_argument("--protocol", metavar="P", help="parse every case with this protocol instead of the suite's")
    p.add_argument("--model", default="recorded", help="model name recorded in run.json and the leaderboard")
    sp = p.add_mutually_exclusive_group()
    sp.add_argument("--system-prompt", choices=("full", "compact"), dest="system_prompt",
                    help="the system-prompt rendering the answers were produced with (recorded in run.json)")
    sp.add_argument("--system-prompt-file", metavar="PATH", dest="system_prompt_file",
                    help="the exact system-prompt text the answers were produced with (recorded in run.json)")
    p.add_argument("--fail-under", type=pass_rate_threshold, metavar="X",
                   help="exit 1 when the pass rate is below X (0.8 or 80)")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-register", action="store_true", help="do not add the run to the leaderboard")
    p.add_argument("--failures", type=int, default=10, metavar="N", help="list the first N failures (default 10)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the headline")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.log import report
    from harness.score.recorded import score_recorded

    scored = score_recorded(args.suite, args.responses, args.out, protocol=args.protocol, model=args.model,
                            system_prompt=args.system_prompt, system_prompt_file=args.system_prompt_file,
                            force=args.force, register=not args.no_register)
    summary, manifest, results, out = scored.summary, scored.manifest, scored.results, scored.run_dir
    console = Console()
    if args.quiet:
        console.print(report.headline(summary), highlight=False)
    else:
        report.print_summary(summary, manifest, console)
        report.print_failures(results, console, limit=args.failures)
        missing = scored.n_cases - summary["n_cases"]
        if missing > 0:
            console.print(f"{missing} of {scored.n_cases} suite cases have no response", highlight=False)
        console.print(f"run directory: {out}", highlight=False)
    if args.fail_under is not None:
        rate = summary.get("pass_rate")
        if rate is None or rate < args.fail_under:
            print(f"harness: pass rate {report.pct(rate)} is under --fail-under {report.pct(args.fail_under)}",
                  file=sys.stderr)
            return 1
    return 0
