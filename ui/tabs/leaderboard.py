"""The Leaderboard tab: one row per (model, suite) with its pass rate and 95% CI, filters, a chart.

Also `leaderboard_rows`, the `/leaderboard` API's answer (the same rows the table shows).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui import charts
from ui.data.leaderboard import SORT_KEYS, TABLE_DATATYPES, TABLE_HEADERS, facets, leaderboard, table_rows
from ui.data.runs import store_rows
from ui.data.text import md_escape
from ui.tabs.values import ALL, df, opt

EMPTY = """### No runs yet
Record one and it appears here (refresh the page or press **Refresh**):

```bash
harness eval --suite roo-starter --endpoint http://127.0.0.1:8000/v1 --model MODEL
harness score --suite roo-starter --responses answers.jsonl --out runs/recorded --model MODEL
```
or start an evaluation from the **Jobs** tab. Runs are read from `{db}` (set `HARNESS_HOME` or `harness ui --home DIR`
to look elsewhere)."""

LEGEND = ("**pass %**: share of samples that passed · **95% CI**: Wilson interval of that share · **pass^k**: share "
          "of cases where all k samples pass · **tok/case**: prompt + completion tokens per case · **p50/p95 ms**: "
          "request latency · **cost $**: from harness/model/prices.json or the prices given to `harness eval` "
          "(Batch API lines at its discount) · **$/pass**: cost per passed sample · API: `/leaderboard` "
          "(see *Use via API* below)")


# -- views ------------------------------------------------------------------------------------------

def leaderboard_rows(suite: str = "", protocol: str = "", tag: str = "", search: str = "", pick: str = "latest",
                     sort: str = "pass rate") -> list[dict[str, Any]]:
    return leaderboard(store_rows(), pick=pick, search=search, suite=opt(suite), protocol=opt(protocol),
                       tag=opt(tag), sort=sort)


def leaderboard_view(search: str, suite: str, protocol: str, tag: str, pick: str, sort: str
                     ) -> tuple[Any, Any, Any, Any, list[dict[str, Any]]]:
    """Outputs of the tab: the empty-store note, chart, table, row count note, rows (the tab's state)."""
    all_rows = store_rows()
    rows = leaderboard(all_rows, pick=pick or "latest", search=search or "", suite=opt(suite),
                       protocol=opt(protocol), tag=opt(tag), sort=sort or "pass rate")
    table = df(TABLE_HEADERS, table_rows(rows))
    items = [{"label": f"{r['model']} · {r['suite']}", "value": r.get("pass_rate"), "lo": r.get("ci_lo"),
              "hi": r.get("ci_hi"), "suite": r.get("suite"), "n": r.get("n_samples")} for r in rows]
    multi_suite = len({r.get("suite") for r in rows}) > 1
    scope = f" on cases tagged **{md_escape(opt(tag))}**" if opt(tag) else ""
    chart = charts.rate_bars(items, title=f"pass rate{' (tag ' + opt(tag) + ')' if opt(tag) else ''}, "
                                          f"95% CI (Wilson)", color_by="suite" if multi_suite else None)
    if not all_rows:
        note = ""
    elif not rows:
        note = "No run matches these filters."
        chart = charts.empty("No run matches these filters.")
    else:
        note = (f"{len(rows)} row{'s' if len(rows) != 1 else ''} ({pick or 'latest'} run per model and suite"
                f"{scope}) of {len(all_rows)} registered run{'s' if len(all_rows) != 1 else ''} · "
                f"click a row to open the run · sort with the box above or the column headers")
    return (gr.update(visible=not all_rows), gr.update(value=chart, visible=bool(all_rows)),
            gr.update(value=table, visible=bool(all_rows)), note, rows)


def filter_updates(suite: Any = None, protocol: Any = None, tag: Any = None) -> tuple[Any, Any, Any]:
    """The suite, protocol and tag filters with today's choices, keeping a value that is still offered."""
    f = facets(store_rows())
    return (gr.update(choices=[ALL, *f["suites"]], value=suite if suite in f["suites"] else ALL),
            gr.update(choices=[ALL, *f["protocols"]], value=protocol if protocol in f["protocols"] else ALL),
            gr.update(choices=[ALL, *f["tags"]], value=tag if tag in f["tags"] else ALL))


# -- layout and events ------------------------------------------------------------------------------

@dataclass
class LeaderboardTab:
    search: Any
    suite_f: Any
    proto_f: Any
    tag_f: Any
    pick: Any
    sort: Any
    refresh: Any
    empty_md: Any
    lb_note: Any
    lb_table: Any
    lb_chart: Any
    lb_state: Any

    @property
    def inputs(self) -> list[Any]:
        """leaderboard_view's inputs."""
        return [self.search, self.suite_f, self.proto_f, self.tag_f, self.pick, self.sort]

    @property
    def outputs(self) -> list[Any]:
        """leaderboard_view's outputs."""
        return [self.empty_md, self.lb_chart, self.lb_table, self.lb_note, self.lb_state]


def build_leaderboard_tab(db_path: Any) -> LeaderboardTab:
    """The tab's components (inside gr.Tabs); `db_path` is named in the empty-store note."""
    with gr.Tab("Leaderboard", id="leaderboard"):
        with gr.Row(equal_height=True):
            search = gr.Textbox(label="search", placeholder="model, suite, protocol…", scale=3, min_width=200,
                                elem_id="lb-search")
            suite_f = gr.Dropdown([ALL], value=ALL, label="suite", scale=2, min_width=140)
            proto_f = gr.Dropdown([ALL], value=ALL, label="protocol", scale=2, min_width=140)
            tag_f = gr.Dropdown([ALL], value=ALL, label="case tag", scale=2, min_width=140)
            pick = gr.Dropdown([("latest run", "latest"), ("best run", "best")], value="latest",
                               label="row per model", scale=2, min_width=170)
            sort = gr.Dropdown(list(SORT_KEYS), value="pass rate", label="sort by", scale=2, min_width=140)
            with gr.Column(scale=1, min_width=100):
                refresh = gr.Button("Refresh", size="md")
        empty_md = gr.Markdown(EMPTY.format(db=db_path), visible=False, elem_id="lb-empty")
        lb_note = gr.Markdown(elem_classes=["th-note"])
        lb_table = gr.Dataframe(df(TABLE_HEADERS, []), headers=TABLE_HEADERS, datatype=TABLE_DATATYPES,
                                interactive=False, wrap=False, max_height=460, show_label=False, elem_id="lb-table",
                                column_widths=["15%", "10%", "6%", "10%", "7%", "7%", "6%", "6%", "6%", "7%", "13%",
                                               "7%"])
        lb_chart = gr.HTML(elem_id="lb-chart")
        gr.Markdown(LEGEND, elem_classes=["th-note"])
        lb_state = gr.State([])
    return LeaderboardTab(search, suite_f, proto_f, tag_f, pick, sort, refresh, empty_md, lb_note, lb_table,
                          lb_chart, lb_state)


def wire_leaderboard_tab(t: LeaderboardTab) -> None:
    """Filters, sort and search redraw the table."""
    for comp in (t.suite_f, t.proto_f, t.tag_f, t.pick, t.sort):
        comp.change(leaderboard_view, t.inputs, t.outputs, api_visibility="private", show_progress="hidden")
    t.search.submit(leaderboard_view, t.inputs, t.outputs, api_visibility="private")
    t.search.change(leaderboard_view, t.inputs, t.outputs, api_visibility="private", show_progress="hidden",
                    trigger_mode="always_last")


__all__ = ["LeaderboardTab", "build_leaderboard_tab", "filter_updates", "leaderboard_rows", "leaderboard_view",
           "wire_leaderboard_tab"]
