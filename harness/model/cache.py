"""The response cache (DESIGN.md "Runs"): a rerun of the same requests costs no request.

One SQLite file, `$HARNESS_CACHE_DIR/responses.sqlite` (else `$XDG_CACHE_HOME/harness/`, else
`~/.cache/harness/`), in WAL mode with a busy timeout, so several processes (parallel runs, shards on
one machine) read and write it at once. A row is (key, response JSON, time); the key is a sha256 over
the endpoint id, the model and the canonical JSON of the full request body, so nothing about the
request — let alone its headers or an API key — is stored in clear.

    cache = ResponseCache()                                   # or ResponseCache(path)
    data = canonical_json(body)                               # send these bytes, and key on them
    k = cache.key(endpoint_url, model, data)
    hits = cache.get_many([k, ...])                           # one query for thousands of keys
    cache.put(k, reply.body)                                  # buffered; flushed in batches
    cache.close()                                             # flushes what is left

Writes are buffered: `put`/`put_many` add to an in-memory batch that is written in one transaction when
it holds `flush_every` entries, when `flush_interval` seconds have passed since the last flush (checked
on each put), on `flush()` and on `close()`. A process killed with -9 loses at most that batch; the
results themselves live in the run directory. Reads see the unflushed batch too.

Failures, by choice: a cache file that cannot be opened or is not a usable cache database when the
cache is opened raises `CacheError` (a UserError naming the file and saying what to do: move it away,
set HARNESS_CACHE_DIR, or run with --no-cache) — before any request is spent, because silently running
without the cache would re-buy every answer the user expects to be free. A failure later in a run
(the file locked by another process for longer than the busy timeout, a corrupt page met on a read)
degrades the cache to a no-op for the rest of the process, with one logged warning naming the file and
`cache.degraded` set to the reason: a running eval never dies or loses results because of its cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness._util.sqlite import create_schema, retry_locked, stored_schema_version

log = logging.getLogger("harness.model.cache")

SCHEMA_VERSION = 1
DB_NAME = "responses.sqlite"
BUSY_TIMEOUT_S = 30.0
_KEY_PREFIX = b"toolcall-harness/response-cache/v1\x00"
_CHUNK = 900  # keys per IN (...) when json_each is not available


class CacheError(UserError):
    """The response cache file cannot be used; the message names the file and the way out."""


def cache_dir() -> Path:
    """$HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness, else ~/.cache/harness."""
    d = os.environ.get("HARNESS_CACHE_DIR")
    if d:
        return Path(d).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "harness"
    return Path.home() / ".cache" / "harness"


def default_path() -> Path:
    return cache_dir() / DB_NAME


def canonical_json(body: Any) -> bytes:
    """The canonical serialisation of a request body (sorted keys, compact separators, UTF-8)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(endpoint_id: str, model: str, body: Mapping[str, Any] | bytes) -> str:
    """sha256 hex over the endpoint id, the model and the canonical JSON of the full request body.

    `body` is a dict, or bytes that are already `canonical_json(body)` (hashed as they are: serialise
    once, send those bytes, key on them)."""
    data = body if isinstance(body, (bytes, bytearray, memoryview)) else canonical_json(body)
    e = endpoint_id.encode()
    m = model.encode()
    h = hashlib.sha256(_KEY_PREFIX)
    h.update(b"%d:" % len(e))
    h.update(e)
    h.update(b"%d:" % len(m))
    h.update(m)
    h.update(data)
    return h.hexdigest()


class ResponseCache:
    """Responses by request key. Thread-safe; one connection per instance; see the module docstring."""

    key = staticmethod(cache_key)

    def __init__(self, path: str | os.PathLike[str] | None = None, *, flush_every: int = 256,
                 flush_interval: float = 1.0) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.flush_every = max(1, int(flush_every))
        self.flush_interval = float(flush_interval)
        self.degraded: str | None = None
        self._buf: dict[str, str] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()
        self._json_each = True
        self._con: sqlite3.Connection | None = None
        self._con = self._open()

    def __repr__(self) -> str:
        state = f"degraded: {self.degraded}" if self.degraded else ("closed" if self._con is None else "open")
        return f"ResponseCache({str(self.path)!r}, {state})"

    def _open(self) -> sqlite3.Connection:
        p = self.path
        where = f"response cache {p}"
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise CacheError(f"{where}: cannot open it ({e}); set HARNESS_CACHE_DIR to a writable folder, "
                             f"or run with --no-cache") from None
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            retry_locked(lambda: con.execute("PRAGMA journal_mode = WAL").fetchone())
            con.execute("PRAGMA synchronous = NORMAL")
            retry_locked(lambda: self._ensure_schema(con))
        except CacheError:
            con.close()
            raise
        except sqlite3.Error as e:
            con.close()
            raise CacheError(f"{where}: not a usable cache database ({e}); move the file away (it is only a "
                             f"cache), set HARNESS_CACHE_DIR, or run with --no-cache") from None
        return con

    def _ensure_schema(self, con: sqlite3.Connection) -> None:
        stored = stored_schema_version(con)
        if stored is not None:
            try:
                have = int(stored)
            except (TypeError, ValueError):
                raise CacheError(f"response cache {self.path}: unreadable schema version {stored!r}; move the "
                                 f"file away or run with --no-cache") from None
            if have > SCHEMA_VERSION:
                raise CacheError(f"response cache {self.path}: schema version {have} is newer than this harness "
                                 f"supports ({SCHEMA_VERSION}); upgrade toolcall-harness, set HARNESS_CACHE_DIR, "
                                 f"or run with --no-cache")
            return
        create_schema(con, ["CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, "
                            "created_at REAL NOT NULL) WITHOUT ROWID"], SCHEMA_VERSION)

    # -- degrade -----------------------------------------------------------------------------------

    def _degrade(self, what: str, e: BaseException) -> None:
        reason = f"{what} failed ({e})"
        if self.degraded is None:
            self.degraded = reason
            log.warning("response cache %s: %s; going on without the cache for this run (answers already "
                        "received are in the run directory)", self.path, reason)
        self._buf.clear()
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except sqlite3.Error:
                pass

    # -- reads -------------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._buf.get(key)
            if text is None:
                if self._con is None:
                    return None
                try:
                    row = self._con.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
                except sqlite3.Error as e:
                    self._degrade("a read", e)
                    return None
                if row is None:
                    return None
                text = row[0]
        return _load(text)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached responses among `keys`, by key (one query, whatever the number of keys)."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            want = []
            for k in dict.fromkeys(keys):
                t = self._buf.get(k)
                if t is not None:
                    v = _load(t)
                    if v is not None:
                        out[k] = v
                else:
                    want.append(k)
            if not want or self._con is None:
                return out
            try:
                rows = self._select(want)
            except sqlite3.Error as e:
                self._degrade("a read", e)
                return out
        for k, text in rows:
            v = _load(text)
            if v is not None:
                out[k] = v
        return out

    def _select(self, keys: list[str]) -> list[tuple[str, str]]:
        assert self._con is not None
        if self._json_each:
            try:
                return self._con.execute("SELECT key, response FROM responses WHERE key IN "
                                         "(SELECT value FROM json_each(?))", (json.dumps(keys),)).fetchall()
            except sqlite3.OperationalError as e:
                if "json_each" not in str(e):
                    raise
                self._json_each = False  # an SQLite built without JSON1
        rows: list[tuple[str, str]] = []
        for i in range(0, len(keys), _CHUNK):
            part = keys[i:i + _CHUNK]
            rows += self._con.execute(f"SELECT key, response FROM responses WHERE key IN "
                                      f"({','.join('?' * len(part))})", part).fetchall()
        return rows

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        with self._lock:
            if self._con is None:
                return len(self._buf)
            self._flush_locked()
            if self._con is None:
                return 0
            try:
                return int(self._con.execute("SELECT count(*) FROM responses").fetchone()[0])
            except sqlite3.Error as e:
                self._degrade("a count", e)
                return 0

    # -- writes ------------------------------------------------------------------------------------

    def put(self, key: str, response: Mapping[str, Any] | str) -> None:
        """Remember `response` (a JSON object, or its JSON text) for `key`; written in the next batch."""
        text = _json_text(response)
        with self._lock:
            if self._con is None:
                return
            self._buf[key] = text
            if len(self._buf) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_interval:
                self._flush_locked()

    def put_many(self, items: Mapping[str, Mapping[str, Any] | str] | Iterable[tuple[str, Mapping[str, Any] | str]]) -> None:
        """Several puts, written in one transaction (now, with anything buffered)."""
        pairs = items.items() if isinstance(items, Mapping) else items
        with self._lock:
            if self._con is None:
                return
            for k, r in pairs:
                self._buf[k] = _json_text(r)
            self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buf or self._con is None:
            return
        now = time.time()
        rows = [(k, t, now) for k, t in self._buf.items()]
        con = self._con
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR REPLACE INTO responses (key, response, created_at) VALUES (?, ?, ?)", rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            self._degrade(f"writing {len(rows)} responses", e)
            return
        self._buf.clear()

    def close(self) -> None:
        """Flush the batch and close the file (idempotent)."""
        with self._lock:
            self._flush_locked()
            con, self._con = self._con, None
            if con is not None:
                con.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _load(text: str) -> dict[str, Any] | None:
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


__all__ = ["CacheError", "ResponseCache", "cache_dir", "cache_key", "canonical_json", "default_path"]


def _json_text(response: Mapping[str, Any] | str) -> str:
    """The JSON text stored for a response: UTF-8 text as it is, escaped where it holds lone surrogates
    (a model may produce "\\ud800"; SQLite only stores valid UTF-8)."""
    text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(json.loads(text) if isinstance(response, str) else response, separators=(",", ":"))
    return text
