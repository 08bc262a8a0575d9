"""harness.log.rundir: crash-safe results.jsonl, resume keys, atomic summary, manifest without secrets."""
from __future__ import annotations

import json
import os
import threading

import pytest

from harness.errors import RunDirError
from harness.log.rundir import RunDir, make_manifest, redact_url


def line(cid, sample, status="ok", passed=True, **extra):
    r = {"id": cid, "sample": sample, "status": status, "passed": passed if status == "ok" else None,
         "violations": [], "calls": [], "response": {"role": "assistant", "content": "x"},
         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "cached_tokens": 0}, "latency_ms": 1.0,
         "request_hash": "h"}
    if status == "error":
        r["error"] = "HTTP 503 after 5 tries"
    r.update(extra)
    return r


def test_append_and_read_back(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.append(line("a", 0))
    rd.append(line("a", 1, passed=False))
    rd.close()
    raw = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(raw) == 2 and all(json.loads(x)["id"] == "a" for x in raw)
    assert [(r["id"], r["sample"], r["passed"]) for r in rd.results()] == [("a", 0, True), ("a", 1, False)]


def test_truncated_last_line_is_skipped_reported_and_cut_before_the_next_append(tmp_path):
    rd = RunDir(tmp_path)
    rd.append(line("a", 0))
    rd.append(line("b", 0))
    rd.close()
    p = tmp_path / "results.jsonl"
    full = p.read_bytes()
    p.write_bytes(full[:-25])                      # a crash in the middle of the last write
    fresh = RunDir(tmp_path)
    assert [r["id"] for r in fresh.results()] == ["a"]
    assert len(fresh.warnings) == 1 and "results.jsonl:2" in fresh.warnings[0]
    assert fresh.done_keys() == {("a", 0)}         # b is retried by resume
    fresh.append(line("b", 0))                     # resume: the fragment is cut, the new line is whole
    fresh.close()
    again = RunDir(tmp_path)
    assert [r["id"] for r in again.results()] == ["a", "b"] and again.warnings == []
    assert all(json.loads(x) for x in p.read_text().splitlines())


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text(json.dumps(line("a", 0)) + "\n{oops\n" + json.dumps(line("b", 0)) + "\n")
    with pytest.raises(RunDirError, match=r"results\.jsonl:2:"):
        RunDir(tmp_path).results()


def test_duplicates_keep_last_and_prefer_ok(tmp_path):
    rd = RunDir(tmp_path)
    rd.append(line("a", 0, status="error"))
    rd.append(line("b", 0, passed=False))
    rd.append(line("a", 0, passed=True))           # resume retried the error
    rd.append(line("b", 0, passed=True))           # a later ok line wins
    rd.append(line("c", 0))
    rd.append(line("c", 0, status="error"))        # an error never replaces a verdict
    rd.append(line("d", 0, status="error"))
    rd.append(line("d", 0, status="error", error="second"))
    rd.close()
    rs = rd.results()
    assert [(r["id"], r["sample"]) for r in rs] == [("a", 0), ("b", 0), ("c", 0), ("d", 0)]   # never twice
    by = {r["id"]: r for r in rs}
    assert by["a"]["status"] == "ok" and by["b"]["passed"] is True and by["c"]["status"] == "ok"
    assert by["d"]["error"] == "second"
    assert rd.done_keys() == {("a", 0), ("b", 0), ("c", 0)}


def test_concurrent_appends_never_interleave(tmp_path):
    rd = RunDir(tmp_path)
    big = "y" * 20_000   # larger than a pipe buffer: interleaving would break lines

    def work(t):
        for i in range(200):
            rd.append(line(f"t{t}", i, response={"content": big}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rd.close()
    rs = RunDir(tmp_path).results()
    assert len(rs) == 1600 and all(r["response"]["content"] == big for r in rs)


def test_extend_and_bad_lines_rejected(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.extend(line(f"c{i}", 0) for i in range(1500)) == 1500
    with pytest.raises(ValueError):
        rd.append({"id": "x", "sample": 0, "status": "maybe"})
    with pytest.raises(ValueError):
        rd.append({"id": "x", "status": "ok"})
    rd.close()
    assert len(rd.results()) == 1500


def test_summary_is_atomic(tmp_path, monkeypatch):
    rd = RunDir(tmp_path)
    rd.write_summary({"pass_rate": 0.5})
    assert rd.summary() == {"pass_rate": 0.5}

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        rd.write_summary({"pass_rate": 0.9})
    monkeypatch.undo()
    assert json.loads((tmp_path / "summary.json").read_text()) == {"pass_rate": 0.5}   # old one intact
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []      # no litter


def test_not_a_run(tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        RunDir(tmp_path / "nope").require()
    with pytest.raises(RunDirError, match="not a run directory"):
        RunDir(tmp_path).manifest()
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        RunDir(tmp_path / "f").require()
    (tmp_path / "run.json").write_text("{\n  bad")
    with pytest.raises(RunDirError, match=r"run\.json:2: invalid JSON"):
        RunDir(tmp_path).manifest()
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(RunDirError, match="no summary.json"):
        RunDir(tmp_path).summary()


def test_redact_url():
    assert redact_url("https://user:sk-secret@api.example.com/v1?api_key=sk-1&x=2&token=t") == \
        "https://api.example.com/v1?x=2"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url(None) is None


def test_manifest_fields_and_no_secrets(tmp_path):
    class S:
        name, path, content_hash = "roo-core", "/x/roo-core.yaml", "abc123"

    class P:
        def describe(self):
            return {"name": "roo-xml", "wire": "xml", "catalog": "roo", "version": "3.29.3"}

    m = make_manifest(suite=S(), endpoint="https://me:sk-live-123@host/v1?key=sk-live-123", model="m",
                      protocol=P(), system_prompt="compact", sampling={"temperature": 0.0, "max_tokens": 64},
                      seed=1, started_at=0.0, api_key="sk-live-123", headers={"Authorization": "Bearer sk-live-123"})
    rd = RunDir(tmp_path)
    rd.write_manifest(m)
    text = (tmp_path / "run.json").read_text()
    assert "sk-live-123" not in text
    back = rd.manifest()
    for field in ("suite", "endpoint", "model", "protocol", "system_prompt", "sampling", "seed",
                  "harness_version", "started_at", "ended_at", "host"):
        assert field in back, field
    assert back["suite"] == {"name": "roo-core", "path": "/x/roo-core.yaml", "hash": "abc123"}
    assert back["endpoint"] == "https://host/v1"
    assert back["protocol"]["name"] == "roo-xml" and back["system_prompt"] == {"style": "compact"}
    assert back["started_at"] == "1970-01-01T00:00:00Z" and back["sampling"]["max_tokens"] == 64
    rd.update_manifest(ended_at="2025-01-01T00:00:00Z")
    assert rd.manifest()["ended_at"] == "2025-01-01T00:00:00Z" and rd.manifest()["model"] == "m"
