"""Joining the run directories of `harness eval --shard I/N` into one run.

The runs must share suite contents, model, protocol, sampling, system prompt and split (a mismatch is
refused, naming the run and the field). Result lines are deduplicated on (id, sample): an `ok` line
wins over an `error` line, the first `ok` line wins over later ones. The summary is recomputed
(wall time = the longest shard's, since shards run side by side) and the merged run is registered in
the leaderboard.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MATCH_FIELDS = ("suite hash", "model", "protocol", "sampling", "system prompt", "split")


@dataclass
class Merged:
    """What merge_runs wrote: the merged run's summary, manifest and result lines."""

    summary: dict[str, Any]
    manifest: dict[str, Any]
    results: list[dict[str, Any]]
    n_runs: int
    run_dir: Path


def _identity(m: Mapping[str, Any]) -> dict[str, Any]:
    suite = m.get("suite") or {}
    sp = m.get("system_prompt") or {}
    return {
        "suite hash": suite.get("hash") if isinstance(suite, Mapping) else suite,
        "model": m.get("model"),
        "protocol": m.get("protocol"),
        "sampling": m.get("sampling"),
        "system prompt": {k: sp.get(k) for k in ("style", "sha256")} if isinstance(sp, Mapping) else sp,
        "split": m.get("split", "all"),
    }


def _j(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def check_compatible(manifests: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Problems that forbid merging (empty when the runs can be joined)."""
    first_path, first = manifests[0]
    ref = _identity(first)
    problems = []
    for path, m in manifests[1:]:
        ident = _identity(m)
        for f in MATCH_FIELDS:
            if _j(ident[f]) != _j(ref[f]):
                problems.append(f"{path}: {f} differs from {first_path} "
                                f"({_j(ident[f])[:160]} vs {_j(ref[f])[:160]})")
    shards = [m.get("shard") for _, m in manifests]
    ns = {str(s).split("/")[1] for s in shards if s}
    if len(ns) > 1:
        problems.append(f"the runs split the suite into different shard counts ({', '.join(sorted(ns))})")
    return problems


def merge_runs(runs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *, force: bool = False,
               register: bool = True) -> Merged:
    """Join `runs` into the run directory `out` (UserError when they cannot be joined, before writing)."""
    from harness.errors import UserError
    from harness.log import leaderboard as store
    from harness.log.rundir import RESULTS, RUN_JSON, SUMMARY, RunDir, now_iso, scrub, suite_cases
    from harness.score import metrics

    rds = [RunDir(p).require() for p in runs]
    out = Path(out)
    for rd in rds:
        if rd.path.resolve() == out.resolve():
            raise UserError(f"{out}: --out is one of the runs being merged; choose a new directory")
    manifests = [(str(rd.path), rd.manifest()) for rd in rds]
    problems = check_compatible(manifests)
    if problems:
        raise UserError("cannot merge these runs:\n  " + "\n  ".join(problems))
    existing = [n for n in (RUN_JSON, RESULTS, SUMMARY) if (out / n).exists()]
    if existing and not force:
        raise UserError(f"{out}: already holds a run ({', '.join(existing)}); choose another --out or pass --force")
    for n in existing:
        (out / n).unlink()

    merged: dict[tuple[str, int], dict[str, Any]] = {}
    walls = []
    price = None
    for rd in rds:
        for r in rd.results():
            key = (str(r["id"]), int(r["sample"]))
            prev = merged.get(key)
            if prev is None or (prev.get("status") != "ok" and r.get("status") == "ok"):
                merged[key] = r
        for w in rd.warnings:
            print(f"harness: warning: {w}", file=sys.stderr)
        if rd.has_summary():
            shard_summary = rd.summary()
            w = shard_summary.get("wall_s")
            if isinstance(w, (int, float)):
                walls.append(float(w))
            cost = shard_summary.get("cost")
            if price is None and isinstance(cost, Mapping) and isinstance(cost.get("price_per_mtok"), Mapping):
                price = dict(cost["price_per_mtok"])
    results = list(merged.values())

    first = dict(manifests[0][1])
    shards = sorted({str(m.get("shard")) for _, m in manifests if m.get("shard")})
    n_shards = {s.split("/")[1] for s in shards}
    if shards and len(n_shards) == 1:
        total = int(next(iter(n_shards)))
        have = {int(s.split("/")[0]) for s in shards}
        lacking = sorted(set(range(total)) - have)
        if lacking:
            print(f"harness: warning: shards {', '.join(f'{i}/{total}' for i in lacking)} are not among the "
                  f"merged runs; the merged run covers part of the suite", file=sys.stderr)
    starts = [m.get("started_at") for _, m in manifests if m.get("started_at")]
    ends = [m.get("ended_at") for _, m in manifests if m.get("ended_at")]
    eps = []
    for _, m in manifests:
        e = m.get("endpoint")
        for x in (e if isinstance(e, list) else [e]):
            if x and x not in eps:
                eps.append(x)
    first.update(shard=None, merged_from=[str(rd.path.resolve()) for rd in rds], shards=shards,
                 started_at=min(starts) if starts else first.get("started_at"),
                 ended_at=max(ends) if ends else now_iso(),
                 endpoint=eps[0] if len(eps) == 1 else eps or None)
    first.pop("resumed", None)
    first["n_cases_selected"] = sum(int(m.get("n_cases_selected") or 0) for _, m in manifests) or None
    rd_out = RunDir(out)
    rd_out.write_manifest(scrub(first))
    with rd_out:
        rd_out.extend(results)
    cases = suite_cases(first)
    summary = metrics.summarize(results, cases, max(walls) if walls else None, price)
    summary["merged_runs"] = len(rds)
    rd_out.write_summary(summary)
    if register:
        try:
            store.register_run(rd_out)
        except Exception as e:
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    return Merged(summary, first, results, len(rds), out)


__all__ = ["MATCH_FIELDS", "Merged", "check_compatible", "merge_runs"]
