"""The Compare tab: two runs of a suite, which cases flipped, and whether the difference is more than
chance (exact McNemar); also `compare_api`, the `/compare` endpoint's answer."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ui import charts
from ui.data.compare import compare_runs
from ui.data.runs import resolve_run, store_rows
from ui.data.text import is_num, md_escape, pct
from ui.tabs.values import df

FLIP_HEADERS = ["case", "flip", "A passed", "B passed", "violations in A", "violations in B"]


# -- views ------------------------------------------------------------------------------------------

def compare_view(run_a: str | None, run_b: str | None) -> tuple[Any, Any, Any]:
    """(result Markdown, chart, flipped-cases table) of A (the baseline) against B."""
    if not run_a or not run_b:
        return "Pick two runs (A is the baseline).", "", df(FLIP_HEADERS, [])
    if run_a == run_b:
        return "Pick two different runs.", "", df(FLIP_HEADERS, [])
    try:
        res = compare_runs(run_a, run_b)
    except Exception as e:  # noqa: BLE001
        return f"**Cannot compare:** {md_escape(e)}", "", df(FLIP_HEADERS, [])
    a, b, p = res["a"], res["b"], res["paired"]

    def ci(r: Mapping[str, Any]) -> str:
        lo, hi = (r.get("ci95") or [None, None])[:2]
        return f"{100 * lo:.1f} – {100 * hi:.1f}%" if is_num(lo) and is_num(hi) else "–"

    table = ["| | run | model | suite | cases | samples | pass rate | 95% CI |", "|---|---|---|---|--:|--:|--:|--:|"]
    for label, r in (("A", a), ("B", b)):
        table.append(f"| **{label}** | {md_escape(Path(r['run_dir']).name)} | {md_escape(r.get('model'))} | "
                     f"{md_escape(r.get('suite'))} | {r['n_cases']} | {r['n_samples']} | "
                     f"**{pct(r['pass_rate'])}** | {ci(r)} |")
    delta = (b["pass_rate"] - a["pass_rate"]) if is_num(a["pass_rate"]) and is_num(b["pass_rate"]) else None
    verdict = ("**significant** at 0.05" if p["significant"] else "not significant at 0.05")
    lines = ["\n".join(table),
             f"Paired on **{p['n_cases']}** cases (majority over samples): A {pct(p['a_case_pass_rate'])} → "
             f"B {pct(p['b_case_pass_rate'])}. Flipped: **{p['pass_to_fail']}** pass → fail, "
             f"**{p['fail_to_pass']}** fail → pass. Exact McNemar p = **{p['p_value']:.4g}** ({verdict})."
             + (f" Sample-level change: {100 * delta:+.1f} points." if delta is not None else "")]
    if p["only_in_a"] or p["only_in_b"]:
        lines.append(f"Not paired: {p['only_in_a']} cases only in A, {p['only_in_b']} only in B.")
    for n in res["notes"]:
        lines.append(f"> ⚠️ {md_escape(n)}")
    chart = charts.rate_bars([{"label": f"A · {a.get('model')}", "value": a["pass_rate"], "lo": a["ci95"][0],
                               "hi": a["ci95"][1], "n": a["n_samples"]},
                              {"label": f"B · {b.get('model')}", "value": b["pass_rate"], "lo": b["ci95"][0],
                               "hi": b["ci95"][1], "n": b["n_samples"]}],
                             title="pass rate, 95% CI (Wilson)", width=760, label_width=240)
    flips = [[f["id"], f["direction"], f["a_passed"], f["b_passed"], f["a_violations"], f["b_violations"]]
             for f in res["flipped_rows"]]
    return "\n\n".join(lines), chart, df(FLIP_HEADERS, flips)


def compare_api(run_a: str, run_b: str) -> dict[str, Any]:
    """The `/compare` answer: runs named by dir or folder name; the table rows left out."""
    rows = store_rows()
    ra, rb = resolve_run(run_a, rows), resolve_run(run_b, rows)
    if not ra or not rb:
        raise gr.Error(f"unknown run: {run_a if not ra else run_b}")
    res = compare_runs(ra, rb)
    res.pop("flipped_rows", None)
    return res


# -- layout and events ------------------------------------------------------------------------------

@dataclass
class CompareTab:
    cmp_a: Any
    cmp_b: Any
    cmp_md: Any
    cmp_chart: Any
    cmp_table: Any

    @property
    def outputs(self) -> list[Any]:
        """compare_view's outputs."""
        return [self.cmp_md, self.cmp_chart, self.cmp_table]


def build_compare_tab() -> CompareTab:
    """The tab's components (inside gr.Tabs)."""
    with gr.Tab("Compare", id="compare"):
        gr.Markdown("Two runs of the same suite: which cases flipped, and is the difference more than "
                    "chance? (exact McNemar test on the cases whose verdict changed)")
        with gr.Row():
            cmp_a = gr.Dropdown([], label="A (baseline)", scale=1)
            cmp_b = gr.Dropdown([], label="B", scale=1)
        cmp_md = gr.Markdown("Pick two runs (A is the baseline).", elem_id="cmp-result")
        cmp_chart = gr.HTML()
        cmp_table = gr.Dataframe(df(FLIP_HEADERS, []), interactive=False, label="flipped cases", max_height=400)
    return CompareTab(cmp_a, cmp_b, cmp_md, cmp_chart, cmp_table)


def wire_compare_tab(t: CompareTab) -> None:
    """Picking either run redraws the comparison."""
    for comp in (t.cmp_a, t.cmp_b):
        comp.change(compare_view, [t.cmp_a, t.cmp_b], t.outputs, api_visibility="private")


__all__ = ["FLIP_HEADERS", "CompareTab", "build_compare_tab", "compare_api", "compare_view", "wire_compare_tab"]
