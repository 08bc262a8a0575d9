"""The Gradio app behind `harness ui` (DESIGN.md "UI"): leaderboard, run detail, compare, jobs.

This module launches the app and lays it out: each tab is built by its module in ui.tabs, and the
events that cross tabs (a leaderboard row opens its run, a finished job refreshes the leaderboard, the
page load) are wired here. It only reads the run store (harness.log.leaderboard) and run directories, and
starts jobs as `harness` CLI subprocesses (ui.jobs): no evaluation, training or scoring logic lives here.
Named API endpoints (gradio_client, ui.api): /leaderboard, /runs, /compare, /jobs, /start_eval,
/start_train, /start_loop, /job_progress, /stop_job.

The page accepts query parameters: `?tab=leaderboard|run|compare|jobs`, `?run=<run dir or its name>`,
`?job=<job id>`, `?a=<run>&b=<run>` (compare).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no phone-home from the app

import gradio as gr  # noqa: E402

from ui.api import register_api  # noqa: E402
from ui.data.runs import resolve_run, run_choices, store_rows  # noqa: E402
from ui.jobs import JobError  # noqa: E402
from ui.tabs.compare import build_compare_tab, compare_view, wire_compare_tab  # noqa: E402
from ui.tabs.job_views import Jobs  # noqa: E402
from ui.tabs.jobs import build_jobs_tab, wire_jobs_tab  # noqa: E402
from ui.tabs.leaderboard import (build_leaderboard_tab, filter_updates, leaderboard_view,  # noqa: E402
                                 wire_leaderboard_tab)
from ui.tabs.run import build_run_tab, failure_view, run_view, wire_run_tab  # noqa: E402
from ui.tabs.values import ALL  # noqa: E402

TABS = ("leaderboard", "run", "compare", "jobs")

INTRO = ("**toolcall-harness** measures how well language models follow tool-call protocols. Each row is a model "
         "on a suite: its pass rate with a 95% confidence interval, cost in tokens and latency. Click a row to "
         "see what failed.")

CSS = """
.gradio-container {max-width: 1500px !important}
.th-note {color: #4b5563; font-size: 0.92em}
.th-small textarea, .th-small input {font-size: 0.92em}
#fail-raw pre, #fail-reference pre, #fail-conversation pre, #job-log pre, #job-detail pre,
#fail-raw code, #fail-reference code, #fail-conversation code, #job-log code, #job-detail code
  {white-space: pre-wrap !important; word-break: break-word !important; overflow-wrap: anywhere !important}
"""


def theme() -> Any:
    # system fonts only: the page loads nothing from outside the machine
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def _keep(value: Any, update: Mapping[str, Any]) -> Any:
    return update.get("value", value)


def build_app(home: str | os.PathLike[str] | None = None) -> gr.Blocks:
    from harness.log import leaderboard as store
    if home is not None:
        os.environ["HARNESS_HOME"] = str(Path(home).expanduser().resolve())
    home_path = store.harness_home()
    jobs = Jobs(home_path)

    with gr.Blocks(title="toolcall-harness", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs(selected="leaderboard") as tabs:
            lb = build_leaderboard_tab(store.db_path())
            rt = build_run_tab()
            ct = build_compare_tab()
            jt = build_jobs_tab(home_path)

        # -- leaderboard, and the run pickers every tab shares -------------------------------------
        wire_leaderboard_tab(lb)
        filters = [lb.suite_f, lb.proto_f, lb.tag_f]
        run_pickers = [rt.run_dd, ct.cmp_a, ct.cmp_b, jt.tr_run]

        def refresh_all(s: str, su: str, pr: str, tg: str, pk: str, so: str, run: str | None, a: str | None,
                        b: str | None, tr: str | None) -> tuple[Any, ...]:
            rows = store_rows()
            choices = run_choices(rows)
            values = {c[1] for c in choices}
            fu = filter_updates(su, pr, tg)
            board = leaderboard_view(s, _keep(su, fu[0]), _keep(pr, fu[1]), _keep(tg, fu[2]), pk, so)
            return (*fu, *board, *(gr.update(choices=choices, value=v if v in values else None)
                                   for v in (run, a, b, tr)))

        lb.refresh.click(refresh_all, [*lb.inputs, *run_pickers], [*filters, *lb.outputs, *run_pickers],
                         api_visibility="private")

        def open_row(rows: list[dict[str, Any]], evt: gr.SelectData) -> tuple[Any, Any]:
            rv = evt.row_value or []
            hit = None
            if len(rv) >= 2:
                hit = next((r for r in rows if r.get("model") == rv[0] and r.get("suite") == rv[1]), None)
            if hit is None and isinstance(evt.index, (list, tuple)) and evt.index and evt.index[0] < len(rows):
                hit = rows[evt.index[0]]
            if hit is None:
                return gr.update(), gr.update()
            return gr.Tabs(selected="run"), gr.update(value=hit["run_dir"])

        lb.lb_table.select(open_row, [lb.lb_state], [tabs, rt.run_dd], api_visibility="private")

        # -- run detail, compare --------------------------------------------------------------------
        wire_run_tab(rt)
        wire_compare_tab(ct)

        # -- jobs: polled; a job that finishes puts its run on the leaderboard ------------------------
        def jobs_refresh(selected: str | None, known: list[Any], s_: str, su: str, pr: str, tg: str, pk: str,
                         so: str, lb_rows: list[dict[str, Any]], run: str | None, a: str | None, b: str | None,
                         tr: str | None) -> tuple[Any, ...]:
            table, choices = jobs.table()
            ids = [c[1] for c in choices]
            finished = jobs.finished_ids()
            known_ids, known_done = (known or [[], []]) if len(known or []) == 2 else ([], [])
            dd = gr.skip() if ids == known_ids else gr.update(choices=choices,
                                                               value=selected if selected in ids else
                                                               (ids[0] if ids else None))
            sel = selected if selected in ids else (ids[0] if ids else None)
            md, html, log = jobs.detail(sel)
            if known and finished != known_done:      # a job just finished: its run is in the store now
                board = refresh_all(s_, su, pr, tg, pk, so, run, a, b, tr)
            else:
                board = (*[gr.skip()] * 3, gr.skip(), gr.skip(), gr.skip(), gr.skip(), lb_rows,
                         *[gr.skip()] * len(run_pickers))
            return (table, dd, md, html, log, [ids, finished], *board)

        jt.timer.tick(jobs_refresh, [jt.job_dd, jt.known_jobs, *lb.inputs, lb.lb_state, *run_pickers],
                      [*jt.outputs, *filters, *lb.outputs, *run_pickers], api_visibility="private",
                      show_progress="hidden")
        wire_jobs_tab(jt, jobs)

        def open_job_run(job_id: str | None) -> tuple[Any, Any]:
            if not job_id:
                raise gr.Error("pick a job first")
            try:
                j = jobs.reg.get(job_id)
            except JobError as e:
                raise gr.Error(str(e)) from None
            rows = store_rows()
            run = resolve_run(j.get("out"), rows)
            if j["kind"] != "eval" or not run:
                raise gr.Error("this job has no finished run to open (only finished eval jobs have one)")
            return gr.Tabs(selected="run"), gr.update(choices=run_choices(rows), value=run)

        jt.open_btn.click(open_job_run, [jt.job_dd], [tabs, rt.run_dd], api_visibility="private")

        # -- page load: everything from disk, so a reload (or a restarted app) shows the same state ----
        def on_load(request: gr.Request) -> tuple[Any, ...]:
            q = dict(request.query_params) if request is not None else {}
            rows = store_rows()
            choices = run_choices(rows)
            run = resolve_run(q.get("run"), rows) or (choices[0][1] if choices else None)
            a = resolve_run(q.get("a"), rows)
            b = resolve_run(q.get("b"), rows)
            if not a and not b and len(choices) >= 2:
                b, a = choices[0][1], choices[1][1]
            fu = filter_updates(q.get("suite"), q.get("protocol"), q.get("tag"))
            board = leaderboard_view(q.get("search", ""), q.get("suite") or ALL, q.get("protocol") or ALL,
                                     q.get("tag") or ALL, q.get("pick", "latest"), q.get("sort", "pass rate"))
            rv = run_view(run)
            fv = failure_view(run, rv[8]["value"] if isinstance(rv[8], dict) else None)
            cv = compare_view(a, b)
            table, jchoices = jobs.table()
            jids = [c[1] for c in jchoices]
            job = q.get("job") if q.get("job") in jids else (jids[0] if jids else None)
            jd = jobs.detail(job)
            tab = q.get("tab") if q.get("tab") in TABS else "leaderboard"
            return (gr.Tabs(selected=tab), *fu, gr.update(value=q.get("search", "")), *board,
                    gr.update(choices=choices, value=run), *rv, *fv,
                    gr.update(choices=choices, value=a), gr.update(choices=choices, value=b), *cv,
                    gr.update(choices=choices, value=None),
                    table, gr.update(choices=jchoices, value=job), *jd, [jids, jobs.finished_ids()])

        demo.load(on_load, None,
                  [tabs, *filters, lb.search, *lb.outputs, rt.run_dd, *rt.outputs, *rt.fail_outputs,
                   ct.cmp_a, ct.cmp_b, *ct.outputs, jt.tr_run, jt.jobs_table, jt.job_dd, jt.job_md, jt.job_html,
                   jt.job_log, jt.known_jobs], api_visibility="private")

        register_api(jobs)

    return demo


def launch(*, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           home: str | os.PathLike[str] | None = None, quiet: bool = False,
           on_ready: Callable[[], None] | None = None) -> None:
    """Build the app and serve it until interrupted; `on_ready` runs once the server listens."""
    demo = build_app(home)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=host, server_port=port, share=False, auth=auth,
                auth_message="toolcall-harness: sign in" if auth else None, inbrowser=False, quiet=quiet,
                show_error=True, ssr_mode=False, mcp_server=False, theme=theme(), css=CSS,
                footer_links=["api"], prevent_thread_lock=True)
    if on_ready is not None:
        on_ready()
    try:
        demo.block_thread()
    finally:
        demo.close()


__all__ = ["build_app", "launch"]
