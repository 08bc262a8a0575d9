"""`harness compare RUN_A RUN_B`: which cases flipped between two runs, and is the difference significant?

The comparison (majority verdicts, exact McNemar, Wilson intervals) is harness.score.compare's.
Exit code 0 (a comparison is information, not a gate).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

HELP = "compare two runs: cases that flipped, pass rates with CIs, paired significance (exact McNemar)"


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP)
    p.add_argument("run_a", metavar="RUN_A", help="the baseline run directory")
    p.add_argument("run_b", metavar="RUN_B", help="the run to compare with it")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="list at most N flipped cases each way")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console
    from rich.table import Table

    from harness.log.report import pct
    from harness.log.rundir import RunDir
    from harness.score.compare import compare

    rda, rdb = RunDir(args.run_a).require(), RunDir(args.run_b).require()
    ma, mb = rda.manifest(), rdb.manifest()
    ra, rb = rda.results(), rdb.results()
    for w in rda.warnings + rdb.warnings:
        print(f"harness: warning: {w}", file=sys.stderr)
    res = compare(ra, rb)
    res["run_a"], res["run_b"] = str(rda.path), str(rdb.path)
    sa, sb = ma.get("suite") or {}, mb.get("suite") or {}
    if isinstance(sa, Mapping) and isinstance(sb, Mapping) and sa.get("hash") != sb.get("hash"):
        print(f"harness: warning: the runs used different suite contents ({sa.get('name')} {str(sa.get('hash'))[:12]} "
              f"vs {sb.get('name')} {str(sb.get('hash'))[:12]}); only case ids in both are paired",
              file=sys.stderr)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    console = Console()
    t = Table(title="pass rate (samples, Wilson 95% CI)", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("run", "model", "cases", "samples", "pass rate", "95% CI"):
        t.add_column(col, justify="right" if col not in ("run", "model") else "left")
    for label, rd, m in (("A", rda, ma), ("B", rdb, mb)):
        r = res[label.lower()]
        t.add_row(f"{label} {rd.path}", str(m.get("model")), str(r["n_cases"]), str(r["n_samples"]),
                  pct(r["pass_rate"]), f"{pct(r['ci95'][0])}–{pct(r['ci95'][1])}")
    console.print(t)
    pr = res["paired"]
    console.print(f"paired on {pr['n_cases']} cases (majority over samples): A {pct(pr['a_case_pass_rate'])} → "
                  f"B {pct(pr['b_case_pass_rate'])}; pass→fail {pr['pass_to_fail']}, fail→pass "
                  f"{pr['fail_to_pass']}; exact McNemar p = {pr['p_value']:.4g} "
                  f"({'significant' if pr['significant'] else 'not significant'} at 0.05)", highlight=False)
    if pr["only_in_a"] or pr["only_in_b"]:
        console.print(f"not paired: {pr['only_in_a']} cases only in A, {pr['only_in_b']} only in B", highlight=False)
    for title, ids in (("pass → fail", res["flipped"]["pass_to_fail"]),
                       ("fail → pass", res["flipped"]["fail_to_pass"])):
        if not ids:
            continue
        console.print(f"[bold]{title}[/] ({len(ids)}): " + ", ".join(ids[: args.limit])
                      + (f" … and {len(ids) - args.limit} more" if len(ids) > args.limit else ""), highlight=False)
    return 0
