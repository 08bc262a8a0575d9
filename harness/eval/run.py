"""The whole of `harness eval` and `harness.evaluate`: plan, dispatch, summarise, register (DESIGN.md "Runs").

    cfg = EvalConfig(suite="roo-core", endpoints=["http://127.0.0.1:8000/v1"], model="qwen", out="runs/x")
    outcome = asyncio.run(run_eval(cfg))          # -> Outcome(summary, manifest, run_dir, stats, ...)

Two phases: **plan** (harness.eval.plan: the selected cases become canonical request bodies, deduped,
looked up in the response cache, ordered for prefix caches) and **dispatch** (harness.eval.dispatch: a
fixed pool of workers sends them through harness.model.client and appends one result line per sample).
This module prepares the run directory, checks a `--resume` against the run it continues, overlaps the
two phases and writes summary.json; the cyclic garbage collector is paused during the run.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.eval import dispatch
from harness.eval.config import EvalConfig, Outcome, default_out, key_json, sampling_record
from harness.eval.dispatch import Runner
from harness.eval.progress import Progress


def prepare_out(cfg: EvalConfig, suite_name: str, started: float) -> Path:
    from harness.log.rundir import RESULTS, RUN_JSON
    out = Path(cfg.out) if cfg.out else default_out(suite_name, cfg.model, started)
    if cfg.resume:
        if not cfg.out:
            raise UserError("--resume needs --out DIR: the run directory to continue")
        if not (out / RUN_JSON).is_file():
            raise UserError(f"{out}: no run to resume (no {RUN_JSON}); drop --resume to start a new run there")
    else:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: exists and is not a directory; choose another --out")
        existing = [n for n in (RUN_JSON, RESULTS) if (out / n).exists()]
        if existing:
            raise UserError(f"{out}: already holds a run ({', '.join(existing)}); pass --resume to continue it "
                            f"or choose another --out")
    return out


async def run_eval(cfg: EvalConfig) -> Outcome:
    """Plan, dispatch, summarise, register. Raises UserError for bad input (nothing is sent then).

    The cyclic garbage collector is paused for the run (the runner makes no reference cycles; its
    objects are freed by reference counting) and the objects alive at the end are frozen: collections
    over hundreds of thousands of result dicts cost more CPU than parsing them."""
    import gc
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return await _run_eval(cfg)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


async def _run_eval(cfg: EvalConfig) -> Outcome:
    from harness.log.rundir import RunDir, now_iso
    started = time.time()
    t_start = time.perf_counter()
    runner = Runner(cfg)
    runner.load()
    st = runner.stats
    phases = {"load_s": time.perf_counter() - t_start}
    if cfg.progress and cfg.split == "auto" and runner.split == "test":
        print("harness: split test (the default for a suite with train and test cases; --split all runs "
              "every case)", file=sys.stderr)
    from harness.eval.endpoint import check_endpoints

    if cfg.dry_run:
        runner.endpoint_check = await check_endpoints(runner)   # the cache keys on the served weights
        done: set[tuple[str, int]] = set()
        if cfg.resume and cfg.out and (Path(cfg.out) / "run.json").is_file():
            done = RunDir(cfg.out).done_keys()
        requests = runner.plan(done)
        runner.rd = _NullSink()
        runner.open_cache()
        try:
            left = runner.cache_lookup(requests)
        finally:
            if runner.cache is not None:
                runner.cache.close()
        chars = sum(r.prompt_chars for r in left)
        info = {"cases": len(runner.cases), "cases_to_run": st.planned_cases, "samples": st.planned_samples,
                "samples_per_case": cfg.samples, "skipped_done": st.skipped_done,
                "requests_planned": st.requests_planned, "deduped": st.deduped, "cache_hits": st.cache_hits,
                "requests": len(left), "prompt_chars": chars, "prompt_tokens_estimate": chars // 4}
        from harness.eval.estimate import dry_run_cost
        info.update(dry_run_cost(cfg, left, info["prompt_tokens_estimate"]))
        return Outcome(None, None, None, st, dry_run=info)

    out = prepare_out(cfg, runner.suite.name, started)
    rd = runner.rd = RunDir(out)
    manifest = run_manifest(runner, started)
    done = set()
    if cfg.resume:
        check_resume(rd.path, rd.manifest(), manifest)
    # the run's own settings are checked first; then, before any case is sent, the endpoints
    runner.endpoint_check = await check_endpoints(runner)
    phases["preflight_s"] = runner.endpoint_check["preflight_s"]
    manifest["endpoint_check"] = runner.endpoint_check
    if cfg.resume:
        old = rd.manifest()
        previous = rd.results()
        runner.kept = {(str(r["id"]), int(r["sample"])): r for r in previous}
        done = {k for k, r in runner.kept.items() if r.get("status") == "ok"}
        for w in rd.warnings:
            print(f"harness: warning: {w}", file=sys.stderr)
        manifest = dict(old)
        manifest["resumed"] = list(old.get("resumed") or []) + [manifest_time(started)]
        manifest["endpoint"] = run_manifest(runner, started)["endpoint"]
        manifest["endpoint_check"] = runner.endpoint_check
        manifest["ended_at"] = None
    rd.write_manifest(manifest)

    t0 = time.perf_counter()
    items = runner.prepare(done)
    runner.open_cache()
    progress = Progress(runner, st.planned_samples, cfg.progress and not cfg.batch)   # --batch: its own bar
    batch_info = None
    try:
        progress.start()
        if cfg.batch:   # the cache and dedupe answer what they can, the Batch API the rest
            from harness.eval.batch import dispatch_batch
            batch_info = await dispatch_batch(runner, items, os.environ.get(cfg.api_key_env) if cfg.api_key_env
                                              else None)
            items = []
        head_n = max(2 * cfg.concurrency, dispatch.FEED_CHUNK)
        first = runner.cache_lookup(runner.build(items[:head_n]))
        phases["plan_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()

        def make_client() -> Any:
            # imported only when something must be sent (a rerun answered by the cache never needs it);
            # the import (aiohttp: ~0.1 s, mostly its TLS contexts) is a phase of its own, not dispatch
            ti = time.perf_counter()
            from harness.model.client import ChatClient
            phases["client_import_s"] = time.perf_counter() - ti
            api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
            return ChatClient(list(cfg.endpoints), api_key=api_key or None, concurrency=cfg.concurrency,
                              timeout=cfg.timeout, max_retries=cfg.max_retries, seed=cfg.seed,
                              on_event=runner.on_event)

        await runner.dispatch(first, items[head_n:], make_client)
        st.dispatch_s = time.perf_counter() - t0 - phases.get("client_import_s", 0.0)
        phases["plan_overlapped_s"] = st.feed_s
    finally:
        progress.stop()
        runner.cache_flush()
        if runner.cache is not None:
            runner.cache.close()
        rd.close()

    t0 = time.perf_counter()
    from harness.score import metrics
    results = list(runner.kept.values())
    wall = time.perf_counter() - t_start
    from harness.eval.batch import answered_hashes
    from harness.model.prices import resolve
    summary = metrics.summarize(results, runner.by_id, wall, resolve(cfg.model, cfg.price),
                                batch_hashes=answered_hashes(rd.path))
    summary["requests_per_s"] = (st.requests_sent / st.dispatch_s) if st.dispatch_s > 0 and st.requests_sent \
        else None
    summary["runner"] = {
        "requests_sent": st.requests_sent, "requests_planned": st.requests_planned,
        "cache_hits": st.cache_hits, "deduped": st.deduped, "resumed_samples": st.skipped_done,
        "n_supported": None if runner.n_ok is None else runner.n_ok, "fallback_requests": st.fallback_requests,
        "dispatch_s": st.dispatch_s, "concurrency": cfg.concurrency, "events": st.events, "phases": phases,
    }
    if batch_info is not None:   # the time from submission to the last batch's end, not the dispatch loop's
        summary["runner"]["batch"] = batch_info
        summary["runner"]["dispatch_s"] = batch_info["wait_s"]
        summary["requests_per_s"] = st.requests_sent / batch_info["wait_s"] if st.requests_sent else None
    missing = _missing(runner.cases, cfg.samples, results)
    summary["missing"] = len(missing)
    phases["summary_s"] = time.perf_counter() - t0
    rd.write_summary(summary)
    manifest = rd.update_manifest(ended_at=now_iso())
    if cfg.register:
        try:
            from harness.log import leaderboard as store
            store.register_run(rd)
        except Exception as e:  # the run dir is complete; the leaderboard can be filled later
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    return Outcome(summary, manifest, rd.path, st, results=results)



def described_protocol(runner: Runner) -> Any:
    """run.json's `protocol`: the description of each distinct protocol the cases use (one: not a list)."""
    described = {}
    for proto in {id(ctx.proto): ctx.proto for ctx in runner.ctxs}.values():
        d = proto.describe()
        described[key_json(d)] = d
    ds = sorted(described.values(), key=lambda d: str(d.get("name")))
    return ds[0] if len(ds) == 1 else ds


def run_manifest(runner: Runner, started: float) -> dict[str, Any]:
    """run.json of a new run."""
    from harness.log.rundir import make_manifest
    cfg = runner.cfg
    eps = [str(e) for e in cfg.endpoints]
    return make_manifest(
        suite=runner.suite, endpoint=eps[0] if len(eps) == 1 else eps, model=cfg.model,
        protocol=described_protocol(runner), system_prompt=runner.sp_record,
        sampling=sampling_record(cfg), seed=cfg.seed, started_at=started,
        source="eval", split=runner.split, split_default=cfg.split == "auto",
        shard=f"{cfg.shard[0]}/{cfg.shard[1]}" if cfg.shard else None,
        n_cases_selected=len(runner.cases),
        client={"concurrency": cfg.concurrency, "timeout": cfg.timeout, "max_retries": cfg.max_retries,
                "stream": cfg.stream},
        api_key_env=cfg.api_key_env, protocol_override=cfg.protocol, server=_served_by(eps))


def _served_by(endpoints: Sequence[str]) -> Any:
    """run.json's `server`: engine, version and command of a server `harness serve` started (else None)."""
    from harness.serve.servers import served_by
    return served_by(endpoints)


def check_resume(path: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """--resume: the run dir's manifest must describe the same experiment."""
    diffs = []

    def cmp(label: str, a: Any, b: Any) -> None:
        if key_json(a) != key_json(b):
            diffs.append(f"{label}: run has {json.dumps(a, default=str)[:200]}, "
                         f"now {json.dumps(b, default=str)[:200]}")
    osuite, nsuite = old.get("suite") or {}, new.get("suite") or {}
    cmp("suite hash", osuite.get("hash"), nsuite.get("hash"))
    cmp("model", old.get("model"), new.get("model"))
    cmp("protocol", old.get("protocol"), new.get("protocol"))
    cmp("sampling", old.get("sampling"), new.get("sampling"))
    osp, nsp = old.get("system_prompt") or {}, new.get("system_prompt") or {}
    cmp("system prompt", {k: osp.get(k) for k in ("style", "sha256")},
        {k: nsp.get(k) for k in ("style", "sha256")})
    cmp("split", old.get("split", "all"), new.get("split"))
    cmp("shard", old.get("shard"), new.get("shard"))
    if diffs:
        raise UserError(f"{path}: --resume needs the same run settings; what differs:\n  "
                        + "\n  ".join(diffs) + "\n(start a new run with another --out, or resume with "
                        "the original settings)")


def manifest_time(t: float) -> str:
    from harness.log.rundir import now_iso
    return now_iso(t)


def _missing(cases: Sequence[Any], k: int, results: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    have = {(r["id"], r["sample"]) for r in results}
    return [(c.id, s) for c in cases for s in range(k) if (c.id, s) not in have]


class _NullSink:
    def extend(self, lines: Any) -> int:
        return 0


__all__ = ["check_resume", "described_protocol", "manifest_time", "prepare_out", "run_eval", "run_manifest"]
