"""`harness merge RUN... --out DIR`: join the run directories of `harness eval --shard I/N` into one run.

The runs must share suite contents, model, protocol, sampling, system prompt and split (a mismatch is
refused, naming the run and the field). Result lines are deduplicated on (id, sample): an `ok` line
wins over an `error` line, the first `ok` line wins over later ones. The summary is recomputed
(wall time = the longest shard's, since shards run side by side) and the merged run is registered in
the leaderboard.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HELP = "join shard run directories (harness eval --shard I/N) into one run"

MATCH_FIELDS = ("suite hash", "model", "protocol", "sampling", "system prompt", "split")


def register(sub: Any) -> None:
    p = sub.add_parser("merge", help=HELP, description=HELP)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories to join")
    p.add_argument("--out", required=True, metavar="DIR", help="the merged run directory to write")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-register", action="store_true", help="do not add the merged run to the leaderboard")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the headline")
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.score import metrics
    from harness.log import report
    from harness.log import leaderboard as store
    from harness.errors import UserError
    from harness.log.rundir import RESULTS, RUN_JSON, SUMMARY, RunDir, now_iso, scrub
    from harness.cli.report import _cases_for

    rds = [RunDir(p).require() for p in args.runs]
    out = Path(args.out)
    for rd in rds:
        if rd.path.resolve() == out.resolve():
            raise UserError(f"{out}: --out is one of the runs being merged; choose a new directory")
    manifests = [(str(rd.path), rd.manifest()) for rd in rds]
    problems = check_compatible(manifests)
    if problems:
        raise UserError("cannot merge these runs:\n  " + "\n  ".join(problems))
    existing = [n for n in (RUN_JSON, RESULTS, SUMMARY) if (out / n).exists()]
    if existing and not args.force:
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
    cases = _cases_for(first)
    summary = metrics.summarize(results, cases, max(walls) if walls else None, price)
    summary["merged_runs"] = len(rds)
    rd_out.write_summary(summary)
    if not args.no_register:
        try:
            store.register_run(rd_out)
        except Exception as e:
            print(f"harness: warning: run not added to the leaderboard: {e}", file=sys.stderr)
    console = Console()
    if args.quiet:
        console.print(report.headline(summary), highlight=False)
    else:
        report.print_summary(summary, first, console)
        console.print(f"merged {len(rds)} runs ({len(results)} result lines) into {out}", highlight=False)
    return 0
