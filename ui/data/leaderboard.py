"""The leaderboard: one row per (model, suite), filtered, sorted and shaped for the API and the table.

Reads store rows (harness.log.leaderboard) and, for tag filters and facets, the runs' summary.json.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ui.data.runs import run_summary
from ui.data.text import is_num, pct_num, rnd, short_date

PICKS = ("latest", "best")

# the table the page shows: (column header, key in the API row, datatype)
TABLE_COLUMNS: list[tuple[str, str, str]] = [
    ("model", "model", "str"),
    ("suite", "suite", "str"),
    ("pass %", "pass_rate_pct", "number"),
    ("95% CI", "ci_text", "str"),
    ("pass^k %", "pass_hat_k_pct", "number"),
    ("tok/case", "tokens_per_case_int", "number"),
    ("p50 ms", "latency_p50_ms", "number"),
    ("p95 ms", "latency_p95_ms", "number"),
    ("TTFT ms", "ttft_p50_ms", "number"),      # streamed runs (harness eval --stream)
    ("cost $", "cost", "number"),
    ("$/pass", "cost_per_pass", "number"),
    ("samples", "n_samples", "number"),
    ("date", "date", "str"),
    ("protocol", "protocol", "str"),
]
TABLE_HEADERS = [c[0] for c in TABLE_COLUMNS]
TABLE_DATATYPES = [c[2] for c in TABLE_COLUMNS]

# what the sort box offers: label -> API row key
SORT_KEYS: dict[str, str] = {
    "pass rate": "pass_rate", "model": "model", "suite": "suite", "pass^k": "pass_hat_k",
    "tokens/case": "tokens_per_case", "latency p50": "latency_p50_ms", "latency p95": "latency_p95_ms",
    "time to first token": "ttft_p50_ms",
    "cost": "cost", "cost per pass": "cost_per_pass", "date": "created_at", "protocol": "protocol", "samples": "n_samples",
}


def api_row(r: Mapping[str, Any], n_runs: int = 1) -> dict[str, Any]:
    """A store row as the `leaderboard` API returns it (fractions, milliseconds, no endpoint credentials)."""
    from harness.log.rundir import redact_url
    return {
        "model": r.get("model"),
        "suite": r.get("suite"),
        "protocol": r.get("protocol"),
        "pass_rate": r.get("pass_rate"),
        "ci_lo": r.get("ci_lo"),
        "ci_hi": r.get("ci_hi"),
        "pass_hat_k": r.get("pass_hat_k"),
        "pass_hat_k_k": r.get("pass_hat_k_k"),
        "tokens_per_case": r.get("tokens_per_case"),
        "latency_p50_ms": r.get("latency_p50"),
        "latency_p95_ms": r.get("latency_p95"),
        "ttft_p50_ms": r.get("ttft_p50"),
        "cost": r.get("cost"),
        "cost_per_pass": r.get("cost_per_pass"),
        "n_cases": r.get("n_cases"),
        "n_samples": r.get("n_samples"),
        "passed": r.get("passed"),
        "errors": r.get("errors"),
        "system_prompt": r.get("system_prompt"),
        "endpoint": redact_url(r.get("endpoint")),
        "created_at": r.get("created_at"),
        "run_dir": r.get("run_dir"),
        "n_runs": n_runs,
    }


def _tag_view(row: dict[str, Any], tag: str) -> dict[str, Any] | None:
    """The row restricted to cases tagged `tag` (pass rate and Wilson CI from summary.by_tag)."""
    from harness.score.metrics import wilson
    g = (run_summary(row["run_dir"]).get("by_tag") or {}).get(tag)
    if not isinstance(g, Mapping) or not g.get("n"):
        return None
    n, k = int(g.get("n") or 0), int(g.get("passed") or 0)
    lo, hi = wilson(k, n)
    out = dict(row)
    out.update(pass_rate=k / n, ci_lo=lo, ci_hi=hi, n_samples=n, passed=k, tag=tag)
    return out


def _sort_value(v: Any) -> tuple[int, Any]:
    if v is None or (isinstance(v, float) and v != v):
        return (1, 0)
    if isinstance(v, str):
        return (0, v.lower())
    return (0, v)


def leaderboard(rows: Iterable[Mapping[str, Any]], *, pick: str = "latest", search: str = "", suite: str = "",
                protocol: str = "", tag: str = "", sort: str = "pass rate", descending: bool | None = None,
                ) -> list[dict[str, Any]]:
    """One API row per (model, suite): its latest run (`pick="latest"`) or its best (`"best"`), filtered and
    sorted. `tag` restricts pass rate and CI to the cases with that tag (runs without it drop out)."""
    pick = pick if pick in PICKS else "latest"
    s = (search or "").strip().lower()
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if suite and r.get("suite") != suite:
            continue
        if protocol and r.get("protocol") != protocol:
            continue
        groups.setdefault((r.get("model"), r.get("suite")), []).append(api_row(r))
    for members in groups.values():
        if tag:
            members = [m for m in (_tag_view(m, tag) for m in members) if m is not None]
            if not members:
                continue
        if pick == "best":
            chosen = max(members, key=lambda m: (m["pass_rate"] if is_num(m["pass_rate"]) else -1.0,
                                                 m.get("created_at") or ""))
        else:
            chosen = max(members, key=lambda m: (m.get("created_at") or "", m["pass_rate"] or 0.0))
        chosen["n_runs"] = len(members)
        out.append(chosen)
    if s:
        out = [r for r in out if any(s in str(r.get(f) or "").lower()
                                     for f in ("model", "suite", "protocol", "system_prompt", "run_dir"))]
    key = SORT_KEYS.get(sort, sort if out and sort in out[0] else "pass_rate")
    if descending is None:
        descending = key not in ("model", "suite", "protocol", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms",
                                 "cost", "cost_per_pass", "tokens_per_case")
    present = [r for r in out if _sort_value(r.get(key))[0] == 0]
    absent = [r for r in out if _sort_value(r.get(key))[0] == 1]
    present.sort(key=lambda r: (_sort_value(r.get(key))[1], ), reverse=descending)
    return present + absent    # rows without the value last, whatever the direction


def table_rows(api_rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """API rows -> the Dataframe's rows (percentages, rounded numbers, short dates)."""
    out = []
    for r in api_rows:
        lo, hi = r.get("ci_lo"), r.get("ci_hi")
        d = {
            **r,
            "pass_rate_pct": pct_num(r.get("pass_rate")),
            "ci_text": f"{100 * lo:.1f} – {100 * hi:.1f}" if is_num(lo) and is_num(hi) else "",
            "pass_hat_k_pct": pct_num(r.get("pass_hat_k")),
            "tokens_per_case_int": rnd(r.get("tokens_per_case")),
            "latency_p50_ms": rnd(r.get("latency_p50_ms")),
            "latency_p95_ms": rnd(r.get("latency_p95_ms")),
            "ttft_p50_ms": rnd(r.get("ttft_p50_ms")),
            "cost": (rnd(r.get("cost"), 2) if is_num(r.get("cost")) and r["cost"] >= 1 else rnd(r.get("cost"), 4)),
            "cost_per_pass": rnd(r.get("cost_per_pass"), 6),
            "date": short_date(r.get("created_at")),
        }
        out.append([d.get(k) for _, k, _ in TABLE_COLUMNS])
    return out


def facets(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The values the filters offer: suites, protocols, models and case tags of the registered runs."""
    suites, protos, models, tags = set(), set(), set(), set()
    for r in rows:
        if r.get("suite"):
            suites.add(str(r["suite"]))
        if r.get("protocol"):
            protos.add(str(r["protocol"]))
        if r.get("model"):
            models.add(str(r["model"]))
        by_tag = run_summary(r.get("run_dir") or "").get("by_tag") or {}
        if isinstance(by_tag, Mapping):
            tags.update(str(t) for t in by_tag)
    return {"suites": sorted(suites), "protocols": sorted(protos), "models": sorted(models), "tags": sorted(tags)}


__all__ = ["PICKS", "SORT_KEYS", "TABLE_COLUMNS", "TABLE_DATATYPES", "TABLE_HEADERS", "api_row", "facets",
           "leaderboard", "table_rows"]
