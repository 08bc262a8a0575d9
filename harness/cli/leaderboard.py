"""`harness leaderboard`: the registered runs, best pass rate first within each suite."""
from __future__ import annotations

import argparse
import os
from typing import Any

HELP = "show the leaderboard of registered runs (models × suites)"


def register(sub: Any) -> None:
    p = sub.add_parser("leaderboard", help=HELP, description=HELP)
    p.add_argument("--suite", metavar="S", help="only runs of this suite")
    p.add_argument("--model", metavar="M", help="only runs of this model")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.log import leaderboard as store

    rows = store.list_runs(suite=args.suite, model=args.model)
    if args.json:
        print(store.rows_json(rows))
        return 0
    from rich.console import Console

    from harness.log.report import print_leaderboard
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=max(console.width, 220))   # piped: one row per run, not squeezed to 80
    print_leaderboard(rows, console)
    return 0
