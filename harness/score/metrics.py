"""Run metrics: Wilson intervals, pass@k, pass^k, percentiles and the summary.json builder. Pure.

`summarize(results, cases, wall_s, price)` turns the result lines of a run directory (DESIGN.md "Runs")
into summary.json. Samples with status "error" (the endpoint failed after retries) are counted in
`errors` and left out of every pass rate.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.suite.model import Case
from harness.score.verdicts import by_tool_key

UNKNOWN_KEY = "(unknown)"   # by-tool key of a result whose case is not in the suite any more
K_LADDER = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n == 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo, hi = centre - half, centre + half
    # exact at the ends (the formula gives them up to rounding)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return (max(0.0, lo), min(1.0, hi))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): 1 - C(n-c, k) / C(n, k), for n samples of which c pass."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # numerically stable product form: prod_{i=n-c+1}^{n} (1 - k/i)
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased pass^k (all k samples pass): C(c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_hat_k: need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if c < k:
        return 0.0
    prod = 1.0
    for i in range(k):
        prod *= (c - i) / (n - i)
    return prod


def k_values(max_n: int) -> list[int]:
    """The k reported for a run with at most `max_n` samples per case: 1, 2, 5, 10, ... and max_n."""
    if max_n < 1:
        return []
    ks = [k for k in K_LADDER if k <= max_n]
    if max_n not in ks:
        ks.append(max_n)
    return ks


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default);
    None for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be in 0..100, got {q}")
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return xs[lo]
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _rate(passed: int, n: int) -> float | None:
    return passed / n if n else None


def _group(counts: Mapping[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {key: {"n": n, "passed": p, "pass_rate": _rate(p, n)}
            for key, (n, p) in sorted(counts.items())}


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _cost(price: Mapping[str, Any], prompt: int, completion: int, cached: int, n_cases: int,
          passed: int | None = None, batch: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """USD per million tokens: prompt/input, completion/output, cached (default: the prompt price).
    Prompt tokens include the cached ones (OpenAI's usage convention). `batch` = the (prompt, completion,
    cached) tokens of the lines answered through a Batch API, billed at (1 - batch_discount) of the price;
    `per_passed_case` = total / passed samples (one sample per case: the cost of each passing case)."""
    p_in = float(price.get("prompt", price.get("input", 0.0)) or 0.0)
    p_out = float(price.get("completion", price.get("output", 0.0)) or 0.0)
    p_cached = float(price.get("cached", price.get("cached_input", p_in)) or 0.0)
    discount = float(price.get("batch_discount", 0.0) or 0.0)

    def usd(p: int, c: int, k: int) -> float:
        return ((p - k) * p_in + k * p_cached + c * p_out) / 1e6
    bp, bc, bk = batch or (0, 0, 0)
    batch_usd = usd(bp, bc, bk) * (1.0 - discount)
    total = usd(prompt - bp, completion - bc, cached - bk) + batch_usd
    out: dict[str, Any] = {"total": total, "per_case": total / n_cases if n_cases else None,
                           "per_passed_case": total / passed if passed else None,
                           "price_per_mtok": {"prompt": p_in, "completion": p_out, "cached": p_cached}}
    if batch is not None:
        out["batch"] = {"total": batch_usd, "discount": discount, "prompt_tokens": bp, "completion_tokens": bc,
                        "cached_tokens": bk}
    if price.get("source"):
        out["source"] = str(price["source"])
    return out


def _streaming(ok: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`ttft_ms` and `itl_ms` {p50, p95} over the samples of a streamed run (`harness eval --stream`): time
    to first token, and each sample's mean gap between streamed pieces; {} when nothing was streamed."""
    out: dict[str, Any] = {}
    for key in ("ttft_ms", "itl_ms"):
        xs = [float(r[key]) for r in ok if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        if xs or (key == "itl_ms" and out):
            out[key] = {"p50": percentile(xs, 50), "p95": percentile(xs, 95)}
    return out


def summarize(results: Sequence[Mapping[str, Any]], cases: Mapping[str, Case],
              wall_s: float | None = None, price: Mapping[str, Any] | None = None,
              batch_hashes: Iterable[str] | None = None) -> dict[str, Any]:
    """summary.json for the result lines of a run (one per (id, sample), as RunDir.results() gives);
    lines whose request_hash is in `batch_hashes` were answered by a Batch API (priced at its discount)."""
    ok = [r for r in results if r.get("status") == "ok"]
    errors = sum(1 for r in results if r.get("status") == "error")
    n_samples = len(ok)
    passed = sum(1 for r in ok if r.get("passed") is True)

    per_case: dict[str, list[int]] = {}       # id -> [n, c]
    by_tool: dict[str, list[int]] = {}
    by_tag: dict[str, list[int]] = {}
    by_violation: dict[str, int] = {}
    for r in ok:
        cid = str(r.get("id"))
        good = r.get("passed") is True
        nc = per_case.setdefault(cid, [0, 0])
        nc[0] += 1
        nc[1] += good
        case = cases.get(cid)
        key = by_tool_key(case, r.get("calls") or []) if case is not None else UNKNOWN_KEY
        t = by_tool.setdefault(key, [0, 0])
        t[0] += 1
        t[1] += good
        for tag in (case.tags if case is not None else ()):
            g = by_tag.setdefault(str(tag), [0, 0])
            g[0] += 1
            g[1] += good
        # each sample counts once per code it shows
        for code in {v.get("code") for v in (r.get("violations") or []) if isinstance(v, Mapping)}:
            if isinstance(code, str):
                by_violation[code] = by_violation.get(code, 0) + 1

    n_cases = len(per_case)
    max_n = max((n for n, _ in per_case.values()), default=0)
    pass_k: dict[str, float] = {}
    hat_k: dict[str, float] = {}
    ordered = [per_case[cid] for cid in sorted(per_case)]   # fixed summation order: same floats on resume
    for k in k_values(max_n):
        eligible = [(n, c) for n, c in ordered if n >= k]
        if not eligible:
            continue
        pass_k[str(k)] = sum(pass_at_k(n, c, k) for n, c in eligible) / len(eligible)
        hat_k[str(k)] = sum(pass_hat_k(n, c, k) for n, c in eligible) / len(eligible)

    n_ids = len({str(r.get("id")) for r in results})   # cases that cost tokens, errors included
    prompt = completion = cached = 0
    bsum = [0, 0, 0]
    in_batch = set(batch_hashes) if batch_hashes is not None else None
    any_usage = False
    for r in results:
        u = r.get("usage")
        if not isinstance(u, Mapping):
            continue
        vals = [_int(u.get(f)) for f in ("prompt_tokens", "completion_tokens", "cached_tokens")]
        if any(v is not None for v in vals):
            any_usage = True
        prompt += vals[0] or 0
        completion += vals[1] or 0
        cached += vals[2] or 0
        if in_batch and r.get("request_hash") in in_batch:
            for i in range(3):
                bsum[i] += vals[i] or 0
    tokens: dict[str, Any] = {
        "prompt": prompt if any_usage else None,
        "completion": completion if any_usage else None,
        "cached": cached if any_usage else None,
        "per_case": (prompt + completion) / n_ids if any_usage and n_ids else None,
    }

    lat = [float(r["latency_ms"]) for r in ok
           if isinstance(r.get("latency_ms"), (int, float)) and not isinstance(r.get("latency_ms"), bool)]
    latency = {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)}
    streamed = _streaming(ok)

    hashes = {r.get("request_hash") for r in results if r.get("request_hash")}
    n_requests = len(hashes) if hashes and all(r.get("request_hash") for r in results) else len(results)
    lo, hi = wilson(passed, n_samples)
    out: dict[str, Any] = {
        "n_cases": n_cases,
        "n_samples": n_samples,
        "passed": passed,
        "pass_rate": _rate(passed, n_samples),
        "ci95": [lo, hi],
        "pass_at_k": pass_k,
        "pass_hat_k": hat_k,
        "by_tool": _group(by_tool),
        "by_tag": _group(by_tag),
        "by_violation": dict(sorted(by_violation.items())),
        "tokens": tokens,
        "latency_ms": latency,
        **streamed,
        "wall_s": wall_s,
        "requests_per_s": (n_requests / wall_s) if wall_s and wall_s > 0 else None,
        "errors": errors,
    }
    if price:
        out["cost"] = _cost(price, prompt, completion, cached, n_ids, passed,
                            (bsum[0], bsum[1], bsum[2]) if in_batch is not None else None)
    return out


__all__ = ["k_values", "pass_at_k", "pass_hat_k", "percentile", "summarize", "wilson"]
