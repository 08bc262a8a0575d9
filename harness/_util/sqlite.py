"""SQLite shared by several processes (the leaderboard, the response cache): wait out a brief lock."""
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
