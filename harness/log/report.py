"""Terminal reports (rich): a run's summary, its failures, and the leaderboard.

rich is imported by the functions that draw with it, not by this module: `headline` and the number
formats are plain text, so `harness eval --quiet` never pays for importing rich (~60 ms)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from protocols.violations import DESCRIPTIONS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def pct(x: Any, digits: int = 1, missing: str = "-") -> str:
    """`0.8123` -> `81.2%`; `missing` for anything that is not a number (the UI passes an en dash)."""
    return f"{100 * x:.{digits}f}%" if isinstance(x, (int, float)) and not isinstance(x, bool) else missing


def num(x: Any, digits: int = 0) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "-"
    return f"{x:,.{digits}f}"


def _rate_style(x: Any) -> str:
    if not isinstance(x, (int, float)):
        return "dim"
    return "green" if x >= 0.9 else "yellow" if x >= 0.6 else "red"


def headline(summary: Mapping[str, Any]) -> str:
    """`pass rate 81.2% ± 3.4 (95% CI 77.5-84.4%) · 130/160 samples · 80 cases` (plain text)."""
    rate = summary.get("pass_rate")
    lo, hi = (summary.get("ci95") or [None, None])[:2]
    parts = [f"pass rate {pct(rate)}"]
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and rate is not None:
        half = max(rate - lo, hi - rate)
        parts[0] += f" ± {100 * half:.1f} (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"
    parts.append(f"{summary.get('passed', 0)}/{summary.get('n_samples', 0)} samples")
    parts.append(f"{summary.get('n_cases', 0)} cases")
    if summary.get("errors"):
        parts.append(f"{summary['errors']} errors (not counted)")
    return " · ".join(parts)


def _group_table(title: str, first: str, groups: Mapping[str, Mapping[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column(first)
    t.add_column("n", justify="right")
    t.add_column("passed", justify="right")
    t.add_column("pass rate", justify="right")
    # worst first: that is where to look
    for key, g in sorted(groups.items(), key=lambda kv: (kv[1].get("pass_rate") if kv[1].get("pass_rate")
                                                          is not None else 2, kv[0])):
        r = g.get("pass_rate")
        t.add_row(key, str(g.get("n", 0)), str(g.get("passed", 0)), Text(pct(r), style=_rate_style(r)))
    return t


def print_summary(summary: Mapping[str, Any], manifest: Mapping[str, Any] | None = None,
                  console: Console | None = None, *, max_rows: int = 40) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    console = console or Console()
    manifest = manifest or {}
    suite = manifest.get("suite") or {}
    proto = manifest.get("protocol")
    proto_name = proto.get("name") if isinstance(proto, Mapping) else (
        ",".join(str(p.get("name")) for p in proto if isinstance(p, Mapping)) if isinstance(proto, list) else proto)
    sp = manifest.get("system_prompt")
    sp_name = sp.get("style") if isinstance(sp, Mapping) else sp
    bits = [f"model [bold]{manifest.get('model') or '-'}[/]",
            f"suite [bold]{suite.get('name') if isinstance(suite, Mapping) else suite or '-'}[/]"]
    if proto_name:
        bits.append(f"protocol {proto_name}")
    if sp_name:
        bits.append(f"system prompt {sp_name}")
    if manifest.get("endpoint"):
        bits.append(f"endpoint {manifest['endpoint']}")
    console.print(" · ".join(bits), highlight=False)
    rate = summary.get("pass_rate")
    console.print(Text(headline(summary), style="bold " + _rate_style(rate)))

    pk = summary.get("pass_at_k") or {}
    hk = summary.get("pass_hat_k") or {}
    if isinstance(pk, Mapping) and len(pk) > 1:
        console.print("pass@k  " + "  ".join(f"k={k}: {pct(v)}" for k, v in pk.items()), highlight=False)
        if isinstance(hk, Mapping):
            console.print("pass^k  " + "  ".join(f"k={k}: {pct(v)}" for k, v in hk.items()), highlight=False)

    by_tool = summary.get("by_tool") or {}
    if by_tool:
        items = dict(list(sorted(by_tool.items(), key=lambda kv: (kv[1].get("pass_rate") or 0, kv[0])))[:max_rows])
        console.print(_group_table("by tool", "tool", items))
    by_violation = summary.get("by_violation") or {}
    if by_violation:
        n = summary.get("n_samples") or 0
        t = Table(title="by violation (samples showing it)", title_justify="left", show_edge=False, pad_edge=False)
        t.add_column("code")
        t.add_column("samples", justify="right")
        t.add_column("share", justify="right")
        t.add_column("meaning", style="dim")
        for code, cnt in sorted(by_violation.items(), key=lambda kv: (-kv[1], kv[0]))[:max_rows]:
            t.add_row(code, str(cnt), pct(cnt / n) if n else "-", DESCRIPTIONS.get(code, ""))
        console.print(t)

    tokens = summary.get("tokens") or {}
    lat = summary.get("latency_ms") or {}
    extra = []
    if tokens.get("prompt") is not None:
        extra.append(f"tokens prompt {num(tokens.get('prompt'))} · completion {num(tokens.get('completion'))} · "
                     f"cached {num(tokens.get('cached'))} · per case {num(tokens.get('per_case'), 1)}")
    if lat.get("p50") is not None:
        extra.append(f"latency p50 {num(lat.get('p50'))} ms · p95 {num(lat.get('p95'))} ms · "
                     f"p99 {num(lat.get('p99'))} ms")
    ttft, itl = summary.get("ttft_ms") or {}, summary.get("itl_ms") or {}
    if ttft.get("p50") is not None:   # a streamed run
        extra.append(f"time to first token p50 {num(ttft.get('p50'))} ms · p95 {num(ttft.get('p95'))} ms · "
                     f"inter-token p50 {num(itl.get('p50'), 1)} ms · p95 {num(itl.get('p95'), 1)} ms")
    timing = []
    if summary.get("wall_s") is not None:
        timing.append(f"wall {num(summary['wall_s'], 2)} s")
    if summary.get("requests_per_s") is not None:
        timing.append(f"{num(summary['requests_per_s'], 1)} requests/s")
    if timing:
        extra.append(" · ".join(timing))
    cost = summary.get("cost")
    if isinstance(cost, Mapping) and cost.get("total") is not None:
        per = [f"${cost[k]:.6f} per {what}" for k, what in (("per_case", "case"), ("per_passed_case", "passed case"))
               if cost.get(k) is not None]
        batch = cost.get("batch") if isinstance(cost.get("batch"), Mapping) else None
        if batch and batch.get("total"):
            per.append(f"${batch['total']:.4f} of it through the Batch API at {100 * batch.get('discount', 0):g}% off")
        extra.append(f"cost ${cost['total']:.4f}" + (f" ({', '.join(per)})" if per else ""))
    for line in extra:
        console.print(line, highlight=False)


def print_failures(results: Sequence[Mapping[str, Any]], console: Console | None = None, *, limit: int = 20) -> None:
    """The first `limit` failed samples: id, sample, violation codes and details."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    console = console or Console()
    failed = [r for r in results if r.get("status") == "ok" and not r.get("passed")]
    if not failed or limit <= 0:
        return
    t = Table(title=f"failures (first {min(limit, len(failed))} of {len(failed)})", title_justify="left",
              show_edge=False, pad_edge=False)
    t.add_column("case")
    t.add_column("s", justify="right")
    t.add_column("violations")
    for r in failed[:limit]:
        vs = r.get("violations") or []
        txt = "; ".join(f"{v.get('code')}: {v.get('detail')}" if v.get("detail") else str(v.get("code"))
                        for v in vs if isinstance(v, Mapping))
        t.add_row(str(r.get("id")), str(r.get("sample")), Text(txt[:300]))
    console.print(t)


def print_leaderboard(rows: Sequence[Mapping[str, Any]], console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    console = console or Console()
    if not rows:
        console.print("no runs registered yet: `harness eval` or `harness score` adds them")
        return
    t = Table(show_edge=False, pad_edge=False)
    for name, justify in (("suite", "left"), ("model", "left"), ("protocol", "left"), ("prompt", "left"),
                          ("pass rate", "right"), ("95% CI", "right"), ("pass^k", "right"), ("cases", "right"),
                          ("samples", "right"), ("tok/case", "right"), ("p50 ms", "right"), ("p95 ms", "right"),
                          ("TTFT ms", "right"), ("cost $", "right"), ("$/pass", "right"), ("created", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        rate = r.get("pass_rate")
        ci = f"{pct(r.get('ci_lo'))}-{pct(r.get('ci_hi'))}" if r.get("ci_lo") is not None else "-"
        hat = pct(r.get("pass_hat_k"))
        if r.get("pass_hat_k_k"):
            hat += f" (k={r['pass_hat_k_k']})"
        t.add_row(str(r.get("suite") or "-"), str(r.get("model") or "-"), str(r.get("protocol") or "-"),
                  str(r.get("system_prompt") or "-"), Text(pct(rate), style=_rate_style(rate)), ci, hat,
                  num(r.get("n_cases")), num(r.get("n_samples")), num(r.get("tokens_per_case"), 1),
                  num(r.get("latency_p50")), num(r.get("latency_p95")), num(r.get("ttft_p50")),
                  f"{r['cost']:.4f}" if isinstance(r.get("cost"), (int, float)) else "-",
                  f"{r['cost_per_pass']:.6f}" if isinstance(r.get("cost_per_pass"), (int, float)) else "-",
                  str(r.get("created_at") or "-"))
    console.print(t)


__all__ = ["headline", "print_failures", "print_leaderboard", "print_summary"]
