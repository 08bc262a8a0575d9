"""The registered runs and what one run says: store rows, run pickers, summary and manifest (cached),
the run's suite, and its breakdowns by tool and by violation code.

Reads the run store (harness.log.leaderboard) and run directories (harness.log.rundir); returns plain
lists and dicts.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ui.data.files import read_json
from ui.data.text import is_num, pct, short_date

_cache_lock = threading.Lock()
_summary_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_suite_cache: dict[tuple[str, str], Any] = {}


# -- the store --------------------------------------------------------------------------------------

def store_rows() -> list[dict[str, Any]]:
    """Every registered run, as the store lists it."""
    from harness.log import leaderboard as store
    return store.list_runs()


def resolve_run(value: Any, rows: Sequence[Mapping[str, Any]]) -> str | None:
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


def run_label(r: Mapping[str, Any]) -> str:
    """`stub-model-alpha · roo-starter · 2026-11-27 20:34 · 68.9% · runA`"""
    name = Path(str(r.get("run_dir") or "")).name
    return " · ".join(str(x) for x in (r.get("model") or "?", r.get("suite") or "?",
                                       short_date(r.get("created_at")), pct(r.get("pass_rate")), name) if x)


def run_choices(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(label, run_dir) pairs, newest first."""
    rs = sorted(rows, key=lambda r: (r.get("created_at") or "", r.get("id") or 0), reverse=True)
    return [(run_label(r), str(r.get("run_dir"))) for r in rs if r.get("run_dir")]


# -- one run (summaries cached by mtime) ------------------------------------------------------------

def run_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """summary.json of a run ({} when absent or unreadable), cached on its mtime."""
    from harness.log.rundir import RunDir
    p = RunDir(run_dir).summary_path
    try:
        mtime = p.stat().st_mtime
    except OSError:
        return {}
    key = str(p)
    with _cache_lock:
        hit = _summary_cache.get(key)
        if hit and hit[0] == mtime:
            return hit[1]
    data = read_json(p) or {}
    with _cache_lock:
        _summary_cache[key] = (mtime, data)
    return data


def run_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """run.json of a run ({} when absent or unreadable)."""
    from harness.log.rundir import RunDir
    return read_json(RunDir(run_dir).manifest_path) or {}


def load_run_suite(manifest: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(the run's Suite or None, a note when it could not be loaded or its content changed)."""
    from harness import load_suite
    s = manifest.get("suite") or {}
    if not isinstance(s, Mapping):
        s = {"name": str(s)}
    want_hash = s.get("hash")
    tries = [x for x in (s.get("path"), s.get("name")) if x]
    last_err = None
    for t in tries:
        key = (str(t), str(want_hash))
        with _cache_lock:
            if key in _suite_cache:
                return _suite_cache[key]
        try:
            suite = load_suite(t, check_references=False)
        except Exception as e:  # noqa: BLE001 - shown to the user as a note
            last_err = str(e).splitlines()[0] if str(e) else type(e).__name__
            continue
        note = None
        if want_hash and suite.content_hash != want_hash:
            note = (f"the suite file {suite.path} changed since this run (hash {str(want_hash)[:12]} → "
                    f"{suite.content_hash[:12]}); conversations and expectations are today's")
        with _cache_lock:
            _suite_cache[key] = (suite, note)
        return suite, note
    return None, (f"the run's suite could not be loaded ({last_err}); conversations and expectations are "
                  f"not shown" if last_err else "the run names no suite")


# -- breakdowns -------------------------------------------------------------------------------------

def _group_rows(groups: Mapping[str, Any]) -> list[dict[str, Any]]:
    from harness.score.metrics import wilson
    rows = []
    for key, g in (groups or {}).items():
        if not isinstance(g, Mapping):
            continue
        n, k = int(g.get("n") or 0), int(g.get("passed") or 0)
        lo, hi = wilson(k, n) if n else (None, None)
        rows.append({"key": key, "n": n, "passed": k, "pass_rate": g.get("pass_rate", k / n if n else None),
                     "ci_lo": lo, "ci_hi": hi})
    rows.sort(key=lambda r: (r["pass_rate"] if is_num(r["pass_rate"]) else 2.0, r["key"]))
    return rows


def by_tool(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Worst tool first: key, n, passed, pass_rate, ci_lo, ci_hi."""
    return _group_rows(summary.get("by_tool") or {})


def by_violation(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Most frequent code first: code, samples, share of failed samples, description."""
    from protocols.violations import DESCRIPTIONS
    counts = summary.get("by_violation") or {}
    failed = int(summary.get("n_samples") or 0) - int(summary.get("passed") or 0)
    rows = [{"code": c, "samples": int(n), "share_of_failures": (int(n) / failed) if failed else None,
             "description": DESCRIPTIONS.get(c, "")} for c, n in counts.items() if is_num(n)]
    rows.sort(key=lambda r: (-r["samples"], r["code"]))
    return rows


__all__ = ["by_tool", "by_violation", "load_run_suite", "resolve_run", "run_choices", "run_label", "run_manifest",
           "run_summary", "store_rows"]
