"""`harness merge RUN... --out DIR`: join the run directories of `harness eval --shard I/N` into one run
(harness.log.merge)."""
from __future__ import annotations

import argparse
from typing import Any

HELP = "join shard run directories (harness eval --shard I/N) into one run"


def register(sub: Any) -> None:
    p = sub.add_parser("merge", help=HELP, description=HELP)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories to join")
    p.add_argument("--out", required=True, metavar="DIR", help="the merged run directory to write")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-register", action="store_true", help="do not add the merged run to the leaderboard")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the headline")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.log import report
    from harness.log.merge import merge_runs

    merged = merge_runs(args.runs, args.out, force=args.force, register=not args.no_register)
    console = Console()
    if args.quiet:
        console.print(report.headline(merged.summary), highlight=False)
    else:
        report.print_summary(merged.summary, merged.manifest, console)
        console.print(f"merged {merged.n_runs} runs ({len(merged.results)} result lines) into {merged.run_dir}",
                      highlight=False)
    return 0
