"""harness.log.leaderboard: the SQLite leaderboard under $HARNESS_HOME."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from harness.log import leaderboard as store
from harness.errors import RunDirError
from harness.score.metrics import summarize
from harness.log.rundir import RunDir, make_manifest


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("HARNESS_HOME", str(h))
    return h


def make_run(path, model="m1", suite="roo-core", passed=(True, False, True), endpoint=None, **extra):
    rd = RunDir(path)
    rd.write_manifest(make_manifest(suite={"name": suite, "path": f"/s/{suite}.yaml", "hash": "h" + suite},
                                    endpoint=endpoint, model=model,
                                    protocol={"name": "roo-xml", "wire": "xml"}, system_prompt="compact",
                                    ended_at=1_700_000_000.0, **extra))
    results = [{"id": f"c{i}", "sample": 0, "status": "ok", "passed": p, "violations": [], "calls": [],
                "response": {}, "usage": {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 50},
                "latency_ms": 100.0 * (i + 1), "request_hash": f"r{i}"} for i, p in enumerate(passed)]
    rd.extend(results)
    rd.close()
    rd.write_summary(summarize(results, {}, 1.0, {"prompt": 1.0, "completion": 2.0}))
    return rd


def test_home_is_honoured(home):
    assert store.db_path() == home / "leaderboard.sqlite"


def test_register_twice_is_one_row_and_updates(home, tmp_path):
    rd = make_run(tmp_path / "r1")
    a = store.register_run(rd.path)
    b = store.register_run(str(rd.path))
    assert a == b
    rows = store.list_runs()
    assert len(rows) == 1
    r = rows[0]
    assert r["model"] == "m1" and r["suite"] == "roo-core" and r["suite_hash"] == "hroo-core"
    assert r["protocol"] == "roo-xml" and r["system_prompt"] == "compact"
    assert r["n_cases"] == 3 and r["n_samples"] == 3 and r["pass_rate"] == pytest.approx(2 / 3)
    assert r["ci_lo"] < 2 / 3 < r["ci_hi"] and r["pass_hat_k"] == pytest.approx(2 / 3)
    assert r["tokens_per_case"] == pytest.approx(120.0) and r["latency_p50"] == 200.0
    assert r["cost"] == pytest.approx((50 * 1.0 + 50 * 1.0 + 20 * 2.0) * 3 / 1e6)
    assert r["run_dir"] == str(rd.path.resolve()) and r["created_at"] == "2023-11-14T22:13:20Z"
    # the run is scored again: same row, new numbers
    make_run(tmp_path / "r1", passed=(True, True, True))
    assert store.register_run(rd.path) == a
    rows = store.list_runs()
    assert len(rows) == 1 and rows[0]["pass_rate"] == 1.0
    assert (home / "leaderboard.sqlite").exists()
    assert store.schema_version() == store.SCHEMA_VERSION


def test_filters_and_order(home, tmp_path):
    make_run(tmp_path / "a", model="small", passed=(True, False, False))
    make_run(tmp_path / "b", model="big", passed=(True, True, False))
    make_run(tmp_path / "c", model="big", suite="bfcl-simple", passed=(True,))
    for d in "abc":
        store.register_run(tmp_path / d)
    assert [r["model"] for r in store.list_runs(suite="roo-core")] == ["big", "small"]   # best first
    assert [r["suite"] for r in store.list_runs(model="big")] == ["bfcl-simple", "roo-core"]
    assert store.list_runs(suite="roo-core", model="small")[0]["n_cases"] == 3
    assert store.list_runs(suite="nope") == []


def test_never_stores_keys(home, tmp_path):
    rd = make_run(tmp_path / "k", endpoint="https://u:sk-abc123@api.x.com/v1?api_key=sk-abc123",
                  api_key="sk-abc123")
    store.register_run(rd)
    row = store.list_runs()[0]
    assert row["endpoint"] == "https://api.x.com/v1"
    assert b"sk-abc123" not in (home / "leaderboard.sqlite").read_bytes()
    for p in home.iterdir():   # WAL and shm files too
        assert b"sk-abc123" not in p.read_bytes()


def test_not_a_run_is_a_clear_error(home, tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        store.register_run(tmp_path)
    rd = RunDir(tmp_path / "half")
    rd.write_manifest({"model": "x"})
    with pytest.raises(RunDirError, match="no summary.json"):
        store.register_run(rd)


def test_wal_mode_and_newer_schema_refused(home, tmp_path):
    store.list_runs()
    con = sqlite3.connect(home / "leaderboard.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(store.StoreError, match="newer"):
        store.list_runs()


def _register_many(args):
    home, base, worker = args
    import os
    os.environ["HARNESS_HOME"] = home
    from harness.log import leaderboard as s
    ids = []
    for i in range(10):
        ids.append(s.register_run(f"{base}/w{worker}-{i % 5}"))
    return ids


def test_several_processes(home, tmp_path):
    for w in range(4):
        for i in range(5):
            make_run(tmp_path / f"w{w}-{i}", model=f"m{w}")
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        out = pool.map(_register_many, [(str(home), str(tmp_path), w) for w in range(4)])
    rows = store.list_runs()
    assert len(rows) == 20
    assert all(ids[:5] == ids[5:] for ids in out)   # re-registering gave the same ids
