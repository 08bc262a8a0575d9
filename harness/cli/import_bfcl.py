"""`harness import bfcl`: BFCL's single-turn categories as a JSONL suite."""
from __future__ import annotations

import argparse

CATEGORY_HELP = ("simple_python, multiple, parallel, parallel_multiple, live_simple, live_multiple, "
                 "live_parallel, live_parallel_multiple, irrelevance, live_irrelevance")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import test cases from other benchmarks (bfcl)",
                       description="Import another benchmark's cases as a suite.")
    src = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    b = src.add_parser(
        "bfcl", help="BFCL v4 single-turn categories → a JSONL suite (native protocol, BFCL checker)",
        description="Convert BFCL's data files (JSON Lines, answers in possible_answer/) into suite cases "
                    "scored with BFCL's AST-checker semantics. The data folder defaults to the one of an "
                    "installed bfcl_eval package (pip install --no-deps bfcl-eval).")
    b.add_argument("--data", metavar="DIR",
                   help="BFCL's data folder (holding BFCL_v4_<category>.json and possible_answer/); "
                        "default: the installed bfcl_eval package's data/")
    b.add_argument("--categories", metavar="A,B",
                   help=f"comma-separated categories (default: all of {CATEGORY_HELP}; 'simple' = simple_python)")
    b.add_argument("--out", required=True, metavar="FILE", help="the suite file to write (JSONL)")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.suite.importers.bfcl import import_bfcl, write_cases

    console = Console(stderr=True)
    with console.status("reading BFCL data…") as status:
        by_cat = import_bfcl(args.data, args.categories,
                             on_category=lambda cat, n: status.update(f"reading BFCL data… {cat}: {n} cases"))
    n = write_cases((c for cases in by_cat.values() for c in cases), args.out)
    table = Table(title=f"BFCL → {args.out}")
    table.add_column("category")
    table.add_column("cases", justify="right")
    for cat, cases in by_cat.items():
        table.add_row(cat, str(len(cases)))
    table.add_row("total", str(n), style="bold")
    Console().print(table)
    return 0
