"""The app's named API endpoints (gradio_client): /leaderboard, /runs, /compare, /jobs, /start_eval,
/start_train, /start_loop, /job_progress, /stop_job. Each returns what the page shows, as plain data;
the function docstrings are what `Use via API` displays."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ui.data.leaderboard import api_row
from ui.data.runs import store_rows
from ui.jobs import JobError
from ui.tabs.compare import compare_api
from ui.tabs.job_views import Jobs
from ui.tabs.leaderboard import leaderboard_rows


def register_api(jobs: Jobs) -> None:
    """Register the endpoints on the Blocks being built."""

    def leaderboard(suite: str = "", protocol: str = "", tag: str = "", search: str = "",
                    pick: str = "latest", sort: str = "pass rate") -> list[dict[str, Any]]:
        """The leaderboard table: one row per (model, suite) — its latest run, or its best with
        pick="best" — with pass_rate and its Wilson 95% CI (ci_lo, ci_hi) as fractions, pass_hat_k,
        tokens_per_case, latency_p50_ms/p95_ms, ttft_p50_ms (streamed runs), cost, protocol, created_at and
        run_dir."""
        return leaderboard_rows(suite, protocol, tag, search, pick, sort)

    gr.api(leaderboard, api_name="leaderboard")

    def runs() -> list[dict[str, Any]]:
        """Every registered run (one row per run directory), newest first."""
        rs = sorted(store_rows(), key=lambda r: r.get("created_at") or "", reverse=True)
        return [api_row(r) for r in rs]

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


__all__ = ["register_api"]
