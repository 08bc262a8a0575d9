"""Paired comparison of two runs: which cases flipped, and is the difference significant?

Per case, the verdict of a run is the majority over its samples with a verdict (status ok): a case
passes when more than half of its samples pass (with one sample: that sample; a tie fails). Cases
without a verdict in either run are left out of the paired comparison. The paired test is the exact
McNemar test on the discordant cases (b = pass→fail, c = fail→pass): two-sided
p = min(1, 2 · P[X ≤ min(b, c)]) with X ~ Binomial(b + c, 1/2); the training loop's gate uses its
one-sided form (`mcnemar_regression_p`). Pass rates are sample-level, with Wilson 95% intervals, as in
summary.json. Pure: `harness compare`, the loop and the UI read it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


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


def _upper_tail(m: int, k: int) -> float:
    """P[X >= k] for X ~ Binomial(m, 1/2), exactly (integer sums, one division)."""
    return sum(math.comb(m, i) for i in range(k, m + 1)) / 2 ** m


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    m = b + c
    if m == 0:
        return 1.0
    return min(1.0, 2 * _upper_tail(m, m - min(b, c)))     # P[X <= min(b, c)], by symmetry


def mcnemar_regression_p(b: int, c: int) -> float:
    """One-sided exact McNemar p-value that `b` (pass → fail) exceeds `c` (fail → pass) by chance
    (1.0 when it does not exceed it): the loop's gate against regressions."""
    m = b + c
    if m == 0 or b <= c:
        return 1.0
    return _upper_tail(m, b)


def flipped(before: Mapping[str, bool], after: Mapping[str, bool]) -> tuple[list[str], list[str]]:
    """(pass→fail ids, fail→pass ids), sorted, over the cases both sides judged."""
    common = sorted(before.keys() & after.keys())
    return ([k for k in common if before[k] and not after[k]],
            [k for k in common if not before[k] and after[k]])


def paired_flips(before: Mapping[str, bool], after: Mapping[str, bool]) -> tuple[int, int]:
    """(pass→fail, fail→pass) over the cases both runs judged."""
    to_fail, to_pass = flipped(before, after)
    return len(to_fail), len(to_pass)


def compare(results_a: Sequence[Mapping[str, Any]], results_b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from harness.score.metrics import wilson
    va, vb = case_verdicts(results_a), case_verdicts(results_b)
    common = sorted(set(va) & set(vb))
    pa = {cid: majority(*va[cid]) for cid in common}
    pb = {cid: majority(*vb[cid]) for cid in common}
    to_fail, to_pass = flipped(pa, pb)
    both_pass = sum(1 for cid in common if pa[cid] and pb[cid])

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


__all__ = ["case_verdicts", "compare", "flipped", "majority", "mcnemar_exact", "mcnemar_regression_p",
           "paired_flips"]
