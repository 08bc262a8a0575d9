"""harness.score.metrics: Wilson intervals, pass@k / pass^k, percentiles and summary.json."""
from __future__ import annotations

import itertools
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.suite.model import Case, Expect, ExpectedCall
from harness.score.metrics import k_values, pass_at_k, pass_hat_k, percentile, summarize, wilson


# -- Wilson ------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n,lo,hi", [
    # reference values: the roots of (p - x)^2 = z^2 x (1 - x) / n (Wilson 1927), z = 1.96, to 5 places;
    # 5/10 -> 0.2366-0.7634 as in statsmodels' proportion_confint(method="wilson")
    (0, 10, 0.0, 0.27753),
    (5, 10, 0.23659, 0.76341),
    (10, 10, 0.72247, 1.0),
    (81, 263, 0.25529, 0.36621),
    (1, 1, 0.20655, 1.0),
    (50, 100, 0.40383, 0.59617),
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4)
    assert got[1] == pytest.approx(hi, abs=1e-4)


def test_wilson_edges_and_errors():
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)
    lo90, hi90 = wilson(5, 10, z=1.645)
    lo95, hi95 = wilson(5, 10)
    assert lo95 < lo90 < 0.5 < hi90 < hi95


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate(kn):
    k, n = kn
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


# -- pass@k / pass^k ---------------------------------------------------------------------------

def brute(n: int, c: int, k: int, all_pass: bool) -> float:
    """Enumerate every k-subset of n samples (the first c pass)."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    hits = sum(1 for s in subsets if (all(s) if all_pass else any(s)))
    return hits / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute(n, c, k, False), abs=1e-12)
            assert pass_hat_k(n, c, k) == pytest.approx(brute(n, c, k, True), abs=1e-12)


def test_pass_at_k_closed_form_and_large_n():
    n, c, k = 200, 13, 10
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 3, 3) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_hat_k(3, 4, 1)


def test_k_values():
    assert k_values(0) == []
    assert k_values(1) == [1]
    assert k_values(3) == [1, 2, 3]
    assert k_values(10) == [1, 2, 5, 10]
    assert k_values(16) == [1, 2, 5, 10, 16]


# -- percentiles -------------------------------------------------------------------------------

def test_percentile_linear_interpolation():
    xs = [15, 20, 35, 40, 50]
    assert percentile(xs, 0) == 15 and percentile(xs, 100) == 50
    assert percentile(xs, 50) == 35
    assert percentile(xs, 40) == pytest.approx(29.0)      # numpy.percentile(xs, 40) == 29.0
    assert percentile(xs, 95) == pytest.approx(48.0)
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None
    assert percentile(reversed(range(1, 101)), 99) == pytest.approx(99.01)
    with pytest.raises(ValueError):
        percentile(xs, 101)


@settings(max_examples=50)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.floats(0, 100))
def test_percentile_is_monotone_and_bounded(xs, q):
    p = percentile(xs, q)
    assert min(xs) - 1e-6 <= p <= max(xs) + 1e-6
    assert percentile(xs, min(100, q + 5)) >= p - 1e-6


# -- summarize -------------------------------------------------------------------------------

def mk_case(cid: str, tool: str | None, tags=()) -> Case:
    calls = () if tool is None else (ExpectedCall(tool, {}),)
    return Case(id=cid, protocol="roo-xml", messages=[], expect=Expect(calls=calls), tags=list(tags))


def res(cid, sample, passed, codes=(), status="ok", usage=(10, 2, 4), latency=100.0, rh=None):
    r = {"id": cid, "sample": sample, "status": status, "passed": passed if status == "ok" else None,
         "violations": [{"code": c, "detail": ""} for c in codes], "calls": [],
         "response": {}, "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "cached_tokens": usage[2]},
         "latency_ms": latency, "request_hash": rh}
    if status == "error":
        r["error"] = "timeout"
    return r


def test_summarize_counts_rates_and_groups():
    cases = {"a": mk_case("a", "read_file", ["read", "single"]), "b": mk_case("b", "write_to_file", ["edit"]),
             "c": mk_case("c", None, ["irrelevance"])}
    results = [
        res("a", 0, True, latency=10), res("a", 1, False, ["wrong_arguments"], latency=20),
        res("b", 0, False, ["wrong_tool", "text_after_tool_call", "wrong_tool"], latency=30),
        res("b", 1, False, ["wrong_tool"], latency=40),
        res("c", 0, True, latency=50), res("c", 1, True, latency=60),
        res("c", 2, None, status="error", usage=(5, 0, 0), latency=None),
    ]
    s = summarize(results, cases, wall_s=2.0, price={"prompt": 1.0, "completion": 10.0, "cached": 0.5})
    assert s["n_cases"] == 3 and s["n_samples"] == 6 and s["passed"] == 3 and s["errors"] == 1
    assert s["pass_rate"] == 0.5
    assert s["ci95"] == pytest.approx(list(wilson(3, 6)))
    assert s["by_tool"] == {
        "(none)": {"n": 2, "passed": 2, "pass_rate": 1.0},
        "read_file": {"n": 2, "passed": 1, "pass_rate": 0.5},
        "write_to_file": {"n": 2, "passed": 0, "pass_rate": 0.0}}
    assert list(s["by_tag"]) == ["edit", "irrelevance", "read", "single"]
    assert s["by_tag"]["read"] == {"n": 2, "passed": 1, "pass_rate": 0.5}
    # samples showing a code, each sample once
    assert s["by_violation"] == {"text_after_tool_call": 1, "wrong_arguments": 1, "wrong_tool": 2}
    # pass@1 = mean of per-case pass rates; pass@2 = any of 2 passes; pass^2 = both pass
    assert s["pass_at_k"] == {"1": pytest.approx((0.5 + 0 + 1) / 3), "2": pytest.approx((1 + 0 + 1) / 3)}
    assert s["pass_hat_k"] == {"1": pytest.approx((0.5 + 0 + 1) / 3), "2": pytest.approx((0 + 0 + 1) / 3)}
    assert s["tokens"] == {"prompt": 65, "completion": 12, "cached": 24, "per_case": pytest.approx(77 / 3)}
    assert s["latency_ms"] == {"p50": 35.0, "p95": pytest.approx(57.5), "p99": pytest.approx(59.5)}
    assert s["wall_s"] == 2.0 and s["requests_per_s"] == pytest.approx(7 / 2.0)
    assert s["cost"]["total"] == pytest.approx(((65 - 24) * 1.0 + 24 * 0.5 + 12 * 10.0) / 1e6)
    # the DESIGN.md field list, in order
    assert list(s)[:15] == ["n_cases", "n_samples", "passed", "pass_rate", "ci95", "pass_at_k", "pass_hat_k",
                            "by_tool", "by_tag", "by_violation", "tokens", "latency_ms", "wall_s",
                            "requests_per_s", "errors"]
    json.dumps(s)


def test_summarize_is_deterministic_under_shuffling():
    cases = {f"c{i}": mk_case(f"c{i}", random.Random(i).choice(["x", "y", "z"]), [f"t{i % 3}"]) for i in range(30)}
    rng = random.Random(7)
    results = [res(f"c{i}", s, rng.random() < 0.6, [rng.choice(["wrong_tool", "no_tool_call"])], latency=rng.random())
               for i in range(30) for s in range(3)]
    a = summarize(results, cases, None, None)
    rng.shuffle(results)
    b = summarize(results, cases, None, None)
    assert json.dumps(a) == json.dumps(b)
    assert "cost" not in a and a["requests_per_s"] is None


def test_summarize_request_hashes_count_requests_and_unknown_cases():
    results = [res("a", 0, True, rh="h1"), res("a", 1, False, rh="h1"), res("zz", 0, True, rh="h2")]
    s = summarize(results, {"a": mk_case("a", "t")}, wall_s=1.0, price=None)
    assert s["requests_per_s"] == 2.0            # one n=2 request + one
    assert s["by_tool"]["(unknown)"] == {"n": 1, "passed": 1, "pass_rate": 1.0}


def test_summarize_empty_and_no_usage():
    s = summarize([], {}, None, None)
    assert s["n_samples"] == 0 and s["pass_rate"] is None and s["ci95"] == [0.0, 1.0]
    assert s["pass_at_k"] == {} and s["latency_ms"]["p50"] is None
    r = res("a", 0, True, latency=None)
    r["usage"] = {"prompt_tokens": None, "completion_tokens": None, "cached_tokens": None}
    s = summarize([r], {}, None, None)
    assert s["tokens"] == {"prompt": None, "completion": None, "cached": None, "per_case": None}
    only_errors = summarize([res("a", 0, None, status="error")], {}, None, None)
    assert only_errors["errors"] == 1 and only_errors["n_samples"] == 0 and only_errors["pass_rate"] is None
