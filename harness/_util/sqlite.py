"""SQLite shared by several processes (the leaderboard, the response cache): wait out a brief lock, read
and create a versioned schema."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_locked(fn: Callable[[], T], attempts: int = 50) -> T:
    """Run `fn` again while another process holds a lock it needs (schema creation, WAL switch, a
    write); backs off from 10 ms to 0.5 s and re-raises anything that is not a lock."""
    delay = 0.01
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or i == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")  # pragma: no cover


def stored_schema_version(con: sqlite3.Connection) -> str | None:
    """The `schema_version` a database's meta table records; None for a database not created yet."""
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
        return None
    return None if row is None else row[0]


def create_schema(con: sqlite3.Connection, statements: list[str], version: int) -> None:
    """Create the meta table, run `statements` and record `version`, all in one immediate transaction,
    so that two processes creating the same database at once do not interleave."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
