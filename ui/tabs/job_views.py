"""What the Jobs tab shows of the job registry (ui.jobs): the jobs table, one job's detail (summary,
progress chart, log tail), and starting a job from a form (ui.forms builds its command line)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr

from ui import charts
from ui.data.text import esc, fence, is_num, md_escape, pct
from ui.forms import FormError, eval_job, loop_job, train_job
from ui.jobs import JobError, JobRegistry
from ui.tabs.values import df

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
            if is_num(p.get("loss")):
                s += f" · loss {p['loss']:.4g}"
            return s
        if j["kind"] == "loop" and p.get("rounds"):
            last = p["rounds"][-1]
            return f"round {last['round']}" + (f" · held-out {pct(last['held_out'])}" if last["held_out"]
                                              is not None else "")
        return ""

    def table(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """(the jobs table, the job picker's (label, id) choices), newest first."""
        jobs = self.reg.list()
        rows = [[j["id"], j["kind"], j["status"] + (f" ({j['exit_code']})" if j["exit_code"] not in (None, 0) else ""),
                 self._short_progress(j), j["started"], j["ended"], j["command"]] for j in jobs]
        choices = [(f"{j['id']} · {j['status']} · {j['title']}", j["id"]) for j in jobs]
        return df(JOB_HEADERS, rows), choices

    def finished_ids(self) -> list[str]:
        """Ids of the jobs that ended well (sorted): when this changes, a run may have joined the store."""
        return sorted(j["id"] for j in self.reg.list() if j["status"] == "done")

    def detail(self, job_id: str | None) -> tuple[str, str, str]:
        """(summary Markdown, progress HTML, log tail)."""
        if not job_id:
            return "*No job selected. Start one above; jobs keep running when you close the page.*", "", ""
        try:
            j = self.reg.get(job_id)
            p = self.reg.progress(job_id)
        except JobError as e:
            return f"**{md_escape(e)}**", "", ""
        status = j["status"] + (f" (exit code {j['exit_code']})" if j["exit_code"] not in (None,) else "")
        md = [f"**{md_escape(j['title'])}** — {md_escape(status)}",
              fence(j["command"], "bash"),
              f"<span class='th-note'>job {esc(j['id'])} · pid {j['pid']} · started {esc(j['started'])}"
              + (f" · ended {esc(j['ended'])}" if j["ended"] else "")
              + (f" · output {esc(j['out'])}" if j.get("out") else "") + "</span>"]
        html = ""
        if j["kind"] == "eval":
            html = charts.progress_bar(int(p.get("done") or 0), p.get("planned"), label="samples scored")
            if p.get("ok"):
                html += (f'<div style="font-size:14px;margin:6px 0">pass rate so far: '
                         f'<b>{100 * p["pass_rate"]:.1f}%</b> ({p["passed"]:,}/{p["ok"]:,})'
                         + (f' · {p["errors"]:,} endpoint errors' if p.get("errors") else "") + "</div>")
            if p.get("summary") and j["status"] == "done":
                md.append(f"Finished: open it in the **Run detail** tab ({md_escape(Path(j['out']).name)}).")
        elif j["kind"] == "train":
            pts = [(q["step"], q["loss"]) for q in p.get("points", []) if is_num(q.get("loss"))]
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
                    f"<li>round {r['round']}: {esc(pct(r['held_out']))} {esc(r['decision'])} "
                    f"{esc(r['adapter'])}</li>" for r in rounds) + "</ul>"
        tail = self.reg.log_tail(job_id)
        if j["status"] == "failed":
            err = [ln for ln in tail.splitlines() if ln.startswith("harness: error:") or "Error:" in ln]
            if err:
                md.insert(1, f"> ❌ {md_escape(err[-1][:500])}")
        log = ("**log** (last lines of " + md_escape(Path(j["log"]).name) + ")\n\n" + fence(tail)) if tail else ""
        return "\n\n".join(md), html, log

    def start(self, kind: str, **form: Any) -> dict[str, Any]:
        """Start a job from a form's values; a bad value is a gr.Error naming the field."""
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


__all__ = ["JOB_HEADERS", "Jobs"]
