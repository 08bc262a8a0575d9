"""`harness compare RUN_A RUN_B`: which cases flipped between two runs, and is the difference significant?

Per case, the verdict of a run is the majority over its samples with a verdict (status ok): a case
passes when more than half of its samples pass (with one sample: that sample; a tie fails). Cases
without a verdict in either run are left out of the paired comparison. The paired test is the exact
McNemar test on the discordant cases (b = pass→fail, c = fail→pass): two-sided
p = min(1, 2 · P[X ≤ min(b, c)]) with X ~ Binomial(b + c, 1/2). Pass rates are sample-level, with
Wilson 95% intervals, as in summary.json. Exit code 0 (a comparison is information, not a gate).
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

HELP = "compare two runs: cases that flipped, pass rates with CIs, paired significance (exact McNemar)"


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP)
    p.add_argument("run_a", metavar="RUN_A", help="the baseline run directory")
    p.add_argument("run_b", metavar="RUN_B", help="the run to compare with it")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="list at most N flipped cases each way")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def case_verdicts(results: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """id -> (samples with a verdict, samples passed)."""
    out: dict[str, list[int]] = {}
    for r in results:
        if r.get("status") != "ok":
            continue
        nc = out.setdefault(str(r.get("id")), [0, 0])
        nc[0] += 1
        nc[1] += r.get("passed") is True
    return {k: (v[0], v[1]) for k, v in out.items()}


def majority(n: int, c: int) -> bool:
    return 2 * c > n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    m = b + c
    if m == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m
    return min(1.0, 2 * tail)


def compare(results_a: Sequence[Mapping[str, Any]], results_b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from harness.score.metrics import wilson
    va, vb = case_verdicts(results_a), case_verdicts(results_b)
    common = sorted(set(va) & set(vb))
    to_fail = [cid for cid in common if majority(*va[cid]) and not majority(*vb[cid])]
    to_pass = [cid for cid in common if not majority(*va[cid]) and majority(*vb[cid])]
    both_pass = sum(1 for cid in common if majority(*va[cid]) and majority(*vb[cid]))

    def rate(v: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
        n = sum(x[0] for x in v.values())
        c = sum(x[1] for x in v.values())
        lo, hi = wilson(c, n)
        return {"n_cases": len(v), "n_samples": n, "passed": c, "pass_rate": c / n if n else None, "ci95": [lo, hi]}

    def case_rate(v: Mapping[str, tuple[int, int]], ids: Sequence[str]) -> float | None:
        return sum(majority(*v[i]) for i in ids) / len(ids) if ids else None

    p = mcnemar_exact(len(to_fail), len(to_pass))
    return {
        "a": rate(va), "b": rate(vb),
        "paired": {"n_cases": len(common), "a_case_pass_rate": case_rate(va, common),
                   "b_case_pass_rate": case_rate(vb, common), "both_pass": both_pass,
                   "pass_to_fail": len(to_fail), "fail_to_pass": len(to_pass),
                   "p_value": p, "significant": p < 0.05,
                   "only_in_a": len(set(va) - set(vb)), "only_in_b": len(set(vb) - set(va))},
        "flipped": {"pass_to_fail": to_fail, "fail_to_pass": to_pass},
    }


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console
    from rich.table import Table

    from harness.log.report import pct
    from harness.log.rundir import RunDir

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
