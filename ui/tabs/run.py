"""The Run detail tab: one run's header, pass rate by tool, failed samples by violation code, and the
failure explorer (filter the failed samples, open one: conversation, raw answer, parsed calls, violations,
expectation, reference answer)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui import charts
from ui.data.failures import failure_detail, failure_key, failures
from ui.data.runs import by_tool, by_violation, load_run_suite, run_summary
from ui.data.text import esc, fence, is_num, md_escape, pct_num, scrub_text
from ui.tabs.values import ALL, df, opt

MAX_FAILURES_SHOWN = 500
BY_TOOL_HEADERS = ["tool", "samples", "passed", "pass rate %", "95% CI"]
BY_VIOL_HEADERS = ["violation", "n", "% of fails", "meaning"]
FAIL_HEADERS = ["case", "sample", "tool", "violations", "first detail"]


# -- views ------------------------------------------------------------------------------------------

def run_context(run_dir: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], Any, str | None]:
    """(manifest, summary, results, suite or None, a note about the suite) of one run."""
    from harness.log.rundir import RunDir
    rd = RunDir(run_dir).require()
    manifest = rd.manifest()
    summary = run_summary(run_dir)
    results = rd.results()
    suite, note = load_run_suite(manifest)
    return manifest, summary, results, suite, note


def sp_name(manifest: Mapping[str, Any]) -> str:
    """The run's system prompt style, as the header names it."""
    sp = manifest.get("system_prompt")
    return str(sp.get("style")) if isinstance(sp, Mapping) else str(sp or "default")


def run_header(manifest: Mapping[str, Any], summary: Mapping[str, Any], run_dir: str, note: str | None) -> str:
    from harness.log.report import headline
    from harness.log.rundir import redact_url
    suite = manifest.get("suite") or {}
    proto = manifest.get("protocol")
    pname = proto.get("name") if isinstance(proto, Mapping) else (
        ", ".join(str(p.get("name")) for p in proto if isinstance(p, Mapping)) if isinstance(proto, list) else proto)
    bits = [f"model **{md_escape(manifest.get('model') or '?')}**",
            f"suite **{md_escape(suite.get('name') if isinstance(suite, Mapping) else suite)}**",
            f"protocol {md_escape(pname or '?')}", f"system prompt {md_escape(sp_name(manifest))}"]
    samp = manifest.get("sampling")
    if isinstance(samp, Mapping) and samp.get("samples"):
        bits.append(f"{samp['samples']} sample(s) per case")
    ep = manifest.get("endpoint")
    if ep:
        eps = ep if isinstance(ep, list) else [ep]
        bits.append("endpoint " + ", ".join(f"`{scrub_text(str(redact_url(e)))}`" for e in eps))
    elif manifest.get("source") == "score":
        bits.append("recorded answers (harness score)")
    lines = [" · ".join(bits)]
    if summary:
        lines.append(f"**{md_escape(headline(summary))}**")
        tok = summary.get("tokens") or {}
        lat = summary.get("latency_ms") or {}
        extra = []
        if isinstance(tok, Mapping) and is_num(tok.get("per_case")):
            extra.append(f"{tok['per_case']:,.0f} tokens per case")
        if isinstance(lat, Mapping) and is_num(lat.get("p50")):
            extra.append(f"latency p50 {lat['p50']:,.0f} ms, p95 {lat.get('p95') or 0:,.0f} ms")
        if is_num(summary.get("wall_s")):
            extra.append(f"wall {summary['wall_s']:,.1f} s")
        if extra:
            lines.append(" · ".join(extra))
    else:
        lines.append("*no summary.json yet: the run has not finished*")
    lines.append(f"<span class='th-note'>{esc(run_dir)} · {esc(manifest.get('started_at') or '')}</span>")
    if note:
        lines.append(f"> ⚠️ {md_escape(note)}")
    return "\n\n".join(lines)


def run_detail(run_dir: str | None) -> dict[str, Any]:
    """Everything the run tab shows, as plain data (also the shape of the tab's state)."""
    if not run_dir:
        return {}
    manifest, summary, results, suite, note = run_context(run_dir)
    return {"run_dir": run_dir, "manifest": manifest, "summary": summary, "note": note,
            "by_tool": by_tool(summary), "by_violation": by_violation(summary),
            "failures": failures(results, suite)}


def _blank_run(header: str) -> tuple[Any, ...]:
    return (header, "", "", df(BY_TOOL_HEADERS, []), df(BY_VIOL_HEADERS, []), gr.update(choices=[ALL], value=ALL),
            gr.update(choices=[ALL], value=ALL), df(FAIL_HEADERS, []), gr.update(choices=[], value=None), "")


def run_view(run_dir: str | None, tool: str = ALL, code: str = ALL) -> tuple[Any, ...]:
    """Outputs of the run tab: header, tool chart, violation chart, tool table, violation table,
    tool filter, code filter, failures table, failure picker, failures note."""
    if not run_dir:
        return _blank_run("Pick a run above, or click a row of the leaderboard.")
    try:
        manifest, summary, results, suite, note = run_context(run_dir)
    except Exception as e:  # noqa: BLE001 - shown, not raised: the run may be half written
        return _blank_run(f"**Cannot read this run:** {md_escape(e)}")
    tools = by_tool(summary)
    viols = by_violation(summary)
    tool_chart = charts.rate_bars([{"label": t["key"], "value": t["pass_rate"], "lo": t["ci_lo"], "hi": t["ci_hi"],
                                    "n": t["n"]} for t in tools], title="pass rate by tool (worst first)",
                                  label_width=190, width=640)
    viol_chart = charts.count_bars([{"label": v["code"], "value": v["samples"],
                                     "tip": f"{v['code']}: {v['samples']} samples — {v['description']}"}
                                    for v in viols], title="failed samples by violation code", width=640,
                                   label_width=200)
    tool_rows = [[t["key"], t["n"], t["passed"], pct_num(t["pass_rate"]),
                  f"{100 * t['ci_lo']:.1f} – {100 * t['ci_hi']:.1f}" if is_num(t["ci_lo"]) else ""]
                 for t in tools]
    viol_rows = [[v["code"], v["samples"], pct_num(v["share_of_failures"]), v["description"]] for v in viols]
    all_fails = failures(results, suite)
    tool_choices = [ALL, *sorted({f["tool"] for f in all_fails})]
    code_choices = [ALL, *sorted({c for f in all_fails for c in f["codes"]})]
    tool = tool if tool in tool_choices else ALL
    code = code if code in code_choices else ALL
    fails = failures(results, suite, tool=opt(tool), code=opt(code))
    shown = fails[:MAX_FAILURES_SHOWN]
    fail_rows = [[f["id"], f["sample"], f["tool"], ", ".join(f["codes"]), f["detail"][:200]] for f in shown]
    keys = [failure_key(f) for f in shown]
    fnote = (f"{len(fails)} failed sample{'s' if len(fails) != 1 else ''}"
             + (f" (first {MAX_FAILURES_SHOWN} shown)" if len(fails) > MAX_FAILURES_SHOWN else "")
             + (f" of {len(all_fails)}" if len(fails) != len(all_fails) else "")
             + (" · click a row or pick it below to see the conversation, the raw answer and the parsed calls"
                if fails else ""))
    if not all_fails:
        fnote = "No failed samples in this run. 🎉" if results else "This run has no results yet."
    return (run_header(manifest, summary, run_dir, note), tool_chart, viol_chart, df(BY_TOOL_HEADERS, tool_rows),
            df(BY_VIOL_HEADERS, viol_rows), gr.update(choices=tool_choices, value=tool),
            gr.update(choices=code_choices, value=code), df(FAIL_HEADERS, fail_rows),
            gr.update(choices=keys, value=keys[0] if keys else None), fnote)


def failure_view(run_dir: str | None, key: str | None) -> tuple[Any, ...]:
    """conversation (Markdown), raw answer, parsed calls, violations (Markdown), expectation, reference."""
    nothing = ("*Pick a failure.*", "", [], "", None, "")
    if not run_dir or not key:
        return nothing
    try:
        manifest, _summary, results, suite, _note = run_context(run_dir)
    except Exception as e:  # noqa: BLE001
        return (f"**Cannot read this run:** {md_escape(e)}", "", [], "", None, "")
    d = failure_detail(results, suite, key, system_prompt=sp_name(manifest))
    if d is None:
        return nothing
    head = f"#### {md_escape(d['id'])} · sample {d['sample']}"
    if d["tags"]:
        head += "  \n" + " ".join(f"`{str(t).replace('`', '')}`" for t in d["tags"])
    if d["mode"]:
        head += f" · mode `{str(d['mode']).replace('`', '')}`"
    items = "\n".join(f"- **{md_escape(v.get('code'))}** — {md_escape(v.get('detail') or '')}"
                      for v in d["violations"])
    viol = "**violations**\n\n" + (items or "*no violation codes (the calls differ from the expectation)*")
    raw = "**raw answer** (what the model sent)\n\n" + (fence(d["raw_answer"]) if d["raw_answer"].strip()
                                                           else "*an empty answer*")
    ref = ("**a correct answer** (the case's reference)\n\n" + fence(d["reference"])) if d["reference"] else ""
    return (head + "\n\n" + d["conversation"], raw, d["calls"], viol, d["expectation"], ref)


# -- layout and events ------------------------------------------------------------------------------

@dataclass
class RunTab:
    run_dd: Any
    run_refresh: Any
    run_md: Any
    tool_chart: Any
    viol_chart: Any
    tool_table: Any
    viol_table: Any
    tool_filter: Any
    code_filter: Any
    fail_pick: Any
    fail_note: Any
    fail_table: Any
    conv_md: Any
    raw_code: Any
    ref_code: Any
    viol_md: Any
    calls_json: Any
    expect_json: Any

    @property
    def outputs(self) -> list[Any]:
        """run_view's outputs."""
        return [self.run_md, self.tool_chart, self.viol_chart, self.tool_table, self.viol_table, self.tool_filter,
                self.code_filter, self.fail_table, self.fail_pick, self.fail_note]

    @property
    def fail_outputs(self) -> list[Any]:
        """failure_view's outputs."""
        return [self.conv_md, self.raw_code, self.calls_json, self.viol_md, self.expect_json, self.ref_code]


def build_run_tab() -> RunTab:
    """The tab's components (inside gr.Tabs)."""
    with gr.Tab("Run detail", id="run"):
        with gr.Row():
            run_dd = gr.Dropdown([], label="run", scale=5, elem_id="run-pick")
            run_refresh = gr.Button("Reload", scale=1, size="sm")
        run_md = gr.Markdown("Pick a run above, or click a row of the leaderboard.", elem_id="run-header")
        with gr.Row():
            tool_chart = gr.HTML()
            viol_chart = gr.HTML()
        with gr.Row():
            tool_table = gr.Dataframe(df(BY_TOOL_HEADERS, []), interactive=False, label="by tool", max_height=320)
            viol_table = gr.Dataframe(df(BY_VIOL_HEADERS, []), interactive=False, label="by violation code",
                                      max_height=320, wrap=True, column_widths=["36%", "12%", "13%", "39%"])
        gr.Markdown("### Failure explorer")
        with gr.Row():
            tool_filter = gr.Dropdown([ALL], value=ALL, label="tool", scale=1)
            code_filter = gr.Dropdown([ALL], value=ALL, label="violation code", scale=1)
            fail_pick = gr.Dropdown([], label="failure (case#sample)", scale=2, elem_id="fail-pick")
        fail_note = gr.Markdown(elem_classes=["th-note"])
        fail_table = gr.Dataframe(df(FAIL_HEADERS, []), interactive=False, show_label=False, max_height=300,
                                  elem_id="fail-table")
        with gr.Row():
            with gr.Column(scale=1):
                conv_md = gr.Markdown("*Pick a failure.*", elem_id="fail-conversation", max_height=520)
                raw_code = gr.Markdown(elem_id="fail-raw", max_height=420)
                ref_code = gr.Markdown(elem_id="fail-reference", max_height=320)
            with gr.Column(scale=1):
                viol_md = gr.Markdown(elem_id="fail-violations")
                calls_json = gr.JSON(label="parsed calls", open=True, max_height=300)
                expect_json = gr.JSON(label="expectation", open=True, max_height=360)
    return RunTab(run_dd, run_refresh, run_md, tool_chart, viol_chart, tool_table, viol_table, tool_filter,
                  code_filter, fail_pick, fail_note, fail_table, conv_md, raw_code, ref_code, viol_md, calls_json,
                  expect_json)


def wire_run_tab(t: RunTab) -> None:
    """Picking or reloading a run redraws the tab; the filters redraw the failures; a row opens a failure."""
    t.run_dd.change(lambda r: run_view(r), [t.run_dd], t.outputs, api_visibility="private")
    t.run_refresh.click(lambda r, tl, c: run_view(r, tl, c), [t.run_dd, t.tool_filter, t.code_filter], t.outputs,
                        api_visibility="private")

    def refilter(r: str | None, tl: str, c: str) -> tuple[Any, Any, Any]:
        out = run_view(r, tl, c)
        return out[7], out[8], out[9]

    for f in (t.tool_filter, t.code_filter):
        f.input(refilter, [t.run_dd, t.tool_filter, t.code_filter], [t.fail_table, t.fail_pick, t.fail_note],
                api_visibility="private")
    t.fail_pick.change(failure_view, [t.run_dd, t.fail_pick], t.fail_outputs, api_visibility="private")

    def pick_failure(evt: gr.SelectData) -> Any:
        rv = evt.row_value or []
        if len(rv) >= 2:
            return gr.update(value=f"{rv[0]}#{int(rv[1])}")
        return gr.update()

    t.fail_table.select(pick_failure, None, [t.fail_pick], api_visibility="private")


__all__ = ["BY_TOOL_HEADERS", "BY_VIOL_HEADERS", "FAIL_HEADERS", "MAX_FAILURES_SHOWN", "RunTab", "build_run_tab",
           "failure_view", "run_context", "run_detail", "run_header", "run_view", "sp_name", "wire_run_tab"]
