"""The leaderboard: one SQLite file, $HARNESS_HOME/leaderboard.sqlite (default ~/.harness).

Every run directory registered here is one row, keyed on its absolute path (registering again updates
the row). WAL mode and a busy timeout let several processes (runner, CLI, UI) use it at once.
Only what run.json and summary.json say is stored; endpoint URLs are stored without credentials and
no field that could hold an API key is ever written.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.log.rundir import RunDir, redact_url
from harness._util.sqlite import create_schema, retry_locked, stored_schema_version

SCHEMA_VERSION = 1
DB_NAME = "leaderboard.sqlite"
BUSY_TIMEOUT_S = 30.0

_COLUMNS = (
    # name, SQL type
    ("run_dir", "TEXT NOT NULL UNIQUE"),
    ("model", "TEXT"),
    ("suite", "TEXT"),
    ("suite_hash", "TEXT"),
    ("protocol", "TEXT"),
    ("endpoint", "TEXT"),
    ("system_prompt", "TEXT"),
    ("n_cases", "INTEGER"),
    ("n_samples", "INTEGER"),
    ("passed", "INTEGER"),
    ("pass_rate", "REAL"),
    ("ci_lo", "REAL"),
    ("ci_hi", "REAL"),
    ("pass_hat_k", "REAL"),
    ("pass_hat_k_k", "INTEGER"),
    ("tokens_per_case", "REAL"),
    ("latency_p50", "REAL"),
    ("latency_p95", "REAL"),
    ("ttft_p50", "REAL"),           # time to first token of streamed runs (`harness eval --stream`)
    ("ttft_p95", "REAL"),
    ("cost", "REAL"),
    ("cost_per_pass", "REAL"),      # USD per passed sample (summary.json cost.per_passed_case)
    ("errors", "INTEGER"),
    ("harness_version", "TEXT"),
    ("created_at", "TEXT"),
    ("registered_at", "TEXT"),
)
COLUMNS = tuple(c for c, _ in _COLUMNS)


class StoreError(UserError):
    """The leaderboard database is unusable (newer schema, unreadable file)."""


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".harness").expanduser()


def db_path() -> Path:
    return harness_home() / DB_NAME


def connect(path: Path | None = None) -> sqlite3.Connection:
    """A connection with the schema in place (created on first use)."""
    path = path or db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"{path}: cannot open the leaderboard database: {e}; set HARNESS_HOME to a "
                         f"writable folder") from None
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    try:
        retry_locked(lambda: con.execute("PRAGMA journal_mode = WAL"))
        retry_locked(lambda: _ensure_schema(con, path))
    except sqlite3.DatabaseError as e:
        con.close()
        raise StoreError(f"{path}: not a usable leaderboard database ({e}); move it away or set "
                         f"HARNESS_HOME") from None
    except BaseException:
        con.close()
        raise
    return con


def _ensure_schema(con: sqlite3.Connection, path: Path) -> None:
    stored = stored_schema_version(con)
    if stored is not None:
        have = int(stored)
        if have > SCHEMA_VERSION:
            raise StoreError(f"{path}: leaderboard schema version {have} is newer than this harness "
                             f"supports ({SCHEMA_VERSION}); upgrade toolcall-harness")
        _add_missing_columns(con)
        return
    cols = ",\n  ".join(f"{n} {t}" for n, t in _COLUMNS)
    create_schema(con, [f"CREATE TABLE IF NOT EXISTS runs (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  {cols}\n)",
                        "CREATE INDEX IF NOT EXISTS runs_suite_model ON runs (suite, model)"], SCHEMA_VERSION)


def _add_missing_columns(con: sqlite3.Connection) -> None:
    """A database made by an older harness gets the columns added since (NULL in its old rows), so a
    new column needs no schema version; one transaction, so two processes do not add one twice."""
    if {r[1] for r in con.execute("PRAGMA table_info(runs)")} >= set(COLUMNS):
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        have = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        for name, sql_type in _COLUMNS:
            if name not in have:
                con.execute(f"ALTER TABLE runs ADD COLUMN {name} {sql_type}")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _row_from_run(rd: RunDir) -> dict[str, Any]:
    manifest = rd.manifest()
    summary = rd.summary()
    suite = manifest.get("suite") or {}
    if not isinstance(suite, Mapping):
        suite = {"name": str(suite)}
    proto = manifest.get("protocol")
    if isinstance(proto, Mapping):
        proto_name = proto.get("name")
    elif isinstance(proto, list):
        proto_name = ",".join(sorted({str(p.get("name") if isinstance(p, Mapping) else p) for p in proto}))
    else:
        proto_name = proto
    sp = manifest.get("system_prompt")
    if isinstance(sp, Mapping):
        style = sp.get("style") or "default"
        sp_text = f"file:{sp.get('path')}" if style == "file" and sp.get("path") else str(style)
    else:
        sp_text = str(sp) if sp is not None else "default"
    endpoint = manifest.get("endpoint")
    if isinstance(endpoint, list):
        endpoint = " ".join(str(redact_url(e)) for e in endpoint)
    else:
        endpoint = redact_url(endpoint)
    ci = summary.get("ci95") or [None, None]
    hat = summary.get("pass_hat_k") or {}
    hat_k = hat_v = None
    if isinstance(hat, Mapping) and hat:
        hat_k = max(int(k) for k in hat)
        hat_v = _num(hat[str(hat_k)] if str(hat_k) in hat else hat.get(hat_k))
    elif isinstance(hat, (int, float)):
        hat_v = _num(hat)
    tokens = summary.get("tokens") or {}
    lat = summary.get("latency_ms") or {}
    ttft = summary.get("ttft_ms") if isinstance(summary.get("ttft_ms"), Mapping) else {}
    cost = summary.get("cost")
    cost_v = _num(cost.get("total")) if isinstance(cost, Mapping) else _num(cost)
    return {
        "run_dir": str(rd.path.resolve()),
        "model": manifest.get("model"),
        "suite": suite.get("name"),
        "suite_hash": suite.get("hash") or suite.get("content_hash"),
        "protocol": proto_name,
        "endpoint": endpoint,
        "system_prompt": sp_text,
        "n_cases": summary.get("n_cases"),
        "n_samples": summary.get("n_samples"),
        "passed": summary.get("passed"),
        "pass_rate": _num(summary.get("pass_rate")),
        "ci_lo": _num(ci[0]) if len(ci) > 0 else None,
        "ci_hi": _num(ci[1]) if len(ci) > 1 else None,
        "pass_hat_k": hat_v,
        "pass_hat_k_k": hat_k,
        "tokens_per_case": _num(tokens.get("per_case")) if isinstance(tokens, Mapping) else None,
        "latency_p50": _num(lat.get("p50")) if isinstance(lat, Mapping) else None,
        "latency_p95": _num(lat.get("p95")) if isinstance(lat, Mapping) else None,
        "ttft_p50": _num(ttft.get("p50")),
        "ttft_p95": _num(ttft.get("p95")),
        "cost": cost_v,
        "cost_per_pass": _num(cost.get("per_passed_case")) if isinstance(cost, Mapping) else None,
        "errors": summary.get("errors"),
        "harness_version": manifest.get("harness_version"),
        "created_at": manifest.get("ended_at") or manifest.get("started_at"),
        "registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def register_run(run_dir: str | os.PathLike[str] | RunDir, *, path: Path | None = None) -> int:
    """Add (or update) the run in the leaderboard; returns its row id. Idempotent on the run dir path."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    row = _row_from_run(rd)
    names = ", ".join(COLUMNS)
    marks = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "run_dir")
    con = connect(path)
    try:
        def write() -> int:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(f"INSERT INTO runs ({names}) VALUES ({marks}) "
                            f"ON CONFLICT(run_dir) DO UPDATE SET {updates}", [row[c] for c in COLUMNS])
                rid = con.execute("SELECT id FROM runs WHERE run_dir = ?", (row["run_dir"],)).fetchone()[0]
                con.execute("COMMIT")
                return int(rid)
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return retry_locked(write)
    finally:
        con.close()


def list_runs(suite: str | None = None, model: str | None = None, *, path: Path | None = None) -> list[dict[str, Any]]:
    """Leaderboard rows, best pass rate first within each suite."""
    where, args = [], []
    if suite is not None:
        where.append("suite = ?")
        args.append(suite)
    if model is not None:
        where.append("model = ?")
        args.append(model)
    sql = "SELECT * FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY suite, pass_rate IS NULL, pass_rate DESC, created_at DESC, id"
    con = connect(path)
    try:
        return [dict(r) for r in con.execute(sql, args).fetchall()]
    finally:
        con.close()


def get_run(run_dir: str | os.PathLike[str], *, path: Path | None = None) -> dict[str, Any] | None:
    con = connect(path)
    try:
        r = con.execute("SELECT * FROM runs WHERE run_dir = ?", (str(Path(run_dir).resolve()),)).fetchone()
        return dict(r) if r is not None else None
    finally:
        con.close()


def remove_run(run_dir: str | os.PathLike[str], *, path: Path | None = None) -> bool:
    con = connect(path)
    try:
        cur = retry_locked(lambda: con.execute("DELETE FROM runs WHERE run_dir = ?", (str(Path(run_dir).resolve()),)))
        return bool(cur.rowcount)
    finally:
        con.close()


def schema_version(*, path: Path | None = None) -> int:
    con = connect(path)
    try:
        return int(con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    finally:
        con.close()


def rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False)


__all__ = ["COLUMNS", "SCHEMA_VERSION", "StoreError", "connect", "db_path", "get_run", "harness_home",
           "list_runs", "register_run", "remove_run", "rows_json", "schema_version"]
