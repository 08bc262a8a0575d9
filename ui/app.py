"""The Gradio app behind `harness ui` (DESIGN.md "UI"): leaderboard, run detail, compare, jobs.

It only reads the run store (harness.log.leaderboard) and run directories, and starts jobs as `harness` CLI
subprocesses (ui.jobs): no evaluation, training or scoring logic lives here. Named API endpoints
(gradio_client): /leaderboard, /runs, /compare, /jobs, /start_eval, /start_train, /start_loop,
/job_progress, /stop_job.

The page accepts query parameters: `?tab=leaderboard|run|compare|jobs`, `?run=<run dir or its name>`,
`?job=<job id>`, `?a=<run>&b=<run>` (compare).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no phone-home from the app

import gradio as gr  # noqa: E402

from ui import charts, data  # noqa: E402
from ui.forms import FormError, eval_job, loop_job, train_job  # noqa: E402
from ui.jobs import JobError, JobRegistry  # noqa: E402

ALL = "(all)"
TABS = ("leaderboard", "run", "compare", "jobs")
JOB_POLL_S = 2.0
MAX_FAILURES_SHOWN = 500

INTRO = ("**toolcall-harness** measures how well language models follow tool-call protocols. Each row is a model "
         "on a suite: its pass rate with a 95% confidence interval, cost in tokens and latency. Click a row to "
         "see what failed.")
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
          "request latency · **cost $**: from the prices given to `harness eval` · API: `/leaderboard` "
          "(see *Use via API* below)")

CSS = """
.gradio-container {max-width: 1500px !important}
.th-note {color: #4b5563; font-size: 0.92em}
.th-small textarea, .th-small input {font-size: 0.92em}
#fail-raw pre, #fail-reference pre, #fail-conversation pre, #job-log pre, #job-detail pre,
#fail-raw code, #fail-reference code, #fail-conversation code, #job-log code, #job-detail code
  {white-space: pre-wrap !important; word-break: break-word !important; overflow-wrap: anywhere !important}
"""


# -- helpers ----------------------------------------------------------------------------------------

def _store_rows() -> list[dict[str, Any]]:
    from harness.log import leaderboard as store
    return store.list_runs()


def _opt(v: Any) -> str:
    """A filter value: "" for the (all) choice or nothing."""
    return "" if v in (None, "", ALL) else str(v)


def _resolve_run(value: Any, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """A run dir from a query parameter or API argument: the full path, or the folder name."""
    if not value:
        return None
    v = str(value)
    for r in rows:
        if r.get("run_dir") == v:
            return v
    for r in rows:
        if Path(str(r.get("run_dir"))).name == v:
            return str(r["run_dir"])
    p = Path(v).expanduser()
    return str(p.resolve()) if (p / "run.json").is_file() else None


def _df(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"headers": headers, "data": rows or []}


# -- leaderboard ------------------------------------------------------------------------------------

def leaderboard_rows(suite: str = "", protocol: str = "", tag: str = "", search: str = "", pick: str = "latest",
                     sort: str = "pass rate") -> list[dict[str, Any]]:
    return data.leaderboard(_store_rows(), pick=pick, search=search, suite=_opt(suite), protocol=_opt(protocol),
                            tag=_opt(tag), sort=sort)


def leaderboard_view(search: str, suite: str, protocol: str, tag: str, pick: str, sort: str
                     ) -> tuple[Any, Any, Any, Any, list[dict[str, Any]]]:
    all_rows = _store_rows()
    rows = data.leaderboard(all_rows, pick=pick or "latest", search=search or "", suite=_opt(suite),
                            protocol=_opt(protocol), tag=_opt(tag), sort=sort or "pass rate")
    table = _df(data.TABLE_HEADERS, data.table_rows(rows))
    items = [{"label": f"{r['model']} · {r['suite']}", "value": r.get("pass_rate"), "lo": r.get("ci_lo"),
              "hi": r.get("ci_hi"), "suite": r.get("suite"), "n": r.get("n_samples")} for r in rows]
    multi_suite = len({r.get("suite") for r in rows}) > 1
    scope = f" on cases tagged **{data.md_escape(_opt(tag))}**" if _opt(tag) else ""
    chart = charts.rate_bars(items, title=f"pass rate{' (tag ' + _opt(tag) + ')' if _opt(tag) else ''}, "
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
    f = data.facets(_store_rows())
    return (gr.update(choices=[ALL, *f["suites"]], value=suite if suite in f["suites"] else ALL),
            gr.update(choices=[ALL, *f["protocols"]], value=protocol if protocol in f["protocols"] else ALL),
            gr.update(choices=[ALL, *f["tags"]], value=tag if tag in f["tags"] else ALL))


# -- run detail -------------------------------------------------------------------------------------

BY_TOOL_HEADERS = ["tool", "samples", "passed", "pass rate %", "95% CI"]
BY_VIOL_HEADERS = ["violation", "n", "% of fails", "meaning"]
FAIL_HEADERS = ["case", "sample", "tool", "violations", "first detail"]


def _run_context(run_dir: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], Any, str | None]:
    from harness.log.rundir import RunDir
    rd = RunDir(run_dir).require()
    manifest = rd.manifest()
    summary = data.run_summary(run_dir)
    results = rd.results()
    suite, note = data.load_run_suite(manifest)
    return manifest, summary, results, suite, note


def _sp_name(manifest: Mapping[str, Any]) -> str:
    sp = manifest.get("system_prompt")
    return str(sp.get("style")) if isinstance(sp, Mapping) else str(sp or "default")


def run_header(manifest: Mapping[str, Any], summary: Mapping[str, Any], run_dir: str, note: str | None) -> str:
    from harness.log.report import headline
    from harness.log.rundir import redact_url
    suite = manifest.get("suite") or {}
    proto = manifest.get("protocol")
    pname = proto.get("name") if isinstance(proto, Mapping) else (
        ", ".join(str(p.get("name")) for p in proto if isinstance(p, Mapping)) if isinstance(proto, list) else proto)
    bits = [f"model **{data.md_escape(manifest.get('model') or '?')}**",
            f"suite **{data.md_escape(suite.get('name') if isinstance(suite, Mapping) else suite)}**",
            f"protocol {data.md_escape(pname or '?')}", f"system prompt {data.md_escape(_sp_name(manifest))}"]
    samp = manifest.get("sampling")
    if isinstance(samp, Mapping) and samp.get("samples"):
        bits.append(f"{samp['samples']} sample(s) per case")
    ep = manifest.get("endpoint")
    if ep:
        eps = ep if isinstance(ep, list) else [ep]
        bits.append("endpoint " + ", ".join(f"`{data.scrub_text(str(redact_url(e)))}`" for e in eps))
    elif manifest.get("source") == "score":
        bits.append("recorded answers (harness score)")
    lines = [" · ".join(bits)]
    if summary:
        lines.append(f"**{data.md_escape(headline(summary))}**")
        tok = summary.get("tokens") or {}
        lat = summary.get("latency_ms") or {}
        extra = []
        if isinstance(tok, Mapping) and data.is_num(tok.get("per_case")):
            extra.append(f"{tok['per_case']:,.0f} tokens per case")
        if isinstance(lat, Mapping) and data.is_num(lat.get("p50")):
            extra.append(f"latency p50 {lat['p50']:,.0f} ms, p95 {lat.get('p95') or 0:,.0f} ms")
        if data.is_num(summary.get("wall_s")):
            extra.append(f"wall {summary['wall_s']:,.1f} s")
        if extra:
            lines.append(" · ".join(extra))
    else:
        lines.append("*no summary.json yet: the run has not finished*")
    lines.append(f"<span class='th-note'>{data.esc(run_dir)} · {data.esc(manifest.get('started_at') or '')}</span>")
    if note:
        lines.append(f"> ⚠️ {data.md_escape(note)}")
    return "\n\n".join(lines)


def run_detail(run_dir: str | None) -> dict[str, Any]:
    """Everything the run tab shows, as plain data (also the shape of the tab's state)."""
    if not run_dir:
        return {}
    manifest, summary, results, suite, note = _run_context(run_dir)
    return {"run_dir": run_dir, "manifest": manifest, "summary": summary, "note": note,
            "by_tool": data.by_tool(summary), "by_violation": data.by_violation(summary),
            "failures": data.failures(results, suite)}


def run_view(run_dir: str | None, tool: str = ALL, code: str = ALL) -> tuple[Any, ...]:
    """Outputs of the run tab: header, tool chart, violation chart, tool table, violation table,
    tool filter, code filter, failures table, failure picker, failures note."""
    blank = _df(FAIL_HEADERS, [])
    if not run_dir:
        return ("Pick a run above, or click a row of the leaderboard.", "", "", _df(BY_TOOL_HEADERS, []),
                _df(BY_VIOL_HEADERS, []), gr.update(choices=[ALL], value=ALL), gr.update(choices=[ALL], value=ALL),
                blank, gr.update(choices=[], value=None), "")
    try:
        manifest, summary, results, suite, note = _run_context(run_dir)
    except Exception as e:  # noqa: BLE001 - shown, not raised: the run may be half written
        return (f"**Cannot read this run:** {data.md_escape(e)}", "", "", _df(BY_TOOL_HEADERS, []),
                _df(BY_VIOL_HEADERS, []), gr.update(choices=[ALL], value=ALL), gr.update(choices=[ALL], value=ALL),
                blank, gr.update(choices=[], value=None), "")
    tools = data.by_tool(summary)
    viols = data.by_violation(summary)
    tool_chart = charts.rate_bars([{"label": t["key"], "value": t["pass_rate"], "lo": t["ci_lo"], "hi": t["ci_hi"],
                                    "n": t["n"]} for t in tools], title="pass rate by tool (worst first)",
                                  label_width=190, width=640)
    viol_chart = charts.count_bars([{"label": v["code"], "value": v["samples"],
                                     "tip": f"{v['code']}: {v['samples']} samples — {v['description']}"}
                                    for v in viols], title="failed samples by violation code", width=640,
                                   label_width=200)
    tool_rows = [[t["key"], t["n"], t["passed"], data.pct_num(t["pass_rate"]),
                  f"{100 * t['ci_lo']:.1f} – {100 * t['ci_hi']:.1f}" if data.is_num(t["ci_lo"]) else ""]
                 for t in tools]
    viol_rows = [[v["code"], v["samples"], data.pct_num(v["share_of_failures"]), v["description"]] for v in viols]
    all_fails = data.failures(results, suite)
    tool_choices = [ALL, *sorted({f["tool"] for f in all_fails})]
    code_choices = [ALL, *sorted({c for f in all_fails for c in f["codes"]})]
    tool = tool if tool in tool_choices else ALL
    code = code if code in code_choices else ALL
    fails = data.failures(results, suite, tool=_opt(tool), code=_opt(code))
    shown = fails[:MAX_FAILURES_SHOWN]
    fail_rows = [[f["id"], f["sample"], f["tool"], ", ".join(f["codes"]), f["detail"][:200]] for f in shown]
    keys = [data.failure_key(f) for f in shown]
    fnote = (f"{len(fails)} failed sample{'s' if len(fails) != 1 else ''}"
             + (f" (first {MAX_FAILURES_SHOWN} shown)" if len(fails) > MAX_FAILURES_SHOWN else "")
             + (f" of {len(all_fails)}" if len(fails) != len(all_fails) else "")
             + (" · click a row or pick it below to see the conversation, the raw answer and the parsed calls"
                if fails else ""))
    if not all_fails:
        fnote = "No failed samples in this run. 🎉" if results else "This run has no results yet."
    return (run_header(manifest, summary, run_dir, note), tool_chart, viol_chart, _df(BY_TOOL_HEADERS, tool_rows),
            _df(BY_VIOL_HEADERS, viol_rows), gr.update(choices=tool_choices, value=tool),
            gr.update(choices=code_choices, value=code), _df(FAIL_HEADERS, fail_rows),
            gr.update(choices=keys, value=keys[0] if keys else None), fnote)


def failure_view(run_dir: str | None, key: str | None) -> tuple[Any, ...]:
    """conversation (Markdown), raw answer, parsed calls, violations (Markdown), expectation, reference."""
    nothing = ("*Pick a failure.*", "", [], "", None, "")
    if not run_dir or not key:
        return nothing
    try:
        manifest, _summary, results, suite, _note = _run_context(run_dir)
    except Exception as e:  # noqa: BLE001
        return (f"**Cannot read this run:** {data.md_escape(e)}", "", [], "", None, "")
    d = data.failure_detail(results, suite, key, system_prompt=_sp_name(manifest))
    if d is None:
        return nothing
    head = f"#### {data.md_escape(d['id'])} · sample {d['sample']}"
    if d["tags"]:
        head += "  \n" + " ".join(f"`{str(t).replace('`', '')}`" for t in d["tags"])
    if d["mode"]:
        head += f" · mode `{str(d['mode']).replace('`', '')}`"
    items = "\n".join(f"- **{data.md_escape(v.get('code'))}** — {data.md_escape(v.get('detail') or '')}"
                      for v in d["violations"])
    viol = "**violations**\n\n" + (items or "*no violation codes (the calls differ from the expectation)*")
    raw = "**raw answer** (what the model sent)\n\n" + (data.fence(d["raw_answer"]) if d["raw_answer"].strip()
                                                           else "*an empty answer*")
    ref = ("**a correct answer** (the case's reference)\n\n" + data.fence(d["reference"])) if d["reference"] else ""
    return (head + "\n\n" + d["conversation"], raw, d["calls"], viol, d["expectation"], ref)


# -- compare ----------------------------------------------------------------------------------------

FLIP_HEADERS = ["case", "flip", "A passed", "B passed", "violations in A", "violations in B"]


def compare_view(run_a: str | None, run_b: str | None) -> tuple[Any, Any, Any]:
    if not run_a or not run_b:
        return "Pick two runs (A is the baseline).", "", _df(FLIP_HEADERS, [])
    if run_a == run_b:
        return "Pick two different runs.", "", _df(FLIP_HEADERS, [])
    try:
        res = data.compare_runs(run_a, run_b)
    except Exception as e:  # noqa: BLE001
        return f"**Cannot compare:** {data.md_escape(e)}", "", _df(FLIP_HEADERS, [])
    a, b, p = res["a"], res["b"], res["paired"]

    def ci(r: Mapping[str, Any]) -> str:
        lo, hi = (r.get("ci95") or [None, None])[:2]
        return f"{100 * lo:.1f} – {100 * hi:.1f}%" if data.is_num(lo) and data.is_num(hi) else "–"

    table = ["| | run | model | suite | cases | samples | pass rate | 95% CI |", "|---|---|---|---|--:|--:|--:|--:|"]
    for label, r in (("A", a), ("B", b)):
        table.append(f"| **{label}** | {data.md_escape(Path(r['run_dir']).name)} | {data.md_escape(r.get('model'))} | "
                     f"{data.md_escape(r.get('suite'))} | {r['n_cases']} | {r['n_samples']} | "
                     f"**{data.pct(r['pass_rate'])}** | {ci(r)} |")
    delta = (b["pass_rate"] - a["pass_rate"]) if data.is_num(a["pass_rate"]) and data.is_num(b["pass_rate"]) else None
    verdict = ("**significant** at 0.05" if p["significant"] else "not significant at 0.05")
    lines = ["\n".join(table),
             f"Paired on **{p['n_cases']}** cases (majority over samples): A {data.pct(p['a_case_pass_rate'])} → "
             f"B {data.pct(p['b_case_pass_rate'])}. Flipped: **{p['pass_to_fail']}** pass → fail, "
             f"**{p['fail_to_pass']}** fail → pass. Exact McNemar p = **{p['p_value']:.4g}** ({verdict})."
             + (f" Sample-level change: {100 * delta:+.1f} points." if delta is not None else "")]
    if p["only_in_a"] or p["only_in_b"]:
        lines.append(f"Not paired: {p['only_in_a']} cases only in A, {p['only_in_b']} only in B.")
    for n in res["notes"]:
        lines.append(f"> ⚠️ {data.md_escape(n)}")
    chart = charts.rate_bars([{"label": f"A · {a.get('model')}", "value": a["pass_rate"], "lo": a["ci95"][0],
                               "hi": a["ci95"][1], "n": a["n_samples"]},
                              {"label": f"B · {b.get('model')}", "value": b["pass_rate"], "lo": b["ci95"][0],
                               "hi": b["ci95"][1], "n": b["n_samples"]}],
                             title="pass rate, 95% CI (Wilson)", width=760, label_width=240)
    flips = [[f["id"], f["direction"], f["a_passed"], f["b_passed"], f["a_violations"], f["b_violations"]]
             for f in res["flipped_rows"]]
    return "\n\n".join(lines), chart, _df(FLIP_HEADERS, flips)


def compare_api(run_a: str, run_b: str) -> dict[str, Any]:
    rows = _store_rows()
    ra, rb = _resolve_run(run_a, rows), _resolve_run(run_b, rows)
    if not ra or not rb:
        raise gr.Error(f"unknown run: {run_a if not ra else run_b}")
    res = data.compare_runs(ra, rb)
    res.pop("flipped_rows", None)
    return res


# -- jobs -------------------------------------------------------------------------------------------

JOB_HEADERS = ["job", "kind", "status", "progress", "started", "ended", "command"]


class Jobs:
    """The app's job registry and the views over it."""

    def __init__(self, home: Path):
        self.home = home
        self.reg = JobRegistry(home)
        self._ended: dict[str, str] = {}      # short progress of jobs that ended (it does not change)

    def _short_progress(self, j: Mapping[str, Any]) -> str:
        if j["status"] not in ("running", "stopping"):
            hit = self._ended.get(j["id"])
            if hit is None:
                hit = self._ended[j["id"]] = self._compute_progress(j)
            return hit
        return self._compute_progress(j)

    def _compute_progress(self, j: Mapping[str, Any]) -> str:
        try:
            p = self.reg.progress(j["id"])
        except JobError:
            return ""
        if j["kind"] == "eval" and "done" in p:
            s = f"{p['done']:,}/{p['planned']:,}" if p.get("planned") else f"{p['done']:,}"
            if p.get("pass_rate") is not None:
                s += f" · {100 * p['pass_rate']:.1f}% pass"
            return s
        if j["kind"] == "train" and p.get("step"):
            s = f"step {p['step']}" + (f"/{p['planned']}" if p.get("planned") else "")
            if data.is_num(p.get("loss")):
                s += f" · loss {p['loss']:.4g}"
            return s
        if j["kind"] == "loop" and p.get("rounds"):
            last = p["rounds"][-1]
            return f"round {last['round']}" + (f" · held-out {data.pct(last['held_out'])}" if last["held_out"]
                                              is not None else "")
        return ""

    def table(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        jobs = self.reg.list()
        rows = [[j["id"], j["kind"], j["status"] + (f" ({j['exit_code']})" if j["exit_code"] not in (None, 0) else ""),
                 self._short_progress(j), j["started"], j["ended"], j["command"]] for j in jobs]
        choices = [(f"{j['id']} · {j['status']} · {j['title']}", j["id"]) for j in jobs]
        return _df(JOB_HEADERS, rows), choices

    def detail(self, job_id: str | None) -> tuple[str, str, str]:
        """(summary Markdown, progress HTML, log tail)."""
        if not job_id:
            return "*No job selected. Start one above; jobs keep running when you close the page.*", "", ""
        try:
            j = self.reg.get(job_id)
            p = self.reg.progress(job_id)
        except JobError as e:
            return f"**{data.md_escape(e)}**", "", ""
        status = j["status"] + (f" (exit code {j['exit_code']})" if j["exit_code"] not in (None,) else "")
        md = [f"**{data.md_escape(j['title'])}** — {data.md_escape(status)}",
              data.fence(j["command"], "bash"),
              f"<span class='th-note'>job {data.esc(j['id'])} · pid {j['pid']} · started {data.esc(j['started'])}"
              + (f" · ended {data.esc(j['ended'])}" if j["ended"] else "")
              + (f" · output {data.esc(j['out'])}" if j.get("out") else "") + "</span>"]
        html = ""
        if j["kind"] == "eval":
            html = charts.progress_bar(int(p.get("done") or 0), p.get("planned"), label="samples scored")
            if p.get("ok"):
                html += (f'<div style="font-size:14px;margin:6px 0">pass rate so far: '
                         f'<b>{100 * p["pass_rate"]:.1f}%</b> ({p["passed"]:,}/{p["ok"]:,})'
                         + (f' · {p["errors"]:,} endpoint errors' if p.get("errors") else "") + "</div>")
            if p.get("summary") and j["status"] == "done":
                md.append(f"Finished: open it in the **Run detail** tab ({data.md_escape(Path(j['out']).name)}).")
        elif j["kind"] == "train":
            pts = [(q["step"], q["loss"]) for q in p.get("points", []) if data.is_num(q.get("loss"))]
            if p.get("planned"):
                html = charts.progress_bar(int(p.get("step") or 0), p.get("planned"), label="steps")
            html += charts.line_chart(pts, title="training loss (trainer_log.jsonl)", x_label="step", y_label="loss")
            if p.get("points"):
                last = p["points"][-1]
                html += (f'<div style="font-size:13px;color:#374151">step {last["step"]} · lr {last.get("lr")} · '
                         f'epoch {last.get("epoch")} · {last.get("tokens_per_s") or "–"} tokens/s · '
                         f'{last.get("elapsed_s") or 0:.0f} s</div>')
        elif j["kind"] == "loop":
            rounds = p.get("rounds") or []
            pts = [(r["round"], r["held_out"]) for r in rounds if r["held_out"] is not None]
            if p.get("planned"):
                html = charts.progress_bar(len(rounds), p.get("planned"), label="rounds")
            html += charts.line_chart(pts, title="held-out pass rate per round (loop.json)", x_label="round",
                                      y_label="held-out pass rate", percent=True, y_range=(0.0, 1.0),
                                      baseline=p.get("baseline"))
            if rounds:
                html += "<ul style='font-size:13px'>" + "".join(
                    f"<li>round {r['round']}: {data.esc(data.pct(r['held_out']))} {data.esc(r['decision'])} "
                    f"{data.esc(r['adapter'])}</li>" for r in rounds) + "</ul>"
        tail = self.reg.log_tail(job_id)
        if j["status"] == "failed":
            err = [ln for ln in tail.splitlines() if ln.startswith("harness: error:") or "Error:" in ln]
            if err:
                md.insert(1, f"> ❌ {data.md_escape(err[-1][:500])}")
        log = ("**log** (last lines of " + data.md_escape(Path(j["log"]).name) + ")\n\n" + data.fence(tail)) if tail else ""
        return "\n\n".join(md), html, log

    def start(self, kind: str, **form: Any) -> dict[str, Any]:
        job_id = self.reg.new_id(kind)
        build = {"eval": eval_job, "train": train_job, "loop": loop_job}[kind]
        try:
            spec = build(home=self.home, job_id=job_id, **form)
        except FormError as e:
            raise gr.Error(str(e)) from None
        try:
            return self.reg.start(kind, spec.args, title=spec.title, out=spec.out, planned=spec.planned,
                                  job_id=job_id)
        except JobError as e:
            raise gr.Error(str(e)) from None


# -- the app ----------------------------------------------------------------------------------------

def theme() -> Any:
    # system fonts only: the page loads nothing from outside the machine
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def build_app(home: str | os.PathLike[str] | None = None) -> gr.Blocks:
    from harness.log import leaderboard as store
    if home is not None:
        os.environ["HARNESS_HOME"] = str(Path(home).expanduser().resolve())
    home_path = store.harness_home()
    jobs = Jobs(home_path)

    with gr.Blocks(title="toolcall-harness", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs(selected="leaderboard") as tabs:
            # -- leaderboard --------------------------------------------------------------------
            with gr.Tab("Leaderboard", id="leaderboard"):
                with gr.Row(equal_height=True):
                    search = gr.Textbox(label="search", placeholder="model, suite, protocol…", scale=3, min_width=200,
                                        elem_id="lb-search")
                    suite_f = gr.Dropdown([ALL], value=ALL, label="suite", scale=2, min_width=140)
                    proto_f = gr.Dropdown([ALL], value=ALL, label="protocol", scale=2, min_width=140)
                    tag_f = gr.Dropdown([ALL], value=ALL, label="case tag", scale=2, min_width=140)
                    pick = gr.Dropdown([("latest run", "latest"), ("best run", "best")], value="latest",
                                       label="row per model", scale=2, min_width=170)
                    sort = gr.Dropdown(list(data.SORT_KEYS), value="pass rate", label="sort by", scale=2,
                                       min_width=140)
                    with gr.Column(scale=1, min_width=100):
                        refresh = gr.Button("Refresh", size="md")
                empty_md = gr.Markdown(EMPTY.format(db=store.db_path()), visible=False, elem_id="lb-empty")
                lb_note = gr.Markdown(elem_classes=["th-note"])
                lb_table = gr.Dataframe(_df(data.TABLE_HEADERS, []), headers=data.TABLE_HEADERS,
                                        datatype=data.TABLE_DATATYPES, interactive=False, wrap=False,
                                        max_height=460, show_label=False, elem_id="lb-table",
                                        column_widths=["15%", "10%", "6%", "10%", "7%", "7%", "6%", "6%", "6%",
                                                       "7%", "13%", "7%"])
                lb_chart = gr.HTML(elem_id="lb-chart")
                gr.Markdown(LEGEND, elem_classes=["th-note"])
                lb_state = gr.State([])
            # -- run detail ---------------------------------------------------------------------
            with gr.Tab("Run detail", id="run"):
                with gr.Row():
                    run_dd = gr.Dropdown([], label="run", scale=5, elem_id="run-pick")
                    run_refresh = gr.Button("Reload", scale=1, size="sm")
                run_md = gr.Markdown("Pick a run above, or click a row of the leaderboard.", elem_id="run-header")
                with gr.Row():
                    tool_chart = gr.HTML()
                    viol_chart = gr.HTML()
                with gr.Row():
                    tool_table = gr.Dataframe(_df(BY_TOOL_HEADERS, []), interactive=False, label="by tool",
                                              max_height=320)
                    viol_table = gr.Dataframe(_df(BY_VIOL_HEADERS, []), interactive=False, label="by violation code",
                                              max_height=320, wrap=True, column_widths=["36%", "12%", "13%", "39%"])
                gr.Markdown("### Failure explorer")
                with gr.Row():
                    tool_filter = gr.Dropdown([ALL], value=ALL, label="tool", scale=1)
                    code_filter = gr.Dropdown([ALL], value=ALL, label="violation code", scale=1)
                    fail_pick = gr.Dropdown([], label="failure (case#sample)", scale=2, elem_id="fail-pick")
                fail_note = gr.Markdown(elem_classes=["th-note"])
                fail_table = gr.Dataframe(_df(FAIL_HEADERS, []), interactive=False, show_label=False,
                                          max_height=300, elem_id="fail-table")
                with gr.Row():
                    with gr.Column(scale=1):
                        conv_md = gr.Markdown("*Pick a failure.*", elem_id="fail-conversation", max_height=520)
                        raw_code = gr.Markdown(elem_id="fail-raw", max_height=420)
                        ref_code = gr.Markdown(elem_id="fail-reference", max_height=320)
                    with gr.Column(scale=1):
                        viol_md = gr.Markdown(elem_id="fail-violations")
                        calls_json = gr.JSON(label="parsed calls", open=True, max_height=300)
                        expect_json = gr.JSON(label="expectation", open=True, max_height=360)
            # -- compare ------------------------------------------------------------------------
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("Two runs of the same suite: which cases flipped, and is the difference more than "
                            "chance? (exact McNemar test on the cases whose verdict changed)")
                with gr.Row():
                    cmp_a = gr.Dropdown([], label="A (baseline)", scale=1)
                    cmp_b = gr.Dropdown([], label="B", scale=1)
                cmp_md = gr.Markdown("Pick two runs (A is the baseline).", elem_id="cmp-result")
                cmp_chart = gr.HTML()
                cmp_table = gr.Dataframe(_df(FLIP_HEADERS, []), interactive=False, label="flipped cases",
                                         max_height=400)
            # -- jobs ---------------------------------------------------------------------------
            with gr.Tab("Jobs", id="jobs"):
                gr.Markdown("Start `harness` commands from here. Each job is a `harness` process recorded under "
                            f"`{data.esc(home_path / 'jobs')}`: it keeps running when you close the page, and the "
                            "list comes back after a reload or an app restart. API keys are never typed here — give "
                            "the **name** of the environment variable that holds the key.")
                with gr.Tabs():
                    with gr.Tab("Evaluate"):
                        with gr.Row():
                            ev_endpoint = gr.Textbox(label="endpoint URL", placeholder="http://127.0.0.1:8000/v1",
                                                     scale=3)
                            ev_model = gr.Textbox(label="model", placeholder="name sent in each request", scale=2)
                            ev_suite = gr.Dropdown(_shipped_suites(), value="roo-starter", label="suite",
                                                   allow_custom_value=True, scale=2)
                        with gr.Row():
                            ev_conc = gr.Number(16, label="concurrency", precision=0, minimum=1)
                            ev_samples = gr.Number(1, label="samples per case", precision=0, minimum=1)
                            ev_key = gr.Textbox("OPENAI_API_KEY", label="API key variable (name, not the key)")
                            ev_sp = gr.Radio(["full", "compact"], value="full", label="system prompt")
                            ev_split = gr.Radio(["all", "train", "test"], value="all", label="split")
                        with gr.Row():
                            ev_out = gr.Textbox(label="run directory (optional)",
                                                placeholder=str(home_path / "runs" / "…"), scale=2)
                            ev_extra = gr.Textbox(label="more arguments (optional)", placeholder="--temperature 0",
                                                  scale=2)
                            ev_go = gr.Button("Start eval", variant="primary", scale=1)
                    with gr.Tab("Train"):
                        with gr.Row():
                            tr_run = gr.Dropdown([], label="train on the failures of run", allow_custom_value=True,
                                                 scale=3)
                            tr_base = gr.Textbox(label="base model folder", placeholder="models/tiny", scale=2)
                        with gr.Row():
                            tr_backend = gr.Radio(["peft", "unsloth"], value="peft", label="backend")
                            tr_method = gr.Radio(["lora", "full"], value="lora", label="method")
                            tr_steps = gr.Number(None, label="max steps (optional)", precision=0, minimum=1)
                            tr_lr = gr.Textbox(label="learning rate (optional)", placeholder="2e-4")
                        with gr.Row():
                            tr_out = gr.Textbox(label="output folder (optional)",
                                                placeholder=str(home_path / "adapters" / "…"), scale=2)
                            tr_extra = gr.Textbox(label="more arguments (optional)", placeholder="--lora-r 16",
                                                  scale=2)
                            tr_go = gr.Button("Start training", variant="primary", scale=1)
                    with gr.Tab("Loop"):
                        with gr.Row():
                            lp_endpoint = gr.Textbox(label="endpoint URL", placeholder="http://127.0.0.1:8000/v1",
                                                     scale=3)
                            lp_base = gr.Textbox(label="base model folder", scale=2)
                            lp_suite = gr.Dropdown(_shipped_suites(), value="roo-starter", label="suite",
                                                   allow_custom_value=True, scale=2)
                        with gr.Row():
                            lp_rounds = gr.Number(3, label="rounds", precision=0, minimum=1)
                            lp_backend = gr.Radio(["peft", "unsloth"], value="peft", label="backend")
                            lp_samples = gr.Number(1, label="samples per case", precision=0, minimum=1)
                            lp_out = gr.Textbox(label="output folder (optional)",
                                                placeholder=str(home_path / "loops" / "…"))
                            lp_extra = gr.Textbox(label="more arguments (optional)")
                            lp_go = gr.Button("Start loop", variant="primary")
                start_msg = gr.Markdown(elem_id="job-start-msg")
                jobs_table = gr.Dataframe(_df(JOB_HEADERS, []), interactive=False, label="jobs (newest first)",
                                          max_height=260, elem_id="jobs-table", wrap=False)
                with gr.Row(equal_height=True):
                    job_dd = gr.Dropdown([], label="job", scale=5, elem_id="job-pick")
                    with gr.Column(scale=1, min_width=120):
                        stop_btn = gr.Button("Stop", variant="stop")
                        open_btn = gr.Button("Open its run", size="sm")
                job_md = gr.Markdown(elem_id="job-detail")
                job_html = gr.HTML(elem_id="job-progress")
                job_log = gr.Markdown(elem_id="job-log", max_height=480)
                timer = gr.Timer(JOB_POLL_S)
                known_jobs = gr.State([])

        # -- events: leaderboard ----------------------------------------------------------------
        lb_inputs = [search, suite_f, proto_f, tag_f, pick, sort]
        lb_outputs = [empty_md, lb_chart, lb_table, lb_note, lb_state]
        for comp in (suite_f, proto_f, tag_f, pick, sort):
            comp.change(leaderboard_view, lb_inputs, lb_outputs, api_visibility="private", show_progress="hidden")
        search.submit(leaderboard_view, lb_inputs, lb_outputs, api_visibility="private")
        search.change(leaderboard_view, lb_inputs, lb_outputs, api_visibility="private", show_progress="hidden",
                      trigger_mode="always_last")

        def refresh_all(s: str, su: str, pr: str, tg: str, pk: str, so: str, run: str | None, a: str | None,
                        b: str | None, tr: str | None) -> tuple[Any, ...]:
            rows = _store_rows()
            choices = data.run_choices(rows)
            values = {c[1] for c in choices}
            fu = filter_updates(su, pr, tg)
            lb = leaderboard_view(s, _keep(su, fu[0]), _keep(pr, fu[1]), _keep(tg, fu[2]), pk, so)
            return (*fu, *lb, *(gr.update(choices=choices, value=v if v in values else None)
                                for v in (run, a, b, tr)))

        run_pickers = [run_dd, cmp_a, cmp_b, tr_run]
        refresh.click(refresh_all, [*lb_inputs, *run_pickers], [suite_f, proto_f, tag_f, *lb_outputs, *run_pickers],
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

        lb_table.select(open_row, [lb_state], [tabs, run_dd], api_visibility="private")

        # -- events: run detail -----------------------------------------------------------------
        run_outputs = [run_md, tool_chart, viol_chart, tool_table, viol_table, tool_filter, code_filter, fail_table,
                       fail_pick, fail_note]
        run_dd.change(lambda r: run_view(r), [run_dd], run_outputs, api_visibility="private")
        run_refresh.click(lambda r, t, c: run_view(r, t, c), [run_dd, tool_filter, code_filter], run_outputs,
                          api_visibility="private")
        fail_outputs = [conv_md, raw_code, calls_json, viol_md, expect_json, ref_code]

        def refilter(r: str | None, t: str, c: str) -> tuple[Any, Any, Any]:
            out = run_view(r, t, c)
            return out[7], out[8], out[9]

        tool_filter.input(refilter, [run_dd, tool_filter, code_filter], [fail_table, fail_pick, fail_note],
                          api_visibility="private")
        code_filter.input(refilter, [run_dd, tool_filter, code_filter], [fail_table, fail_pick, fail_note],
                          api_visibility="private")
        fail_pick.change(failure_view, [run_dd, fail_pick], fail_outputs, api_visibility="private")

        def pick_failure(evt: gr.SelectData) -> Any:
            rv = evt.row_value or []
            if len(rv) >= 2:
                return gr.update(value=f"{rv[0]}#{int(rv[1])}")
            return gr.update()

        fail_table.select(pick_failure, None, [fail_pick], api_visibility="private")

        # -- events: compare --------------------------------------------------------------------
        for comp in (cmp_a, cmp_b):
            comp.change(compare_view, [cmp_a, cmp_b], [cmp_md, cmp_chart, cmp_table], api_visibility="private")

        # -- events: jobs -----------------------------------------------------------------------
        def jobs_refresh(selected: str | None, known: list[Any], s_: str, su: str, pr: str, tg: str, pk: str,
                         so: str, lb_rows: list[dict[str, Any]], run: str | None, a: str | None, b: str | None,
                         tr: str | None) -> tuple[Any, ...]:
            table, choices = jobs.table()
            ids = [c[1] for c in choices]
            finished = sorted(j["id"] for j in jobs.reg.list() if j["status"] == "done")
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

        job_outputs = [jobs_table, job_dd, job_md, job_html, job_log, known_jobs]
        timer.tick(jobs_refresh, [job_dd, known_jobs, *lb_inputs, lb_state, *run_pickers],
                   [*job_outputs, suite_f, proto_f, tag_f, *lb_outputs, *run_pickers], api_visibility="private",
                   show_progress="hidden")
        job_dd.change(lambda j: jobs.detail(j), [job_dd], [job_md, job_html, job_log], api_visibility="private",
                      show_progress="hidden")

        def open_job_run(job_id: str | None) -> tuple[Any, Any]:
            if not job_id:
                raise gr.Error("pick a job first")
            try:
                j = jobs.reg.get(job_id)
            except JobError as e:
                raise gr.Error(str(e)) from None
            rows = _store_rows()
            run = _resolve_run(j.get("out"), rows)
            if j["kind"] != "eval" or not run:
                raise gr.Error("this job has no finished run to open (only finished eval jobs have one)")
            return gr.Tabs(selected="run"), gr.update(choices=data.run_choices(rows), value=run)

        open_btn.click(open_job_run, [job_dd], [tabs, run_dd], api_visibility="private")

        def started(job: Mapping[str, Any]) -> tuple[Any, ...]:
            table, choices = jobs.table()
            md, html, log = jobs.detail(job["id"])
            return (f"Started **{data.md_escape(job['title'])}** (job {data.md_escape(job['id'])}).", table,
                    gr.update(choices=choices, value=job["id"]), md, html, log,
                    [[c[1] for c in choices], sorted(j["id"] for j in jobs.reg.list() if j["status"] == "done")])

        start_outputs = [start_msg, jobs_table, job_dd, job_md, job_html, job_log, known_jobs]

        def ui_start_eval(endpoint: str, model: str, suite: str, conc: Any, samples: Any, key: str, sp: str,
                          split: str, out: str, extra: str) -> tuple[Any, ...]:
            return started(jobs.start("eval", endpoint=endpoint, model=model, suite=suite, concurrency=conc,
                                      samples=samples, api_key_env=key, system_prompt=sp, split=split, out=out,
                                      extra=extra))

        ev_go.click(ui_start_eval, [ev_endpoint, ev_model, ev_suite, ev_conc, ev_samples, ev_key, ev_sp, ev_split,
                                    ev_out, ev_extra], start_outputs, api_visibility="private")

        def ui_start_train(run: str, base: str, backend: str, method: str, steps: Any, lr: str, out: str,
                           extra: str) -> tuple[Any, ...]:
            return started(jobs.start("train", from_run=run, base_model=base, backend=backend, method=method,
                                      max_steps=steps, lr=lr, out=out, extra=extra))

        tr_go.click(ui_start_train, [tr_run, tr_base, tr_backend, tr_method, tr_steps, tr_lr, tr_out, tr_extra],
                    start_outputs, api_visibility="private")

        def ui_start_loop(endpoint: str, base: str, suite: str, rounds: Any, backend: str, samples: Any, out: str,
                          extra: str) -> tuple[Any, ...]:
            return started(jobs.start("loop", endpoint=endpoint, base_model=base, suite=suite, rounds=rounds,
                                      backend=backend, samples=samples, out=out, extra=extra))

        lp_go.click(ui_start_loop, [lp_endpoint, lp_base, lp_suite, lp_rounds, lp_backend, lp_samples, lp_out,
                                    lp_extra], start_outputs, api_visibility="private")

        def ui_stop(job_id: str | None) -> tuple[Any, ...]:
            if not job_id:
                raise gr.Error("pick a job first")
            try:
                jobs.reg.stop(job_id)
            except JobError as e:
                raise gr.Error(str(e)) from None
            table, _ = jobs.table()
            md, html, log = jobs.detail(job_id)
            return table, md, html, log

        stop_btn.click(ui_stop, [job_dd], [jobs_table, job_md, job_html, job_log], api_visibility="private")

        # -- page load: everything from disk, so a reload (or a restarted app) shows the same state ----
        def on_load(request: gr.Request) -> tuple[Any, ...]:
            q = dict(request.query_params) if request is not None else {}
            rows = _store_rows()
            choices = data.run_choices(rows)
            run = _resolve_run(q.get("run"), rows) or (choices[0][1] if choices else None)
            a = _resolve_run(q.get("a"), rows)
            b = _resolve_run(q.get("b"), rows)
            if not a and not b and len(choices) >= 2:
                b, a = choices[0][1], choices[1][1]
            fu = filter_updates(q.get("suite"), q.get("protocol"), q.get("tag"))
            lb = leaderboard_view(q.get("search", ""), q.get("suite") or ALL, q.get("protocol") or ALL,
                                  q.get("tag") or ALL, q.get("pick", "latest"), q.get("sort", "pass rate"))
            rv = run_view(run)
            fv = failure_view(run, rv[8]["value"] if isinstance(rv[8], dict) else None)
            cv = compare_view(a, b)
            table, jchoices = jobs.table()
            jids = [c[1] for c in jchoices]
            job = q.get("job") if q.get("job") in jids else (jids[0] if jids else None)
            jd = jobs.detail(job)
            tab = q.get("tab") if q.get("tab") in TABS else "leaderboard"
            return (gr.Tabs(selected=tab), *fu, gr.update(value=q.get("search", "")), *lb,
                    gr.update(choices=choices, value=run), *rv, *fv,
                    gr.update(choices=choices, value=a), gr.update(choices=choices, value=b), *cv,
                    gr.update(choices=choices, value=None),
                    table, gr.update(choices=jchoices, value=job), *jd,
                    [jids, sorted(j["id"] for j in jobs.reg.list() if j["status"] == "done")])

        demo.load(on_load, None,
                  [tabs, suite_f, proto_f, tag_f, search, *lb_outputs, run_dd, *run_outputs, *fail_outputs,
                   cmp_a, cmp_b, cmp_md, cmp_chart, cmp_table, tr_run, jobs_table, job_dd, job_md, job_html, job_log,
                   known_jobs], api_visibility="private")

        # -- the API (gradio_client) --------------------------------------------------------------
        def leaderboard(suite: str = "", protocol: str = "", tag: str = "", search: str = "",
                        pick: str = "latest", sort: str = "pass rate") -> list[dict[str, Any]]:
            """The leaderboard table: one row per (model, suite) — its latest run, or its best with
            pick="best" — with pass_rate and its Wilson 95% CI (ci_lo, ci_hi) as fractions, pass_hat_k,
            tokens_per_case, latency_p50_ms/p95_ms, cost, protocol, created_at and run_dir."""
            return leaderboard_rows(suite, protocol, tag, search, pick, sort)

        gr.api(leaderboard, api_name="leaderboard")

        def runs() -> list[dict[str, Any]]:
            """Every registered run (one row per run directory), newest first."""
            rs = sorted(_store_rows(), key=lambda r: r.get("created_at") or "", reverse=True)
            return [data.api_row(r) for r in rs]

        gr.api(runs, api_name="runs")

        def compare(run_a: str, run_b: str) -> dict[str, Any]:
            """Compare two runs (run dirs or their folder names): pass rates with CIs, flipped cases, exact
            McNemar p-value."""
            return compare_api(run_a, run_b)

        gr.api(compare, api_name="compare")

        def list_jobs() -> list[dict[str, Any]]:
            """Every job (eval, train, loop) with its status, pid and scrubbed command line, newest first."""
            return jobs.reg.list()

        gr.api(list_jobs, api_name="jobs")

        def start_eval(endpoint: str, model: str, suite: str = "roo-starter", concurrency: int = 16,
                       samples: int = 1, api_key_env: str = "OPENAI_API_KEY", system_prompt: str = "full",
                       split: str = "all", out: str = "", extra: str = "") -> dict[str, Any]:
            """Start `harness eval` as a job. api_key_env is the NAME of the environment variable holding the
            key in the app's environment, never the key."""
            return jobs.start("eval", endpoint=endpoint, model=model, suite=suite, concurrency=concurrency,
                              samples=samples, api_key_env=api_key_env, system_prompt=system_prompt, split=split,
                              out=out, extra=extra)

        gr.api(start_eval, api_name="start_eval")

        def start_train(from_run: str, base_model: str, backend: str = "peft", method: str = "lora",
                        max_steps: int = 0, lr: str = "", out: str = "", extra: str = "") -> dict[str, Any]:
            """Start `harness train --from-run RUN` as a job (progress: trainer_log.jsonl)."""
            return jobs.start("train", from_run=from_run, base_model=base_model, backend=backend, method=method,
                              max_steps=max_steps or None, lr=lr, out=out, extra=extra)

        gr.api(start_train, api_name="start_train")

        def start_loop(endpoint: str, base_model: str, suite: str = "roo-starter", rounds: int = 3,
                       backend: str = "peft", samples: int = 1, out: str = "", extra: str = "") -> dict[str, Any]:
            """Start `harness loop` as a job (progress: loop.json)."""
            return jobs.start("loop", endpoint=endpoint, base_model=base_model, suite=suite, rounds=rounds,
                              backend=backend, samples=samples, out=out, extra=extra)

        gr.api(start_loop, api_name="start_loop")

        def job_progress(job_id: str) -> dict[str, Any]:
            """Live progress of a job: eval -> done/planned/pass_rate; train -> loss points; loop -> rounds."""
            try:
                return {**jobs.reg.get(job_id), "progress": jobs.reg.progress(job_id)}
            except JobError as e:
                raise gr.Error(str(e)) from None

        gr.api(job_progress, api_name="job_progress")

        def stop_job(job_id: str) -> dict[str, Any]:
            """Stop a job: SIGTERM to its process group, SIGKILL after a grace period."""
            try:
                return jobs.reg.stop(job_id)
            except JobError as e:
                raise gr.Error(str(e)) from None

        gr.api(stop_job, api_name="stop_job")

    return demo


def _keep(value: Any, update: Mapping[str, Any]) -> Any:
    return update.get("value", value)


def _shipped_suites() -> list[str]:
    try:
        from harness.suite import list_shipped
        return list_shipped()
    except Exception:  # noqa: BLE001
        return ["roo-starter"]


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


__all__ = ["build_app", "launch", "leaderboard_rows"]
