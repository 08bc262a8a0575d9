"""harness.model.cache.ResponseCache: keys, round trips, batches, several processes, bad files."""
from __future__ import annotations

import logging
import multiprocessing as mp
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.model.cache import CacheError, ResponseCache, cache_dir, cache_key, canonical_json, default_path
from harness.errors import UserError

EP = "http://127.0.0.1:8000/v1"
BODY = {"model": "m", "messages": [{"role": "user", "content": "héllo"}], "temperature": 0.0, "n": 2}
RESP = {"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ünïcode ok"}}],
        "usage": {"prompt_tokens": 3}}


# -- keys ----------------------------------------------------------------------------------------------

def test_key_is_stable_and_insensitive_to_key_order() -> None:
    k = cache_key(EP, "m", BODY)
    assert len(k) == 64 and all(ch in "0123456789abcdef" for ch in k)
    reordered = dict(reversed(list(BODY.items())))
    assert cache_key(EP, "m", reordered) == k
    assert cache_key(EP, "m", canonical_json(BODY)) == k           # bytes: already canonical
    assert ResponseCache.key(EP, "m", BODY) == k
    # pinned: the key must not change between versions without a reason (it would empty every cache)
    assert cache_key("e", "m", {"a": 1}) == cache_key("e", "m", b'{"a":1}') == \
        "dd8be885f18280f160cff679e01ad56a3cd90196a51ec0c18b9a97feec4877d2"
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()


def test_key_is_sensitive_to_body_model_and_endpoint() -> None:
    k = cache_key(EP, "m", BODY)
    assert cache_key(EP, "m", {**BODY, "temperature": 0.7}) != k
    assert cache_key(EP, "m", {**BODY, "messages": [{"role": "user", "content": "hello"}]}) != k
    assert cache_key(EP, "m2", BODY) != k
    assert cache_key("http://127.0.0.1:8001/v1", "m", BODY) != k
    # no ambiguity between where the endpoint ends and the model begins
    assert cache_key("ab", "c", BODY) != cache_key("a", "bc", BODY)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "h"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "h" and default_path() == tmp_path / "h" / "responses.sqlite"
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    assert cache_dir() == tmp_path / "x" / "harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "harness"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "h"))
    with ResponseCache() as c:
        c.put("k", RESP)
    assert (tmp_path / "h" / "responses.sqlite").is_file()


# -- round trips ---------------------------------------------------------------------------------------

def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    k = cache_key(EP, "m", BODY)
    with ResponseCache(p) as c:
        assert c.get(k) is None
        c.put(k, RESP)
        assert c.get(k) == RESP                 # visible before the batch is written
        assert k in c
    with ResponseCache(p) as c:
        assert c.get(k) == RESP
        assert len(c) == 1
        c.put(k, {**RESP, "id": "chatcmpl-2"})  # a later answer replaces the earlier one
    with ResponseCache(p) as c:
        assert c.get(k)["id"] == "chatcmpl-2"


def test_a_lone_surrogate_in_an_answer_is_stored_and_read_back(tmp_path: Path) -> None:
    odd = {**RESP, "choices": [{"index": 0, "message": {"role": "assistant", "content": "a\ud800b"}}]}
    with ResponseCache(tmp_path / "c.sqlite") as c:
        c.put("k1", odd)
        c.put_many({"k2": odd})
    with ResponseCache(tmp_path / "c.sqlite") as c:
        assert c.get("k1") == odd and c.get("k2") == odd


def test_puts_are_batched_and_flushed(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    c = ResponseCache(p, flush_every=10, flush_interval=3600)

    def on_disk() -> int:
        with sqlite3.connect(p) as con:
            return con.execute("SELECT count(*) FROM responses").fetchone()[0]

    for i in range(9):
        c.put(f"k{i}", {"i": i})
    assert on_disk() == 0
    c.put("k9", {"i": 9})
    assert on_disk() == 10                      # the 10th put wrote the batch in one transaction
    c.put("k10", {"i": 10})
    assert on_disk() == 10
    c.flush()
    assert on_disk() == 11
    c.put("k11", {"i": 11})
    c.close()
    assert on_disk() == 12
    c.close()                                   # idempotent


def test_get_many_and_put_many(tmp_path: Path) -> None:
    keys = [cache_key(EP, "m", {**BODY, "i": i}) for i in range(3000)]
    with ResponseCache(tmp_path / "c.sqlite") as c:
        c.put_many({k: {"i": i} for i, k in enumerate(keys[:2000])})
        c.put_many([(keys[2000], {"i": 2000})])
        c.put(keys[2001], {"i": 2001})          # still in the batch
        got = c.get_many(keys + keys[:5])       # duplicates and misses are fine
        assert len(got) == 2002
        assert all(got[k] == {"i": i} for i, k in enumerate(keys[:2002]))
        assert c.get_many([]) == {}
    with ResponseCache(tmp_path / "c.sqlite") as c:
        assert len(c.get_many(keys)) == 2002


def test_nothing_but_the_key_hash_and_the_response_is_stored(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    body = {**BODY, "messages": [{"role": "user", "content": "a very distinctive prompt 8472"}]}
    with ResponseCache(p) as c:
        c.put(c.key(EP, "secret-model-name", body), RESP)
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    assert b"8472" not in raw and b"secret-model-name" not in raw and b"127.0.0.1" not in raw
    with sqlite3.connect(p) as con:
        cols = [r[1] for r in con.execute("PRAGMA table_info(responses)")]
    assert cols == ["key", "response", "created_at"]


# -- several processes ---------------------------------------------------------------------------------

def _writer(path: str, tag: str, n: int, barrier: Any) -> None:
    c = ResponseCache(path, flush_every=25)
    barrier.wait(timeout=60)
    for i in range(n):
        c.put(f"{tag}-{i}", {"tag": tag, "i": i})
        if i % 100 == 0:
            c.get_many([f"{tag}-{j}" for j in range(i)])   # reads interleaved with the other's writes
    c.put_many({f"{tag}-many-{i}": {"tag": tag, "i": i} for i in range(200)})
    c.close()


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    p = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(p, tag, 600, barrier)) for tag in ("a", "b")]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
        assert pr.exitcode == 0
    with ResponseCache(p) as c:
        assert len(c) == 2 * 800
        got = c.get_many([f"{t}-{i}" for t in "ab" for i in range(600)] +
                         [f"{t}-many-{i}" for t in "ab" for i in range(200)])
        assert len(got) == 1600
        assert got["b-599"] == {"tag": "b", "i": 599} and got["a-many-7"] == {"tag": "a", "i": 7}
    with sqlite3.connect(p) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- bad files -----------------------------------------------------------------------------------------

def test_a_file_that_is_not_a_database_is_a_clear_user_error(tmp_path: Path) -> None:
    p = tmp_path / "responses.sqlite"
    p.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CacheError) as e:
        ResponseCache(p)
    assert isinstance(e.value, UserError)
    assert str(p) in str(e.value) and "--no-cache" in str(e.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "c.sqlite"
    ResponseCache(p).close()
    with sqlite3.connect(p) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CacheError, match="schema version 99 is newer"):
        ResponseCache(p)


def test_an_unwritable_folder_is_a_clear_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match=str(blocker)):
        ResponseCache(blocker / "sub" / "responses.sqlite")


def test_a_failure_mid_run_degrades_to_no_cache_with_a_warning(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "c.sqlite"
    c = ResponseCache(p, flush_every=1000, flush_interval=3600)
    c.put("k1", RESP)
    c.flush()
    c.put("k2", RESP)
    # another process holds the write lock longer than the busy timeout
    other = sqlite3.connect(p, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    c._con.execute("PRAGMA busy_timeout = 50")  # keep the test short: 50 ms instead of 30 s
    with caplog.at_level(logging.WARNING, logger="harness.model.cache"):
        c.flush()                               # must not raise
    other.execute("ROLLBACK")
    other.close()
    assert c.degraded is not None and "locked" in c.degraded
    assert any(str(p) in r.getMessage() and "without the cache" in r.getMessage() for r in caplog.records)
    c.put("k3", RESP)                           # a no-op now, never an exception
    assert c.get("k1") is None and c.get_many(["k1", "k3"]) == {}
    c.close()
    with ResponseCache(p) as again:
        assert again.get("k1") == RESP and again.get("k2") is None
