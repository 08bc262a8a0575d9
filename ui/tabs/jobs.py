"""The Jobs tab: forms that start `harness eval`, `harness train` and `harness loop` as jobs, the jobs
table, and one job's progress and log, with Stop. The views over the registry are in ui.tabs.job_views;
the timer that polls the jobs (and refreshes the leaderboard when one finishes) is wired in ui.app."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ui.data.text import esc, md_escape
from ui.jobs import JobError
from ui.tabs.job_views import JOB_HEADERS, Jobs
from ui.tabs.values import df

JOB_POLL_S = 2.0


def shipped_suites() -> list[str]:
    """The suites the forms offer (roo-starter alone if the list cannot be read)."""
    try:
        from harness import shipped_suites as names
        return names()
    except Exception:  # noqa: BLE001
        return ["roo-starter"]


@dataclass
class JobsTab:
    ev_endpoint: Any
    ev_model: Any
    ev_suite: Any
    ev_conc: Any
    ev_samples: Any
    ev_key: Any
    ev_sp: Any
    ev_split: Any
    ev_out: Any
    ev_extra: Any
    ev_go: Any
    tr_run: Any
    tr_base: Any
    tr_backend: Any
    tr_method: Any
    tr_steps: Any
    tr_lr: Any
    tr_out: Any
    tr_extra: Any
    tr_go: Any
    lp_endpoint: Any
    lp_base: Any
    lp_suite: Any
    lp_rounds: Any
    lp_backend: Any
    lp_samples: Any
    lp_out: Any
    lp_extra: Any
    lp_go: Any
    start_msg: Any
    jobs_table: Any
    job_dd: Any
    stop_btn: Any
    open_btn: Any
    job_md: Any
    job_html: Any
    job_log: Any
    timer: Any
    known_jobs: Any

    @property
    def outputs(self) -> list[Any]:
        """The jobs table, picker, the picked job's detail, and the known-jobs state."""
        return [self.jobs_table, self.job_dd, self.job_md, self.job_html, self.job_log, self.known_jobs]


def build_jobs_tab(home_path: Path) -> JobsTab:
    """The tab's components (inside gr.Tabs); `home_path` is the harness home the jobs live under."""
    with gr.Tab("Jobs", id="jobs"):
        gr.Markdown("Start `harness` commands from here. Each job is a `harness` process recorded under "
                    f"`{esc(home_path / 'jobs')}`: it keeps running when you close the page, and the "
                    "list comes back after a reload or an app restart. API keys are never typed here — give "
                    "the **name** of the environment variable that holds the key.")
        with gr.Tabs():
            with gr.Tab("Evaluate"):
                with gr.Row():
                    ev_endpoint = gr.Textbox(label="endpoint URL", placeholder="http://127.0.0.1:8000/v1", scale=3)
                    ev_model = gr.Textbox(label="model", placeholder="name sent in each request", scale=2)
                    ev_suite = gr.Dropdown(shipped_suites(), value="roo-starter", label="suite",
                                           allow_custom_value=True, scale=2)
                with gr.Row():
                    ev_conc = gr.Number(16, label="concurrency", precision=0, minimum=1)
                    ev_samples = gr.Number(1, label="samples per case", precision=0, minimum=1)
                    ev_key = gr.Textbox("OPENAI_API_KEY", label="API key variable (name, not the key)")
                    ev_sp = gr.Radio(["full", "compact"], value="full", label="system prompt")
                    ev_split = gr.Radio(["all", "train", "test"], value="all", label="split")
                with gr.Row():
                    ev_out = gr.Textbox(label="run directory (optional)", placeholder=str(home_path / "runs" / "…"),
                                        scale=2)
                    ev_extra = gr.Textbox(label="more arguments (optional)", placeholder="--temperature 0", scale=2)
                    ev_go = gr.Button("Start eval", variant="primary", scale=1)
            with gr.Tab("Train"):
                with gr.Row():
                    tr_run = gr.Dropdown([], label="train on the failures of run", allow_custom_value=True, scale=3)
                    tr_base = gr.Textbox(label="base model folder", placeholder="models/tiny", scale=2)
                with gr.Row():
                    tr_backend = gr.Radio(["peft", "unsloth"], value="peft", label="backend")
                    tr_method = gr.Radio(["lora", "full"], value="lora", label="method")
                    tr_steps = gr.Number(None, label="max steps (optional)", precision=0, minimum=1)
                    tr_lr = gr.Textbox(label="learning rate (optional)", placeholder="2e-4")
                with gr.Row():
                    tr_out = gr.Textbox(label="output folder (optional)",
                                        placeholder=str(home_path / "adapters" / "…"), scale=2)
                    tr_extra = gr.Textbox(label="more arguments (optional)", placeholder="--lora-r 16", scale=2)
                    tr_go = gr.Button("Start training", variant="primary", scale=1)
            with gr.Tab("Loop"):
                with gr.Row():
                    lp_endpoint = gr.Textbox(label="endpoint URL", placeholder="http://127.0.0.1:8000/v1", scale=3)
                    lp_base = gr.Textbox(label="base model folder", scale=2)
                    lp_suite = gr.Dropdown(shipped_suites(), value="roo-starter", label="suite",
                                           allow_custom_value=True, scale=2)
                with gr.Row():
                    lp_rounds = gr.Number(3, label="rounds", precision=0, minimum=1)
                    lp_backend = gr.Radio(["peft", "unsloth"], value="peft", label="backend")
                    lp_samples = gr.Number(1, label="samples per case", precision=0, minimum=1)
                    lp_out = gr.Textbox(label="output folder (optional)", placeholder=str(home_path / "loops" / "…"))
                    lp_extra = gr.Textbox(label="more arguments (optional)")
                    lp_go = gr.Button("Start loop", variant="primary")
        start_msg = gr.Markdown(elem_id="job-start-msg")
        jobs_table = gr.Dataframe(df(JOB_HEADERS, []), interactive=False, label="jobs (newest first)",
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
    return JobsTab(ev_endpoint, ev_model, ev_suite, ev_conc, ev_samples, ev_key, ev_sp, ev_split, ev_out, ev_extra,
                   ev_go, tr_run, tr_base, tr_backend, tr_method, tr_steps, tr_lr, tr_out, tr_extra, tr_go,
                   lp_endpoint, lp_base, lp_suite, lp_rounds, lp_backend, lp_samples, lp_out, lp_extra, lp_go,
                   start_msg, jobs_table, job_dd, stop_btn, open_btn, job_md, job_html, job_log, timer, known_jobs)


def wire_jobs_tab(t: JobsTab, jobs: Jobs) -> None:
    """Picking a job shows it; the forms start jobs; Stop stops the picked one."""
    t.job_dd.change(lambda j: jobs.detail(j), [t.job_dd], [t.job_md, t.job_html, t.job_log],
                    api_visibility="private", show_progress="hidden")

    def started(job: Mapping[str, Any]) -> tuple[Any, ...]:
        table, choices = jobs.table()
        md, html, log = jobs.detail(job["id"])
        return (f"Started **{md_escape(job['title'])}** (job {md_escape(job['id'])}).", table,
                gr.update(choices=choices, value=job["id"]), md, html, log,
                [[c[1] for c in choices], jobs.finished_ids()])

    start_outputs = [t.start_msg, t.jobs_table, t.job_dd, t.job_md, t.job_html, t.job_log, t.known_jobs]

    def ui_start_eval(endpoint: str, model: str, suite: str, conc: Any, samples: Any, key: str, sp: str,
                      split: str, out: str, extra: str) -> tuple[Any, ...]:
        return started(jobs.start("eval", endpoint=endpoint, model=model, suite=suite, concurrency=conc,
                                  samples=samples, api_key_env=key, system_prompt=sp, split=split, out=out,
                                  extra=extra))

    t.ev_go.click(ui_start_eval, [t.ev_endpoint, t.ev_model, t.ev_suite, t.ev_conc, t.ev_samples, t.ev_key, t.ev_sp,
                                  t.ev_split, t.ev_out, t.ev_extra], start_outputs, api_visibility="private")

    def ui_start_train(run: str, base: str, backend: str, method: str, steps: Any, lr: str, out: str,
                       extra: str) -> tuple[Any, ...]:
        return started(jobs.start("train", from_run=run, base_model=base, backend=backend, method=method,
                                  max_steps=steps, lr=lr, out=out, extra=extra))

    t.tr_go.click(ui_start_train, [t.tr_run, t.tr_base, t.tr_backend, t.tr_method, t.tr_steps, t.tr_lr, t.tr_out,
                                   t.tr_extra], start_outputs, api_visibility="private")

    def ui_start_loop(endpoint: str, base: str, suite: str, rounds: Any, backend: str, samples: Any, out: str,
                      extra: str) -> tuple[Any, ...]:
        return started(jobs.start("loop", endpoint=endpoint, base_model=base, suite=suite, rounds=rounds,
                                  backend=backend, samples=samples, out=out, extra=extra))

    t.lp_go.click(ui_start_loop, [t.lp_endpoint, t.lp_base, t.lp_suite, t.lp_rounds, t.lp_backend, t.lp_samples,
                                  t.lp_out, t.lp_extra], start_outputs, api_visibility="private")

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

    t.stop_btn.click(ui_stop, [t.job_dd], [t.jobs_table, t.job_md, t.job_html, t.job_log], api_visibility="private")


__all__ = ["JOB_POLL_S", "JobsTab", "build_jobs_tab", "shipped_suites", "wire_jobs_tab"]
